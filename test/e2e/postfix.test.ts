// Postamt and a real foreign MTA: a private Postfix on 127.0.0.5 is the MX of c.test. Postamt (a.test on
// 127.0.0.2) relays to it — accepted, refused with 550 (→ bounce), answered 451 for a while (→ deferred,
// then delivered) — and Postfix relays mail for a.test into Postamt.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import nodemailer from "nodemailer";
import { waitFor } from "../helpers/wait.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { mailboxMessages } from "../helpers/mailbox.js";
import { freePort } from "../helpers/ports.js";
import { postfixMissing, startTestPostfix, type TestPostfix } from "../helpers/postfix.js";
import { startTestServer, type TestServer } from "../helpers/server.js";


const skip = postfixMissing();

describe("e2e: Postamt ⇄ Postfix", { skip: skip ?? false }, () => {
  let dns: TestDnsServer;
  let a: TestServer;
  let pf: TestPostfix;
  let port: number;

  before(async () => {
    port = await freePort("127.0.0.5");
    dns = await startDnsServer({
      records: [
        { name: "c.test", type: "MX", data: { preference: 10, exchange: "mx.c.test" } },
        { name: "mx.c.test", type: "A", data: "127.0.0.5" },
      ],
    });
    a = await startTestServer(
      {
        hostname: "mx.a.test",
        listen: { smtp: [`127.0.0.2:${port}`], submission: ["127.0.0.2:0"] },
        dns: { servers: [dns.server] },
        outbound: { port, mta_sts: false, bind_address: "127.0.0.2" },
        // longer than the 2 s a connection stays cached: after `postfix reload` a new smtpd answers
        queue: { retry_intervals: ["3s"] },
      },
      { domains: ["a.test"], users: [{ address: "alice@a.test", password: "alice-secret" }] },
    );
    pf = await startTestPostfix({
      host: "127.0.0.5",
      port,
      hostname: "mx.c.test",
      users: ["carol@c.test", "dave@c.test"],
      tempfail: ["dave@c.test"],
      transports: { "a.test": `smtp:[127.0.0.2]:${port}` },
    });
  });

  after(async () => {
    await a?.stop();
    await pf?.stop();
    await dns?.close();
  });

  function submit(to: string, subject: string) {
    return nodemailer
      .createTransport({
        host: "127.0.0.2",
        port: a.port("submission"),
        auth: { user: "alice@a.test", pass: "alice-secret" },
        tls: { rejectUnauthorized: false },
      })
      .sendMail({ from: "alice@a.test", to, subject, text: `${subject}\r\n` });
  }

  it("relays to Postfix, which delivers it DKIM-signed with our Received", async () => {
    await submit("carol@c.test", "For Carol");
    const [m] = await waitFor("carol's Maildir", async () => {
      const list = await pf.messages("carol@c.test");
      return list.length > 0 ? list : null;
    });
    const text = (m as Buffer).toString("utf8");
    assert.match(text, /^Subject: For Carol/m);
    assert.match(text, /^DKIM-Signature: v=1; a=rsa-sha256;[\s\S]*d=a\.test/m);
    assert.match(text, /^DKIM-Signature: v=1; a=ed25519-sha256;/m);
    assert.match(text, /Received: from mx\.a\.test \([^)]*127\.0\.0\.2\]\)/);
  });

  it("bounces Postfix's 550 for an unknown user", async () => {
    const before = (await mailboxMessages(a.server.store, "alice@a.test")).length;
    await submit("nobody@c.test", "For nobody");
    const bounce = await waitFor("the bounce", async () => {
      const m = await mailboxMessages(a.server.store, "alice@a.test");
      return m.length > before ? (m[m.length - 1] as Buffer).toString("utf8") : null;
    });
    assert.match(bounce, /Final-Recipient: rfc822; ?nobody@c\.test/i);
    assert.match(bounce, /Status: 5\.1\.1/);
    assert.match(bounce, /Remote-MTA: dns; ?mx\.c\.test/i);
    assert.match(bounce, /Diagnostic-Code: smtp; ?550 5\.1\.1/i);
  });

  it("defers on 451 and delivers once Postfix accepts", async () => {
    await submit("dave@c.test", "For Dave");
    const entry = await waitFor("a deferral", async () => {
      const q = await a.server.store.listQueue();
      const r = q.flatMap((m) => m.recipients).find((x) => x.address === "dave@c.test");
      return r && r.status === "deferred" ? r : null;
    });
    assert.match(entry.lastReply ?? "", /451 4\.3\.0/);
    assert.deepEqual(await pf.messages("dave@c.test"), []);
    await pf.setTempfail([]);
    await waitFor("dave's Maildir", async () => (await pf.messages("dave@c.test")).length === 1);
    const q = await a.server.store.listQueue();
    assert.ok(!q.some((m) => m.recipients.some((r) => r.address === "dave@c.test")), "the queue entry is gone");
  });

  it("takes mail that Postfix relays for a.test", async () => {
    const before = (await mailboxMessages(a.server.store, "alice@a.test")).length;
    await nodemailer
      .createTransport({ host: "127.0.0.5", port, secure: false, ignoreTLS: true })
      .sendMail({ from: "carol@c.test", to: "alice@a.test", subject: "Via Postfix", text: "hello\r\n" });
    const m = await waitFor("alice's copy", async () => {
      const list = await mailboxMessages(a.server.store, "alice@a.test");
      return list.length > before ? (list[list.length - 1] as Buffer).toString("utf8") : null;
    });
    assert.match(m, /^Subject: Via Postfix/m);
    assert.match(m, /Received: from mx\.c\.test \(.*127\.0\.0\.5/);
  });
});
