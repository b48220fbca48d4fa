// The stub resolver against a real DNS server on loopback (test/helpers/dns-server.ts): record types,
// the four outcomes, CNAMEs, TCP fallback, the AD bit, the cache, server fallback and reply matching.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import * as dnsPacket from "dns-packet";
import { createResolver } from "../../src/dns/create.js";
import { MAX_CNAME_HOPS, StubResolver, type StubResolverOptions } from "../../src/dns/stub-resolver.js";
import { DnsError, type DnsErrorKind } from "../../src/dns/types.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";

const CERT_HASH = Buffer.from("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", "hex");
/** a 2048-bit RSA DKIM key record is ~400 octets; this one is a 4 KB monster, as some people publish */
const BIG_DKIM = `v=DKIM1; k=rsa; p=${"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".repeat(93)}`;

async function rejectsWith(p: Promise<unknown>, kind: DnsErrorKind, fragment?: string): Promise<DnsError> {
  const e = await p.then(
    (v) => assert.fail(`expected DnsError ${kind}, got ${JSON.stringify(v)}`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof DnsError, `expected a DnsError, got ${String(e)}`);
  assert.equal(e.kind, kind, e.message);
  if (fragment) assert.ok(e.message.includes(fragment), `"${e.message}" should contain "${fragment}"`);
  return e;
}

/** A loopback UDP port nobody listens on: the kernel answers with ICMP port unreachable. */
async function deadUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("StubResolver", () => {
  let dns: TestDnsServer;
  const resolver = (opts: StubResolverOptions = {}): StubResolver =>
    new StubResolver({ servers: [dns.server], timeoutMs: 1000, attempts: 1, ...opts });

  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "example.test", type: "A", data: "192.0.2.10" },
        { name: "example.test", type: "A", data: "192.0.2.11" },
        { name: "example.test", type: "AAAA", data: "2001:db8:0:0::10" },
        { name: "example.test", type: "MX", data: { preference: 10, exchange: "MX1.Example.Test." } },
        { name: "example.test", type: "MX", data: { preference: 20, exchange: "mx2.example.test" } },
        { name: "example.test", type: "TXT", data: "v=spf1 ip4:192.0.2.0/24 -all" },
        { name: "example.test", type: "TXT", data: ["google-site-", "verification=abc"] },
        {
          name: "example.test",
          type: "SOA",
          data: { mname: "ns.example.test", rname: "hostmaster.example.test", minimum: 30 },
          ttl: 120,
        },
        { name: "mx1.example.test", type: "A", data: "127.0.0.1" },
        {
          name: "_25._tcp.mx1.example.test",
          type: "TLSA",
          data: { usage: 3, selector: 1, matchingType: 1, certificate: CERT_HASH },
        },
        { name: "10.2.0.192.in-addr.arpa", type: "PTR", data: "Example.Test." },
        {
          name: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
          type: "PTR",
          data: "v6.example.test",
        },
        { name: "nullmx.test", type: "MX", data: { preference: 0, exchange: "." } },
        { name: "sel._domainkey.example.test", type: "TXT", data: BIG_DKIM },
        { name: "www.example.test", type: "CNAME", data: "web.example.test" },
        { name: "web.example.test", type: "CNAME", data: "Example.Test" },
        { name: "alias.test", type: "CNAME", data: "example.test" },
        { name: "loop1.test", type: "CNAME", data: "loop2.test" },
        { name: "loop2.test", type: "CNAME", data: "loop1.test" },
        { name: "dangling.test", type: "CNAME", data: "nowhere.test" },
      ],
    });
  });
  after(() => dns.close());
  beforeEach(() => {
    dns.queries.length = 0;
    dns.authenticated = false;
    dns.followCnames = true;
  });

  describe("record types", () => {
    it("A, in the server's order", async () => {
      const r = await resolver().a("example.test");
      assert.deepEqual(r, {
        records: ["192.0.2.10", "192.0.2.11"],
        authenticated: false,
        canonicalName: "example.test",
      });
    });

    it("AAAA in the canonical compressed form", async () => {
      assert.deepEqual((await resolver().aaaa("example.test")).records, ["2001:db8::10"]);
    });

    it("MX with lower-case exchanges without the trailing dot", async () => {
      assert.deepEqual((await resolver().mx("example.test")).records, [
        { exchange: "mx1.example.test", priority: 10 },
        { exchange: "mx2.example.test", priority: 20 },
      ]);
    });

    it('the null MX "." becomes exchange "" (RFC 7505)', async () => {
      assert.deepEqual((await resolver().mx("nullmx.test")).records, [{ exchange: "", priority: 0 }]);
    });

    it("TXT: one string per record, its character-strings joined", async () => {
      assert.deepEqual((await resolver().txt("example.test")).records, [
        "v=spf1 ip4:192.0.2.0/24 -all",
        "google-site-verification=abc",
      ]);
    });

    it("TXT joins the octets, so UTF-8 split across strings survives", async () => {
      const text = `${"a".repeat(254)}ü and more`; // the 2-octet ü straddles the 255-octet boundary
      dns.set("utf8.test", "TXT", [text]);
      assert.deepEqual((await resolver().txt("utf8.test")).records, [text]);
    });

    it("PTR for IPv4 and IPv6 addresses", async () => {
      assert.deepEqual(await resolver().ptr("192.0.2.10"), {
        records: ["example.test"],
        authenticated: false,
        canonicalName: "10.2.0.192.in-addr.arpa",
      });
      assert.deepEqual((await resolver().ptr("2001:db8::1")).records, ["v6.example.test"]);
      assert.deepEqual(
        dns.queries.map((q) => q.type),
        ["PTR", "PTR"],
      );
    });

    it("PTR of an IPv4-mapped address asks in-addr.arpa", async () => {
      assert.deepEqual((await resolver().ptr("::ffff:192.0.2.10")).records, ["example.test"]);
      assert.equal(dns.queries[0]?.name, "10.2.0.192.in-addr.arpa");
    });

    it("TLSA", async () => {
      const r = await resolver().tlsa("_25._tcp.mx1.example.test");
      assert.equal(r.records.length, 1);
      const t = r.records[0]!;
      assert.deepEqual(
        { ...t, data: t.data.toString("hex") },
        {
          usage: 3,
          selector: 1,
          matchingType: 1,
          data: CERT_HASH.toString("hex"),
        },
      );
    });

    it("names are case-insensitive and may end with a dot", async () => {
      const r = await resolver().a("EXAMPLE.Test.");
      assert.deepEqual(r.records, ["192.0.2.10", "192.0.2.11"]);
      assert.equal(r.canonicalName, "example.test");
      assert.equal(dns.queries[0]?.name, "example.test");
    });
  });

  describe("outcomes", () => {
    it("NXDOMAIN rejects with a permanent DnsError", async () => {
      const e = await rejectsWith(resolver().a("missing.example.test"), "nxdomain");
      assert.equal(e.temporary, false);
      assert.equal(e.qname, "missing.example.test");
      assert.equal(e.qtype, "A");
    });

    it("a name without records of the type is an empty answer, not an error", async () => {
      const r = await resolver().mx("mx1.example.test");
      assert.deepEqual(r, { records: [], authenticated: false, canonicalName: "mx1.example.test" });
    });

    it("an empty non-terminal exists: no data", async () => {
      assert.deepEqual((await resolver().txt("_domainkey.example.test")).records, []);
    });

    it("SERVFAIL rejects with a temporary DnsError", async () => {
      dns.servfail("broken.test");
      try {
        const e = await rejectsWith(resolver().a("broken.test"), "servfail");
        assert.equal(e.temporary, true);
      } finally {
        dns.servfail("broken.test", false);
      }
    });

    it("REFUSED rejects with refused", async () => {
      dns.refuse("refused.test");
      try {
        await rejectsWith(resolver().txt("refused.test"), "refused");
      } finally {
        dns.refuse("refused.test", false);
      }
    });

    it("no reply in time rejects with timeout after timeoutMs", async () => {
      dns.drop("slow.test");
      try {
        const t0 = Date.now();
        await rejectsWith(resolver({ timeoutMs: 150 }).a("slow.test"), "timeout");
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 140 && elapsed < 1000, `took ${elapsed} ms`);
      } finally {
        dns.drop("slow.test", false);
      }
    });

    it("every attempt is a new query: attempts × servers tries", async () => {
      dns.drop("slow.test");
      try {
        await rejectsWith(resolver({ timeoutMs: 80, attempts: 3 }).a("slow.test"), "timeout");
        assert.equal(dns.queries.length, 3);
      } finally {
        dns.drop("slow.test", false);
      }
    });

    it("a server that is not there rejects with network, quickly", async () => {
      const port = await deadUdpPort();
      const t0 = Date.now();
      await rejectsWith(
        new StubResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 3000, attempts: 1 }).a("example.test"),
        "network",
      );
      assert.ok(Date.now() - t0 < 2000, "ICMP port unreachable should not wait for the timeout");
    });

    it("an invalid name or address rejects with nxdomain without a query", async () => {
      await rejectsWith(resolver().a("a..b.test"), "nxdomain", "not a valid domain name");
      await rejectsWith(resolver().a(`${"x".repeat(64)}.test`), "nxdomain");
      await rejectsWith(resolver().ptr("not-an-ip"), "nxdomain", "not an IP address");
      assert.equal(dns.queries.length, 0);
    });
  });

  describe("CNAME", () => {
    it("follows a chain inside the answer; canonicalName is its end", async () => {
      const r = await resolver().mx("www.example.test");
      assert.equal(r.canonicalName, "example.test");
      assert.deepEqual(
        r.records.map((m) => m.exchange),
        ["mx1.example.test", "mx2.example.test"],
      );
      assert.equal(dns.queries.length, 1, "the server sent the whole chain");
    });

    it("asks again for the chain's end when the answer stops at a CNAME", async () => {
      dns.followCnames = false;
      const r = await resolver().a("www.example.test");
      assert.deepEqual(r.records, ["192.0.2.10", "192.0.2.11"]);
      assert.equal(r.canonicalName, "example.test");
      assert.deepEqual(
        dns.queries.map((q) => q.name),
        ["www.example.test", "web.example.test", "example.test"],
      );
    });

    it("a chain to a name without the type is no data at the end of the chain", async () => {
      const r = await resolver().tlsa("alias.test");
      assert.deepEqual(r, { records: [], authenticated: false, canonicalName: "example.test" });
    });

    it("a chain to a missing name is nxdomain for the name asked", async () => {
      const e = await rejectsWith(resolver().a("dangling.test"), "nxdomain", "nowhere.test");
      assert.equal(e.qname, "dangling.test");
      assert.deepEqual(
        dns.queries.map((q) => q.name),
        ["dangling.test", "nowhere.test"],
      );
    });

    it("a loop inside one answer is an error, not a hang", async () => {
      await rejectsWith(resolver().a("loop1.test"), "servfail", "loop");
      assert.equal(dns.queries.length, 1);
    });

    it("a loop across queries is an error, not a hang", async () => {
      dns.followCnames = false;
      await rejectsWith(resolver().a("loop1.test"), "servfail", "loop");
      assert.deepEqual(
        dns.queries.map((q) => q.name),
        ["loop1.test", "loop2.test"],
      );
    });

    it(`follows ${MAX_CNAME_HOPS} CNAMEs but not ${MAX_CNAME_HOPS + 1}`, async () => {
      for (let i = 0; i <= MAX_CNAME_HOPS; i++)
        dns.set(`c${i}.chain.test`, "CNAME", [`c${i + 1}.chain.test`]);
      dns.set(`c${MAX_CNAME_HOPS + 1}.chain.test`, "A", ["192.0.2.99"]);
      const ok = await resolver().a("c1.chain.test");
      assert.deepEqual(ok.records, ["192.0.2.99"]);
      assert.equal(ok.canonicalName, `c${MAX_CNAME_HOPS + 1}.chain.test`);
      await rejectsWith(resolver().a("c0.chain.test"), "servfail", "chain too long");
    });
  });

  describe("transport", () => {
    it("a truncated UDP answer is asked again over TCP", async () => {
      const r = await resolver().txt("sel._domainkey.example.test");
      assert.deepEqual(r.records, [BIG_DKIM]);
      assert.deepEqual(
        dns.queries.map((q) => q.transport),
        ["udp", "tcp"],
      );
    });

    it("advertises EDNS0: answers up to 1232 octets stay on UDP", async () => {
      const txt = "x".repeat(900);
      dns.set("medium.test", "TXT", [txt]);
      assert.deepEqual((await resolver().txt("medium.test")).records, [txt]);
      assert.deepEqual(
        dns.queries.map((q) => q.transport),
        ["udp"],
      );
    });

    it("ignores replies with a wrong id or a wrong question and waits for the real one", async () => {
      dns.decoy("example.test");
      try {
        const r = await resolver().a("example.test");
        assert.deepEqual(r.records, ["192.0.2.10", "192.0.2.11"]);
        // and over TCP, where decoys come first on the same connection
        dns.decoy("sel._domainkey.example.test");
        assert.deepEqual((await resolver().txt("sel._domainkey.example.test")).records, [BIG_DKIM]);
      } finally {
        dns.decoy("example.test", false);
        dns.decoy("sel._domainkey.example.test", false);
      }
    });

    it("speaks IPv6 to [::1]:port", async (t) => {
      let v6: TestDnsServer;
      try {
        v6 = await startDnsServer({
          host: "::1",
          records: [{ name: "six.test", type: "AAAA", data: "::1" }],
        });
      } catch (e) {
        t.skip(`no IPv6 loopback: ${(e as Error).message}`);
        return;
      }
      try {
        assert.match(v6.server, /^\[::1\]:\d+$/);
        const r = new StubResolver({ servers: [v6.server], timeoutMs: 1000 });
        assert.deepEqual((await r.aaaa("six.test")).records, ["::1"]);
      } finally {
        await v6.close();
      }
    });

    it("asks again without EDNS0 when a server answers FORMERR to the OPT record (RFC 6891 §7)", async () => {
      // an old server, written out here because the test server speaks EDNS0
      const old = createSocket("udp4");
      const seen: boolean[] = [];
      old.on("message", (msg, rinfo) => {
        const q = dnsPacket.decode(msg);
        const hasOpt = (q.additionals ?? []).some((a) => a.type === "OPT");
        seen.push(hasOpt);
        const reply = dnsPacket.encode({
          type: "response",
          id: q.id ?? 0,
          flags: hasOpt ? 1 : 0, // rcode 1 = FORMERR
          questions: hasOpt ? [] : (q.questions ?? []),
          answers: hasOpt ? [] : [{ name: "old.test", type: "A", class: "IN", ttl: 60, data: "192.0.2.77" }],
        });
        old.send(reply, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve) => old.bind(0, "127.0.0.1", () => resolve()));
      try {
        const r = new StubResolver({ servers: [`127.0.0.1:${old.address().port}`], timeoutMs: 1000 });
        assert.deepEqual((await r.a("old.test")).records, ["192.0.2.77"]);
        assert.deepEqual(seen, [true, false]);
      } finally {
        old.close();
      }
    });
  });

  describe("several servers", () => {
    let second: TestDnsServer;
    before(async () => {
      second = await startDnsServer({ records: [{ name: "fallback.test", type: "A", data: "192.0.2.2" }] });
      dns.add({ name: "fallback.test", type: "A", data: "192.0.2.1" });
    });
    after(() => second.close());
    beforeEach(() => {
      second.queries.length = 0;
    });

    it("moves on to the next server when the first does not answer", async () => {
      dns.drop("fallback.test");
      try {
        const r = new StubResolver({ servers: [dns.server, second.server], timeoutMs: 100, attempts: 2 });
        const t0 = Date.now();
        assert.deepEqual((await r.a("fallback.test")).records, ["192.0.2.2"]);
        assert.ok(Date.now() - t0 >= 90, "waited for the first server");
        assert.equal(dns.queries.length, 1);
        assert.equal(second.queries.length, 1);
      } finally {
        dns.drop("fallback.test", false);
      }
    });

    it("moves on after SERVFAIL too", async () => {
      dns.servfail("fallback.test");
      try {
        const r = new StubResolver({ servers: [dns.server, second.server], timeoutMs: 1000 });
        assert.deepEqual((await r.a("fallback.test")).records, ["192.0.2.2"]);
      } finally {
        dns.servfail("fallback.test", false);
      }
    });

    it("does not move on after NXDOMAIN: that is an answer", async () => {
      const r = new StubResolver({ servers: [dns.server, second.server], timeoutMs: 1000 });
      await rejectsWith(r.a("only-on-second.test"), "nxdomain");
      assert.equal(second.queries.length, 0);
    });

    it("reports an answer's SERVFAIL rather than the other server's silence", async () => {
      dns.servfail("fallback.test");
      second.drop("fallback.test");
      try {
        const r = new StubResolver({ servers: [dns.server, second.server], timeoutMs: 80, attempts: 1 });
        await rejectsWith(r.a("fallback.test"), "servfail");
      } finally {
        dns.servfail("fallback.test", false);
        second.drop("fallback.test", false);
      }
    });
  });

  describe("the AD bit", () => {
    it("is false unless the server sets it", async () => {
      assert.equal((await resolver().a("example.test")).authenticated, false);
      dns.authenticated = true;
      assert.equal((await resolver().a("example.test")).authenticated, true);
      assert.equal(
        (await resolver().mx("mx1.example.test")).authenticated,
        true,
        "no data can be validated too",
      );
    });

    it("is true only when every response used carried it", async () => {
      dns.authenticated = true;
      dns.followCnames = false;
      dns.setAuthenticated("web.example.test", false);
      try {
        const r = await resolver().a("www.example.test");
        assert.deepEqual(r.records, ["192.0.2.10", "192.0.2.11"]);
        assert.equal(r.authenticated, false);
      } finally {
        dns.setAuthenticated("web.example.test", null);
      }
    });

    it("is asked for in the query (RFC 6840 §5.7), with RD and an EDNS0 OPT of 1232 octets", async () => {
      const probe = createSocket("udp4");
      const got = new Promise<dnsPacket.DecodedPacket>((resolve) =>
        probe.once("message", (msg) => resolve(dnsPacket.decode(msg))),
      );
      await new Promise<void>((resolve) => probe.bind(0, "127.0.0.1", () => resolve()));
      try {
        const r = new StubResolver({
          servers: [`127.0.0.1:${probe.address().port}`],
          timeoutMs: 200,
          attempts: 1,
        });
        const pending = r.a("probe.test").catch(() => undefined);
        const q = await got;
        await pending;
        assert.equal(q.flag_ad, true);
        assert.equal(q.flag_rd, true);
        const opt = q.additionals?.find((a) => a.type === "OPT");
        assert.ok(opt && opt.type === "OPT");
        assert.equal(opt.udpPayloadSize, 1232);
      } finally {
        probe.close();
      }
    });
  });

  describe("cache", () => {
    let clock: number;
    const now = (): number => clock;
    beforeEach(() => {
      clock = 1_000_000;
    });

    it("answers a repeated lookup from the cache until the TTL runs out", async () => {
      dns.set("ttl.test", "A", ["192.0.2.5"], 30);
      const r = resolver({ now });
      await r.a("ttl.test");
      clock += 29_000;
      assert.deepEqual((await r.a("TTL.test.")).records, ["192.0.2.5"]);
      assert.equal(dns.queries.length, 1, "second lookup came from the cache");
      clock += 2_000;
      await r.a("ttl.test");
      assert.equal(dns.queries.length, 2, "expired entry was fetched again");
    });

    it("expires with the real clock too (TTL 1)", async () => {
      dns.set("short.test", "A", ["192.0.2.6"], 1);
      const r = resolver();
      await r.a("short.test");
      await r.a("short.test");
      assert.equal(dns.queries.length, 1);
      await new Promise((resolve) => setTimeout(resolve, 1050));
      await r.a("short.test");
      assert.equal(dns.queries.length, 2);
    });

    it("uses the smallest TTL of the answer, CNAMEs included", async () => {
      dns.set("ttl-a.test", "CNAME", ["ttl-b.test"], 10);
      dns.set("ttl-b.test", "A", ["192.0.2.7"], 3600);
      const r = resolver({ now });
      await r.a("ttl-a.test");
      clock += 9_000;
      await r.a("ttl-a.test");
      assert.equal(dns.queries.length, 1);
      clock += 2_000;
      await r.a("ttl-a.test");
      assert.equal(dns.queries.length, 2);
    });

    it("keeps positive answers at most a day", async () => {
      dns.set("long.test", "A", ["192.0.2.8"], 7 * 86_400);
      const r = resolver({ now });
      await r.a("long.test");
      clock += 86_399_000;
      await r.a("long.test");
      assert.equal(dns.queries.length, 1);
      clock += 2_000;
      await r.a("long.test");
      assert.equal(dns.queries.length, 2);
    });

    it("does not cache TTL 0", async () => {
      dns.set("zero.test", "A", ["192.0.2.9"], 0);
      const r = resolver({ now });
      await r.a("zero.test");
      await r.a("zero.test");
      assert.equal(dns.queries.length, 2);
    });

    it("caches NXDOMAIN and no data for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)", async () => {
      // the zone's SOA: TTL 120, MINIMUM 30
      const r = resolver({ now });
      await rejectsWith(r.a("gone.example.test"), "nxdomain");
      assert.deepEqual((await r.mx("mx1.example.test")).records, []);
      clock += 29_000;
      await rejectsWith(r.a("gone.example.test"), "nxdomain");
      assert.deepEqual((await r.mx("mx1.example.test")).records, []);
      assert.equal(dns.queries.length, 2);
      clock += 2_000;
      await rejectsWith(r.a("gone.example.test"), "nxdomain");
      await r.mx("mx1.example.test");
      assert.equal(dns.queries.length, 4);
    });

    it("caps negative caching at 5 minutes, and uses 60 s without an SOA", async () => {
      const generous = await startDnsServer({ negativeTtl: 86_400 });
      const bare = await startDnsServer({ negativeTtl: null });
      try {
        const r1 = new StubResolver({ servers: [generous.server], now, attempts: 1 });
        const r2 = new StubResolver({ servers: [bare.server], now, attempts: 1 });
        await rejectsWith(r1.a("x.test"), "nxdomain");
        await rejectsWith(r2.a("x.test"), "nxdomain");
        clock += 59_000;
        await rejectsWith(r1.a("x.test"), "nxdomain");
        await rejectsWith(r2.a("x.test"), "nxdomain");
        assert.equal(generous.queries.length, 1);
        assert.equal(bare.queries.length, 1);
        clock += 2_000; // 61 s: the SOA-less answer is gone
        await rejectsWith(r2.a("x.test"), "nxdomain");
        assert.equal(bare.queries.length, 2);
        clock += 240_000; // 301 s
        await rejectsWith(r1.a("x.test"), "nxdomain");
        assert.equal(generous.queries.length, 2);
      } finally {
        await generous.close();
        await bare.close();
      }
    });

    it("never caches SERVFAIL or timeouts", async () => {
      const r = resolver({ now, timeoutMs: 60 });
      dns.servfail("flaky.test");
      await rejectsWith(r.a("flaky.test"), "servfail");
      dns.servfail("flaky.test", false);
      dns.drop("flaky.test");
      await rejectsWith(r.a("flaky.test"), "timeout");
      dns.drop("flaky.test", false);
      dns.set("flaky.test", "A", ["192.0.2.12"]);
      assert.deepEqual((await r.a("flaky.test")).records, ["192.0.2.12"]);
      assert.equal(dns.queries.length, 3);
    });

    it("keys by name and type", async () => {
      const r = resolver({ now });
      await r.a("example.test");
      await r.aaaa("example.test");
      await r.a("example.test");
      assert.deepEqual(
        dns.queries.map((q) => q.type),
        ["A", "AAAA"],
      );
    });

    it("keeps the AD bit with the entry", async () => {
      dns.authenticated = true;
      const r = resolver({ now });
      await r.a("example.test");
      dns.authenticated = false;
      assert.equal((await r.a("example.test")).authenticated, true);
      assert.equal(dns.queries.length, 1);
    });

    it("evicts the least recently used entry beyond cacheSize", async () => {
      dns.set("l1.test", "A", ["192.0.2.21"]);
      dns.set("l2.test", "A", ["192.0.2.22"]);
      dns.set("l3.test", "A", ["192.0.2.23"]);
      const r = resolver({ now, cacheSize: 2 });
      await r.a("l1.test");
      await r.a("l2.test");
      await r.a("l1.test"); // l1 is now the most recent
      await r.a("l3.test"); // evicts l2
      dns.queries.length = 0;
      await r.a("l1.test");
      await r.a("l3.test");
      assert.equal(dns.queries.length, 0);
      await r.a("l2.test");
      assert.deepEqual(
        dns.queries.map((q) => q.name),
        ["l2.test"],
      );
    });

    it("clearCache() forgets everything", async () => {
      const r = resolver({ now });
      await r.a("example.test");
      r.clearCache();
      await r.a("example.test");
      assert.equal(dns.queries.length, 2);
    });

    it("cacheSize 0 disables caching", async () => {
      const r = resolver({ now, cacheSize: 0 });
      await r.a("example.test");
      await r.a("example.test");
      assert.equal(dns.queries.length, 2);
    });

    it("sends identical lookups in flight only once", async () => {
      const r = resolver({ cacheSize: 0 });
      const [x, y, z] = await Promise.all([r.a("example.test"), r.a("Example.Test"), r.aaaa("example.test")]);
      assert.deepEqual(x.records, y.records);
      assert.deepEqual(z.records, ["2001:db8::10"]);
      assert.deepEqual(dns.queries.map((q) => q.type).sort(), ["A", "AAAA"]);
    });

    it("shares a failure with every waiter", async () => {
      dns.servfail("broken.test");
      try {
        const r = resolver();
        const results = await Promise.allSettled([r.a("broken.test"), r.a("broken.test")]);
        assert.deepEqual(
          results.map((x) => x.status),
          ["rejected", "rejected"],
        );
        assert.equal(dns.queries.length, 1);
      } finally {
        dns.servfail("broken.test", false);
      }
    });
  });

  describe("configuration", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "postamt-dns-"));
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it("refuses a server that is not an IP address", () => {
      assert.throws(() => new StubResolver({ servers: ["dns.example"] }), TypeError);
    });

    it("reads resolv.conf when no servers are given", async () => {
      const path = join(dir, "resolv.conf");
      await writeFile(path, "nameserver 192.0.2.53\nnameserver ::1\n");
      assert.deepEqual(new StubResolver({ servers: [], resolvConfPath: path }).servers, [
        { host: "192.0.2.53", port: 53, family: 4 },
        { host: "::1", port: 53, family: 6 },
      ]);
    });

    it("falls back to 127.0.0.1 without resolv.conf", () => {
      const r = new StubResolver({ resolvConfPath: join(dir, "missing") });
      assert.deepEqual(r.servers, [{ host: "127.0.0.1", port: 53, family: 4 }]);
    });

    it("createResolver builds a StubResolver from dns.servers", async () => {
      const r = createResolver({ servers: [dns.server], timeoutMs: 500 });
      assert.ok(r instanceof StubResolver);
      assert.deepEqual((await r.a("example.test")).records, ["192.0.2.10", "192.0.2.11"]);
    });
  });
});
