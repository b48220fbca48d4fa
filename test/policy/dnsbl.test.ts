// The DNSBL checker (RFC 5782) against a real DNS server on loopback (test/helpers/dns-server.ts)
// through the real stub resolver: listings, NXDOMAIN, IPv6, error codes, failures, caching, zones.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { StubResolver } from "../../src/dns/stub-resolver.js";
import { DnsError } from "../../src/dns/types.js";
import {
  DnsblAnswerError,
  DnsblChecker,
  type DnsblCheckerOptions,
  dnsblQueryName,
} from "../../src/policy/dnsbl.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";

/** 2001:db8::1 under bl.test, written out by hand: 32 nibbles, least significant first */
const V6_NAME = `1.${"0.".repeat(23)}8.b.d.0.1.0.0.2.bl.test`;

describe("dnsblQueryName", () => {
  it("reverses IPv4 octets (RFC 5782 §2.1)", () => {
    assert.equal(dnsblQueryName("192.0.2.99", "bl.example"), "99.2.0.192.bl.example");
    assert.equal(dnsblQueryName("127.0.0.2", "Zen.Spamhaus.ORG."), "2.0.0.127.zen.spamhaus.org");
  });

  it("reverses IPv6 nibbles, zeros written out (RFC 5782 §2.4)", () => {
    assert.equal(
      dnsblQueryName("2001:db8:1:2:3:4:567:89ab", "ugly.example.com"),
      "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com",
    );
    assert.equal(dnsblQueryName("2001:DB8::1", "bl.test"), V6_NAME);
  });

  it("looks up IPv4-mapped IPv6 addresses as IPv4", () => {
    assert.equal(dnsblQueryName("::ffff:192.0.2.99", "bl.example"), "99.2.0.192.bl.example");
  });

  it("refuses what is not an address", () => {
    assert.throws(() => dnsblQueryName("mail.example", "bl.example"), TypeError);
    assert.throws(() => dnsblQueryName("", "bl.example"), TypeError);
  });
});

describe("DnsblChecker", () => {
  let dns: TestDnsServer;
  let t = 1_000_000;
  let errors: { zone: string; err: unknown }[] = [];

  const checker = (opts: Partial<DnsblCheckerOptions> = {}, resolverTimeoutMs = 1_000): DnsblChecker =>
    new DnsblChecker({
      zones: ["bl.test"],
      // no resolver cache: the checker's own cache is what is tested
      resolver: new StubResolver({
        servers: [dns.server],
        timeoutMs: resolverTimeoutMs,
        attempts: 1,
        cacheSize: 0,
      }),
      now: () => t,
      onError: (zone, err) => errors.push({ zone, err }),
      ...opts,
    });

  const queriesFor = (name: string) => dns.queries.filter((q) => q.name === name).length;

  before(async () => {
    dns = await startDnsServer({
      records: [
        // RFC 5782 §5: every list carries the 127.0.0.2 test entry
        { name: "2.0.0.127.bl.test", type: "A", data: "127.0.0.2" },
        { name: "99.2.0.192.bl.test", type: "A", data: "127.0.0.2" },
        {
          name: "99.2.0.192.bl.test",
          type: "TXT",
          data: "Listed for spam, see https://bl.test/q/192.0.2.99",
        },
        { name: "98.2.0.192.bl.test", type: "A", data: "127.0.0.4" },
        { name: "98.2.0.192.bl.test", type: "A", data: "127.0.0.10" },
        { name: "97.2.0.192.bl.test", type: "A", data: "127.0.0.2" },
        { name: "97.2.0.192.bl.test", type: "TXT", data: `evil\r\n250 OK\u0000 ${"x".repeat(400)}` },
        { name: V6_NAME, type: "A", data: "127.0.0.3" },
        { name: V6_NAME, type: "TXT", data: "IPv6 listed" },
        { name: "66.2.0.192.bl.test", type: "A", data: "127.255.255.254" },
        { name: "77.2.0.192.bl.test", type: "A", data: "198.51.100.1" },
        { name: "78.2.0.192.bl.test", type: "TXT", data: "a TXT record but no A record" },
        { name: "50.2.0.192.bl.test", type: "A", data: "127.0.0.2" },
        { name: "51.2.0.192.bl.test", type: "A", data: "127.0.0.2" },
        // a second list
        { name: "1.2.0.192.bl2.test", type: "A", data: "127.0.1.2" },
        { name: "99.2.0.192.bl2.test", type: "A", data: "127.0.1.2" },
        { name: "99.2.0.192.bl2.test", type: "TXT", data: "bl2 says so" },
        { name: "50.2.0.192.bl2.test", type: "A", data: "127.0.1.2" },
      ],
    });
    dns.servfail("50.2.0.192.bl.test");
    dns.drop("51.2.0.192.bl.test");
  });
  after(() => dns.close());
  beforeEach(() => {
    dns.queries.length = 0;
    errors = [];
  });

  it("reports a listed IPv4 address with its codes and TXT text", async () => {
    const c = checker();
    assert.deepEqual(await c.check("192.0.2.99"), {
      zone: "bl.test",
      codes: ["127.0.0.2"],
      text: "Listed for spam, see https://bl.test/q/192.0.2.99",
    });
    assert.deepEqual(await c.check("127.0.0.2"), {
      zone: "bl.test",
      codes: ["127.0.0.2"],
      text: "listed by bl.test",
    });
    assert.deepEqual(errors, []);
  });

  it("gives every A code, and a default text when there is no TXT record", async () => {
    const listing = await checker().check("192.0.2.98");
    assert.deepEqual(listing?.codes, ["127.0.0.4", "127.0.0.10"]);
    assert.equal(listing?.text, "listed by bl.test");
    assert.deepEqual(errors, []);
  });

  it("makes the TXT text safe to quote in an SMTP reply", async () => {
    const text = (await checker().check("192.0.2.97"))?.text ?? "";
    assert.match(text, /^evil 250 OK x+\.\.\.$/);
    assert.ok(text.length <= 200);
    assert.doesNotMatch(text, /[^\x20-\x7e]/);
  });

  it("NXDOMAIN, and a name without an A record, are not listed, and not errors", async () => {
    const c = checker();
    assert.equal(await c.check("192.0.2.1"), null);
    assert.equal(await c.check("192.0.2.78"), null);
    assert.equal(await c.check("127.0.0.1"), null, "RFC 5782 §5: 127.0.0.1 is never listed");
    assert.deepEqual(errors, []);
  });

  it("checks IPv6 addresses by nibbles, and IPv4-mapped ones as IPv4", async () => {
    const c = checker();
    assert.deepEqual(await c.check("2001:db8::1"), {
      zone: "bl.test",
      codes: ["127.0.0.3"],
      text: "IPv6 listed",
    });
    assert.equal(await c.check("2001:db8::2"), null);
    assert.equal((await c.check("::ffff:192.0.2.99"))?.codes[0], "127.0.0.2");
    assert.equal(queriesFor(V6_NAME), 2, "one A and one TXT query");
  });

  it("an error code (127.255.255.252–255) is not a listing, and is reported", async () => {
    assert.equal(await checker().check("192.0.2.66"), null);
    assert.equal(errors.length, 1);
    const { zone, err } = errors[0]!;
    assert.equal(zone, "bl.test");
    assert.ok(err instanceof DnsblAnswerError);
    assert.deepEqual(err.codes, ["127.255.255.254"]);
    assert.match(err.message, /public/);
  });

  it("an answer outside 127.0.0.0/8 is not a listing, and is reported", async () => {
    assert.equal(await checker().check("192.0.2.77"), null);
    assert.equal(errors.length, 1);
    assert.ok(errors[0]!.err instanceof DnsblAnswerError);
    assert.match(String(errors[0]!.err), /outside 127\.0\.0\.0\/8/);
  });

  it("SERVFAIL counts as not listed, reported, and not cached", async () => {
    const c = checker();
    assert.equal(await c.check("192.0.2.50"), null);
    assert.equal(errors.length, 1);
    const err = errors[0]!.err;
    assert.ok(err instanceof DnsError && err.kind === "servfail");
    await c.check("192.0.2.50");
    assert.equal(queriesFor("50.2.0.192.bl.test"), 2, "asked again");
  });

  it("a dropped query times out (the checker's own timeout) and counts as not listed", async () => {
    const c = checker({ timeoutMs: 150 }, 2_000);
    const started = Date.now();
    assert.equal(await c.check("192.0.2.51"), null);
    assert.ok(Date.now() - started < 2_000, "did not wait for the resolver");
    const err = errors[0]?.err;
    assert.ok(err instanceof DnsError && err.kind === "timeout", String(err));
  });

  it("a dropped query the resolver gives up on counts as not listed", async () => {
    assert.equal(await checker({ timeoutMs: 5_000 }, 200).check("192.0.2.51"), null);
    const err = errors[0]?.err;
    assert.ok(err instanceof DnsError && err.kind === "timeout", String(err));
  });

  it("caches answers, listed or not, per address and zone for cacheMs", async () => {
    const c = checker({ cacheMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      assert.notEqual(await c.check("192.0.2.99"), null);
      assert.equal(await c.check("192.0.2.1"), null);
    }
    assert.equal(queriesFor("99.2.0.192.bl.test"), 2, "A and TXT, once");
    assert.equal(queriesFor("1.2.0.192.bl.test"), 1);
    t += 60_001;
    await c.check("192.0.2.99");
    await c.check("192.0.2.1");
    assert.equal(queriesFor("99.2.0.192.bl.test"), 4);
    assert.equal(queriesFor("1.2.0.192.bl.test"), 2);
  });

  it("asks once for simultaneous checks of one address", async () => {
    const c = checker();
    const all = await Promise.all([c.check("192.0.2.1"), c.check("192.0.2.1"), c.check("192.0.2.1")]);
    assert.deepEqual(all, [null, null, null]);
    assert.equal(queriesFor("1.2.0.192.bl.test"), 1);
  });

  it("with cacheMs 0, asks every time", async () => {
    const c = checker({ cacheMs: 0 });
    await c.check("192.0.2.1");
    await c.check("192.0.2.1");
    assert.equal(queriesFor("1.2.0.192.bl.test"), 2);
  });

  it("asks every zone in parallel and returns the first listing in configured order", async () => {
    const c = checker({ zones: ["bl.test", "BL2.test."] });
    assert.deepEqual(await c.check("192.0.2.1"), {
      zone: "bl2.test",
      codes: ["127.0.1.2"],
      text: "listed by bl2.test",
    });
    assert.equal((await c.check("192.0.2.99"))?.zone, "bl.test", "both list it: the first zone wins");
    assert.equal(queriesFor("99.2.0.192.bl2.test"), 2, "the second zone was asked too (A, then TXT)");
    assert.equal(
      (await c.check("192.0.2.50"))?.zone,
      "bl2.test",
      "a failing zone does not hide another's listing",
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.zone, "bl.test");
    assert.equal(await c.check("192.0.2.2"), null);
    const reversed = checker({ zones: ["bl2.test", "bl.test"] });
    assert.equal((await reversed.check("192.0.2.99"))?.text, "bl2 says so");
  });

  it("never throws: no zones, not an address, a failing onError", async () => {
    assert.equal(await checker({ zones: [] }).check("192.0.2.99"), null);
    assert.equal(await checker().check("not-an-ip"), null);
    const c = checker({
      onError: () => {
        throw new Error("logger broke");
      },
    });
    assert.equal(await c.check("192.0.2.50"), null);
    assert.equal(dns.queries.length, 1, "only the SERVFAIL check asked anything");
  });
});
