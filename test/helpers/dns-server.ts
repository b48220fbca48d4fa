// A real authoritative DNS server for tests: UDP and TCP on the same loopback port, answering from an
// in-memory zone that tests change as they go. Use it for anything that resolves names (the stub
// resolver's tests, e2e mail routing, SPF/DKIM/DMARC, MTA-STS, DANE):
//
//   const dns = await startDnsServer({ records: [
//     { name: "example.test", type: "MX", data: { preference: 10, exchange: "mx.example.test" } },
//     { name: "mx.example.test", type: "A", data: "127.0.0.1" },
//     { name: "example.test", type: "TXT", data: "v=spf1 ip4:127.0.0.1 -all" },
//   ] });
//   const config = { dns: { servers: [dns.server] } };   // "127.0.0.1:PORT"
//   …
//   await dns.close();
//
// Behaviour (what a real authoritative server does, minus DNSSEC):
// - names are case-insensitive, with or without a trailing dot;
// - a name with no records at all, which is not the parent of one that has (an empty non-terminal,
//   e.g. "_domainkey.example.test"), is NXDOMAIN; a name without records of the type asked is NOERROR
//   with no data. Both carry an SOA in the authority section (the closest enclosing SOA record in the
//   zone, else a made-up one whose TTL and MINIMUM are `negativeTtl`, default 60 s; `negativeTtl: null`
//   sends none), which is what resolvers cache negative answers by (RFC 2308 §5);
// - a CNAME is the answer for any type; the chain is followed inside the zone and the target's records
//   added (`followCnames = false` answers the CNAME alone, like a server for another zone would). A
//   target not in the zone ends the chain with NOERROR: the resolver must ask for it itself;
// - TXT data given as a string is cut into 255-octet character-strings; an array is sent as given;
// - UDP answers larger than 512 octets (or the EDNS0 size the query offers) are sent empty with TC, so
//   the client has to come back over TCP (RFC 1035 §4.2.1, RFC 6891 §6.2.5);
// - AA is set, RD copied, RA clear; AD is set when `authenticated` is (globally or for the name asked,
//   see setAuthenticated): it stands for "a validating resolver checked this", since tests cannot
//   sign zones;
// - failure modes per name (exact name asked): servfail(), refuse(), drop() (no answer at all: the
//   client times out) and decoy() (first a reply with the wrong id and one with the wrong question,
//   then the real one: a client must ignore the first two).
//
// Records default to a TTL of 60 s. Resolvers cache; a test that changes the zone after a lookup
// should use a resolver with `cacheSize: 0` or call its clearCache().
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { type AddressInfo, createServer, isIPv6, type Server, type Socket } from "node:net";
import * as dnsPacket from "dns-packet";

export interface DnsDataByType {
  A: string;
  AAAA: string;
  CNAME: string;
  PTR: string;
  NS: string;
  /** exchange "." (or "") is the null MX of RFC 7505 */
  MX: { preference: number; exchange: string };
  /** a string is split into 255-octet character-strings on the wire; an array is sent as is */
  TXT: string | string[];
  TLSA: { usage: number; selector: number; matchingType: number; certificate: Buffer };
  SOA: {
    mname: string;
    rname: string;
    serial?: number;
    refresh?: number;
    retry?: number;
    expire?: number;
    minimum?: number;
  };
}

export type DnsTestType = keyof DnsDataByType;

export type DnsTestRecord = {
  [T in DnsTestType]: { name: string; type: T; data: DnsDataByType[T]; ttl?: number };
}[DnsTestType];

export interface DnsQueryLogEntry {
  /** lower case, no trailing dot */
  name: string;
  type: string;
  transport: "udp" | "tcp";
}

export interface StartDnsServerOptions {
  records?: DnsTestRecord[];
  /** default 127.0.0.1; use a loopback address only */
  host?: string;
  /** default 0: an ephemeral port (the same one for UDP and TCP) */
  port?: number;
  /** TTL of records added without one; default 60 */
  defaultTtl?: number;
  /** TTL and MINIMUM of the made-up SOA in negative answers; null: no SOA; default 60 */
  negativeTtl?: number | null;
  /** initial value of `authenticated`; default false */
  authenticated?: boolean;
}

export interface TestDnsServer {
  readonly address: string;
  readonly port: number;
  /** "127.0.0.1:PORT" (or "[::1]:PORT"), the form `dns.servers` takes */
  readonly server: string;
  /** set the AD bit in every answer (unless overridden for the name by setAuthenticated) */
  authenticated: boolean;
  /** follow CNAMEs inside the zone (default true) */
  followCnames: boolean;
  /** every query received, in order; tests may truncate it (`queries.length = 0`) */
  readonly queries: DnsQueryLogEntry[];
  add(rec: DnsTestRecord): void;
  /** replaces the records of that type; `[]` leaves the name existing (NOERROR, no data) */
  set<T extends DnsTestType>(name: string, type: T, data: DnsDataByType[T][], ttl?: number): void;
  /** removes the records of one type, or the whole name (then NXDOMAIN) */
  remove(name: string, type?: DnsTestType): void;
  servfail(name: string, on?: boolean): void;
  refuse(name: string, on?: boolean): void;
  /** never answer queries for the name */
  drop(name: string, on?: boolean): void;
  /** precede answers for the name with a wrong-id and a wrong-question reply */
  decoy(name: string, on?: boolean): void;
  /** AD bit for answers to this name; null: follow the global `authenticated` */
  setAuthenticated(name: string, on: boolean | null): void;
  close(): Promise<void>;
}

/** A record as stored: normalised name, data ready for dns-packet. */
interface ZoneRecord {
  name: string;
  type: DnsTestType;
  ttl: number;
  data: unknown;
}

function norm(name: string): string {
  const n = name.trim().toLowerCase();
  if (n === "." || n === "") return "";
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

function txtStrings(data: string | string[]): Buffer[] {
  if (Array.isArray(data)) {
    return data.map((s) => {
      const b = Buffer.from(s);
      if (b.length > 255) throw new RangeError(`TXT character-string over 255 octets: ${s.slice(0, 40)}…`);
      return b;
    });
  }
  const all = Buffer.from(data);
  if (all.length === 0) return [all];
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += 255) out.push(all.subarray(i, i + 255));
  return out;
}

function toZoneRecord(rec: DnsTestRecord, defaultTtl: number): ZoneRecord {
  let data: unknown = rec.data;
  if (rec.type === "TXT") data = txtStrings(rec.data);
  else if (rec.type === "MX") data = { preference: rec.data.preference, exchange: rec.data.exchange || "." };
  const z: ZoneRecord = { name: norm(rec.name), type: rec.type, ttl: rec.ttl ?? defaultTtl, data };
  // fail at add() time, not in the middle of answering a query
  dnsPacket.encode({ type: "response", answers: [toAnswer(z)] });
  return z;
}

function toAnswer(z: ZoneRecord): dnsPacket.Answer {
  // dns-packet replaces strings in a TXT array in place: give it a fresh array every time
  const data = Array.isArray(z.data) ? [...(z.data as Buffer[])] : z.data;
  // the union cannot be narrowed from our own type tag; the data was shaped per type above
  return { name: z.name || ".", type: z.type, class: "IN", ttl: z.ttl, data } as dnsPacket.Answer;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5, FORMERR: 1 } as const;

export async function startDnsServer(opts: StartDnsServerOptions = {}): Promise<TestDnsServer> {
  const host = opts.host ?? "127.0.0.1";
  const defaultTtl = opts.defaultTtl ?? 60;
  const negativeTtl = opts.negativeTtl === undefined ? 60 : opts.negativeTtl;
  const zone = new Map<string, ZoneRecord[]>();
  const servfails = new Set<string>();
  const refusals = new Set<string>();
  const drops = new Set<string>();
  const decoys = new Set<string>();
  const adByName = new Map<string, boolean>();
  const queries: DnsQueryLogEntry[] = [];

  const add = (rec: DnsTestRecord): void => {
    const z = toZoneRecord(rec, defaultTtl);
    const list = zone.get(z.name) ?? [];
    list.push(z);
    zone.set(z.name, list);
  };
  for (const r of opts.records ?? []) add(r);

  const exists = (name: string): boolean => {
    if (zone.has(name)) return true;
    const suffix = `.${name}`;
    for (const k of zone.keys()) if (k.endsWith(suffix)) return true;
    return false;
  };

  const soaFor = (name: string): dnsPacket.Answer | null => {
    const labels = name.split(".");
    for (let i = 0; i < labels.length; i++) {
      const soa = zone.get(labels.slice(i).join("."))?.find((r) => r.type === "SOA");
      if (soa) return toAnswer(soa);
    }
    if (negativeTtl === null) return null;
    return {
      name: labels.slice(-2).join(".") || ".",
      type: "SOA",
      class: "IN",
      ttl: negativeTtl,
      data: {
        mname: "ns.invalid",
        rname: "hostmaster.invalid",
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: negativeTtl,
      },
    };
  };

  const state = { authenticated: opts.authenticated ?? false, followCnames: true };

  /** The reply to one query; null: stay silent (drop). */
  const answer = (query: dnsPacket.DecodedPacket, transport: "udp" | "tcp"): dnsPacket.Packet | null => {
    const q = query.questions?.[0];
    const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const opt = query.additionals?.find((a) => a.type === "OPT");
    const reply = (
      rcode: number,
      answers: dnsPacket.Answer[],
      authorities: dnsPacket.Answer[],
      ad: boolean,
    ) => ({
      type: "response" as const,
      id: query.id ?? 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | (ad ? dnsPacket.AUTHENTIC_DATA : 0) | rcode,
      questions: query.questions ?? [],
      answers,
      authorities,
      additionals: opt
        ? [
            {
              type: "OPT" as const,
              name: ".",
              udpPayloadSize: 1232,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ]
        : [],
    });
    if (!q) return reply(RCODE.FORMERR, [], [], false);
    const qname = norm(q.name);
    queries.push({ name: qname, type: q.type, transport });
    if (drops.has(qname)) return null;
    const ad = adByName.get(qname) ?? state.authenticated;
    if (servfails.has(qname)) return reply(RCODE.SERVFAIL, [], [], false);
    if (refusals.has(qname)) return reply(RCODE.REFUSED, [], [], false);

    const answers: dnsPacket.Answer[] = [];
    const visited = new Set<string>();
    let owner = qname;
    let rcode: number = RCODE.NOERROR;
    let complete = false;
    for (;;) {
      const recs = zone.get(owner) ?? [];
      if (recs.length === 0 && !exists(owner)) {
        // at the start: the name does not exist; after a CNAME: treat the target as another zone's
        if (answers.length === 0) rcode = RCODE.NXDOMAIN;
        else complete = true;
        break;
      }
      const matching = recs.filter((r) => r.type === q.type);
      if (matching.length > 0) {
        answers.push(...matching.map(toAnswer));
        complete = true;
        break;
      }
      const cname = q.type === "CNAME" ? undefined : recs.find((r) => r.type === "CNAME");
      if (!cname) break;
      answers.push(toAnswer(cname));
      visited.add(owner);
      owner = norm(cname.data as string);
      if (!state.followCnames || visited.has(owner)) {
        complete = true;
        break;
      }
    }
    const soa = complete ? null : soaFor(owner);
    return reply(rcode, answers, soa ? [soa] : [], ad);
  };

  const decoysFor = (p: dnsPacket.Packet): Buffer[] => {
    const q = p.questions?.[0];
    if (!q || !decoys.has(norm(q.name))) return [];
    const bogus: dnsPacket.Answer[] =
      q.type === "A" ? [{ name: q.name, type: "A", class: "IN", ttl: 60, data: "198.51.100.66" }] : [];
    const wrongId = { ...p, id: ((p.id ?? 0) + 1) & 0xffff, answers: bogus, authorities: [] };
    const wrongQuestion = {
      ...p,
      questions: [{ ...q, name: "decoy.invalid" }],
      answers: bogus.map((a) => ({ ...a, name: "decoy.invalid" })),
      authorities: [],
    };
    return [dnsPacket.encode(wrongId), dnsPacket.encode(wrongQuestion)];
  };

  // ---- UDP ----
  const onDatagram = (udp: UdpSocket, msg: Buffer, rinfo: { address: string; port: number }): void => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return; // garbage: a real server would drop it too
    }
    if (query.flag_qr) return;
    const p = answer(query, "udp");
    if (!p) return;
    const opt = query.additionals?.find((a) => a.type === "OPT");
    const limit = Math.max(512, opt && opt.type === "OPT" ? opt.udpPayloadSize : 512);
    let bytes = dnsPacket.encode(p);
    if (bytes.length > limit) {
      bytes = dnsPacket.encode({
        ...p,
        flags: (p.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
        answers: [],
        authorities: [],
      });
    }
    for (const d of decoysFor(p)) udp.send(d, rinfo.port, rinfo.address);
    udp.send(bytes, rinfo.port, rinfo.address);
  };
  const makeUdp = (): UdpSocket => {
    const udp = createSocket(isIPv6(host) ? "udp6" : "udp4");
    udp.on("message", (msg, rinfo) => onDatagram(udp, msg, rinfo));
    return udp;
  };

  // ---- TCP ----
  const sockets = new Set<Socket>();
  const tcp: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = Buffer.alloc(0);
    const frame = (b: Buffer): Buffer => {
      const f = Buffer.alloc(2 + b.length);
      f.writeUInt16BE(b.length, 0);
      b.copy(f, 2);
      return f;
    };
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        let query: dnsPacket.DecodedPacket;
        try {
          query = dnsPacket.decode(msg);
        } catch {
          socket.destroy();
          return;
        }
        const p = answer(query, "tcp");
        if (!p) continue;
        for (const d of decoysFor(p)) socket.write(frame(d));
        socket.write(frame(dnsPacket.encode(p)));
      }
    });
  });

  const { udp, port } = await bindBoth(makeUdp, tcp, host, opts.port ?? 0);

  const api: TestDnsServer = {
    address: host,
    port,
    server: isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`,
    get authenticated() {
      return state.authenticated;
    },
    set authenticated(on: boolean) {
      state.authenticated = on;
    },
    get followCnames() {
      return state.followCnames;
    },
    set followCnames(on: boolean) {
      state.followCnames = on;
    },
    queries,
    add,
    set(name, type, data, ttl) {
      const n = norm(name);
      const kept = (zone.get(n) ?? []).filter((r) => r.type !== type);
      zone.set(n, kept);
      for (const d of data) add({ name: n, type, data: d, ttl } as DnsTestRecord);
    },
    remove(name, type) {
      const n = norm(name);
      if (type === undefined) zone.delete(n);
      else
        zone.set(
          n,
          (zone.get(n) ?? []).filter((r) => r.type !== type),
        );
    },
    servfail: (name, on = true) => toggle(servfails, name, on),
    refuse: (name, on = true) => toggle(refusals, name, on),
    drop: (name, on = true) => toggle(drops, name, on),
    decoy: (name, on = true) => toggle(decoys, name, on),
    setAuthenticated(name, on) {
      if (on === null) adByName.delete(norm(name));
      else adByName.set(norm(name), on);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        udp.close(() => tcp.close(() => resolve()));
      }),
  };
  return api;
}

function toggle(set: Set<string>, name: string, on: boolean): void {
  if (on) set.add(norm(name));
  else set.delete(norm(name));
}

/** UDP and TCP on one port; with port 0, retries when the UDP port happens to be taken for TCP. */
async function bindBoth(
  makeUdp: () => UdpSocket,
  tcp: Server,
  host: string,
  port: number,
): Promise<{ udp: UdpSocket; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = makeUdp();
    const p = await new Promise<number>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(port, host, () => {
        udp.off("error", reject);
        resolve(udp.address().port);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(p, host, () => {
          tcp.off("error", reject);
          resolve();
        });
      });
      return { udp, port: (tcp.address() as AddressInfo).port };
    } catch (e) {
      if (port !== 0 || attempt >= 20 || (e as NodeJS.ErrnoException).code !== "EADDRINUSE") {
        udp.close();
        throw e;
      }
      // a dgram socket cannot be re-bound: close it and start over with a fresh one
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
  }
}
