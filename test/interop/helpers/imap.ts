// Shared pieces of the IMAP interop tests: a server with both IMAP listeners, delivery through the
// real SMTP listener (so every message carries the trace prefix IMAP serves), fixture messages with
// a binary attachment, and the tools the IMAP tests need beyond test/helpers/tools.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { type TestServer, startTestServer } from "../../helpers/server.js";
import { RawSmtp } from "../../helpers/smtp-client.js";
import type { Tool } from "../../helpers/tools.js";
import { buildMessage, type StoredMessage, storedMessages } from "./interop.js";

export const IMAP_TOOLS = {
  mbsync: { name: "mbsync", install: "apt-get install isync" },
} as const satisfies Record<string, Tool>;

export const ALICE = { user: "alice@example.test", pass: "alice-secret" };
export const BOB = { user: "bob@example.test", pass: "bob-secret" };

/** A test server with `imap` (STARTTLS) and `imaps` (implicit TLS) open on 127.0.0.1, plus SMTP. */
export function startImapServer(): Promise<TestServer> {
  return startTestServer({ listen: { imap: ["127.0.0.1:0"], imaps: ["127.0.0.1:0"] } });
}

/** SMTP dot-stuffing (RFC 5321 §4.5.2) of exact CRLF message bytes. */
function dotStuff(message: Buffer): Buffer {
  return Buffer.from(message.toString("latin1").replace(/(^|\r\n)\./g, "$1.."), "latin1");
}

/**
 * Delivers exact bytes through the server's MX listener (RFC 5321 DATA), as a remote MTA would;
 * resolves once the server has answered 250 (the message is committed).
 */
export async function deliver(
  t: TestServer,
  to: string,
  message: Buffer,
  from = "sender@remote.test",
): Promise<void> {
  const c = await RawSmtp.connect(t.port("smtp"));
  try {
    assert.equal((await c.read()).code, 220);
    assert.equal((await c.cmd("EHLO mta.remote.test")).code, 250);
    assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
    const rcpt = await c.cmd(`RCPT TO:<${to}>`);
    assert.equal(rcpt.code, 250, rcpt.raw);
    assert.equal((await c.cmd("DATA")).code, 354);
    c.write(Buffer.concat([dotStuff(message), Buffer.from(".\r\n")]));
    const done = await c.read();
    assert.equal(done.code, 250, done.raw);
    await c.cmd("QUIT");
  } finally {
    c.close();
  }
}

/** The messages of a mailbox as the store holds them (trace prefix + blob), in UID order. */
export async function stored(t: TestServer, address: string, mailbox = "INBOX"): Promise<StoredMessage[]> {
  return storedMessages(t.server.store, address, mailbox);
}

/** The stored message with this UID (trace prefix + blob), or a failed assertion. */
export async function storedByUid(
  t: TestServer,
  address: string,
  mailbox: string,
  uid: number,
): Promise<StoredMessage> {
  const m = (await stored(t, address, mailbox)).find((s) => s.uid === uid);
  assert.ok(m, `${address} ${mailbox}: no message with UID ${uid}`);
  return m;
}

export interface Fixture {
  subject: string;
  from: string;
  raw: Buffer;
}

/** A plain text message. */
export function textMessage(opts: { from: string; to: string; subject: string; body: string }): Fixture {
  return { subject: opts.subject, from: opts.from, raw: buildMessage(opts) };
}

/**
 * A multipart/mixed message: part 1 text/plain, part 2 a base64 attachment of `attachment` bytes
 * (random by default), with base64 lines of 76 characters.
 */
export function attachmentMessage(opts: {
  from: string;
  to: string;
  subject: string;
  text: string;
  attachment?: Buffer;
  filename?: string;
}): Fixture & { attachment: Buffer; text: string } {
  const attachment = opts.attachment ?? randomBytes(3000);
  const b64 = attachment.toString("base64").replace(/.{76}/g, "$&\r\n").replace(/\r\n$/, "");
  const boundary = "=_interop_boundary_42";
  const body = [
    "This is a multi-part message in MIME format.",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    opts.text,
    `--${boundary}`,
    `Content-Type: application/octet-stream; name="${opts.filename ?? "data.bin"}"`,
    `Content-Disposition: attachment; filename="${opts.filename ?? "data.bin"}"`,
    "Content-Transfer-Encoding: base64",
    "",
    b64,
    `--${boundary}--`,
    "",
  ].join("\r\n");
  const raw = buildMessage({
    from: opts.from,
    to: opts.to,
    subject: opts.subject,
    headers: ["MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="${boundary}"`],
    body,
  });
  return { subject: opts.subject, from: opts.from, raw, attachment, text: opts.text };
}

/** The header of a message up to and including the empty line (what BODY[HEADER] returns). */
export function headerOf(full: Buffer): Buffer {
  const end = full.indexOf("\r\n\r\n");
  assert.ok(end >= 0, "the message has a header/body separator");
  return full.subarray(0, end + 4);
}

/** Waits until `check` holds (polling), or fails with `what`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
