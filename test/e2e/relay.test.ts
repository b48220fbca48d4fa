// The journey of a letter (DESIGN.md §8): two Postamt instances, a.test on 127.0.0.2 and b.test on
// 127.0.0.3, and a real DNS server on loopback publishing their MX, A, SPF, DKIM and DMARC records.
// alice@a.test submits over 587 with nodemailer; a.test looks up b.test's MX and relays; bob@b.test
// reads the message over IMAP (imapflow) and POP3 (Python's poplib), DKIM-signed and with a Received
// chain that shows both hops. Then the failures a sender meets: an unknown user (550 → bounce), a domain
// that accepts no mail (null MX), one that does not exist (NXDOMAIN) and a server that is down.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { ImapFlow } from "imapflow";
import { dkimVerify } from "mailauth";
import nodemailer from "nodemailer";
import { ensureDomainKeys } from "../../src/security/dkim-keys.js";
import { createResolver } from "../../src/dns/create.js";
import { nodeStyleResolver } from "../../src/dns/node-style.js";
import { waitFor } from "../helpers/wait.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { mailboxMessages } from "../helpers/mailbox.js";
import { freePort } from "../helpers/ports.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const run = promisify(execFile);


describe("e2e: a.test relays to b.test through DNS", () => {
  let dns: TestDnsServer;
  let a: TestServer;
  let b: TestServer;
  let port: number;

  before(async () => {
    dns = await startDnsServer({
      records: [
        { name: "a.test", type: "MX", data: { preference: 10, exchange: "mx.a.test" } },
        { name: "mx.a.test", type: "A", data: "127.0.0.2" },
        { name: "a.test", type: "TXT", data: "v=spf1 mx -all" },
        { name: "_dmarc.a.test", type: "TXT", data: "v=DMARC1; p=reject" },
        { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
        { name: "mx.b.test", type: "A", data: "127.0.0.3" },
        { name: "b.test", type: "TXT", data: "v=spf1 mx -all" },
        { name: "nomail.test", type: "MX", data: { preference: 0, exchange: "." } },
        { name: "down.test", type: "MX", data: { preference: 10, exchange: "mx.down.test" } },
        { name: "mx.down.test", type: "A", data: "127.0.0.4" },
      ],
    });
    port = await freePort("127.0.0.3");
    const common = (host: string, name: string) => ({
      hostname: name,
      listen: {
        smtp: [`${host}:${port}`],
        submission: [`${host}:0`],
        imap: [`${host}:0`],
        pop3: [`${host}:0`],
      },
      dns: { servers: [dns.server] },
      outbound: { port, mta_sts: false, bind_address: host },
      queue: { retry_intervals: ["1s"] },
    });
    a = await startTestServer({ ...common("127.0.0.2", "mx.a.test"), limits: { recipients: 300 } }, {
      domains: ["a.test"],
      users: [{ address: "alice@a.test", password: "alice-secret" }],
    });
    b = await startTestServer(common("127.0.0.3", "mx.b.test"), {
      domains: ["b.test"],
      users: [{ address: "bob@b.test", password: "bob-secret" }],
    });
    const keys = await ensureDomainKeys(a.dir, "a.test");
    for (const k of [keys.rsa, keys.ed25519]) {
      dns.add({ name: `${k.selector}._domainkey.a.test`, type: "TXT", data: k.dnsRecord });
    }
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await dns?.close();
  });

  function submit(to: string, subject: string, text = "Hello Bob,\r\nthis went through two servers.\r\n") {
    const transport = nodemailer.createTransport({
      host: "127.0.0.2",
      port: a.port("submission"),
      secure: false,
      auth: { user: "alice@a.test", pass: "alice-secret" },
      tls: { rejectUnauthorized: false },
    });
    return transport.sendMail({ from: "alice@a.test", to, subject, text });
  }

  it("delivers alice@a.test → bob@b.test, DKIM-signed, readable over IMAP and POP3", async () => {
    const info = await submit("bob@b.test", "Across the wire");
    assert.deepEqual(info.accepted, ["bob@b.test"]);
    const [stored] = await waitFor("the message at b.test", async () => {
      const m = await mailboxMessages(b.server.store, "bob@b.test");
      return m.length > 0 ? m : null;
    });
    const text = (stored as Buffer).toString("utf8");
    // the Received chain: b.test received from a.test, a.test received from the submitting client
    const received = text.match(/^Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*/gm) ?? [];
    assert.ok(received.length >= 2, text);
    assert.match(received[0] as string, /from mx\.a\.test[\s\S]*by mx\.b\.test/);
    assert.match(received[1] as string, /by mx\.a\.test[\s\S]*with ESMTPSA/);
    assert.match(text, /^Return-Path: <alice@a\.test>/m);

    // DKIM verifies for both algorithms, through our DNS server, with mailauth
    const resolver = nodeStyleResolver(createResolver({ servers: [dns.server] }));
    const verdict = await dkimVerify(stored as Buffer, { resolver: resolver as never });
    const results = verdict.results.map((r: { signingDomain: string; status: { result: string }; algo?: string }) => [
      r.signingDomain,
      r.status.result,
    ]);
    assert.equal(results.length, 2, JSON.stringify(verdict.results));
    for (const [domain, result] of results) assert.deepEqual([domain, result], ["a.test", "pass"]);

    // IMAP (imapflow)
    const imap = new ImapFlow({
      host: "127.0.0.3",
      port: b.port("imap"),
      secure: false,
      auth: { user: "bob@b.test", pass: "bob-secret" },
      tls: { rejectUnauthorized: false },
      logger: false,
    });
    await imap.connect();
    await imap.mailboxOpen("INBOX");
    const msg = await imap.fetchOne("*", { envelope: true, source: true });
    await imap.logout();
    assert.ok(msg);
    assert.equal(msg.envelope?.subject, "Across the wire");
    assert.equal(msg.source?.toString("utf8"), text);

    // POP3 (Python poplib)
    const script = `
import poplib, sys
c = poplib.POP3("127.0.0.3", ${b.port("pop3")}, timeout=10)
c.user("bob@b.test"); c.pass_("bob-secret")
resp, lines, octets = c.retr(1)
sys.stdout.buffer.write(b"\\r\\n".join(lines) + b"\\r\\n")
c.quit()
`;
    const { stdout } = await run("python3", ["-c", script], { encoding: "buffer" });
    assert.equal((stdout as Buffer).toString("utf8"), text);
  });

  it("bounces a 550 from the remote into alice's INBOX as a machine-readable DSN", async () => {
    const before = (await mailboxMessages(a.server.store, "alice@a.test")).length;
    await submit("nobody@b.test", "To nobody");
    const bounce = await waitFor("the bounce", async () => {
      const m = await mailboxMessages(a.server.store, "alice@a.test");
      return m.length > before ? (m[m.length - 1] as Buffer).toString("utf8") : null;
    });
    assert.match(bounce, /^Return-Path: <>/m);
    assert.match(bounce, /Content-Type: multipart\/report;[\s\S]*report-type=delivery-status/i);
    assert.match(bounce, /Final-Recipient: rfc822; ?nobody@b\.test/i);
    assert.match(bounce, /Action: failed/i);
    assert.match(bounce, /Status: 5\.1\.1/i);
    assert.match(bounce, /Remote-MTA: dns; ?mx\.b\.test/i);
    assert.match(bounce, /Diagnostic-Code: smtp; ?550/i);
    assert.match(bounce, /Subject: To nobody/);
  });

  it("returns a success DSN from b.test when the sender asked for NOTIFY=SUCCESS", async () => {
    const before = (await mailboxMessages(a.server.store, "alice@a.test")).length;
    await nodemailer
      .createTransport({
        host: "127.0.0.2",
        port: a.port("submission"),
        auth: { user: "alice@a.test", pass: "alice-secret" },
        tls: { rejectUnauthorized: false },
      })
      .sendMail({
        from: "alice@a.test",
        to: "bob@b.test",
        subject: "Tell me when it arrives",
        text: "x\r\n",
        dsn: { id: "env-42", return: "headers", notify: ["success"], recipient: "alice@a.test" },
      });
    const report = await waitFor("the success DSN", async () => {
      const m = await mailboxMessages(a.server.store, "alice@a.test");
      return m.length > before ? (m[m.length - 1] as Buffer).toString("utf8") : null;
    });
    assert.match(report, /^Subject: Successful Mail Delivery Report/m);
    assert.match(report, /Reporting-MTA: dns; ?mx\.b\.test/i);
    assert.match(report, /Original-Envelope-Id: env-42/i);
    assert.match(report, /Action: delivered/i);
    assert.match(report, /Final-Recipient: rfc822; ?bob@b\.test/i);
    assert.match(report, /Subject: Tell me when it arrives/, "the original header is returned");
  });

  it("splits 250 recipients at one domain into transactions of at most 100", async () => {
    const before = (await mailboxMessages(b.server.store, "bob@b.test")).length;
    const to = Array.from({ length: 250 }, (_, i) => `bob+list${i}@b.test`);
    const info = await submit(to.join(", "), "Many recipients");
    assert.equal(info.accepted.length, 250);
    // b.test takes 100 recipients per transaction (limits.recipients); plus-addressing gives bob one copy
    // per transaction: three transactions, three copies, and nothing left in a.test's queue
    await waitFor("three copies", async () => (await mailboxMessages(b.server.store, "bob@b.test")).length === before + 3);
    await waitFor("an empty queue", async () => (await a.server.store.listQueue()).length === 0);
  });

  it("bounces null-MX and nonexistent domains at once, without contacting anyone", async () => {
    const before = (await mailboxMessages(a.server.store, "alice@a.test")).length;
    await submit("someone@nomail.test", "Null MX");
    await submit("someone@nowhere.test", "No such domain");
    const bounces = await waitFor("two bounces", async () => {
      const m = await mailboxMessages(a.server.store, "alice@a.test");
      return m.length >= before + 2 ? m.slice(before).map((x) => x.toString("utf8")) : null;
    });
    const nullMx = bounces.find((t) => /nomail\.test/.test(t)) ?? "";
    assert.match(nullMx, /Status: 5\.1\.10/);
    const nx = bounces.find((t) => /nowhere\.test/.test(t)) ?? "";
    assert.match(nx, /Status: 5\.1\.2/);
  });

  it("keeps mail for a server that is down in the queue, deferred with the reason", async () => {
    await submit("someone@down.test", "Server down");
    const entry = await waitFor("a deferred attempt", async () => {
      const q = await a.server.store.listQueue();
      const e = q.find((m) => m.recipients.some((r) => r.address === "someone@down.test"));
      return e?.recipients[0]?.attempts ? e : null;
    });
    const r = entry.recipients[0];
    assert.equal(r?.status, "deferred");
    assert.match(r?.lastReply ?? "", /127\.0\.0\.4/);
    assert.ok((r?.nextAttemptAt?.getTime() ?? 0) > Date.now() - 1000);
  });
});
