// Our own stub resolver: UDP with EDNS0 (TCP when truncated) to the configured recursive servers.
// node:dns cannot give what mail needs: the AD bit (DANE, RFC 7672), TLSA records, and a clean split of
// NXDOMAIN / no data / SERVFAIL / timeout (RFC 5321 §5.1, RFC 7208 §2.6, RFC 7489 §6.6.3).
import { readFileSync } from "node:fs";
import type * as dnsPacket from "dns-packet";
import { ExpiringLru } from "./cache.js";
import {
  nameserversFromResolvConf,
  normalizeName,
  parseServer,
  reverseName,
  type ServerAddress,
  wireName,
} from "./names.js";
import { type DnsResponse, type Question, TransportError, tcpExchange, udpExchange } from "./transport.js";
import {
  DnsError,
  type DnsErrorKind,
  type DnsResolver,
  type DnsResult,
  type MxRecord,
  type TlsaRecord,
} from "./types.js";

export interface StubResolverOptions {
  /**
   * Recursive servers: "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353". Empty or absent: the
   * `nameserver` lines of /etc/resolv.conf, or 127.0.0.1 when there are none.
   */
  servers?: readonly string[];
  /** how long to wait for each try (one server, one transport), ms; default 2000 */
  timeoutMs?: number;
  /** rounds over the server list; default 2 */
  attempts?: number;
  /** answers kept (LRU); default 10000, 0 disables the cache */
  cacheSize?: number;
  /** clock for cache expiry in ms (tests inject one); default Date.now */
  now?: () => number;
  /** where to read nameservers when `servers` is empty; default /etc/resolv.conf */
  resolvConfPath?: string;
}

/** More CNAMEs than this in one lookup is treated as a loop (same limit as glibc's resolver). */
export const MAX_CNAME_HOPS = 8;
const MAX_POSITIVE_TTL_S = 86_400;
/** RFC 2308 §5 recommends 1–3 hours; we prefer noticing a newly published record (DKIM, MTA-STS) soon */
const MAX_NEGATIVE_TTL_S = 300;
const DEFAULT_NEGATIVE_TTL_S = 60;

type QType = "A" | "AAAA" | "MX" | "TXT" | "PTR" | "TLSA";

/** What we keep of a response: only NOERROR and NXDOMAIN are answers (and cacheable). */
interface Reply {
  nxdomain: boolean;
  answers: dnsPacket.Answer[];
  authenticated: boolean;
}

/** When several servers fail differently, report the most telling failure: an answer beats silence. */
const ERROR_RANK: Record<Exclude<DnsErrorKind, "nxdomain">, number> = {
  servfail: 4,
  refused: 3,
  timeout: 2,
  network: 1,
};

export class StubResolver implements DnsResolver {
  private readonly configured: ServerAddress[];
  private resolved: ServerAddress[] | undefined;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly cache: ExpiringLru<Reply>;
  private readonly inflight = new Map<string, Promise<Reply>>();
  private readonly resolvConfPath: string;

  constructor(opts: StubResolverOptions = {}) {
    this.configured = (opts.servers ?? []).map((s) => {
      const a = parseServer(s);
      if (!a) throw new TypeError(`DNS server "${s}" is not an IP address with an optional port`);
      return a;
    });
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.attempts = Math.max(1, opts.attempts ?? 2);
    this.cache = new ExpiringLru(opts.cacheSize ?? 10_000, opts.now ?? Date.now);
    this.resolvConfPath = opts.resolvConfPath ?? "/etc/resolv.conf";
  }

  /** The servers queried, in order (reads resolv.conf once when none were configured). */
  get servers(): readonly ServerAddress[] {
    if (!this.resolved) {
      if (this.configured.length > 0) this.resolved = this.configured;
      else {
        let fromFile: string[] = [];
        try {
          fromFile = nameserversFromResolvConf(readFileSync(this.resolvConfPath, "utf8"));
        } catch {
          // no resolv.conf: the fallback below, as glibc does
        }
        this.resolved = fromFile.map((s) => parseServer(s)!);
        if (this.resolved.length === 0) this.resolved = [{ host: "127.0.0.1", port: 53, family: 4 }];
      }
    }
    return this.resolved;
  }

  clearCache(): void {
    this.cache.clear();
  }

  mx(name: string): Promise<DnsResult<MxRecord>> {
    return this.resolve(name, "MX", (a) =>
      // exchange "." (the root) is the null MX of RFC 7505 and becomes ""
      a.type === "MX" ? { exchange: wireName(a.data.exchange), priority: a.data.preference ?? 0 } : undefined,
    );
  }

  a(name: string): Promise<DnsResult<string>> {
    return this.resolve(name, "A", (a) => (a.type === "A" ? a.data : undefined));
  }

  aaaa(name: string): Promise<DnsResult<string>> {
    return this.resolve(name, "AAAA", (a) => (a.type === "AAAA" ? a.data : undefined));
  }

  txt(name: string): Promise<DnsResult<string>> {
    return this.resolve(name, "TXT", (a) => {
      if (a.type !== "TXT") return undefined;
      const parts = Array.isArray(a.data) ? a.data : [a.data];
      // concatenate the octets before decoding: a UTF-8 sequence may straddle two strings
      return Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))).toString("utf8");
    });
  }

  /** A bad address cannot have a PTR record: it rejects with "nxdomain" rather than a TypeError. */
  ptr(ip: string): Promise<DnsResult<string>> {
    const name = reverseName(ip);
    if (!name) return Promise.reject(new DnsError("nxdomain", ip, "PTR", `DNS PTR ${ip}: not an IP address`));
    return this.resolve(name, "PTR", (a) => (a.type === "PTR" ? wireName(a.data) : undefined));
  }

  tlsa(name: string): Promise<DnsResult<TlsaRecord>> {
    return this.resolve(name, "TLSA", (a) =>
      a.type === "TLSA"
        ? {
            usage: a.data.usage,
            selector: a.data.selector,
            matchingType: a.data.matchingType,
            // a copy, so the record does not pin the whole response buffer
            data: Buffer.from(a.data.certificate),
          }
        : undefined,
    );
  }

  /**
   * Looks `name` up and follows CNAMEs: first inside each answer, then, when a chain ends without
   * the type asked for, by asking again for the chain's last name (RFC 1034 §3.6.2, §5.3.3).
   * A name that cannot exist (empty or over-long labels) rejects with "nxdomain" without a query.
   */
  private async resolve<T>(
    name: string,
    qtype: QType,
    extract: (a: dnsPacket.Answer) => T | undefined,
  ): Promise<DnsResult<T>> {
    const start = normalizeName(name);
    if (start === null)
      throw new DnsError("nxdomain", name, qtype, `DNS ${qtype} ${name}: not a valid domain name`);
    const seen = new Set([start]);
    let hops = 0;
    let current = start;
    let authenticated = true;
    for (;;) {
      let reply: Reply;
      try {
        reply = await this.lookup({ name: current, type: qtype });
      } catch (e) {
        if (e instanceof DnsError && current !== start) {
          throw new DnsError(e.kind, start, qtype, `DNS ${qtype} ${start} (CNAME ${current}): ${e.kind}`);
        }
        throw e;
      }
      authenticated &&= reply.authenticated;
      if (reply.nxdomain) {
        // with a CNAME in the answer, the rcode is about the chain's last name (RFC 6604 §2.1)
        const where = current === start ? "" : ` (CNAME ${current})`;
        throw new DnsError("nxdomain", start, qtype, `DNS ${qtype} ${start}${where}: nxdomain`);
      }
      let owner = current;
      for (;;) {
        const records: T[] = [];
        for (const a of reply.answers) {
          if (a.type !== qtype || wireName(a.name) !== owner) continue;
          const r = extract(a);
          if (r !== undefined) records.push(r);
        }
        if (records.length > 0) return { records, authenticated, canonicalName: owner };
        const cname = reply.answers.find((a) => a.type === "CNAME" && wireName(a.name) === owner);
        if (cname?.type !== "CNAME") break;
        const target = wireName(cname.data);
        hops++;
        if (seen.has(target) || hops > MAX_CNAME_HOPS) {
          // a recursive resolver answers SERVFAIL for a loop; it is a broken zone, not a missing name
          throw new DnsError(
            "servfail",
            start,
            qtype,
            `DNS ${qtype} ${start}: CNAME ${seen.has(target) ? "loop" : "chain too long"} at ${target}`,
          );
        }
        seen.add(target);
        owner = target;
      }
      if (owner === current) return { records: [], authenticated, canonicalName: owner };
      current = owner;
    }
  }

  /** One (name, type) from the cache, an identical query already on the wire, or the servers. */
  private lookup(q: Question): Promise<Reply> {
    const key = `${q.type} ${q.name}`;
    const cached = this.cache.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.query(q).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /** `attempts` rounds over the servers; the first NOERROR or NXDOMAIN wins and is cached. */
  private async query(q: Question): Promise<Reply> {
    let failure: { kind: Exclude<DnsErrorKind, "nxdomain">; detail: string } | undefined;
    const fail = (kind: Exclude<DnsErrorKind, "nxdomain">, detail: string): void => {
      if (!failure || ERROR_RANK[kind] >= ERROR_RANK[failure.kind]) failure = { kind, detail };
    };
    for (let round = 0; round < this.attempts; round++) {
      for (const server of this.servers) {
        let r: DnsResponse;
        try {
          r = await this.exchange(server, q);
        } catch (e) {
          if (!(e instanceof TransportError)) throw e;
          fail(e.kind, e.message);
          continue;
        }
        if (r.rcode === "NOERROR" || r.rcode === "NXDOMAIN") {
          const reply: Reply = {
            nxdomain: r.rcode === "NXDOMAIN",
            answers: (r.answers ?? []).filter((a) => a.type !== "OPT" && (a.class ?? "IN") === "IN"),
            authenticated: r.flag_ad,
          };
          this.cache.set(`${q.type} ${q.name}`, reply, ttlSeconds(reply, r) * 1000);
          return reply;
        }
        // a recursive server that fails or refuses may be alone in that: try the next one (as glibc does)
        if (r.rcode === "REFUSED") fail("refused", `${server.host} refused`);
        else fail("servfail", `${server.host} answered ${r.rcode}`);
      }
    }
    const f = failure ?? { kind: "network" as const, detail: "no servers" };
    throw new DnsError(f.kind, q.name, q.type, `DNS ${q.type} ${q.name}: ${f.kind} (${f.detail})`);
  }

  /** UDP with EDNS0; without EDNS0 if the server does not speak it; TCP if the answer was truncated. */
  private async exchange(server: ServerAddress, q: Question): Promise<DnsResponse> {
    let r = await udpExchange(server, q, true, this.timeoutMs);
    // an old server answers FORMERR to an OPT record: ask again without it (RFC 6891 §7)
    if (r.rcode === "FORMERR") r = await udpExchange(server, q, false, this.timeoutMs);
    if (r.flag_tc) r = await tcpExchange(server, q, true, this.timeoutMs);
    return r;
  }
}

/** How long a reply may be cached, in seconds (0: not at all). */
function ttlSeconds(reply: Reply, r: DnsResponse): number {
  if (reply.answers.length > 0 && !reply.nxdomain) {
    return Math.min(MAX_POSITIVE_TTL_S, ...reply.answers.map((a) => ("ttl" in a ? (a.ttl ?? 0) : 0)));
  }
  // negative answers live for min(SOA TTL, SOA MINIMUM) of the authority section (RFC 2308 §5)
  const soa = (r.authorities ?? []).find((a) => a.type === "SOA");
  if (soa?.type !== "SOA") return DEFAULT_NEGATIVE_TTL_S;
  return Math.min(MAX_NEGATIVE_TTL_S, soa.ttl ?? 0, soa.data.minimum ?? 0);
}
