// Inbound message authentication end to end: real Postamt servers on loopback, a real DNS server
// publishing SPF, DKIM keys, DMARC policies and PTR/A records, messages signed by dkimpy (Debian's
// python3-dkim) and by Postamt's own signer on a second instance, and independent clients (Python's
// smtplib, nodemailer, swaks) connecting from different loopback addresses. Each case asserts where
// the message ends up (INBOX, Junk, refused with which reply) and what the stored
// Authentication-Results field says.
//
// Every server here sets limits.exempt_networks = []: loopback is exempt by default, and exempt
// clients are not subject to DMARC enforcement or local-domain protection.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImapFlow } from "imapflow";
import nodemailer from "nodemailer";
import { ensureDomainKeys } from "../../src/security/dkim-keys.js";
import type { DmarcRecord } from "../../src/store/types.js";
import { runCli } from "../helpers/cli.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { mailboxMessages } from "../helpers/mailbox.js";
import { freePort } from "../helpers/ports.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";
import {
  authResultsFields,
  buildMail,
  type DkimKeys,
  dkimpySign,
  fieldValues,
  headerSection,
  makeDkimKeys,
  ourAuthResults,
  prop,
  replyText,
  results,
  smtplibSession,
  summary,
} from "../helpers/signed-mail.js";
import { missingTools, TOOLS } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";
import { runTool } from "../interop/helpers/interop.js";
import { DKIMPY_MISSING, findDkimPython } from "../security/dkim-helpers.js";

const HOST = "mx.example.test";
/** in sender.test's SPF record, with PTR client.sender.test → A 127.0.0.1 (iprev pass) */
const GOOD_IP = "127.0.0.1";
/** in no SPF record; its PTR names a host whose A record is elsewhere (iprev fail) */
const STRANGER_IP = "127.0.0.5";
/** in example.test's own SPF record (no PTR: iprev permerror) */
const OFFICE_IP = "127.0.0.9";
/** the two Postamt instances of the relay case, and a forger next to them */
const A_IP = "127.0.0.21";
const B_IP = "127.0.0.22";
const FORGER_IP = "127.0.0.23";
/** clients named in PROXY headers (not loopback, so not exempt by default): sender.test's other
 * outbound server (in its SPF, iprev pass), and a stranger (iprev fail) */
const PROXIED_GOOD_IP = "192.0.2.10";
const PROXIED_STRANGER_IP = "198.51.100.7";

const python = findDkimPython();
const BOB = { user: "bob@example.test", pass: "bob-secret" };

/** Messages of a mailbox with this Message-ID (trace prefix + blob). */
async function findStored(
  t: TestServer,
  address: string,
  mailbox: string,
  messageId: string,
): Promise<Buffer[]> {
  const all = await mailboxMessages(t.server.store, address, mailbox);
  return all.filter((m) => fieldValues(m, "Message-ID").some((v) => v.trim() === messageId));
}

async function count(t: TestServer, address: string, mailbox: string): Promise<number> {
  return (await mailboxMessages(t.server.store, address, mailbox)).length;
}

/** The one stored copy of a message in this mailbox, and none in the other one. */
async function placedIn(
  t: TestServer,
  address: string,
  mailbox: "INBOX" | "Junk",
  messageId: string,
): Promise<Buffer> {
  const here = await findStored(t, address, mailbox, messageId);
  const other = await findStored(t, address, mailbox === "INBOX" ? "Junk" : "INBOX", messageId);
  assert.equal(here.length, 1, `${messageId} should be in ${address}'s ${mailbox}`);
  assert.equal(other.length, 0, `${messageId} should not be in ${address}'s other mailbox`);
  return here[0]!;
}

/** DMARC rows without the day, counts summed per outcome, sorted by domain and source. */
function aggregate(rows: DmarcRecord[]): Array<Omit<DmarcRecord, "day">> {
  const sums = new Map<string, Omit<DmarcRecord, "day">>();
  for (const { day: _day, ...r } of rows) {
    const key = JSON.stringify({ ...r, count: 0 });
    const seen = sums.get(key);
    if (seen) seen.count += r.count;
    else sums.set(key, { ...r });
  }
  const order = (r: Omit<DmarcRecord, "day">) => `${r.domain} ${r.sourceIp} ${r.dmarc}`;
  return [...sums.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

/** Reads a mailbox over IMAP (imapflow): by special use "\\Junk", or INBOX. */
async function imapSources(
  t: TestServer,
  auth: { user: string; pass: string },
  which: "INBOX" | "\\Junk",
): Promise<{ path: string; sources: Buffer[] }> {
  const c = new ImapFlow({
    host: "127.0.0.1",
    port: t.port("imap"),
    secure: false,
    auth,
    logger: false,
    tls: { rejectUnauthorized: false },
  });
  await c.connect();
  try {
    let path = "INBOX";
    if (which !== "INBOX") {
      const box = (await c.list()).find((b) => b.specialUse === which);
      assert.ok(box, `no mailbox with special use ${which}`);
      path = box.path;
    }
    const opened = await c.mailboxOpen(path, { readOnly: true });
    const sources: Buffer[] = [];
    if (opened.exists > 0) {
      for await (const m of c.fetch("1:*", { source: true })) if (m.source) sources.push(m.source);
    }
    return { path, sources };
  } finally {
    await c.logout();
  }
}

/** Sends exact bytes with nodemailer's SMTP transport (plain text, from a chosen local address). */
async function nodemailerSend(opts: {
  port: number;
  localAddress?: string;
  helo?: string;
  from: string;
  to: string[];
  raw: string;
  auth?: { user: string; pass: string };
}): Promise<{ code: number; response: string }> {
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: opts.port,
    secure: false,
    ignoreTLS: !opts.auth,
    localAddress: opts.localAddress,
    name: opts.helo ?? "client.sender.test",
    auth: opts.auth,
    tls: { rejectUnauthorized: false },
  });
  try {
    const info = await transport.sendMail({ envelope: { from: opts.from, to: opts.to }, raw: opts.raw });
    return { code: Number(info.response.slice(0, 3)), response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { code: e.responseCode ?? 0, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

describe("e2e: inbound authentication through the SMTP listener", () => {
  let dns: TestDnsServer;
  let dir: string;
  let keys: DkimKeys;
  /** the MX under test: example.test, authserv-id mx.example.test, nothing exempt */
  let mx: TestServer;
  const servers: TestServer[] = [];

  /** Another server like `mx` with some keys changed; stopped after the suite. */
  async function variant(over: {
    inbound?: Record<string, unknown>;
    limits?: Record<string, unknown>;
  }): Promise<TestServer> {
    const t = await startTestServer({
      hostname: HOST,
      dns: { servers: [dns.server] },
      inbound: over.inbound ?? {},
      limits: { exempt_networks: [], ...over.limits },
    });
    servers.push(t);
    return t;
  }

  async function signed(msg: string, algorithms: Array<"rsa-sha256" | "ed25519-sha256">): Promise<string> {
    assert.ok(python);
    let out = msg;
    for (const a of algorithms) out = await dkimpySign(python, keys, out, "sender.test", a);
    return out;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-e2e-inbound-"));
    keys = await makeDkimKeys(dir);
    dns = await startDnsServer({
      records: [
        // sender.test: SPF names GOOD_IP, DKIM keys for dkimpy, DMARC p=reject
        { name: "sender.test", type: "TXT", data: `v=spf1 ip4:${GOOD_IP} ip4:${PROXIED_GOOD_IP} -all` },
        { name: "py._domainkey.sender.test", type: "TXT", data: keys.records["py"]! },
        { name: "pyed._domainkey.sender.test", type: "TXT", data: keys.records["pyed"]! },
        { name: "_dmarc.sender.test", type: "TXT", data: "v=DMARC1; p=reject" },
        { name: "mail.sender.test", type: "TXT", data: "v=spf1 a -all" },
        { name: "mail.sender.test", type: "A", data: GOOD_IP },
        // reverse DNS: GOOD_IP verifies, STRANGER_IP's PTR name points elsewhere
        { name: "1.0.0.127.in-addr.arpa", type: "PTR", data: "client.sender.test" },
        { name: "client.sender.test", type: "A", data: GOOD_IP },
        { name: "5.0.0.127.in-addr.arpa", type: "PTR", data: "stranger.other.test" },
        { name: "stranger.other.test", type: "A", data: "203.0.113.9" },
        { name: "10.2.0.192.in-addr.arpa", type: "PTR", data: "out.sender.test" },
        { name: "out.sender.test", type: "A", data: PROXIED_GOOD_IP },
        { name: "7.100.51.198.in-addr.arpa", type: "PTR", data: "stranger.other.test" },
        // DMARC quarantine / none, SPF not naming any loopback address
        { name: "quarantine.test", type: "TXT", data: "v=spf1 ip4:192.0.2.1 -all" },
        { name: "_dmarc.quarantine.test", type: "TXT", data: "v=DMARC1; p=quarantine" },
        { name: "none.test", type: "TXT", data: "v=spf1 ip4:192.0.2.1 -all" },
        { name: "_dmarc.none.test", type: "TXT", data: "v=DMARC1; p=none" },
        // SPF only
        { name: "hardfail.test", type: "TXT", data: "v=spf1 ip4:192.0.2.1 -all" },
        { name: "softfail.test", type: "TXT", data: "v=spf1 ~all" },
        // our own domain: SPF for the office, no DMARC record
        { name: "example.test", type: "TXT", data: `v=spf1 ip4:${OFFICE_IP} -all` },
        // the relay case: a.test → b.test
        { name: "a.test", type: "MX", data: { preference: 10, exchange: "mx.a.test" } },
        { name: "mx.a.test", type: "A", data: A_IP },
        { name: "21.0.0.127.in-addr.arpa", type: "PTR", data: "mx.a.test" },
        { name: "a.test", type: "TXT", data: `v=spf1 ip4:${A_IP} -all` },
        { name: "_dmarc.a.test", type: "TXT", data: "v=DMARC1; p=reject" },
        { name: "b.test", type: "MX", data: { preference: 10, exchange: "mx.b.test" } },
        { name: "mx.b.test", type: "A", data: B_IP },
      ],
    });
    mx = await startTestServer({
      hostname: HOST,
      listen: { imap: ["127.0.0.1:0"] },
      dns: { servers: [dns.server] },
      limits: { exempt_networks: [] },
    });
  });

  after(async () => {
    await mx?.stop();
    for (const t of servers) await t.stop();
    await dns?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("1. dkimpy-signed mail from sender.test's own IP: INBOX, spf/dkim/dmarc/iprev pass", async (t) => {
    if (!python) return t.skip(DKIMPY_MISSING);
    const { text, messageId } = buildMail({ from: "Alice <alice@sender.test>" });
    const message = await signed(text, ["rsa-sha256", "ed25519-sha256"]);
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: GOOD_IP,
      from: "bounces@sender.test",
      rcpts: ["bob@example.test"],
      message,
    });
    assert.equal(r.data?.[0], 250, JSON.stringify(r));

    // bob sees it in INBOX over IMAP, with the field on top
    const inbox = await imapSources(mx, BOB, "INBOX");
    const got = inbox.sources.filter((s) => fieldValues(s, "Message-ID").some((v) => v.trim() === messageId));
    assert.equal(got.length, 1);
    const stored = await placedIn(mx, "bob@example.test", "INBOX", messageId);
    assert.equal(got[0]!.toString("utf8"), stored.toString("utf8"));

    const ar = ourAuthResults(stored, HOST);
    assert.equal(authResultsFields(stored).length, 1);
    assert.deepEqual(summary(ar), { spf: "pass", dkim: "pass", dmarc: "pass", arc: "none", iprev: "pass" });
    assert.equal(prop(results(ar, "spf")[0], "smtp.mailfrom"), "bounces@sender.test");
    // the HELO identity is checked too and reported on its own (RFC 7208 §2.3); it has no record here
    const helo = results(ar, "spf")[1];
    assert.deepEqual([helo?.result, prop(helo!, "smtp.helo")], ["none", "client.sender.test"]);
    // one result per signature, newest (on top) first, both pass for sender.test
    const dkim = results(ar, "dkim");
    assert.deepEqual(
      dkim.map((d) => [d.result, prop(d, "header.d"), prop(d, "header.s"), prop(d, "header.a")]),
      [
        ["pass", "sender.test", "pyed", "ed25519-sha256"],
        ["pass", "sender.test", "py", "rsa-sha256"],
      ],
    );
    assert.equal(prop(results(ar, "dmarc")[0], "header.from"), "sender.test");
    assert.equal(prop(results(ar, "iprev")[0], "policy.iprev"), GOOD_IP);
    const field = fieldValues(stored, "Authentication-Results")[0]!;
    assert.match(field, /client\.sender\.test/, "iprev names the verified host");
    // Received names the verified host too (RFC 5321 §4.4 "from" clause: TCP-info with the name)
    assert.match(fieldValues(stored, "Received")[0]!, new RegExp(`client\\.sender\\.test \\[${GOOD_IP.replace(/\./g, "\\.")}\\]`));
    // the field sits in the trace prefix, above the signed header
    const head = headerSection(stored);
    assert.ok(head.indexOf("Authentication-Results:") < head.indexOf("DKIM-Signature:"), head);
  });

  it("2. body or Subject changed after signing, sent from an IP outside SPF: 550 5.7.1, nothing stored", async (t) => {
    if (!python) return t.skip(DKIMPY_MISSING);
    const inbox = await count(mx, "bob@example.test", "INBOX");
    const junk = await count(mx, "bob@example.test", "Junk");
    const tampered = [
      (m: string) => m.replace("the numbers are in", "the numbers are OUT; wire 10000 EUR to"),
      (m: string) => m.replace("Subject: Quarterly numbers", "Subject: Urgent: new bank details"),
    ];
    for (const tamper of tampered) {
      const { text } = buildMail({ from: "Alice <alice@sender.test>" });
      const message = tamper(await signed(text, ["rsa-sha256"]));
      const r = await smtplibSession({
        port: mx.port("smtp"),
        source: STRANGER_IP,
        from: "alice@sender.test",
        rcpts: ["bob@example.test"],
        message,
      });
      assert.equal(r.rcpt[0]?.[0], 250, JSON.stringify(r));
      assert.equal(r.data?.[0], 550, replyText(r.data));
      assert.match(r.data![1], /^5\.7\.1 DMARC policy of sender\.test is reject; the message failed DMARC/);
    }
    assert.equal(await count(mx, "bob@example.test", "INBOX"), inbox, "nothing in INBOX");
    assert.equal(await count(mx, "bob@example.test", "Junk"), junk, "nothing in Junk");

    // the control: the same kind of message, untouched, from the same IP passes on DKIM alone
    const { text, messageId } = buildMail({ from: "Alice <alice@sender.test>" });
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: STRANGER_IP,
      from: "alice@sender.test",
      rcpts: ["bob@example.test"],
      message: await signed(text, ["rsa-sha256"]),
    });
    assert.equal(r.data?.[0], 250, JSON.stringify(r));
    const ar = ourAuthResults(await placedIn(mx, "bob@example.test", "INBOX", messageId), HOST);
    assert.deepEqual(summary(ar), { spf: "fail", dkim: "pass", dmarc: "pass", arc: "none", iprev: "fail" });
    assert.equal(prop(results(ar, "iprev")[0], "policy.iprev"), STRANGER_IP);
  });

  it("3. p=quarantine, unsigned, SPF fail (swaks): bob's Junk (special-use \\Junk over IMAP), dmarc=fail", async (t) => {
    const missing = missingTools(TOOLS.swaks);
    if (missing) return t.skip(missing);
    const { text, messageId } = buildMail({ from: "Quinn <quinn@quarantine.test>", subject: "Invoice" });
    const file = join(dir, "quarantine.eml");
    // swaks ends the data with CRLF.CRLF itself: the file leaves out the last CRLF
    await writeFile(file, text.replace(/\r\n$/, ""));
    const r = await runTool(
      "swaks",
      [
        "--server",
        "127.0.0.1",
        "--port",
        String(mx.port("smtp")),
        "--local-interface",
        GOOD_IP,
        "--helo",
        "client.sender.test",
        "--from",
        "quinn@quarantine.test",
        "--to",
        "bob@example.test",
        "--data",
        `@${file}`,
        "--timeout",
        "20",
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<-\s+250 2\.0\.0 Ok: queued/);

    const junk = await imapSources(mx, BOB, "\\Junk");
    assert.equal(junk.path, "Junk");
    const viaImap = junk.sources.filter((s) =>
      fieldValues(s, "Message-ID").some((v) => v.trim() === messageId),
    );
    assert.equal(viaImap.length, 1, "in Junk as IMAP shows it");
    const stored = await placedIn(mx, "bob@example.test", "Junk", messageId);
    const ar = ourAuthResults(stored, HOST);
    assert.deepEqual(summary(ar), { spf: "fail", dkim: "none", dmarc: "fail", arc: "none", iprev: "pass" });
    assert.equal(prop(results(ar, "dmarc")[0], "header.from"), "quarantine.test");
    assert.match(
      fieldValues(stored, "Authentication-Results")[0]!,
      /dmarc=fail \(p=QUARANTINE dis=QUARANTINE\)/,
    );
  });

  it("3b. quarantine goes to the mailbox with special use \\Junk whatever its name; without one, to INBOX", async () => {
    const t = await variant({});
    const store = t.server.store;
    const bob = (await store.getAccount("bob@example.test"))!;
    const alice = (await store.getAccount("alice@example.test"))!;
    await store.renameMailbox(bob.id, "Junk", "Spam");
    await store.deleteMailbox(alice.id, "Junk");
    assert.equal((await store.listMailboxes(bob.id)).find((b) => b.name === "Spam")?.specialUse, "\\Junk");
    assert.equal((await store.listMailboxes(alice.id)).filter((b) => b.specialUse === "\\Junk").length, 0);

    const { text, messageId } = buildMail({ from: "Quinn <quinn@quarantine.test>", subject: "Invoice 2" });
    const r = await smtplibSession({
      port: t.port("smtp"),
      source: GOOD_IP,
      from: "quinn@quarantine.test",
      rcpts: ["bob@example.test", "alice@example.test"],
      message: text,
    });
    assert.deepEqual([r.rcpt.map((x) => x[0]), r.data?.[0]], [[250, 250], 250], JSON.stringify(r));
    assert.equal(
      (await findStored(t, "bob@example.test", "Spam", messageId)).length,
      1,
      "bob: his \\Junk mailbox",
    );
    assert.equal((await findStored(t, "bob@example.test", "INBOX", messageId)).length, 0);
    // alice has no Junk mailbox: the message is not lost, and its A-R says what happened
    const copy = await findStored(t, "alice@example.test", "INBOX", messageId);
    assert.equal(copy.length, 1, "alice: INBOX");
    assert.match(
      fieldValues(copy[0]!, "Authentication-Results")[0]!,
      /dmarc=fail \(p=QUARANTINE dis=QUARANTINE\)/,
    );
  });

  it("3c. BDAT (CHUNKING): the same verdicts and the same forged-field removal as DATA", async () => {
    const c = await RawSmtp.connect(mx.port("smtp"));
    try {
      assert.equal((await c.read()).code, 220);
      const ehlo = await c.cmd("EHLO client.sender.test");
      assert.ok(ehlo.lines.includes("CHUNKING"), ehlo.raw);
      const bdat = async (message: string) => {
        const bytes = Buffer.from(message);
        const half = Math.floor(bytes.length / 2);
        c.write(Buffer.concat([Buffer.from(`BDAT ${half}\r\n`), bytes.subarray(0, half)]));
        assert.equal((await c.read()).code, 250);
        c.write(Buffer.concat([Buffer.from(`BDAT ${bytes.length - half} LAST\r\n`), bytes.subarray(half)]));
        return c.read();
      };
      // a.test publishes p=reject and an SPF record without 127.0.0.1
      const forged = buildMail({ from: "Alice <alice@a.test>" });
      assert.equal((await c.cmd("MAIL FROM:<alice@a.test>")).code, 250);
      assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
      const refused = await bdat(forged.text);
      assert.equal(refused.code, 550, refused.raw);
      assert.match(refused.lines[0]!, /^5\.7\.1 DMARC policy of a\.test is reject/);
      assert.equal((await findStored(mx, "bob@example.test", "INBOX", forged.messageId)).length, 0);

      const kept = buildMail({
        from: "Nina <nina@none.test>",
        top: "Authentication-Results: mx.example.test; dmarc=pass header.from=none.test",
      });
      assert.equal((await c.cmd("MAIL FROM:<nina@none.test>")).code, 250);
      assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
      const ok = await bdat(kept.text);
      assert.equal(ok.code, 250, ok.raw);
      const stored = await placedIn(mx, "bob@example.test", "INBOX", kept.messageId);
      assert.equal(authResultsFields(stored).length, 1, headerSection(stored));
      assert.equal(summary(ourAuthResults(stored, HOST)).dmarc, "fail");
      await c.cmd("QUIT");
    } finally {
      c.close();
    }
  });

  it("4. p=none failing (nodemailer): INBOX, dmarc=fail", async () => {
    const { text, messageId } = buildMail({ from: "Nina <nina@none.test>" });
    const r = await nodemailerSend({
      port: mx.port("smtp"),
      localAddress: GOOD_IP,
      from: "nina@none.test",
      to: ["bob@example.test"],
      raw: text,
    });
    assert.equal(r.code, 250, r.response);
    const stored = await placedIn(mx, "bob@example.test", "INBOX", messageId);
    const ar = ourAuthResults(stored, HOST);
    assert.deepEqual(summary(ar), { spf: "fail", dkim: "none", dmarc: "fail", arc: "none", iprev: "pass" });
    assert.equal(prop(results(ar, "dmarc")[0], "header.from"), "none.test");
    assert.equal(prop(results(ar, "spf")[0], "smtp.mailfrom"), "nina@none.test");
    assert.match(fieldValues(stored, "Authentication-Results")[0]!, /dmarc=fail \(p=NONE dis=NONE\)/);
  });

  it("5. From: alice@example.test from outside: 550 5.7.1; accepted with protect_local_domains = false", async () => {
    const spoof = () => buildMail({ from: "Alice <alice@example.test>", subject: "Please pay this invoice" });
    const before = await count(mx, "bob@example.test", "INBOX");
    const first = spoof();
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: GOOD_IP,
      from: "ceo@softfail.test",
      rcpts: ["bob@example.test"],
      message: first.text,
    });
    assert.equal(r.data?.[0], 550, replyText(r.data));
    assert.match(
      r.data![1],
      /^5\.7\.1 example\.test is a local domain, but the message has neither an aligned SPF pass nor an aligned DKIM pass/,
    );
    assert.equal(await count(mx, "bob@example.test", "INBOX"), before);

    // not a blanket ban: mail from our own office address passes SPF for example.test, aligned
    const office = buildMail({ from: "Alice <alice@example.test>", subject: "From the office" });
    const ok = await smtplibSession({
      port: mx.port("smtp"),
      source: OFFICE_IP,
      from: "alice@example.test",
      rcpts: ["bob@example.test"],
      message: office.text,
    });
    assert.equal(ok.data?.[0], 250, replyText(ok.data));
    const officeAr = ourAuthResults(await placedIn(mx, "bob@example.test", "INBOX", office.messageId), HOST);
    assert.equal(summary(officeAr).spf, "pass");
    assert.equal(summary(officeAr).dmarc, "none", "example.test publishes no DMARC record");

    // the rule switched off: the same spoof is delivered, with what the checks found
    const open = await variant({ inbound: { protect_local_domains: false } });
    const second = spoof();
    const r2 = await smtplibSession({
      port: open.port("smtp"),
      source: GOOD_IP,
      from: "ceo@softfail.test",
      rcpts: ["bob@example.test"],
      message: second.text,
    });
    assert.equal(r2.data?.[0], 250, replyText(r2.data));
    const ar = ourAuthResults(await placedIn(open, "bob@example.test", "INBOX", second.messageId), HOST);
    assert.deepEqual(summary(ar), {
      spf: "softfail",
      dkim: "none",
      dmarc: "none",
      arc: "none",
      iprev: "pass",
    });
    assert.equal(prop(results(ar, "dmarc")[0], "header.from"), "example.test");
  });

  it("6. forged Authentication-Results claiming our authserv-id are removed (MX and submission); others kept", async () => {
    const forged = [
      "Authentication-Results: mx.example.test; dkim=pass header.d=softfail.test; dmarc=pass",
      "Authentication-Results: (looks official) MX.Example.Test.;\r\n\tspf=pass smtp.mailfrom=ceo@softfail.test",
    ].join("\r\n");
    const foreign = "Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=ceo@softfail.test";
    const bodyLine = "Authentication-Results: mx.example.test; dkim=pass (quoted in the body)";
    const build = () =>
      buildMail({
        from: "Carol <carol@softfail.test>",
        top: forged,
        extra: foreign,
        body: `Look at this header I received:\r\n${bodyLine}\r\n`,
      });

    // over the MX
    const mxMail = build();
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: GOOD_IP,
      from: "carol@softfail.test",
      rcpts: ["bob@example.test"],
      message: mxMail.text,
    });
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const stored = await placedIn(mx, "bob@example.test", "INBOX", mxMail.messageId);
    const all = authResultsFields(stored);
    assert.deepEqual(
      all.map((a) => a.authservId.toLowerCase()),
      [HOST, "relay.other.test"],
      headerSection(stored),
    );
    // ours tells the truth: nothing was signed and softfail.test publishes no DMARC record
    const ar = ourAuthResults(stored, HOST);
    assert.deepEqual(summary(ar), {
      spf: "softfail",
      dkim: "none",
      dmarc: "none",
      arc: "none",
      iprev: "pass",
    });
    assert.equal(
      fieldValues(stored, "Authentication-Results")[1],
      ` ${foreign.slice(foreign.indexOf(":") + 1).trim()}`,
    );
    assert.ok(stored.toString("utf8").includes(`\r\n${bodyLine}\r\n`), "the body is not touched");

    // over submission: alice, authenticated, sends bob the same forgeries
    const subMail = build();
    const sub = await nodemailerSend({
      port: mx.port("submission"),
      auth: { user: "alice@example.test", pass: "alice-secret" },
      from: "alice@example.test",
      to: ["bob@example.test"],
      raw: subMail.text.replace("From: Carol <carol@softfail.test>", "From: Alice <alice@example.test>"),
    });
    assert.equal(sub.code, 250, sub.response);
    const fromAlice = await placedIn(mx, "bob@example.test", "INBOX", subMail.messageId);
    assert.deepEqual(
      authResultsFields(fromAlice).map((a) => a.authservId.toLowerCase()),
      ["relay.other.test"],
      headerSection(fromAlice),
    );
    assert.doesNotMatch(headerSection(fromAlice), /mx\.example\.test;/i);
  });

  it("7. Postamt's own DKIM signatures (RSA and Ed25519) verify at a second Postamt: dkim=pass, dmarc=pass", async () => {
    const port = await freePort(B_IP);
    const common = (ip: string, name: string) => ({
      hostname: name,
      listen: { smtp: [`${ip}:${port}`], submission: [`${ip}:0`], submissions: [] },
      dns: { servers: [dns.server] },
      outbound: { port, mta_sts: false, bind_address: ip },
      queue: { retry_intervals: ["1s"] },
      limits: { exempt_networks: [] },
    });
    const a = await startTestServer(common(A_IP, "mx.a.test"), {
      domains: ["a.test"],
      users: [{ address: "alice@a.test", password: "alice-secret" }],
    });
    servers.push(a);
    const b = await startTestServer(common(B_IP, "mx.b.test"), {
      domains: ["b.test"],
      users: [{ address: "bob@b.test", password: "bob-secret" }],
    });
    servers.push(b);
    const own = await ensureDomainKeys(a.dir, "a.test");
    for (const k of [own.rsa, own.ed25519]) {
      dns.add({ name: `${k.selector}._domainkey.a.test`, type: "TXT", data: k.dnsRecord });
    }

    const { text, messageId } = buildMail({ from: "Alice <alice@a.test>", to: "Bob <bob@b.test>" });
    const transport = nodemailer.createTransport({
      host: A_IP,
      port: a.port("submission"),
      secure: false,
      auth: { user: "alice@a.test", pass: "alice-secret" },
      tls: { rejectUnauthorized: false },
    });
    await transport.sendMail({ envelope: { from: "alice@a.test", to: ["bob@b.test"] }, raw: text });
    transport.close();
    const stored = await waitFor("the message at b.test", async () => {
      const m = await findStored(b, "bob@b.test", "INBOX", messageId);
      return m[0] ?? null;
    });
    assert.equal((await findStored(b, "bob@b.test", "Junk", messageId)).length, 0);
    assert.equal(fieldValues(stored, "DKIM-Signature").length, 2, "a.test signed twice");
    const ar = ourAuthResults(stored, "mx.b.test");
    assert.deepEqual(summary(ar), { spf: "pass", dkim: "pass", dmarc: "pass", arc: "none", iprev: "pass" });
    assert.deepEqual(
      results(ar, "dkim")
        .map((d) => [d.result, prop(d, "header.d"), prop(d, "header.a")])
        .sort(),
      [
        ["pass", "a.test", "ed25519-sha256"],
        ["pass", "a.test", "rsa-sha256"],
      ],
    );
    assert.deepEqual(
      results(ar, "dkim")
        .map((d) => prop(d, "header.s"))
        .sort(),
      [own.ed25519.selector, own.rsa.selector].sort(),
    );
    assert.equal(prop(results(ar, "dmarc")[0], "header.from"), "a.test");
    assert.equal(prop(results(ar, "spf")[0], "smtp.mailfrom"), "alice@a.test");
    assert.equal(prop(results(ar, "iprev")[0], "policy.iprev"), A_IP);

    // someone else claiming to be alice@a.test, unsigned, from another address: refused at b.test
    const forged = buildMail({ from: "Alice <alice@a.test>", to: "Bob <bob@b.test>" });
    const r = await smtplibSession({
      host: B_IP,
      port,
      source: FORGER_IP,
      helo: "mx.a.test",
      from: "alice@a.test",
      rcpts: ["bob@b.test"],
      message: forged.text,
    });
    assert.equal(r.data?.[0], 550, replyText(r.data));
    assert.match(r.data![1], /^5\.7\.1 DMARC policy of a\.test is reject/);
    assert.equal((await findStored(b, "bob@b.test", "INBOX", forged.messageId)).length, 0);
  });

  it("8. inbound.spf_reject: SPF fail refused at MAIL FROM with 550 5.7.23; softfail accepted", async () => {
    const strict = await variant({ inbound: { spf_reject: true } });
    const fail = await smtplibSession({
      port: strict.port("smtp"),
      source: GOOD_IP,
      from: "someone@hardfail.test",
      rcpts: ["bob@example.test"],
      message: buildMail({ from: "someone@hardfail.test" }).text,
    });
    assert.equal(fail.mail?.[0], 550, replyText(fail.mail));
    assert.match(
      fail.mail![1],
      /^5\.7\.23 SPF of hardfail\.test does not allow 127\.0\.0\.1 to send its mail/,
    );
    assert.deepEqual(fail.rcpt, [], "the transaction ended at MAIL FROM");

    const soft = buildMail({ from: "someone@softfail.test" });
    const ok = await smtplibSession({
      port: strict.port("smtp"),
      source: GOOD_IP,
      from: "someone@softfail.test",
      rcpts: ["bob@example.test"],
      message: soft.text,
    });
    assert.equal(ok.mail?.[0], 250, replyText(ok.mail));
    assert.equal(ok.data?.[0], 250, replyText(ok.data));
    const ar = ourAuthResults(await placedIn(strict, "bob@example.test", "INBOX", soft.messageId), HOST);
    assert.equal(summary(ar).spf, "softfail");

    // the null sender: SPF of the HELO name decides (RFC 7208 §2.3)
    const bounce = await smtplibSession({
      port: strict.port("smtp"),
      source: GOOD_IP,
      helo: "hardfail.test",
      from: "",
      rcpts: ["bob@example.test"],
      message: null,
    });
    assert.equal(bounce.mail?.[0], 550, replyText(bounce.mail));
    assert.match(bounce.mail![1], /^5\.7\.23 SPF of hardfail\.test does not allow 127\.0\.0\.1/);

    // the default (spf_reject = false): the same hard fail is accepted and reported
    const lax = buildMail({ from: "someone@hardfail.test" });
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: GOOD_IP,
      from: "someone@hardfail.test",
      rcpts: ["bob@example.test"],
      message: lax.text,
    });
    assert.equal(r.mail?.[0], 250, replyText(r.mail));
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const laxAr = ourAuthResults(await placedIn(mx, "bob@example.test", "INBOX", lax.messageId), HOST);
    assert.equal(summary(laxAr).spf, "fail");
    assert.equal(prop(results(laxAr, "spf")[0], "smtp.mailfrom"), "someone@hardfail.test");
  });

  it("9. DMARC aggregate data: counted per source and outcome, flushed to the store, shown by `postamt dmarc`", async (t) => {
    if (!python) return t.skip(DKIMPY_MISSING);
    const rec = await variant({});
    assert.ok(rec.server.dmarc, "inbound.dmarc_reports is on by default");
    // rows are per UTC day: a run across midnight may split a count over two days
    const dayBefore = new Date().toISOString().slice(0, 10);
    const send = async (source: string, from: string, message: string) =>
      smtplibSession({ port: rec.port("smtp"), source, from, rcpts: ["bob@example.test"], message });
    const codes: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await send(
        GOOD_IP,
        "alice@sender.test",
        await signed(buildMail({ from: "alice@sender.test" }).text, ["rsa-sha256"]),
      );
      codes.push(r.data?.[0] ?? 0);
    }
    codes.push(
      (await send(GOOD_IP, "q@quarantine.test", buildMail({ from: "q@quarantine.test" }).text)).data?.[0] ??
        0,
    );
    codes.push(
      (await send(STRANGER_IP, "alice@sender.test", buildMail({ from: "alice@sender.test" }).text))
        .data?.[0] ?? 0,
    );
    assert.deepEqual(codes, [250, 250, 250, 550]);

    await rec.server.dmarc!.flush();
    const rows = await rec.server.store.listDmarc();
    const days = new Set([dayBefore, new Date().toISOString().slice(0, 10)]);
    assert.ok(
      rows.every((r) => days.has(r.day)),
      JSON.stringify(rows),
    );
    assert.deepEqual(aggregate(rows), [
      {
        domain: "quarantine.test",
        sourceIp: GOOD_IP,
        policy: "quarantine",
        disposition: "quarantine",
        dmarc: "fail",
        spf: "fail",
        spfDomain: "quarantine.test",
        dkim: "none",
        dkimDomain: "",
        count: 1,
      },
      {
        domain: "sender.test",
        sourceIp: GOOD_IP,
        policy: "reject",
        disposition: "none",
        dmarc: "pass",
        spf: "pass",
        spfDomain: "sender.test",
        dkim: "pass",
        dkimDomain: "sender.test",
        count: 2,
      },
      {
        domain: "sender.test",
        sourceIp: STRANGER_IP,
        policy: "reject",
        disposition: "reject",
        dmarc: "fail",
        spf: "fail",
        spfDomain: "sender.test",
        dkim: "none",
        dkimDomain: "",
        count: 1,
      },
    ]);

    // the CLI, on the same SQLite file while the server runs (WAL)
    const cliDir = await mkdtemp(join(tmpdir(), "postamt-e2e-dmarc-cli-"));
    try {
      const config = join(cliDir, "postamt.toml");
      const listeners = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http"];
      await writeFile(
        config,
        `hostname = "${HOST}"\ndata_dir = ${JSON.stringify(rec.dir)}\n[listen]\n${listeners.map((n) => `${n} = []`).join("\n")}\n`,
      );
      const table = await runCli(["dmarc", "--config", config], { cwd: cliDir });
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(
        lines[0]!,
        /^DAY\s+FROM DOMAIN\s+SOURCE IP\s+COUNT\s+DMARC\s+POLICY\s+DISPOSITION\s+SPF\s+DKIM$/,
      );
      assert.equal(lines.length, 1 + rows.length, table.stdout);
      const day = "\\d{4}-\\d{2}-\\d{2}";
      for (const re of [
        `^${day}\\s+sender\\.test\\s+127\\.0\\.0\\.1\\s+\\d+\\s+pass\\s+reject\\s+none\\s+pass \\(sender\\.test\\)\\s+pass \\(sender\\.test\\)$`,
        `^${day}\\s+sender\\.test\\s+127\\.0\\.0\\.5\\s+1\\s+fail\\s+reject\\s+reject\\s+fail \\(sender\\.test\\)\\s+none$`,
        `^${day}\\s+quarantine\\.test\\s+127\\.0\\.0\\.1\\s+1\\s+fail\\s+quarantine\\s+quarantine\\s+fail \\(quarantine\\.test\\)\\s+none$`,
      ]) {
        assert.ok(
          lines.some((l) => new RegExp(re).test(l)),
          `no line matching ${re}:\n${table.stdout}`,
        );
      }
      // --json prints exactly what the store holds
      const json = await runCli(["dmarc", "--config", config, "--json"], { cwd: cliDir });
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), rows);
      const one = await runCli(["dmarc", "--config", config, "--json", "--domain", "quarantine.test"], {
        cwd: cliDir,
      });
      assert.equal(one.code, 0, one.stderr);
      const parsed = JSON.parse(one.stdout) as Array<{ domain: string; count: number; disposition: string }>;
      assert.deepEqual(
        parsed.map((r) => [r.domain, r.count, r.disposition]),
        [["quarantine.test", 1, "quarantine"]],
      );
    } finally {
      await rm(cliDir, { recursive: true, force: true });
    }

    // another pass from the same source adds to the same row
    const again = await send(
      GOOD_IP,
      "alice@sender.test",
      await signed(buildMail({ from: "alice@sender.test" }).text, ["rsa-sha256"]),
    );
    assert.equal(again.data?.[0], 250);
    await rec.server.dmarc!.flush();
    const pass = (await rec.server.store.listDmarc({ domain: "sender.test" })).filter(
      (r) => r.sourceIp === GOOD_IP,
    );
    assert.equal(
      pass.reduce((n, r) => n + r.count, 0),
      3,
      JSON.stringify(pass),
    );
    assert.ok(pass.length <= 2, "one row per day");
  });

  describe('9b. an IPv6 listener that also takes IPv4 clients ("[::]:25"): they appear as ::ffff:a.b.c.d', () => {
    let dual: TestServer;
    before(async () => {
      // bound to the IPv4-mapped loopback address: the same socket type as "[::]:25", on loopback only
      dual = await startTestServer({
        hostname: HOST,
        listen: { smtp: ["[::ffff:127.0.0.1]:0"] },
        dns: { servers: [dns.server] },
        limits: { exempt_networks: [] },
      });
      servers.push(dual);
      const c = await RawSmtp.connect(dual.port("smtp"));
      try {
        assert.equal((await c.read()).code, 220);
        const ehlo = await c.cmd("EHLO client.sender.test");
        assert.match(ehlo.lines[0]!, /\[::ffff:127\.0\.0\.1\]/, "the socket reports the mapped form");
        assert.equal((await c.cmd("MAIL FROM:<alice@sender.test>")).code, 250);
        assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
        assert.equal((await c.cmd("DATA")).code, 354);
        c.write(`${buildMail({ from: "alice@sender.test", subject: "dual stack" }).text}.\r\n`);
        assert.equal((await c.read()).code, 250);
      } finally {
        c.close();
      }
    });

    it("SPF, iprev and the Authentication-Results field judge and name the IPv4 address", async () => {
      const [stored] = await mailboxMessages(dual.server.store, "bob@example.test", "INBOX");
      assert.ok(stored);
      const ar = ourAuthResults(stored, HOST);
      assert.deepEqual(summary(ar), { spf: "pass", dkim: "none", dmarc: "pass", arc: "none", iprev: "pass" });
      assert.equal(prop(results(ar, "iprev")[0], "policy.iprev"), GOOD_IP);
    });

    it("DMARC aggregate data records the source as the IPv4 address", async () => {
      await dual.server.dmarc!.flush();
      const rows = await dual.server.store.listDmarc();
      assert.deepEqual(
        rows.map((r) => r.sourceIp),
        [GOOD_IP],
      );
    });
  });

  it("10. null sender: one recipient per bounce (452 for the second); two with limits.null_sender_recipients = 2", async () => {
    const bounce = () =>
      buildMail({
        from: "Mail Delivery System <MAILER-DAEMON@mail.sender.test>",
        subject: "Undelivered Mail Returned to Sender",
      });
    const one = bounce();
    const r = await smtplibSession({
      port: mx.port("smtp"),
      source: GOOD_IP,
      helo: "mail.sender.test",
      from: "",
      rcpts: ["bob@example.test", "alice@example.test"],
      message: one.text,
    });
    assert.equal(r.mail?.[0], 250, replyText(r.mail));
    assert.deepEqual(
      r.rcpt.map((x) => x[0]),
      [250, 452],
      JSON.stringify(r.rcpt),
    );
    assert.match(r.rcpt[1]![1], /^4\.5\.3 Too many recipients for a bounce/);
    assert.equal(r.data?.[0], 250, replyText(r.data));
    const stored = await placedIn(mx, "bob@example.test", "INBOX", one.messageId);
    assert.equal((await findStored(mx, "alice@example.test", "INBOX", one.messageId)).length, 0);
    // SPF of the null sender is the HELO identity (RFC 7208 §2.3)
    const ar = ourAuthResults(stored, HOST);
    assert.equal(summary(ar).spf, "pass");
    assert.equal(prop(results(ar, "spf")[0], "smtp.helo"), "mail.sender.test");
    assert.equal(summary(ar).dmarc, "pass");
    assert.match(fieldValues(stored, "Return-Path")[0]!, /^ ?<>$/);

    const two = await variant({ limits: { null_sender_recipients: 2 } });
    const both = bounce();
    const r2 = await smtplibSession({
      port: two.port("smtp"),
      source: GOOD_IP,
      helo: "mail.sender.test",
      from: "",
      rcpts: ["bob@example.test", "alice@example.test"],
      message: both.text,
    });
    assert.deepEqual(
      r2.rcpt.map((x) => x[0]),
      [250, 250],
      JSON.stringify(r2.rcpt),
    );
    assert.equal(r2.data?.[0], 250, replyText(r2.data));
    for (const rcpt of ["bob@example.test", "alice@example.test"]) {
      const copy = await placedIn(two, rcpt, "INBOX", both.messageId);
      assert.equal(summary(ourAuthResults(copy, HOST)).spf, "pass", `${rcpt}'s copy is authenticated too`);
    }
  });

  it("11. behind a PROXY-protocol load balancer on loopback (exempt by default): the real client is judged", async () => {
    // the balancer connects from 127.0.0.1, which limits.exempt_networks exempts by default; the
    // client it names is elsewhere and must meet SPF, DMARC and iprev as itself
    const t = await startTestServer({
      hostname: HOST,
      dns: { servers: [dns.server] },
      proxy: { listeners: ["smtp"] },
    });
    servers.push(t);
    const session = async (clientIp: string, from: string, message: string) => {
      const c = await RawSmtp.connect(t.port("smtp"));
      try {
        c.write(`PROXY TCP4 ${clientIp} 127.0.0.1 40000 25\r\n`);
        assert.equal((await c.read()).code, 220);
        assert.equal((await c.cmd("EHLO client.sender.test")).code, 250);
        assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
        assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
        assert.equal((await c.cmd("DATA")).code, 354);
        c.write(`${message.replace(/\r\n$/, "")}\r\n.\r\n`);
        return await c.read();
      } finally {
        c.close();
      }
    };
    const forged = buildMail({ from: "Alice <alice@sender.test>" });
    const refused = await session(PROXIED_STRANGER_IP, "alice@sender.test", forged.text);
    assert.equal(refused.code, 550, refused.raw);
    assert.match(refused.lines[0]!, /^5\.7\.1 DMARC policy of sender\.test is reject/);

    const genuine = buildMail({ from: "Alice <alice@sender.test>" });
    const ok = await session(PROXIED_GOOD_IP, "alice@sender.test", genuine.text);
    assert.equal(ok.code, 250, ok.raw);
    const ar = ourAuthResults(await placedIn(t, "bob@example.test", "INBOX", genuine.messageId), HOST);
    assert.equal(summary(ar).spf, "pass");
    assert.equal(prop(results(ar, "iprev")[0], "policy.iprev"), PROXIED_GOOD_IP);

    const elsewhere = buildMail({ from: "Nina <nina@none.test>" });
    const via = await session(PROXIED_STRANGER_IP, "nina@none.test", elsewhere.text);
    assert.equal(via.code, 250, via.raw);
    const far = ourAuthResults(await placedIn(t, "bob@example.test", "INBOX", elsewhere.messageId), HOST);
    assert.deepEqual(
      [summary(far).iprev, prop(results(far, "iprev")[0], "policy.iprev")],
      ["fail", PROXIED_STRANGER_IP],
    );
  });
});
