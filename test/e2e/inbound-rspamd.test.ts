// The spam-scoring hook end to end: a Postamt MX with rspamd.url pointing at a real rspamd (a private
// one, see test/helpers/rspamd.ts; skipped where rspamd cannot run, as test/policy/rspamd.test.ts is),
// a real DNS server for the authentication that runs first, and messages sent by independent clients
// (Python's smtplib, nodemailer). Each case asserts the SMTP reply, where the message was filed and
// the X-Spam-* fields stored with it. Without rspamd: a dead rspamd.url with on_error = tempfail / accept.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import nodemailer from "nodemailer";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { mailboxMessages } from "../helpers/mailbox.js";
import { freePort } from "../helpers/ports.js";
import { GTUBE, startRspamd, TEST_HEADER } from "../helpers/rspamd.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import {
  buildMail,
  fieldValues,
  headerSection,
  ourAuthResults,
  replyText,
  smtplibSession,
  summary,
} from "../helpers/signed-mail.js";

const HOST = "mx.example.test";
const BOB = "bob@example.test";

async function findStored(t: TestServer, mailbox: string, messageId: string): Promise<Buffer[]> {
  const all = await mailboxMessages(t.server.store, BOB, mailbox);
  return all.filter((m) => fieldValues(m, "Message-ID").some((v) => v.trim() === messageId));
}

/** The one copy in this mailbox of bob's, none in the other. */
async function placedIn(t: TestServer, mailbox: "INBOX" | "Junk", messageId: string): Promise<Buffer> {
  const here = await findStored(t, mailbox, messageId);
  const other = await findStored(t, mailbox === "INBOX" ? "Junk" : "INBOX", messageId);
  assert.equal(here.length, 1, `${messageId} should be in ${mailbox}`);
  assert.equal(other.length, 0, `${messageId} should not be in the other mailbox`);
  return here[0]!;
}

async function bobCount(t: TestServer): Promise<number> {
  const store = t.server.store;
  return (
    (await mailboxMessages(store, BOB, "INBOX")).length + (await mailboxMessages(store, BOB, "Junk")).length
  );
}

/** A message from clean.test (SPF passes for 127.0.0.1, no DMARC record) with this body. */
function cleanMail(body: string, extra?: string) {
  return buildMail({
    from: "Carla <carla@clean.test>",
    subject: "Lunch on Friday",
    body: `Hi Bob,\r\n\r\nshall we meet at noon at the usual place? I booked a table for two.\r\n${body}\r\nCarla\r\n`,
    extra,
  });
}

/** One message with nodemailer's SMTP transport; the final reply (or the refusal) as code and text. */
async function nodemailerSend(
  port: number,
  from: string,
  raw: string,
): Promise<{ code: number; response: string }> {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    name: "client.sender.test",
  });
  try {
    const info = await transport.sendMail({ envelope: { from, to: [BOB] }, raw });
    return { code: Number(info.response.slice(0, 3)), response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { code: e.responseCode ?? 0, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

const DNS_RECORDS = [
  { name: "clean.test", type: "TXT" as const, data: "v=spf1 ip4:127.0.0.1 -all" },
  { name: "1.0.0.127.in-addr.arpa", type: "PTR" as const, data: "client.sender.test" },
  { name: "client.sender.test", type: "A" as const, data: "127.0.0.1" },
  { name: "quarantine.test", type: "TXT" as const, data: "v=spf1 ip4:192.0.2.1 -all" },
  { name: "_dmarc.quarantine.test", type: "TXT" as const, data: "v=DMARC1; p=quarantine" },
  { name: "reject.test", type: "TXT" as const, data: "v=spf1 ip4:192.0.2.1 -all" },
  { name: "_dmarc.reject.test", type: "TXT" as const, data: "v=DMARC1; p=reject" },
];

const started = await startRspamd();

describe("e2e: rspamd's verdict through the SMTP listener", {
  skip: "skip" in started ? started.skip : false,
}, () => {
  const rspamd = "skip" in started ? null : started;
  let dns: TestDnsServer;
  let mx: TestServer;

  before(async () => {
    dns = await startDnsServer({ records: DNS_RECORDS });
    mx = await startTestServer({
      hostname: HOST,
      dns: { servers: [dns.server] },
      limits: { exempt_networks: [] },
      rspamd: { url: rspamd!.url, timeout: "20s" },
    });
  });
  after(async () => {
    await mx?.stop();
    await dns?.close();
    await rspamd?.stop();
  });

  const send = (message: string, from = "carla@clean.test") =>
    smtplibSession({ port: mx.port("smtp"), from, rcpts: [BOB], message });

  it("GTUBE → 550 5.7.1 at the end of DATA with rspamd's message; nothing stored", async () => {
    const before = await bobCount(mx);
    const r = await send(cleanMail(`${GTUBE.reject}\r\n`).text);
    assert.equal(r.rcpt[0]?.[0], 250, JSON.stringify(r));
    assert.equal(r.data?.[0], 550, replyText(r.data));
    assert.equal(r.data![1], "5.7.1 Gtube pattern");
    assert.equal(await bobCount(mx), before);
  });

  it("the add-header pattern → bob's Junk with X-Spam: Yes and X-Spam-Score (nodemailer)", async () => {
    // the sender's own verdict fields must not be what a reader meets first
    const { text, messageId } = cleanMail(`${GTUBE.addHeader}\r\n`, "X-Spam: No\r\nX-Spam-Score: -10 / 15");
    const r = await nodemailerSend(mx.port("smtp"), "carla@clean.test", text);
    assert.equal(r.code, 250, r.response);
    const stored = await placedIn(mx, "Junk", messageId);
    assert.equal(fieldValues(stored, "X-Spam")[0], " Yes");
    const score = fieldValues(stored, "X-Spam-Score");
    const m = /^ (-?\d+(?:\.\d+)?) \/ (\d+(?:\.\d+)?)$/.exec(score[0]!);
    assert.ok(m, score[0]);
    assert.ok(Number(m[1]) >= 6 && Number(m[2]) === 15, `add header is scored ≥ 6 of 15: ${score[0]}`);
    assert.deepEqual(fieldValues(stored, "X-Spam-Action"), [" add header"]);
    assert.match(fieldValues(stored, "X-Spam-Symbols")[0] ?? "", /GTUBE/);
    // authentication ran too, and the fields are all in the prefix above the message's own header
    assert.equal(summary(ourAuthResults(stored, HOST)).spf, "pass");
    const head = headerSection(stored);
    assert.ok(head.indexOf("X-Spam: Yes") < head.indexOf("From: Carla"), head);
  });

  it("a clean message → INBOX with X-Spam-Score, without X-Spam: Yes", async () => {
    const { text, messageId } = cleanMail("");
    const r = await send(text);
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const stored = await placedIn(mx, "INBOX", messageId);
    assert.deepEqual(fieldValues(stored, "X-Spam"), []);
    const score = fieldValues(stored, "X-Spam-Score");
    assert.equal(score.length, 1, headerSection(stored));
    const m = /^ (-?\d+(?:\.\d+)?) \/ 15$/.exec(score[0]!);
    assert.ok(m && Number(m[1]) < 6, score[0]);
    assert.deepEqual(fieldValues(stored, "X-Spam-Action"), [" no action"]);
    assert.deepEqual(summary(ourAuthResults(stored, HOST)), {
      spf: "pass",
      dkim: "none",
      dmarc: "none",
      arc: "none",
      iprev: "pass",
    });
  });

  it("rspamd's soft reject → 451 4.7.1 with its message; nothing stored", async () => {
    const before = await bobCount(mx);
    const r = await send(cleanMail("", `${TEST_HEADER}: soft-reject`).text);
    assert.equal(r.data?.[0], 451, replyText(r.data));
    assert.equal(r.data![1], "4.7.1 Try again later (postamt test)");
    assert.equal(await bobCount(mx), before);
  });

  it("rspamd sees the real envelope: client IP, HELO, the verified reverse-DNS name, sender, recipient", async () => {
    const { text, messageId } = cleanMail("", `${TEST_HEADER}: envelope`);
    const r = await send(text);
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const stored = await placedIn(mx, "INBOX", messageId);
    const echo = fieldValues(stored, "X-Postamt-Envelope");
    assert.equal(echo.length, 1, headerSection(stored));
    assert.match(
      echo[0]!,
      /^ from=<carla@clean\.test> rcpt=<bob@example\.test> ip=127\.0\.0\.1 helo=client\.sender\.test hostname=client\.sender\.test user=- qid=\S+$/,
    );
  });

  it("DMARC quarantine stays Junk when rspamd finds nothing; DMARC reject is decided before rspamd", async () => {
    const q = buildMail({ from: "Quinn <quinn@quarantine.test>", subject: "Lunch on Friday" });
    const r = await send(q.text, "quinn@quarantine.test");
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const stored = await placedIn(mx, "Junk", q.messageId);
    assert.equal(summary(ourAuthResults(stored, HOST)).dmarc, "fail");
    assert.deepEqual(fieldValues(stored, "X-Spam-Action"), [" no action"]);
    assert.deepEqual(fieldValues(stored, "X-Spam"), [], "rspamd did not call it spam");

    const rej = buildMail({ from: "Rita <rita@reject.test>", body: `${GTUBE.addHeader}\r\n` });
    const r2 = await send(rej.text, "rita@reject.test");
    assert.equal(r2.data?.[0], 550, replyText(r2.data));
    assert.match(r2.data![1], /^5\.7\.1 DMARC policy of reject\.test is reject/);
  });
});

describe("e2e: rspamd unreachable (rspamd.on_error)", () => {
  let dns: TestDnsServer;
  let deadUrl: string;
  const servers: TestServer[] = [];

  before(async () => {
    dns = await startDnsServer({ records: DNS_RECORDS });
    // a port nothing listens on: the connection is refused at once
    deadUrl = `http://127.0.0.1:${await freePort()}`;
  });
  after(async () => {
    for (const t of servers) await t.stop();
    await dns?.close();
  });

  async function server(onError: "tempfail" | "accept"): Promise<TestServer> {
    const t = await startTestServer({
      hostname: HOST,
      dns: { servers: [dns.server] },
      limits: { exempt_networks: [] },
      rspamd: { url: deadUrl, timeout: "5s", on_error: onError },
    });
    servers.push(t);
    return t;
  }

  it('on_error = "tempfail" → 451 4.7.1, nothing stored', async () => {
    const t = await server("tempfail");
    const r = await smtplibSession({
      port: t.port("smtp"),
      from: "carla@clean.test",
      rcpts: [BOB],
      message: cleanMail("").text,
    });
    assert.equal(r.data?.[0], 451, replyText(r.data));
    assert.equal(r.data![1], "4.7.1 Message could not be scanned; try again later");
    assert.equal(await bobCount(t), 0);
  });

  it('on_error = "accept" → INBOX, unscanned (no X-Spam fields), authenticated', async () => {
    const t = await server("accept");
    const { text, messageId } = cleanMail("");
    const r = await nodemailerSend(t.port("smtp"), "carla@clean.test", text);
    assert.equal(r.code, 250, r.response);
    const stored = await placedIn(t, "INBOX", messageId);
    assert.deepEqual(fieldValues(stored, "X-Spam-Score"), []);
    assert.deepEqual(fieldValues(stored, "X-Spam-Action"), []);
    assert.equal(summary(ourAuthResults(stored, HOST)).spf, "pass");
  });
});
