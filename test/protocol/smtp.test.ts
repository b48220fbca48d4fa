// Scripted SMTP conversations over real sockets against a real server and store (issue #3).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mailboxMessages, withoutTrace } from "../helpers/mailbox.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { RawSmtp, plainAuth } from "../helpers/smtp-client.js";

const MSG =
  "From: Carol <carol@remote.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHi Alice.\r\n";

async function greeted(port: number, opts: { tls?: boolean } = {}): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port, opts);
  const banner = await c.read();
  assert.equal(banner.code, 220);
  const ehlo = await c.cmd("EHLO client.remote.test");
  assert.equal(ehlo.code, 250);
  return c;
}

describe("SMTP server", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { recipients: 5, message_size: 20_000 } });
  });
  after(() => t.stop());

  it("greets with its hostname and advertises the extensions of the MX port (no AUTH)", async () => {
    const c = await RawSmtp.connect(t.port("smtp"));
    const banner = await c.read();
    assert.match(banner.raw, /^220 mail\.example\.test ESMTP/);
    const ehlo = await c.cmd("EHLO client.remote.test");
    assert.equal(ehlo.code, 250);
    assert.match(ehlo.lines[0]!, /^mail\.example\.test /);
    for (const ext of [
      "PIPELINING",
      "SIZE 20000",
      "STARTTLS",
      "ENHANCEDSTATUSCODES",
      "8BITMIME",
      "DSN",
      "SMTPUTF8",
      "CHUNKING",
    ]) {
      assert.ok(ehlo.lines.includes(ext), `${ext} in ${ehlo.lines.join("|")}`);
    }
    assert.ok(!ehlo.lines.some((l) => l.startsWith("AUTH")), "no AUTH on the MX port");
    assert.equal((await c.cmd("QUIT")).code, 221);
    await c.waitClosed();
  });

  it("delivers a message to a local user, byte for byte, with trace headers", async () => {
    const c = await greeted(t.port("smtp"));
    assert.equal((await c.cmd("MAIL FROM:<carol@remote.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<Alice@Example.TEST>")).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    const body = "From: carol@remote.test\r\nSubject: dots\r\n\r\n..leading dot\r\nplain\r\n";
    // dot-stuffed on the wire: "..leading dot" arrives as "...leading dot"
    c.write(body.replace(/^\./gm, "..") + ".\r\n");
    const r = await c.read();
    assert.equal(r.code, 250);
    assert.match(r.raw, /^250 2\.0\.0 /);
    c.close();
    const msgs = await mailboxMessages(t.server.store, "alice@example.test");
    const last = msgs[msgs.length - 1]!;
    assert.equal(withoutTrace(last), body);
    const text = last.toString();
    assert.match(text, /^Return-Path: <carol@remote\.test>\r\n/);
    assert.match(text, /Delivered-To: alice@example\.test\r\n/);
    assert.match(text, /Received: from client\.remote\.test/);
  });

  it("answers pipelined commands in order", async () => {
    const c = await RawSmtp.connect(t.port("smtp"));
    await c.read();
    c.write(
      `EHLO pipe.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n${MSG}.\r\nQUIT\r\n`,
    );
    const codes = [];
    for (let i = 0; i < 7; i++) codes.push((await c.read()).code);
    assert.deepEqual(codes, [250, 250, 550, 250, 354, 250, 221]);
  });

  it("refuses unknown users, relaying and routing tricks on the MX port", async () => {
    const c = await greeted(t.port("smtp"));
    await c.cmd("MAIL FROM:<x@remote.test>");
    const unknown = await c.cmd("RCPT TO:<nobody@example.test>");
    assert.equal(unknown.code, 550);
    assert.match(unknown.raw, /5\.1\.1/);
    const relay = await c.cmd("RCPT TO:<victim@elsewhere.test>");
    assert.equal(relay.code, 554);
    assert.match(relay.raw, /5\.7\.1/);
    // The "%" hack and quoted "@" are never routed: they reach the local lookup and fail there.
    assert.equal((await c.cmd("RCPT TO:<victim%elsewhere.test@example.test>")).code, 550);
    assert.equal((await c.cmd('RCPT TO:<"victim@elsewhere.test"@example.test>')).code, 550);
    assert.notEqual((await c.cmd("RCPT TO:<victim@elsewhere.test@example.test>")).code, 250);
    // A source route is accepted and ignored (RFC 5321 §4.1.1.3, Appendix C).
    assert.equal((await c.cmd("RCPT TO:<@relay1.test,@relay2.test:bob@example.test>")).code, 250);
    c.close();
  });

  it("accepts RCPT TO:<postmaster> without a domain only when postmaster exists", async () => {
    const c = await greeted(t.port("smtp"));
    await c.cmd("MAIL FROM:<x@remote.test>");
    const r = await c.cmd("RCPT TO:<postmaster>");
    assert.equal(r.code, 550, "no postmaster alias yet");
    await t.server.store.addAlias("postmaster@example.test", ["alice@example.test"]);
    assert.equal((await c.cmd("RCPT TO:<postmaster>")).code, 250);
    c.close();
  });

  it("enforces command order with 503 and keeps serving", async () => {
    const c = await RawSmtp.connect(t.port("smtp"));
    await c.read();
    assert.equal((await c.cmd("MAIL FROM:<x@remote.test>")).code, 503, "MAIL before EHLO");
    await c.cmd("EHLO x.test");
    assert.equal((await c.cmd("RCPT TO:<alice@example.test>")).code, 503, "RCPT before MAIL");
    assert.equal((await c.cmd("DATA")).code, 503, "DATA before MAIL");
    await c.cmd("MAIL FROM:<x@remote.test>");
    const nested = await c.cmd("MAIL FROM:<y@remote.test>");
    assert.equal(nested.code, 503);
    assert.match(nested.raw, /5\.5\.1/);
    assert.equal((await c.cmd("DATA")).code, 554, "DATA without recipients");
    assert.equal((await c.cmd("RSET")).code, 250);
    assert.equal((await c.cmd("NOOP")).code, 250);
    c.close();
  });

  it("answers VRFY 252, EXPN 502, HELP 214, and unknown parameters 555", async () => {
    const c = await greeted(t.port("smtp"));
    assert.equal((await c.cmd("VRFY alice")).code, 252);
    assert.equal((await c.cmd("EXPN staff")).code, 502);
    assert.equal((await c.cmd("HELP")).code, 214);
    const bad = await c.cmd("MAIL FROM:<x@remote.test> FROBNICATE=1");
    assert.equal(bad.code, 555);
    assert.match(bad.raw, /5\.5\.4/);
    assert.equal((await c.cmd("MAIL FROM:<x@remote.test> SIZE=abc")).code, 501);
    assert.equal((await c.cmd("FOO")).code, 500);
    c.close();
  });

  it("rejects bare LF in a command line and stays in sync", async () => {
    const c = await greeted(t.port("smtp"));
    c.write("NOOP\nRSET\r\n");
    const r = await c.read();
    assert.equal(r.code, 500);
    assert.match(r.raw, /5\.5\.2/);
    // "NOOP\n" was one bad line; "RSET\r\n" is the next command
    assert.equal((await c.read()).code, 250);
    assert.equal((await c.cmd("NOOP")).code, 250);
    c.close();
  });

  it("only CRLF.CRLF ends DATA; bare LF/CR smuggling is refused with 5.5.2, nothing stored", async () => {
    const before = (await mailboxMessages(t.server.store, "bob@example.test")).length;
    const c = await greeted(t.port("smtp"));
    await c.cmd("MAIL FROM:<x@remote.test>");
    await c.cmd("RCPT TO:<bob@example.test>");
    await c.cmd("DATA");
    // A smuggling attempt: "\n.\n" followed by a second transaction, then the real end.
    c.write(
      "Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n",
    );
    const r = await c.read();
    assert.equal(r.code, 550);
    assert.match(r.raw, /5\.5\.2/);
    // The session is in sync: the next command is answered as a command.
    assert.equal((await c.cmd("NOOP")).code, 250);
    c.close();
    assert.equal((await mailboxMessages(t.server.store, "bob@example.test")).length, before);
  });

  it("refuses a message over the size limit after draining it, and a declared SIZE at MAIL", async () => {
    const c = await greeted(t.port("smtp"));
    const declared = await c.cmd("MAIL FROM:<x@remote.test> SIZE=30000");
    assert.equal(declared.code, 552);
    assert.match(declared.raw, /5\.3\.4/);
    await c.cmd("MAIL FROM:<x@remote.test>");
    await c.cmd("RCPT TO:<bob@example.test>");
    await c.cmd("DATA");
    c.write(`Subject: big\r\n\r\n${"x".repeat(998)}\r\n`.repeat(25) + ".\r\n");
    const r = await c.read();
    assert.equal(r.code, 552);
    assert.match(r.raw, /5\.3\.4/);
    assert.equal((await c.cmd("NOOP")).code, 250);
    c.close();
  });

  it("limits recipients per transaction with 452 4.5.3", async () => {
    const c = await greeted(t.port("smtp"));
    await c.cmd("MAIL FROM:<x@remote.test>");
    for (let i = 0; i < 5; i++) assert.equal((await c.cmd("RCPT TO:<alice@example.test>")).code, 250);
    const r = await c.cmd("RCPT TO:<alice@example.test>");
    assert.equal(r.code, 452);
    assert.match(r.raw, /4\.5\.3/);
    c.close();
  });

  it("refuses over-long command lines and closes after too many errors", async () => {
    const c = await greeted(t.port("smtp"));
    const long = await c.cmd(`NOOP ${"x".repeat(2000)}`);
    assert.equal(long.code, 500);
    let last = long;
    for (let i = 0; i < 12 && !c.closed; i++) {
      try {
        last = await c.cmd("BOGUS");
      } catch {
        break;
      }
      if (last.code === 421) break;
    }
    assert.equal(last.code, 421);
    await c.waitClosed();
  });

  it("receives BDAT chunks and drains a refused chunk without losing sync", async () => {
    const c = await greeted(t.port("smtp"));
    const refused = "Subject: x\r\n\r\nno transaction\r\n";
    c.write(`BDAT ${Buffer.byteLength(refused)} LAST\r\n${refused}`);
    assert.equal((await c.read()).code, 503);
    await c.cmd("MAIL FROM:<x@remote.test>");
    await c.cmd("RCPT TO:<alice@example.test>");
    const part1 = "From: x@remote.test\r\nSubject: chunks\r\n\r\n";
    const part2 = "line with\nbare LF is fine in BDAT\r\n.\r\nend\r\n";
    c.write(`BDAT ${Buffer.byteLength(part1)}\r\n${part1}`);
    assert.equal((await c.read()).code, 250);
    c.write(`BDAT ${Buffer.byteLength(part2)} LAST\r\n${part2}`);
    assert.equal((await c.read()).code, 250);
    assert.equal((await c.cmd("NOOP")).code, 250);
    c.close();
    const msgs = await mailboxMessages(t.server.store, "alice@example.test");
    assert.equal(withoutTrace(msgs[msgs.length - 1]!), part1 + part2);
  });

  it("STARTTLS discards pipelined plaintext and starts the session over", async () => {
    const c = await greeted(t.port("smtp"));
    c.write("STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n");
    assert.equal((await c.read()).code, 220);
    await c.startTls();
    // Earlier state is gone: the injected MAIL never ran and EHLO is needed again.
    assert.equal((await c.cmd("MAIL FROM:<x@remote.test>")).code, 503);
    const ehlo = await c.cmd("EHLO again.test");
    assert.ok(!ehlo.lines.includes("STARTTLS"));
    assert.equal((await c.cmd("MAIL FROM:<x@remote.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    c.write(`${MSG}.\r\n`);
    assert.equal((await c.read()).code, 250);
    c.close();
    const msgs = await mailboxMessages(t.server.store, "bob@example.test");
    assert.match(msgs[msgs.length - 1]!.toString(), /with ESMTPS id[\s\S]*using TLSv1\.[23]/);
  });

  it("answers an HTTP request and a TLS handshake on the plaintext port, then closes", async () => {
    const h = await RawSmtp.connect(t.port("smtp"));
    await h.read();
    h.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = await h.read();
    assert.equal(r.code, 500);
    await h.waitClosed();
    const tlsProbe = await RawSmtp.connect(t.port("smtp"));
    await tlsProbe.read();
    tlsProbe.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]));
    assert.equal((await tlsProbe.read()).code, 500);
    await tlsProbe.waitClosed();
  });

  it("lets only one recipient through for the null sender (backscatter)", async () => {
    const c = await greeted(t.port("smtp"));
    assert.equal((await c.cmd("MAIL FROM:<>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<alice@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<bob@example.test>")).code, 452);
    c.close();
  });

  it("takes bounces only for real addresses, not through a catch-all (backscatter)", async () => {
    await t.server.store.addDomain("catchall.test");
    await t.server.store.addAlias("@catchall.test", ["alice@example.test"]);
    await t.server.store.addAlias("info@catchall.test", ["bob@example.test"]);
    const c = await greeted(t.port("smtp"));
    assert.equal((await c.cmd("MAIL FROM:<>")).code, 250);
    const random = await c.cmd("RCPT TO:<x7f3q@catchall.test>");
    assert.equal(random.code, 550);
    assert.match(random.raw, /5\.1\.1 .*bounces are accepted for real addresses only/);
    assert.equal((await c.cmd("RCPT TO:<info@catchall.test>")).code, 250, "a real alias takes its bounce");
    assert.equal((await c.cmd("RSET")).code, 250);
    // an ordinary sender still reaches the catch-all
    assert.equal((await c.cmd("MAIL FROM:<carol@remote.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<x7f3q@catchall.test>")).code, 250);
    c.close();
  });
});

describe("SMTP submission", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(
      { auth: { max_failures: 3, failure_delay: 0 }, proxy: { listeners: ["submission"] } },
      {
        users: [
          { address: "alice@example.test", password: "alice-secret" },
          { address: "full@example.test", password: "full-secret", quota: 100 },
        ],
      },
    );
    await t.server.store.addAlias("info@example.test", ["alice@example.test"]);
  });
  after(() => t.stop());

  it("requires AUTH before MAIL, accepts PLAIN, and queues remote recipients", async () => {
    const c = await greeted(t.port("submissions"), { tls: true });
    const ehlo = await c.cmd("EHLO laptop");
    assert.ok(
      ehlo.lines.some((l) => /^AUTH .*PLAIN/.test(l)),
      ehlo.lines.join("|"),
    );
    const noauth = await c.cmd("MAIL FROM:<alice@example.test>");
    assert.equal(noauth.code, 530);
    const bad = await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", "wrong")}`);
    assert.equal(bad.code, 535);
    assert.match(bad.raw, /5\.7\.8/);
    const ok = await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", "alice-secret")}`);
    assert.equal(ok.code, 235);
    assert.equal((await c.cmd("MAIL FROM:<alice@example.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<friend@remote.test>")).code, 250);
    assert.equal((await c.cmd("RCPT TO:<info@example.test>")).code, 250, "a local alias in the same message");
    assert.equal((await c.cmd("DATA")).code, 354);
    c.write("From: alice@example.test\r\nTo: friend@remote.test\r\nSubject: out\r\n\r\nhi\r\n.\r\n");
    assert.equal((await c.read()).code, 250);
    c.close();
    const inbox = await mailboxMessages(t.server.store, "alice@example.test");
    assert.match(inbox[inbox.length - 1]!.toString(), /with ESMTPSA/);
    const queue = await t.server.store.listQueue();
    assert.equal(queue.length, 1);
    assert.equal(queue[0]!.sender, "alice@example.test");
    assert.deepEqual(
      queue[0]!.recipients.map((r) => r.address),
      ["friend@remote.test"],
    );
  });

  it("runs AUTH LOGIN as a challenge exchange, with cancel", async () => {
    const c = await greeted(t.port("submissions"), { tls: true });
    const r1 = await c.cmd("AUTH LOGIN");
    assert.equal(r1.code, 334);
    assert.equal(Buffer.from(r1.lines[0]!, "base64").toString(), "Username:");
    assert.equal((await c.cmd("*")).code, 501);
    assert.equal((await c.cmd("AUTH LOGIN")).code, 334);
    assert.equal((await c.cmd(Buffer.from("alice@example.test").toString("base64"))).code, 334);
    assert.equal((await c.cmd(Buffer.from("alice-secret").toString("base64"))).code, 235);
    c.close();
  });

  it("refuses a sender or From: that is not the user's, and accepts an alias", async () => {
    const c = await greeted(t.port("submissions"), { tls: true });
    await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", "alice-secret")}`);
    const r = await c.cmd("MAIL FROM:<bob@example.test>");
    assert.equal(r.code, 553);
    assert.match(r.raw, /5\.7\.1/);
    assert.equal((await c.cmd("MAIL FROM:<info@example.test>")).code, 250, "an alias of alice");
    await c.cmd("RCPT TO:<friend@remote.test>");
    await c.cmd("DATA");
    c.write("From: Someone Else <ceo@example.test>\r\n\r\nforged\r\n.\r\n");
    const forged = await c.read();
    assert.equal(forged.code, 550);
    assert.match(forged.raw, /5\.7\.1/);
    c.close();
  });

  it("answers a full mailbox with 452 4.2.2", async () => {
    const c = await greeted(t.port("smtp"));
    await c.cmd("MAIL FROM:<x@remote.test> SIZE=500");
    const r = await c.cmd("RCPT TO:<full@example.test>");
    assert.equal(r.code, 452);
    assert.match(r.raw, /4\.2\.2/);
    c.close();
  });

  it("does not offer AUTH to a non-loopback client before TLS (via PROXY)", async () => {
    const c = await RawSmtp.connect(t.port("submission"));
    c.write("PROXY TCP4 192.0.2.10 127.0.0.1 40000 587\r\n");
    assert.equal((await c.read()).code, 220);
    const ehlo = await c.cmd("EHLO outside");
    assert.ok(!ehlo.lines.some((l) => l.startsWith("AUTH")), "no AUTH in plaintext");
    const r = await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", "alice-secret")}`);
    assert.equal(r.code, 530);
    assert.equal((await c.cmd("STARTTLS")).code, 220);
    await c.startTls();
    const ehlo2 = await c.cmd("EHLO outside");
    assert.ok(ehlo2.lines.some((l) => l.startsWith("AUTH")));
    c.close();
  });

  it("bans an address after repeated failures, without checking passwords", async () => {
    const c = await RawSmtp.connect(t.port("submission"));
    c.write("PROXY TCP4 192.0.2.99 127.0.0.1 40000 587\r\n");
    await c.read();
    await c.cmd("EHLO attacker");
    await c.cmd("STARTTLS");
    await c.startTls();
    await c.cmd("EHLO attacker");
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", `guess${i}`)}`)).code, 535);
    }
    const banned = await c.cmd(`AUTH PLAIN ${plainAuth("alice@example.test", "alice-secret")}`);
    assert.equal(banned.code, 454, "even the right password is refused during the ban");
    assert.match(banned.raw, /try again/);
    c.close();
  });
});

describe("SMTP defences with tight settings", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ smtp: { greet_pause: 1 }, timeouts: { smtp_command: 1 } });
  });
  after(() => t.stop());

  it("refuses a client that talks before the greeting", async () => {
    const c = await RawSmtp.connect(t.port("smtp"));
    c.write("EHLO eager\r\n");
    const r = await c.read(3000);
    assert.equal(r.code, 554);
    await c.waitClosed();
  });

  it("cuts off a client that trickles a command byte by byte past the deadline", async () => {
    const c = await RawSmtp.connect(t.port("submission"));
    await c.read();
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (!c.closed) c.write("NOOP"[i++ % 4]!);
    }, 200);
    try {
      const r = await c.read(5000);
      assert.equal(r.code, 421);
      assert.ok(Date.now() - started < 4000, "closed at the deadline, not at an idle timeout");
    } finally {
      clearInterval(timer);
    }
    await c.waitClosed();
  });
});

describe("SMTP under failure and shutdown", () => {
  it("answers 451 when the message files cannot be written, stores nothing, and keeps serving", async () => {
    // files only: small messages would not touch the files at all
    const t = await startTestServer({}, { start: { inlineBlobMax: 0 } });
    try {
      const { mkdir, rm, writeFile } = await import("node:fs/promises");
      const { join } = await import("node:path");
      const tmp = join(t.dir, "blobs", "tmp");
      await rm(tmp, { recursive: true, force: true });
      await mkdir(join(t.dir, "blobs"), { recursive: true });
      await writeFile(tmp, "not a directory"); // every new blob write now fails
      const c = await greeted(t.port("smtp"));
      await c.cmd("MAIL FROM:<x@remote.test>");
      await c.cmd("RCPT TO:<alice@example.test>");
      await c.cmd("DATA");
      c.write(`${MSG}.\r\n`);
      const r = await c.read();
      assert.equal(r.code, 451);
      assert.match(r.raw, /4\.3\.0/);
      assert.equal((await c.cmd("NOOP")).code, 250, "the session goes on");
      c.close();
      assert.equal((await mailboxMessages(t.server.store, "alice@example.test")).length, 0);
      // Repaired, the same server delivers again.
      await rm(tmp, { force: true });
      const again = await greeted(t.port("smtp"));
      await again.cmd("MAIL FROM:<x@remote.test>");
      await again.cmd("RCPT TO:<alice@example.test>");
      await again.cmd("DATA");
      again.write(`${MSG}.\r\n`);
      assert.equal((await again.read()).code, 250);
      again.close();
    } finally {
      await t.stop();
    }
  });

  it("lets a message in transfer finish at shutdown, then says 421", async () => {
    const t = await startTestServer();
    let stopped = false;
    try {
      const c = await greeted(t.port("smtp"));
      await c.cmd("MAIL FROM:<x@remote.test>");
      await c.cmd("RCPT TO:<alice@example.test>");
      await c.cmd("DATA");
      c.write("Subject: half\r\n\r\nfirst half\r\n");
      await new Promise((r) => setTimeout(r, 100));
      const stopping = t.server.stop().then(() => {
        stopped = true;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(stopped, false, "the server waits for the transaction");
      c.write("second half\r\n.\r\n");
      assert.equal((await c.read()).code, 250);
      const bye = await c.read();
      assert.equal(bye.code, 421);
      await c.waitClosed();
      await stopping;
      // The acknowledged message survived the shutdown.
      const { openStore } = await import("../../src/store/open-store.js");
      const { join } = await import("node:path");
      const store = await openStore(`sqlite:${join(t.dir, "postamt.db")}`, { dataDir: t.dir });
      try {
        const msgs = await mailboxMessages(store, "alice@example.test");
        assert.equal(msgs.length, 1);
        assert.match(withoutTrace(msgs[0]!), /first half\r\nsecond half\r\n$/);
      } finally {
        await store.close();
      }
    } finally {
      if (!stopped) await t.server.stop();
      const { rm } = await import("node:fs/promises");
      await rm(t.dir, { recursive: true, force: true });
    }
  });
});
