// The client against Postamt's own server: real sockets, real TLS, real store.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { selfSignedPaths } from "../../src/tls/certificates.js";
import { connect } from "../../src/smtp/client/connection.js";
import {
  ClientError,
  type OutboundEnvelope,
  type SmtpClientOptions,
  type SmtpConnection,
} from "../../src/smtp/client/types.js";
import { mailboxMessages, withoutTrace } from "../helpers/mailbox.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { recordingProxy } from "./scripted.js";

// Lines starting with ".", a lone ".", a bare LF, 8-bit UTF-8 and no final CRLF.
const MESSAGE =
  "From: Carol <carol@client.test>\r\nTo: alice@example.test\r\nSubject: round trip\r\n" +
  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
  ".leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n. space\r\nbare LF line\nGrüße, Zoë\r\nno final CRLF";
/** What must arrive: the same, CRLF-normalised and ending in CRLF. */
const STORED = MESSAGE.replace(/\r?\n/g, "\r\n") + "\r\n";

function envelope(recipients: string[], extra: Partial<OutboundEnvelope> = {}): OutboundEnvelope {
  return {
    from: "carol@client.test",
    recipients: recipients.map((address) => ({ address })),
    size: Buffer.byteLength(STORED),
    eightBit: true,
    smtputf8: false,
    ...extra,
  };
}

const source =
  (text = MESSAGE) =>
  () =>
    Readable.from([Buffer.from(text, "utf8")]);

async function lastMessage(t: TestServer, address: string): Promise<{ count: number; body: string }> {
  const msgs = await mailboxMessages(t.server.store, address);
  return { count: msgs.length, body: msgs.length ? withoutTrace(msgs[msgs.length - 1]!) : "" };
}

describe("SMTP client against Postamt", { timeout: 60_000 }, () => {
  let t: TestServer;
  let ca: string;
  const open: SmtpConnection[] = [];
  const base = (name: "smtp" | "submission" | "submissions", extra: Partial<SmtpClientOptions> = {}) =>
    ({
      host: "127.0.0.1",
      port: t.port(name),
      localHostname: "client.test",
      tls: "opportunistic",
      ...extra,
    }) satisfies SmtpClientOptions;
  const track = (c: SmtpConnection) => {
    open.push(c);
    return c;
  };

  before(async () => {
    t = await startTestServer({ limits: { message_size: 200_000 } });
    ca = await readFile(selfSignedPaths(t.dir).cert, "utf8");
  });
  after(async () => {
    for (const c of open) c.destroy();
    await t.stop();
  });

  it("delivers over opportunistic STARTTLS with DATA: per-recipient replies, bytes intact", async () => {
    const c = track(await connect(base("smtp", { chunking: false })));
    assert.ok(c.tls, "STARTTLS was used");
    assert.equal(c.tls.authorized, false, "self-signed certificate");
    assert.ok(c.tls.authorizationError);
    assert.match(c.tls.protocol ?? "", /^TLSv1\.[23]$/);
    assert.ok(c.tls.peerCertificate);
    assert.equal(c.tlsFallback, null);
    // EHLO was asked again after TLS (RFC 3207 §4.2): the server offers STARTTLS only in plaintext.
    assert.equal(c.extensions.has("STARTTLS"), false);
    assert.ok(c.extensions.has("PIPELINING"));
    assert.match(c.banner, /^mail\.example\.test /);

    const before = await lastMessage(t, "alice@example.test");
    const r = await c.send(envelope(["alice@example.test", "nobody@example.test"]), source());
    assert.equal(r.mail.code, 250);
    assert.deepEqual(
      r.recipients.map((x) => [x.address, x.accepted, x.reply.code, x.reply.enhanced]),
      [
        ["alice@example.test", true, 250, "2.1.5"],
        ["nobody@example.test", false, 550, "5.1.1"],
      ],
    );
    assert.equal(r.data?.code, 250);
    assert.equal(r.data?.enhanced, "2.0.0");
    const after = await lastMessage(t, "alice@example.test");
    assert.equal(after.count, before.count + 1);
    assert.equal(after.body, STORED);
    assert.equal(c.usable, true);
    await c.quit();
    assert.equal(c.usable, false);
  });

  it("delivers with BDAT (CHUNKING) in several chunks, without dot-stuffing, bytes intact", async () => {
    const proxy = await recordingProxy(t.port("smtp"));
    try {
      const c = track(await connect({ ...base("smtp"), port: proxy.port, tls: "none", bdatChunkSize: 64 }));
      assert.ok(c.extensions.has("CHUNKING"));
      const r = await c.send(envelope(["bob@example.test"]), source());
      assert.equal(r.data?.code, 250, r.data?.text);
      await c.quit();
      // Take the wire apart: BDAT lines and exactly the octets each announces.
      const wire = proxy.sent(); // latin1: one character per octet
      assert.doesNotMatch(wire, /\r\nDATA\r\n/);
      const sizes: string[] = [];
      let content = "";
      for (let at = wire.indexOf("BDAT "); at >= 0; ) {
        const m = /^BDAT (\d+)( LAST)?\r\n/.exec(wire.slice(at))!;
        sizes.push(m[1]! + (m[2] ?? ""));
        const start = at + m[0].length;
        content += wire.slice(start, start + Number(m[1]));
        at = m[2] ? -1 : start + Number(m[1]);
      }
      const total = Buffer.byteLength(STORED);
      assert.deepEqual(sizes, [
        ...Array.from({ length: Math.ceil(total / 64) - 1 }, () => "64"),
        `${total % 64 || 64} LAST`,
      ]);
      // raw octets: CRLF-normalised, not dot-stuffed
      assert.equal(Buffer.from(content, "latin1").toString("utf8"), STORED);
      assert.equal((await lastMessage(t, "bob@example.test")).body, STORED);
    } finally {
      await proxy.close();
    }
  });

  it("sends a message given as in-memory pieces, by DATA and by BDAT, bytes intact", async () => {
    // split inside a CRLF and before a leading dot: the encoder must carry state across pieces
    const bytes = Buffer.from(MESSAGE, "utf8");
    const cut = MESSAGE.indexOf("\n.") > 0 ? MESSAGE.indexOf("\n.") : 10;
    const pieces = () => [bytes.subarray(0, cut), bytes.subarray(cut, cut + 1), bytes.subarray(cut + 1)];
    for (const chunking of [false, true]) {
      const c = track(await connect(base("smtp", { chunking })));
      const r = await c.send(envelope(["alice@example.test"]), pieces);
      assert.equal(r.data?.code, 250, r.data?.text);
      assert.equal((await lastMessage(t, "alice@example.test")).body, STORED, `chunking ${chunking}`);
      await c.quit();
    }
  });

  it("reuses one connection for three messages (BDAT), each stored", async () => {
    const c = track(await connect(base("smtp")));
    const before = (await lastMessage(t, "alice@example.test")).count;
    for (let i = 1; i <= 3; i++) {
      const text = `Subject: message ${i}\r\n\r\nbody ${i}\r\n`;
      const r = await c.send(
        { ...envelope(["alice@example.test"]), size: text.length, eightBit: false },
        source(text),
      );
      assert.equal(r.data?.code, 250, `message ${i}: ${r.data?.text}`);
      assert.equal(c.usable, true);
    }
    const msgs = await mailboxMessages(t.server.store, "alice@example.test");
    assert.equal(msgs.length, before + 3);
    assert.deepEqual(
      msgs.slice(-3).map((m) => withoutTrace(m)),
      [1, 2, 3].map((i) => `Subject: message ${i}\r\n\r\nbody ${i}\r\n`),
    );
    await c.quit();
  });

  it("a transaction whose only recipient is refused leaves the connection usable for the next", async () => {
    const c = track(await connect(base("smtp", { chunking: false })));
    const r1 = await c.send(envelope(["nobody@example.test"]), source());
    assert.equal(r1.data, null);
    assert.equal(r1.recipients[0]?.reply.code, 550);
    const r2 = await c.send(envelope(["bob@example.test"]), source());
    assert.equal(r2.data?.code, 250);
    await c.quit();
  });

  it("refuses locally a message over the server's SIZE", async () => {
    const c = track(await connect(base("smtp")));
    assert.equal(c.extensions.get("SIZE"), "200000");
    await assert.rejects(c.send(envelope(["alice@example.test"], { size: 200_001 }), source()), (e) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.kind, "size");
      return true;
    });
    await c.quit();
  });

  it("tls required: with the server's certificate as CA and the right name the session is authorized", async () => {
    const c = track(await connect(base("smtp", { tls: "required", ca, servername: "mail.example.test" })));
    assert.equal(c.tls?.authorized, true);
    assert.equal(c.tls?.authorizationError, null);
    await c.quit();
  });

  it("tls required: an untrusted certificate or a wrong name is a tls error", async () => {
    for (const extra of [{}, { ca, servername: "other.example.test" }]) {
      await assert.rejects(connect(base("smtp", { tls: "required", ...extra })), (e) => {
        assert.ok(e instanceof ClientError);
        assert.equal(e.kind, "tls");
        assert.match(e.message, /certificate not trusted/);
        return true;
      });
    }
  });

  it("verifyCertificate decides for tls required (a pin accepts, a reason refuses)", async () => {
    const m = await import("node:crypto");
    const pin = new m.X509Certificate(ca).fingerprint256;
    const c = track(
      await connect(
        base("smtp", {
          tls: "required",
          servername: "mail.example.test",
          verifyCertificate: (s) => (s.peerCertificate?.fingerprint256 === pin ? null : "pin mismatch"),
        }),
      ),
    );
    assert.equal(c.tls?.authorized, false);
    assert.equal(c.tls?.verifyError, null);
    await c.quit();
    await assert.rejects(
      connect(base("smtp", { tls: "required", verifyCertificate: () => "DANE: no matching TLSA record" })),
      (e) => e instanceof ClientError && e.kind === "tls" && /TLSA/.test(e.message),
    );
    // opportunistic records the reason and goes on
    const o = track(await connect(base("smtp", { verifyCertificate: () => "MTA-STS: name mismatch" })));
    assert.equal(o.tls?.verifyError, "MTA-STS: name mismatch");
    await o.quit();
  });

  it("submission: AUTH PLAIN after STARTTLS, then relays to a local user", async () => {
    const c = track(
      await connect(
        base("submission", {
          tls: "required",
          ca,
          servername: "mail.example.test",
          auth: { user: "alice@example.test", pass: "alice-secret" },
        }),
      ),
    );
    const text = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: sub\r\n\r\nhi bob\r\n";
    const r = await c.send(
      {
        from: "alice@example.test",
        recipients: [{ address: "bob@example.test" }],
        size: text.length,
        eightBit: false,
        smtputf8: false,
      },
      source(text),
    );
    assert.equal(r.data?.code, 250, r.data?.text);
    assert.equal((await lastMessage(t, "bob@example.test")).body, text);
    await c.quit();
  });

  it("submission: a wrong password is an auth error with the server's reply", async () => {
    await assert.rejects(
      connect(
        base("submission", {
          tls: "required",
          ca,
          servername: "mail.example.test",
          auth: { user: "alice@example.test", pass: "nope" },
        }),
      ),
      (e) => e instanceof ClientError && e.kind === "auth" && e.reply?.code === 535,
    );
  });

  it("submissions: implicit TLS with AUTH", async () => {
    const c = track(
      await connect(
        base("submissions", {
          tls: "implicit",
          ca,
          servername: "mail.example.test",
          auth: { user: "alice@example.test", pass: "alice-secret" },
        }),
      ),
    );
    assert.equal(c.tls?.authorized, true);
    assert.equal(c.extensions.has("STARTTLS"), false);
    await c.quit();
  });
});
