// Routing (RFC 5321 §5.1, RFC 7505) against a real DNS server on loopback through our stub resolver.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseRoute } from "../../src/config/values.js";
import { configuredRoute, orderMx, resolveDestination, type RoutingOptions } from "../../src/delivery/remote/routing.js";
import { createResolver } from "../../src/dns/create.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";

function route(text: string) {
  const r = parseRoute(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

describe("outbound routing", () => {
  let dns: TestDnsServer;
  let opts: RoutingOptions;

  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "two.test", type: "MX", data: { preference: 20, exchange: "backup.two.test" } },
        { name: "two.test", type: "MX", data: { preference: 10, exchange: "mx.two.test" } },
        { name: "mx.two.test", type: "A", data: "127.0.0.21" },
        { name: "backup.two.test", type: "A", data: "127.0.0.22" },
        { name: "backup.two.test", type: "AAAA", data: "::1" },
        { name: "implicit.test", type: "A", data: "127.0.0.23" },
        { name: "implicit.test", type: "TXT", data: "v=spf1 -all" },
        { name: "null.test", type: "MX", data: { preference: 0, exchange: "." } },
        { name: "nodata.test", type: "TXT", data: "nothing else here" },
        { name: "literal.test", type: "MX", data: { preference: 10, exchange: "127.0.0.9" } },
        { name: "literal.test", type: "MX", data: { preference: 20, exchange: "real.literal.test" } },
        { name: "real.literal.test", type: "A", data: "127.0.0.24" },
        { name: "alias.test", type: "MX", data: { preference: 10, exchange: "cname.alias.test" } },
        { name: "cname.alias.test", type: "CNAME", data: "target.alias.test" },
        { name: "target.alias.test", type: "A", data: "127.0.0.25" },
        { name: "self.test", type: "MX", data: { preference: 10, exchange: "mail.self.test" } },
        { name: "mail.self.test", type: "A", data: "127.0.0.2" },
        { name: "cut.test", type: "MX", data: { preference: 10, exchange: "other.cut.test" } },
        { name: "cut.test", type: "MX", data: { preference: 20, exchange: "mail.self.test" } },
        { name: "other.cut.test", type: "A", data: "127.0.0.26" },
        { name: "broken.test", type: "MX", data: { preference: 10, exchange: "gone.broken.test" } },
        { name: "flaky.test", type: "MX", data: { preference: 10, exchange: "flaky-mx.flaky.test" } },
        { name: "flaky-mx.flaky.test", type: "A", data: "127.0.0.27" },
        { name: "relay.provider.test", type: "A", data: "127.0.0.28" },
      ],
    });
    dns.servfail("servfail.test");
    dns.drop("slow.test");
    dns.servfail("flaky-mx.flaky.test");
    opts = {
      resolver: createResolver({ servers: [dns.server], timeoutMs: 200, attempts: 1, cacheSize: 0 }),
      port: 25,
      routes: [],
      smarthost: null,
      isSelf: (address, port) => address === "127.0.0.2" && port === 25,
      random: () => 0.5,
    };
  });
  after(() => dns.close());

  it("orders MX hosts by preference, IPv6 before IPv4 for each", async () => {
    const d = await resolveDestination("two.test", opts);
    assert.ok(d.ok);
    assert.equal(d.source, "mx");
    assert.deepEqual(
      d.hosts.map((h) => [h.name, h.preference, h.addresses]),
      [
        ["mx.two.test", 10, ["127.0.0.21"]],
        ["backup.two.test", 20, ["::1", "127.0.0.22"]],
      ],
    );
  });

  it("shuffles equal preferences and keeps preference order", () => {
    const records = [
      { priority: 10, exchange: "a" },
      { priority: 10, exchange: "b" },
      { priority: 5, exchange: "c" },
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const o = orderMx(records);
      assert.equal(o[0]?.exchange, "c");
      seen.add(o.map((r) => r.exchange).join(""));
    }
    assert.deepEqual([...seen].sort(), ["cab", "cba"]);
  });

  it("uses the domain itself when it has no MX (implicit MX)", async () => {
    const d = await resolveDestination("implicit.test", opts);
    assert.ok(d.ok);
    assert.equal(d.source, "implicit-mx");
    assert.deepEqual(d.hosts[0]?.addresses, ["127.0.0.23"]);
  });

  it("bounces a null MX domain with 5.1.10 (RFC 7505)", async () => {
    const d = await resolveDestination("null.test", opts);
    assert.deepEqual(d.ok ? null : [d.temporary, d.status], [false, "5.1.10"]);
  });

  it("bounces NXDOMAIN and a name without MX or addresses, retries SERVFAIL and timeouts", async () => {
    const nx = await resolveDestination("nowhere.test", opts);
    assert.ok(!nx.ok && !nx.temporary && nx.status === "5.1.2", JSON.stringify(nx));
    const nodata = await resolveDestination("nodata.test", opts);
    assert.ok(!nodata.ok && !nodata.temporary && nodata.status === "5.1.2", JSON.stringify(nodata));
    const sf = await resolveDestination("servfail.test", opts);
    assert.ok(!sf.ok && sf.temporary && sf.status === "4.4.3", JSON.stringify(sf));
    const slow = await resolveDestination("slow.test", opts);
    assert.ok(!slow.ok && slow.temporary, JSON.stringify(slow));
    assert.match(slow.ok ? "" : slow.reason, /timeout/);
  });

  it("skips an MX written as an IP address and follows a CNAME'd MX host", async () => {
    const lit = await resolveDestination("literal.test", opts);
    assert.ok(lit.ok);
    assert.deepEqual(lit.hosts.map((h) => h.name), ["real.literal.test"]);
    assert.match(lit.notes.join(), /127\.0\.0\.9 is an IP address/);
    const alias = await resolveDestination("alias.test", opts);
    assert.ok(alias.ok);
    assert.deepEqual(alias.hosts[0]?.addresses, ["127.0.0.25"]);
  });

  it("refuses to deliver to itself, and cuts the MX list at its own entry", async () => {
    const self = await resolveDestination("self.test", opts);
    assert.ok(!self.ok && !self.temporary && self.status === "5.4.6", JSON.stringify(self));
    const cut = await resolveDestination("cut.test", opts);
    assert.ok(cut.ok);
    assert.deepEqual(cut.hosts.map((h) => h.name), ["other.cut.test"]);
  });

  it("bounces when MX hosts don't exist, retries when their lookup fails", async () => {
    const broken = await resolveDestination("broken.test", opts);
    assert.ok(!broken.ok && !broken.temporary && broken.status === "5.4.4", JSON.stringify(broken));
    const flaky = await resolveDestination("flaky.test", opts);
    assert.ok(!flaky.ok && flaky.temporary, JSON.stringify(flaky));
  });

  it("routes and the smarthost win over MX; [brackets] skip the MX lookup", async () => {
    const routes = [route("two.test=[127.0.0.30]:2525"), route("*.sub.test=relay.provider.test:587")];
    assert.equal(configuredRoute("a.b.sub.test", routes)?.host, "relay.provider.test");
    assert.equal(configuredRoute("sub.test", routes), null);
    const r = await resolveDestination("two.test", { ...opts, routes });
    assert.ok(r.ok);
    assert.equal(r.source, "route");
    assert.deepEqual(r.hosts.map((h) => [h.name, h.port, h.addresses]), [["127.0.0.30", 2525, ["127.0.0.30"]]]);
    const sub = await resolveDestination("x.sub.test", { ...opts, routes });
    assert.ok(sub.ok);
    assert.deepEqual(sub.hosts.map((h) => [h.name, h.port]), [["relay.provider.test", 587]]);
    const sh = await resolveDestination("implicit.test", { ...opts, smarthost: "[relay.provider.test]:465" });
    assert.ok(sh.ok);
    assert.equal(sh.source, "smarthost");
    assert.deepEqual(sh.hosts.map((h) => [h.name, h.port, h.addresses]), [["relay.provider.test", 465, ["127.0.0.28"]]]);
  });
});
