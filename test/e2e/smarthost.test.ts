// Sending through a smarthost (outbound.smarthost): a.test hands every remote message to a relay —
// here another Postamt (relay.b.test on 127.0.0.3) on its implicit-TLS submission port with AUTH,
// whose certificate comes from a private CA that a.test trusts via outbound.tls_ca. The relay queues
// the message for the final domain. A relay whose certificate cannot be verified gets nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { waitFor } from "../helpers/wait.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";
import { createTestCa } from "../helpers/test-ca.js";


async function submit(port: number, to: string, subject: string): Promise<void> {
  const c = await RawSmtp.connect(port, { host: "127.0.0.2" });
  await c.read();
  await c.cmd("EHLO client.test");
  assert.equal((await c.cmd(`AUTH PLAIN ${Buffer.from("\0alice@a.test\0alice-secret").toString("base64")}`)).code, 235);
  assert.equal((await c.cmd("MAIL FROM:<alice@a.test>")).code, 250);
  assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
  assert.equal((await c.cmd("DATA")).code, 354);
  c.write(`From: alice@a.test\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nvia the relay\r\n.\r\n`);
  assert.equal((await c.read()).code, 250);
  c.close();
}

describe("e2e: smarthost with implicit TLS and AUTH", () => {
  let dns: TestDnsServer;
  let relay: TestServer;
  let a: TestServer;
  let untrusting: TestServer;
  const users = [{ address: "alice@a.test", password: "alice-secret" }];

  before(async () => {
    const ca = await createTestCa();
    const cert = await ca.issue(["relay.b.test"]);
    dns = await startDnsServer({
      records: [
        { name: "relay.b.test", type: "A", data: "127.0.0.3" },
        { name: "c.test", type: "MX", data: { preference: 10, exchange: "mx.c.test" } },
        { name: "mx.c.test", type: "A", data: "127.0.0.9" },
      ],
    });
    relay = await startTestServer(
      {
        hostname: "relay.b.test",
        listen: { smtp: [], submission: [], submissions: ["127.0.0.3:0"] },
        tls: { cert: cert.certPath, key: cert.keyPath },
        dns: { servers: [dns.server] },
        outbound: { mta_sts: false, connect_timeout: 1 },
        queue: { retry_intervals: ["1h"] },
      },
      { domains: ["a.test"], users },
    );
    const smarthost = `[relay.b.test]:${relay.port("submissions")}`;
    const common = {
      hostname: "mx.a.test",
      listen: { smtp: [], submission: ["127.0.0.2:0"] },
      dns: { servers: [dns.server] },
      queue: { retry_intervals: ["1h"] },
    };
    const outbound = { smarthost, smarthost_tls: "implicit", smarthost_user: "alice@a.test", smarthost_password: "alice-secret" };
    a = await startTestServer({ ...common, outbound: { ...outbound, tls_ca: ca.caCertPath } }, { domains: ["a.test"], users });
    untrusting = await startTestServer({ ...common, outbound }, { domains: ["a.test"], users });
  });

  after(async () => {
    await a?.stop();
    await untrusting?.stop();
    await relay?.stop();
    await dns?.close();
  });

  it("hands remote mail to the relay, which queues it for the final domain", async () => {
    await submit(a.port("submission"), "carol@c.test", "Via smarthost");
    const entry = await waitFor("the relay's queue entry", async () => {
      const q = await relay.server.store.listQueue();
      return q.find((m) => m.recipients.some((r) => r.address === "carol@c.test")) ?? null;
    });
    assert.equal(entry.sender, "alice@a.test");
    await waitFor("a.test's queue to empty", async () => (await a.server.store.listQueue()).length === 0);
  });

  it("sends nothing to a relay whose certificate it cannot verify", async () => {
    await submit(untrusting.port("submission"), "dave@c.test", "Untrusted relay");
    const r = await waitFor("the deferral", async () => {
      const q = await untrusting.server.store.listQueue();
      const x = q.flatMap((m) => m.recipients).find((y) => y.address === "dave@c.test");
      return x?.attempts ? x : null;
    });
    assert.equal(r.status, "deferred");
    assert.match(r.lastReply ?? "", /certificate|self.signed|issuer/i);
    const relayed = await relay.server.store.listQueue();
    assert.ok(!relayed.some((m) => m.recipients.some((x) => x.address === "dave@c.test")));
  });
});
