// The test DNS server (test/helpers/dns-server.ts) on the wire, with raw dns-packet queries: other
// tests rely on it behaving like a real authoritative server.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import * as dnsPacket from "dns-packet";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";

type Response = dnsPacket.DecodedPacket & { rcode: string };

const dataOf = (a: dnsPacket.Answer | undefined): unknown => (a && "data" in a ? a.data : undefined);

function query(name: string, type: dnsPacket.RecordType, edns: boolean, id = 4242): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
    additionals: edns
      ? [
          {
            type: "OPT",
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
}

async function udp(server: TestDnsServer, msg: Buffer): Promise<{ r: Response; size: number }> {
  const s = createSocket("udp4");
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no UDP answer")), 2000);
      s.on("message", (m) => {
        clearTimeout(timer);
        resolve({ r: dnsPacket.decode(m) as Response, size: m.length });
      });
      s.send(msg, server.port, server.address);
    });
  } finally {
    s.close();
  }
}

/** Sends several queries on one TCP connection in one write; returns the answers in order. */
async function tcp(server: TestDnsServer, msgs: Buffer[]): Promise<Response[]> {
  const sock = connect(server.port, server.address);
  const frames = msgs.map((m) => {
    const f = Buffer.alloc(2 + m.length);
    f.writeUInt16BE(m.length, 0);
    m.copy(f, 2);
    return f;
  });
  sock.write(Buffer.concat(frames));
  let buf = Buffer.alloc(0);
  const out: Response[] = [];
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no TCP answer")), 2000);
      sock.on("error", reject);
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          out.push(dnsPacket.decode(buf.subarray(2, 2 + len)) as Response);
          buf = buf.subarray(2 + len);
        }
        if (out.length === msgs.length) {
          clearTimeout(timer);
          resolve(out);
        }
      });
    });
  } finally {
    sock.destroy();
  }
}

describe("test DNS server", () => {
  let dns: TestDnsServer;
  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "Example.Test.", type: "A", data: "192.0.2.1" },
        { name: "example.test", type: "TXT", data: "y".repeat(600) },
        { name: "alias.test", type: "CNAME", data: "example.test" },
        { name: "a.b.deep.test", type: "A", data: "192.0.2.3" },
      ],
    });
  });
  after(() => dns.close());

  it("listens on UDP and TCP on the same loopback port", () => {
    assert.equal(dns.address, "127.0.0.1");
    assert.ok(dns.port > 0);
    assert.equal(dns.server, `127.0.0.1:${dns.port}`);
  });

  it("answers case-insensitively, authoritatively, copying RD and the id", async () => {
    const { r } = await udp(dns, query("EXAMPLE.test", "A", false, 777));
    assert.equal(r.id, 777);
    assert.equal(r.rcode, "NOERROR");
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_rd, true);
    assert.equal(r.flag_ad, false);
    assert.deepEqual(r.answers?.map(dataOf), ["192.0.2.1"]);
  });

  it("NXDOMAIN and no data carry an SOA in the authority section", async () => {
    const nx = (await udp(dns, query("nope.test", "A", false))).r;
    assert.equal(nx.rcode, "NXDOMAIN");
    assert.equal(nx.authorities?.[0]?.type, "SOA");
    const nodata = (await udp(dns, query("example.test", "MX", false))).r;
    assert.equal(nodata.rcode, "NOERROR");
    assert.equal(nodata.answers?.length, 0);
    assert.equal(nodata.authorities?.[0]?.type, "SOA");
  });

  it("an empty non-terminal is no data, not NXDOMAIN", async () => {
    const { r } = await udp(dns, query("b.deep.test", "A", false));
    assert.equal(r.rcode, "NOERROR");
    assert.equal(r.answers?.length, 0);
  });

  it("answers a CNAME for any type, with the target's records", async () => {
    const { r } = await udp(dns, query("alias.test", "A", false));
    assert.deepEqual(
      r.answers?.map((a) => [a.type, dataOf(a)]),
      [
        ["CNAME", "example.test"],
        ["A", "192.0.2.1"],
      ],
    );
  });

  it("truncates over 512 octets without EDNS0, not with it; TCP gets everything", async () => {
    const plain = await udp(dns, query("example.test", "TXT", false));
    assert.equal(plain.r.flag_tc, true);
    assert.equal(plain.r.answers?.length, 0);
    assert.ok(plain.size <= 512);
    const edns = await udp(dns, query("example.test", "TXT", true));
    assert.equal(edns.r.flag_tc, false);
    const strings = dataOf(edns.r.answers?.[0]) as Buffer[];
    assert.deepEqual(
      strings.map((b) => b.length),
      [255, 255, 90],
      "a string is cut into 255-octet character-strings",
    );
    const [t, a] = await tcp(dns, [
      query("example.test", "TXT", false, 1),
      query("example.test", "A", false, 2),
    ]);
    assert.equal(t?.flag_tc, false);
    assert.equal(t?.answers?.length, 1);
    assert.equal(a?.id, 2);
  });

  it("add, set and remove change the zone", async () => {
    dns.add({ name: "new.test", type: "A", data: "192.0.2.50" });
    assert.equal((await udp(dns, query("new.test", "A", false))).r.answers?.length, 1);
    dns.set("new.test", "A", []);
    const empty = (await udp(dns, query("new.test", "A", false))).r;
    assert.equal(empty.rcode, "NOERROR");
    assert.equal(empty.answers?.length, 0);
    dns.remove("new.test");
    assert.equal((await udp(dns, query("new.test", "A", false))).r.rcode, "NXDOMAIN");
  });

  it("logs every query", async () => {
    dns.queries.length = 0;
    await udp(dns, query("Example.TEST.", "MX", false));
    assert.deepEqual(dns.queries, [{ name: "example.test", type: "MX", transport: "udp" }]);
  });

  it("refuses a TXT character-string over 255 octets when the record is added", () => {
    assert.throws(() => dns.add({ name: "x.test", type: "TXT", data: ["z".repeat(256)] }), RangeError);
  });
});
