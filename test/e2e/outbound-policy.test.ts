// Outbound TLS policy and failure handling with real parts: a DNS server on loopback, Postamt instances
// as the remote MX hosts (one with a self-signed certificate, one with a certificate from a private CA),
// an HTTPS server publishing MTA-STS policies. MTA-STS "enforce" refuses the host with a bad
// certificate (the mail stays queued) and uses the good one; DANE TLSA records (AD bit set by the test
// server) pin a certificate; a DNS timeout defers; a restart in the middle of a queue run delivers
// every recipient exactly once.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { deriveCredentials } from "../../src/auth/password.js";
import { configFromObject } from "../../src/config/load.js";
import { silentLog } from "../../src/log/logger.js";
import { startServer } from "../../src/server.js";
import { waitFor } from "../helpers/wait.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { mailboxMessages } from "../helpers/mailbox.js";
import { freePort } from "../helpers/ports.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";
import { createTestCa, type TestCa } from "../helpers/test-ca.js";


/** Submits over the submission port with AUTH PLAIN, one transaction per call. */
async function submit(port: number, from: string, pass: string, to: string[], subject: string): Promise<void> {
  const c = await RawSmtp.connect(port, { host: "127.0.0.2" });
  await c.read();
  await c.cmd("EHLO client.test");
  const auth = Buffer.from(`\0${from}\0${pass}`).toString("base64");
  assert.equal((await c.cmd(`AUTH PLAIN ${auth}`)).code, 235);
  assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
  for (const t of to) assert.equal((await c.cmd(`RCPT TO:<${t}>`)).code, 250, t);
  assert.equal((await c.cmd("DATA")).code, 354);
  c.write(`From: ${from}\r\nTo: ${to.join(", ")}\r\nSubject: ${subject}\r\n\r\n${subject}\r\n.\r\n`);
  assert.equal((await c.read()).code, 250);
  await c.cmd("QUIT");
  c.close();
}

describe("e2e: outbound TLS policy, DNS failures and restarts", () => {
  let dns: TestDnsServer;
  let ca: TestCa;
  let https: Server;
  let a: TestServer;
  let selfSigned: TestServer; // mx.bad.test: Postamt's generated certificate
  let trusted: TestServer; // mx.good.test: a certificate from the test CA
  let port: number;

  before(async () => {
    ca = await createTestCa();
    const stsCert = await ca.issue(["mta-sts.bad.test", "mta-sts.good.test"]);
    https = createServer({ cert: stsCert.cert, key: stsCert.key }, (req, res) => {
      const domain = String(req.headers.host).replace(/^mta-sts\./, "");
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`version: STSv1\nmode: enforce\nmx: mx.${domain}\nmax_age: 86400\n`);
    });
    await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
    const httpsPort = (https.address() as AddressInfo).port;

    port = await freePort("127.0.0.3");
    dns = await startDnsServer({
      records: [
        { name: "bad.test", type: "MX", data: { preference: 10, exchange: "mx.bad.test" } },
        { name: "mx.bad.test", type: "A", data: "127.0.0.3" },
        { name: "_mta-sts.bad.test", type: "TXT", data: "v=STSv1; id=1" },
        { name: "mta-sts.bad.test", type: "A", data: "127.0.0.1" },
        { name: "good.test", type: "MX", data: { preference: 10, exchange: "mx.good.test" } },
        { name: "mx.good.test", type: "A", data: "127.0.0.4" },
        { name: "_mta-sts.good.test", type: "TXT", data: "v=STSv1; id=1" },
        { name: "mta-sts.good.test", type: "A", data: "127.0.0.1" },
        { name: "dane.test", type: "MX", data: { preference: 10, exchange: "mx.dane.test" } },
        { name: "mx.dane.test", type: "A", data: "127.0.0.3" },
        { name: "slowdns.test", type: "MX", data: { preference: 10, exchange: "mx.slowdns.test" } },
      ],
    });
    dns.drop("slowdns.test");

    const goodCert = await ca.issue(["mx.good.test"]);
    const remote = (host: string, name: string, domain: string, extra: Record<string, unknown> = {}) =>
      startTestServer(
        { hostname: name, listen: { smtp: [`${host}:${port}`], submission: [] }, ...extra },
        { domains: [domain, "dane.test"], users: [{ address: `rcpt@${domain}`, password: "x-secret" }, { address: "rcpt@dane.test", password: "x-secret" }] },
      );
    selfSigned = await remote("127.0.0.3", "mx.bad.test", "bad.test");
    trusted = await remote("127.0.0.4", "mx.good.test", "good.test", { tls: { cert: goodCert.certPath, key: goodCert.keyPath } });
    a = await startTestServer(
      {
        hostname: "mx.a.test",
        listen: { smtp: [`127.0.0.2:${port}`], submission: ["127.0.0.2:0"] },
        dns: { servers: [dns.server] },
        outbound: { port, bind_address: "127.0.0.2", tls_ca: ca.caCertPath, https_port: httpsPort },
        queue: { retry_intervals: ["1h"] },
      },
      { domains: ["a.test"], users: [{ address: "alice@a.test", password: "alice-secret" }] },
    );
  });

  after(async () => {
    await a?.stop();
    await selfSigned?.stop();
    await trusted?.stop();
    await dns?.close();
    await new Promise((r) => https?.close(r));
  });

  async function queued(address: string) {
    const q = await a.server.store.listQueue();
    return q.flatMap((m) => m.recipients).find((r) => r.address === address) ?? null;
  }

  it("MTA-STS enforce: no delivery to an MX whose certificate is not valid, delivery to one that is", async () => {
    await submit(a.port("submission"), "alice@a.test", "alice-secret", ["rcpt@bad.test", "rcpt@good.test"], "STS");
    const r = await waitFor("a deferral for bad.test", async () => {
      const x = await queued("rcpt@bad.test");
      return x?.attempts ? x : null;
    });
    assert.equal(r.status, "deferred");
    assert.match(r.lastReply ?? "", /certificate/i);
    assert.deepEqual(await mailboxMessages(selfSigned.server.store, "rcpt@bad.test"), []);
    const [m] = await waitFor("delivery to good.test", async () => {
      const list = await mailboxMessages(trusted.server.store, "rcpt@good.test");
      return list.length > 0 ? list : null;
    });
    assert.match((m as Buffer).toString(), /with ESMTPS/, "sent over TLS");
  });

  it("DANE: a matching TLSA record authenticates a self-signed certificate; a wrong one stops delivery", async () => {
    const pem = await readFile(join(selfSigned.dir, "tls", "selfsigned-cert.pem"), "utf8");
    const spki = new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" });
    dns.authenticated = true;
    // the TLSA name carries the port we connect to (outbound.port)
    dns.set(`_${port}._tcp.mx.dane.test`, "TLSA", [
      { usage: 3, selector: 1, matchingType: 1, certificate: createHash("sha256").update(Buffer.from("wrong")).digest() },
    ]);
    try {
      await submit(a.port("submission"), "alice@a.test", "alice-secret", ["rcpt@dane.test"], "DANE wrong");
      const r = await waitFor("a DANE deferral", async () => {
        const x = await queued("rcpt@dane.test");
        return x?.attempts ? x : null;
      });
      assert.match(r.lastReply ?? "", /TLSA/);
      assert.deepEqual(await mailboxMessages(selfSigned.server.store, "rcpt@dane.test"), []);

      dns.set(`_${port}._tcp.mx.dane.test`, "TLSA", [
        { usage: 3, selector: 1, matchingType: 1, certificate: createHash("sha256").update(spki).digest() },
      ]);
      (a.server.outbound.resolver as { clearCache?: () => void }).clearCache?.();
      await a.server.store.retryQueued();
      a.server.outbound.wake();
      await waitFor("DANE delivery", async () => (await mailboxMessages(selfSigned.server.store, "rcpt@dane.test")).length === 1);
    } finally {
      dns.authenticated = false;
    }
  });

  it("a DNS timeout defers with 4.4.3", async () => {
    await submit(a.port("submission"), "alice@a.test", "alice-secret", ["x@slowdns.test"], "slow DNS");
    const r = await waitFor(
      "the deferral",
      async () => {
        const x = await queued("x@slowdns.test");
        return x?.attempts ? x : null;
      },
      30_000,
    );
    assert.equal(r.status, "deferred");
    assert.match(r.lastReply ?? "", /timeout/);
  });
});

describe("e2e: a restart in the middle of a queue run", () => {
  it("delivers every recipient exactly once", async () => {
    const port = await freePort("127.0.0.3");
    const dns = await startDnsServer({
      records: [
        { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
        { name: "mx.b.test", type: "A", data: "127.0.0.3" },
      ],
    });
    const dir = await mkdtemp(join(tmpdir(), "postamt-restart-"));
    const config = configFromObject({
      hostname: "mx.a.test",
      data_dir: dir,
      listen: { smtp: [`127.0.0.2:${port}`], submission: ["127.0.0.2:0"], submissions: [], imap: [], imaps: [], pop3: [], pop3s: [], http: [] },
      dns: { servers: [dns.server] },
      outbound: { port, bind_address: "127.0.0.2", mta_sts: false },
      queue: { retry_intervals: ["1h"], concurrency: 2, destination_concurrency: 2 },
      auth: { failure_delay: 0 },
      server: { shutdown_grace: 5 },
    });
    let server = await startServer(config, silentLog());
    let b: TestServer | null = null;
    try {
      await server.store.addDomain("a.test");
      await server.store.addAccount({ address: "alice@a.test", ...(await deriveCredentials("alice-secret")), quotaBytes: null });
      const subm = () => server.addresses.submission?.[0]?.port ?? 0;
      const n = 30;
      // b.test is down: everything is deferred
      for (let i = 0; i < n; i++) {
        await submit(subm(), "alice@a.test", "alice-secret", [`bob@b.test`], `msg ${i}`);
      }
      await waitFor("all deferred", async () => {
        const q = await server.store.listQueue();
        return q.length === n && q.every((m) => m.recipients[0]?.attempts === 1);
      });
      b = await startTestServer(
        { hostname: "mx.b.test", listen: { smtp: [`127.0.0.3:${port}`], submission: [] } },
        { domains: ["b.test"], users: [{ address: "bob@b.test", password: "bob-secret" }] },
      );
      await server.store.retryQueued();
      server.outbound.wake();
      await waitFor("some delivered", async () => (await mailboxMessages(b!.server.store, "bob@b.test")).length >= 5);
      await server.stop(); // in the middle of the run
      server = await startServer(config, silentLog());
      await server.store.retryQueued();
      server.outbound.wake();
      await waitFor("the queue to drain", async () => (await server.store.listQueue()).length === 0, 30_000);
      const subjects = (await mailboxMessages(b.server.store, "bob@b.test")).map(
        (m) => /^Subject: (.*)$/m.exec(m.toString())?.[1]?.trim() ?? "",
      );
      assert.equal(subjects.length, n, subjects.join(","));
      assert.equal(new Set(subjects).size, n, "no duplicates");
    } finally {
      await server.stop();
      await b?.stop();
      await dns.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
