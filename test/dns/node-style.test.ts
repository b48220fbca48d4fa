// The adapter that gives mailauth node's dns.promises.resolve semantics on top of our resolver, and
// mailauth itself (SPF, DMARC) resolving through it against the test DNS server.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { type DNSResolver, dmarc, spf } from "mailauth";
import { nodeStyleResolver } from "../../src/dns/node-style.js";
import { StubResolver } from "../../src/dns/stub-resolver.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";

async function rejectsCode(p: Promise<unknown>, code: string): Promise<NodeJS.ErrnoException> {
  const e = await p.then(
    (v) => assert.fail(`expected ${code}, got ${JSON.stringify(v)}`),
    (err: unknown) => err as NodeJS.ErrnoException,
  );
  assert.equal(e.code, code, e.message);
  return e;
}

describe("nodeStyleResolver", () => {
  let dns: TestDnsServer;
  let resolve: ReturnType<typeof nodeStyleResolver>;

  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "example.test", type: "A", data: "192.0.2.10" },
        { name: "example.test", type: "AAAA", data: "2001:db8::10" },
        { name: "example.test", type: "MX", data: { preference: 10, exchange: "mx.example.test" } },
        { name: "example.test", type: "TXT", data: "v=spf1 ip4:192.0.2.0/24 -all" },
        { name: "example.test", type: "TXT", data: ["part one ", "part two"] },
        { name: "nullmx.test", type: "MX", data: { preference: 0, exchange: "." } },
        { name: "10.2.0.192.in-addr.arpa", type: "PTR", data: "host.example.test" },
        {
          name: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
          type: "PTR",
          data: "v6.example.test",
        },
      ],
    });
    resolve = nodeStyleResolver(new StubResolver({ servers: [dns.server], timeoutMs: 100, attempts: 1 }));
  });
  after(() => dns.close());
  beforeEach(() => {
    dns.queries.length = 0;
  });

  it("TXT: one array per record, holding the joined text", async () => {
    assert.deepEqual(await resolve("example.test", "TXT"), [
      ["v=spf1 ip4:192.0.2.0/24 -all"],
      ["part one part two"],
    ]);
  });

  it("MX: {exchange, priority}; the null MX has exchange ''", async () => {
    assert.deepEqual(await resolve("example.test", "MX"), [{ exchange: "mx.example.test", priority: 10 }]);
    assert.deepEqual(await resolve("nullmx.test", "MX"), [{ exchange: "", priority: 0 }]);
  });

  it("A and AAAA: address strings", async () => {
    assert.deepEqual(await resolve("example.test", "A"), ["192.0.2.10"]);
    assert.deepEqual(await resolve("example.test", "aaaa"), ["2001:db8::10"]);
  });

  it("PTR takes the reverse name mailauth builds", async () => {
    assert.deepEqual(await resolve("10.2.0.192.in-addr.arpa", "PTR"), ["host.example.test"]);
    assert.deepEqual(
      await resolve("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"),
      ["v6.example.test"],
    );
    await rejectsCode(resolve("example.test", "PTR"), "EBADNAME");
  });

  it("ENOTFOUND for NXDOMAIN, shaped like node's error", async () => {
    const e = await rejectsCode(resolve("missing.test", "TXT"), "ENOTFOUND");
    assert.equal(e.message, "queryTxt ENOTFOUND missing.test");
    assert.equal(e.syscall, "queryTxt");
    assert.equal((e as { hostname?: string }).hostname, "missing.test");
  });

  it("ENODATA for a name without records of the type", async () => {
    await rejectsCode(resolve("nullmx.test", "TXT"), "ENODATA");
  });

  it("ESERVFAIL, EREFUSED, ETIMEOUT", async () => {
    dns.servfail("bad.test");
    dns.refuse("no.test");
    dns.drop("slow.test");
    try {
      await rejectsCode(resolve("bad.test", "TXT"), "ESERVFAIL");
      await rejectsCode(resolve("no.test", "MX"), "EREFUSED");
      await rejectsCode(resolve("slow.test", "A"), "ETIMEOUT");
    } finally {
      dns.servfail("bad.test", false);
      dns.refuse("no.test", false);
      dns.drop("slow.test", false);
    }
  });

  it("ECONNREFUSED when the server is unreachable", async () => {
    const other = await startDnsServer();
    const server = other.server;
    await other.close();
    const r = nodeStyleResolver(new StubResolver({ servers: [server], timeoutMs: 1000, attempts: 1 }));
    await rejectsCode(r("example.test", "A"), "ECONNREFUSED");
  });

  it("ENOTIMP for record types the contract does not cover", async () => {
    await rejectsCode(resolve("example.test", "CNAME"), "ENOTIMP");
    assert.equal(dns.queries.length, 0);
  });
});

describe("mailauth through nodeStyleResolver", () => {
  let dns: TestDnsServer;
  let resolver: DNSResolver;

  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "sender.test", type: "TXT", data: "v=spf1 mx a:relay.sender.test -all" },
        { name: "sender.test", type: "MX", data: { preference: 10, exchange: "mx.sender.test" } },
        { name: "mx.sender.test", type: "A", data: "192.0.2.25" },
        { name: "relay.sender.test", type: "A", data: "192.0.2.26" },
        { name: "_dmarc.sender.test", type: "TXT", data: "v=DMARC1; p=reject; rua=mailto:d@sender.test" },
        { name: "softfail.test", type: "TXT", data: "v=spf1 include:missing.test ~all" },
      ],
    });
    // mailauth's typings describe every answer as strings; MX answers are objects, as in node
    resolver = nodeStyleResolver(
      new StubResolver({ servers: [dns.server], timeoutMs: 500, attempts: 1, cacheSize: 0 }),
    ) as DNSResolver;
  });
  after(() => dns.close());

  it("SPF passes for the MX and a: hosts and fails for others", async () => {
    const pass = await spf({
      sender: "a@sender.test",
      ip: "192.0.2.25",
      helo: "mx.sender.test",
      mta: "mx.test",
      resolver,
    });
    assert.equal(pass.status.result, "pass");
    const viaA = await spf({
      sender: "a@sender.test",
      ip: "192.0.2.26",
      helo: "x",
      mta: "mx.test",
      resolver,
    });
    assert.equal(viaA.status.result, "pass");
    const fail = await spf({
      sender: "a@sender.test",
      ip: "198.51.100.1",
      helo: "x",
      mta: "mx.test",
      resolver,
    });
    assert.equal(fail.status.result, "fail");
  });

  it("SPF: no record is none; an include of a missing domain is permerror", async () => {
    const none = await spf({
      sender: "a@nothing.test",
      ip: "192.0.2.25",
      helo: "x",
      mta: "mx.test",
      resolver,
    });
    assert.equal(none.status.result, "none");
    const perm = await spf({
      sender: "a@softfail.test",
      ip: "192.0.2.25",
      helo: "x",
      mta: "mx.test",
      resolver,
    });
    assert.equal(perm.status.result, "permerror");
  });

  it("SPF: SERVFAIL is a temperror", async () => {
    dns.servfail("sender.test");
    try {
      const r = await spf({ sender: "a@sender.test", ip: "192.0.2.25", helo: "x", mta: "mx.test", resolver });
      assert.equal(r.status.result, "temperror");
    } finally {
      dns.servfail("sender.test", false);
    }
  });

  it("DMARC finds the policy record", async () => {
    const r = await dmarc({
      headerFrom: "a@sender.test",
      spfDomains: [],
      dkimDomains: [],
      resolver,
    });
    assert.ok(r, "a DMARC result");
    assert.equal(r.status.result, "fail");
    assert.equal(r.policy, "reject");
  });
});
