// Interop: nodemailer (an independent SMTP client) against a real server. Every message is sent as
// exact bytes (`raw`), so the stored copy can be compared byte for byte with what the client sent.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { format } from "node:util";
import nodemailer from "nodemailer";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { after, before, describe, it } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";
import {
  assertDeliveredExactly,
  assertSameBytes,
  buildMessage,
  messageCount,
  newMessages,
  receivedHeader,
  sha256,
} from "./helpers/interop.js";

/** What nodemailer's transaction log saw: client commands and server replies, in order. */
class Transcript {
  readonly entries: Array<{ tnx: string; text: string }> = [];
  readonly logger = {
    debug: (data: { tnx?: string }, message: string, ...args: unknown[]) => this.add(data, message, args),
    info: (data: { tnx?: string }, message: string, ...args: unknown[]) => this.add(data, message, args),
    trace: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    fatal: () => undefined,
  };

  private add(data: { tnx?: string } | undefined, message: string, args: unknown[]): void {
    this.entries.push({ tnx: data?.tnx ?? "", text: format(message, ...args) });
  }

  get client(): string[] {
    return this.entries.filter((e) => e.tnx === "client").map((e) => e.text);
  }

  get text(): string {
    return this.entries
      .map((e) => `${e.tnx === "client" ? "C" : e.tnx === "server" ? "S" : "-"}: ${e.text}`)
      .join("\n");
  }
}

const ALICE = { user: "alice@example.test", pass: "alice-secret" };

describe("interop: nodemailer", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  function transport(port: number, extra: Record<string, unknown>, log?: Transcript) {
    return nodemailer.createTransport({
      host: "127.0.0.1",
      port,
      secure: false,
      connectionTimeout: 5000,
      greetingTimeout: 5000,
      socketTimeout: 10_000,
      tls: { rejectUnauthorized: false },
      ...(log ? { logger: log.logger, transactionLog: true } : {}),
      ...extra,
    });
  }

  it("delivers to the MX port in plaintext (no STARTTLS), byte for byte", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "Carol <carol@remote.test>",
      to: "alice@example.test",
      subject: "nodemailer plain MX",
      body: "Hello Alice.\r\n.a line starting with a dot\r\n..two dots\r\n\r\n-- \r\nCarol\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const info = await transport(t.port("smtp"), { ignoreTLS: true }, log).sendMail({
      envelope: { from: "carol@remote.test", to: ["alice@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["alice@example.test"]);
    assert.match(info.response, /^250 2\.0\.0 /);
    assert.ok(!log.client.includes("STARTTLS"), log.text);
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, raw);
    assert.match(receivedHeader(m), / with ESMTP id /);
  });

  it("delivers to the MX port after STARTTLS (requireTLS)", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "nodemailer STARTTLS MX",
      body: "Over TLS.\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const info = await transport(t.port("smtp"), { requireTLS: true }, log).sendMail({
      envelope: { from: "carol@remote.test", to: ["alice@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["alice@example.test"]);
    assert.ok(log.client.includes("STARTTLS"), log.text);
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, raw);
    assert.match(receivedHeader(m), / with ESMTPS id .*using TLSv1\.[23]/);
  });

  it("submits on the submission port with STARTTLS and AUTH PLAIN", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "Alice <alice@example.test>",
      to: "bob@example.test",
      subject: "nodemailer AUTH PLAIN",
      body: "Hi Bob, PLAIN here.\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const info = await transport(
      t.port("submission"),
      { requireTLS: true, auth: ALICE, authMethod: "PLAIN" },
      log,
    ).sendMail({
      envelope: { from: "alice@example.test", to: ["bob@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    assert.ok(log.client.includes("STARTTLS"), log.text);
    assert.ok(
      log.client.some((c) => /^AUTH PLAIN /.test(c)),
      log.text,
    );
    assert.ok(
      log.entries.some((e) => e.tnx === "server" && /^235 /.test(e.text)),
      log.text,
    );
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, raw);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("submits with AUTH LOGIN in plaintext from loopback (no STARTTLS)", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "nodemailer AUTH LOGIN",
      body: "Hi Bob, LOGIN here.\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const info = await transport(
      t.port("submission"),
      { ignoreTLS: true, auth: ALICE, authMethod: "LOGIN" },
      log,
    ).sendMail({
      envelope: { from: "alice@example.test", to: ["bob@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    assert.ok(!log.client.includes("STARTTLS"), log.text);
    assert.ok(log.client.includes("AUTH LOGIN"), log.text);
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, raw);
    assert.match(receivedHeader(m), / with ESMTPA id /);
  });

  it("submits over implicit TLS (submissions, secure: true)", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "nodemailer implicit TLS",
      body: "Port 465 style.\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const info = await transport(t.port("submissions"), { secure: true, auth: ALICE }, log).sendMail({
      envelope: { from: "alice@example.test", to: ["bob@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    assert.ok(!log.client.includes("STARTTLS"), log.text);
    assert.ok(
      log.client.some((c) => c.startsWith("AUTH ")),
      log.text,
    );
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, raw);
    assert.match(receivedHeader(m), / with ESMTPSA id .*using TLSv1\.[23]/);
  });

  it("pipelines a multi-recipient envelope; the unknown recipient is rejected, the others get one blob", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "carol@remote.test",
      to: ["alice@example.test", "bob@example.test"],
      subject: "nodemailer pipelined",
      body: "To both of you.\r\n",
    });
    const beforeA = await messageCount(t.server.store, "alice@example.test");
    const beforeB = await messageCount(t.server.store, "bob@example.test");
    const info = await transport(t.port("smtp"), { ignoreTLS: true }, log).sendMail({
      envelope: {
        from: "carol@remote.test",
        to: ["alice@example.test", "nobody@example.test", "bob@example.test"],
      },
      raw,
    });
    assert.deepEqual(info.accepted, ["alice@example.test", "bob@example.test"]);
    assert.deepEqual(info.rejected, ["nobody@example.test"]);
    // Pipelined (RFC 2920): MAIL, every RCPT and DATA went out before the reply to MAIL came back.
    const wire = log.entries.filter((e) => e.tnx === "client" || e.tnx === "server");
    const i = wire.findIndex((e) => e.tnx === "client" && e.text.startsWith("MAIL FROM:"));
    assert.deepEqual(
      wire
        .slice(i, i + 10)
        .map((e) => (e.tnx === "client" ? `C: ${e.text.split(":")[0]}` : `S: ${e.text.slice(0, 3)}`)),
      [
        "C: MAIL FROM",
        "C: RCPT TO",
        "C: RCPT TO",
        "C: RCPT TO",
        "C: DATA",
        "S: 250",
        "S: 250",
        "S: 550",
        "S: 250",
        "S: 354",
      ],
      log.text,
    );
    const a = await assertDeliveredExactly(t.server.store, "alice@example.test", beforeA, raw);
    const b = await assertDeliveredExactly(t.server.store, "bob@example.test", beforeB, raw);
    assert.equal(a.blobId, b.blobId, "one blob serves both copies");
  });

  it("sends 8-bit UTF-8 headers and body with BODY=8BITMIME", async () => {
    const log = new Transcript();
    const raw = buildMessage({
      from: "Jürgen Groß <juergen@remote.test>",
      to: "Alice <alice@example.test>",
      subject: "Grüße aus Köln ✉ – 日本語",
      headers: [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
      ],
      body: "Größenwahn, naïve café, Ελληνικά, 中文, emoji 😀.\r\nZeile zwei: äöüß ÄÖÜ €\r\n",
    });
    assert.ok(
      raw.some((b) => b >= 0x80),
      "the message really is 8-bit",
    );
    const before = await messageCount(t.server.store, "alice@example.test");
    const conn = new SMTPConnection({
      host: "127.0.0.1",
      port: t.port("smtp"),
      ignoreTLS: true,
      connectionTimeout: 5000,
      logger: log.logger,
      transactionLog: true,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        conn.once("error", reject);
        conn.connect(() => resolve());
      });
      const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
        conn.send(
          { from: "juergen@remote.test", to: ["alice@example.test"], use8BitMime: true },
          raw,
          (err, i) => (err ? reject(err) : resolve(i)),
        ),
      );
      assert.deepEqual(info.accepted, ["alice@example.test"]);
    } finally {
      conn.quit();
    }
    assert.ok(
      log.client.includes("MAIL FROM:<juergen@remote.test> BODY=8BITMIME"),
      `BODY=8BITMIME on MAIL FROM:\n${log.text}`,
    );
    await assertDeliveredExactly(t.server.store, "alice@example.test", before, raw);
  });

  it("carries a 5 MB attachment intact (stored size and sha256 equal what was sent)", async () => {
    const attachment = randomBytes(5 * 1024 * 1024);
    // nodemailer composes the MIME message (base64 attachment); the exact bytes are then sent raw.
    const composed = await nodemailer
      .createTransport({ streamTransport: true, buffer: true, newline: "windows" })
      .sendMail({
        from: "alice@example.test",
        to: "bob@example.test",
        subject: "nodemailer big attachment",
        text: "See the attachment.",
        date: new Date("2025-01-06T10:00:00Z"),
        messageId: "<big.attachment@interop.test>",
        attachments: [
          { filename: "random.bin", content: attachment, contentType: "application/octet-stream" },
        ],
      });
    const raw = composed.message as Buffer;
    assert.ok(Buffer.isBuffer(raw) && raw.length > 5 * 1024 * 1024);
    const before = await messageCount(t.server.store, "bob@example.test");
    const info = await transport(t.port("submissions"), {
      secure: true,
      auth: ALICE,
      socketTimeout: 30_000,
    }).sendMail({
      envelope: { from: "alice@example.test", to: ["bob@example.test"] },
      raw,
    });
    assert.deepEqual(info.accepted, ["bob@example.test"]);
    const [m] = await newMessages(t.server.store, "bob@example.test", before);
    assert.ok(m);
    assert.equal(m.blob.length, raw.length, "stored size");
    assert.equal(await t.server.store.blobs.size(m.blobId), raw.length, "blob size in the blob store");
    assert.equal(sha256(m.blob), sha256(raw), "stored sha256");
    assert.equal(m.blobId, sha256(raw), "the blob is addressed by the sha256 of what was sent");
    await assertDeliveredExactly(t.server.store, "bob@example.test", before, raw);
    // And the attachment decodes to the very bytes attached.
    const text = m.blob.toString("latin1");
    const start = text.indexOf("\r\n\r\n", text.indexOf("filename=random.bin"));
    const end = text.indexOf("\r\n--", start);
    assert.ok(start > 0 && end > start);
    assertSameBytes(Buffer.from(text.slice(start + 4, end), "base64"), attachment, "decoded attachment");
  });

  it("is refused with 535 5.7.8 for a wrong password, and nothing is stored", async () => {
    const before = await messageCount(t.server.store, "bob@example.test");
    const raw = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "wrong pw",
      body: "x\r\n",
    });
    for (const authMethod of ["PLAIN", "LOGIN"]) {
      await assert.rejects(
        transport(t.port("submission"), {
          requireTLS: true,
          auth: { user: ALICE.user, pass: "not-the-password" },
          authMethod,
        }).sendMail({ envelope: { from: "alice@example.test", to: ["bob@example.test"] }, raw }),
        (err: Error & { code?: string; responseCode?: number; response?: string }) => {
          assert.equal(err.code, "EAUTH", String(err));
          assert.equal(err.responseCode, 535, String(err));
          assert.match(err.response ?? "", /^535 5\.7\.8 /);
          return true;
        },
      );
    }
    assert.equal(await messageCount(t.server.store, "bob@example.test"), before);
  });
});
