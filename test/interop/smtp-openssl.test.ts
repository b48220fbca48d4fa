// Interop: OpenSSL's s_client as the TLS layer (its own STARTTLS negotiation, or implicit TLS), driven
// line by line through stdin (-crlf turns our LFs into CRLFs) with the replies read from stdout.
// `-brief` reports the negotiated protocol on stderr; the server must not go below TLS 1.2.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import {
  type Interactive,
  assertDeliveredExactly,
  buildMessage,
  describeRun,
  messageCount,
  receivedHeader,
  runTool,
  spawnInteractive,
} from "./helpers/interop.js";

/** s_client on 127.0.0.1:port; `starttls` makes s_client do EHLO + STARTTLS itself first. */
function sClient(port: number, opts: { starttls: boolean; extra?: string[] }): Interactive {
  return spawnInteractive("openssl", [
    "s_client",
    ...(opts.starttls ? ["-starttls", "smtp"] : []),
    "-connect",
    `127.0.0.1:${port}`,
    "-quiet",
    "-ign_eof",
    "-crlf",
    "-brief",
    "-nocommands",
    ...(opts.extra ?? []),
  ]);
}

async function cmd(c: Interactive, line: string, expect: number) {
  c.send(`${line}\n`);
  const r = await c.replies.read();
  assert.equal(r.code, expect, `${line} -> ${r.raw}\nstderr: ${c.stderr()}`);
  return r;
}

/** The message as LF-only text for stdin (s_client -crlf makes it CRLF on the wire). */
function lfText(message: Buffer): string {
  return message.toString("utf8").replace(/\r\n/g, "\n");
}

/** "Protocol version: TLSv1.3" from -brief. */
function protocolOf(stderr: string): string | null {
  return /Protocol version: (\S+)/.exec(stderr)?.[1] ?? null;
}

async function quit(c: Interactive) {
  await cmd(c, "QUIT", 221);
  const exit = await c.finish();
  assert.equal(exit.code, 0, `s_client exit after the server closed: ${JSON.stringify(exit)}\n${c.stderr()}`);
}

describe("interop: openssl s_client", { skip: missingTools(TOOLS.openssl) }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it("-starttls smtp to the MX port: EHLO after TLS, a whole transaction, TLS 1.2+", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "openssl STARTTLS",
      body: "Through s_client.\r\n..a stuffed dot line\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const c = sClient(t.port("smtp"), { starttls: true });
    try {
      const ehlo = await cmd(c, "EHLO openssl.interop.test", 250);
      assert.match(ehlo.lines[0]!, /^mail\.example\.test Hello openssl\.interop\.test/);
      assert.ok(!ehlo.lines.includes("STARTTLS"), "STARTTLS is not offered again inside TLS");
      assert.ok(!ehlo.lines.some((l) => l.startsWith("AUTH")), "no AUTH on the MX port");
      assert.ok(ehlo.lines.includes("PIPELINING") && ehlo.lines.includes("8BITMIME"));
      await cmd(c, "MAIL FROM:<carol@remote.test>", 250);
      await cmd(c, "RCPT TO:<alice@example.test>", 250);
      await cmd(c, "DATA", 354);
      // Dot-stuffed on the wire: "..a stuffed dot line" is sent as "...a stuffed dot line".
      c.send(lfText(message).replace(/^\./gm, ".."));
      const done = await cmd(c, ".", 250);
      assert.match(done.raw, /^250 2\.0\.0 /);
      await quit(c);
    } finally {
      c.child.kill();
    }
    const version = protocolOf(c.stderr());
    assert.ok(version === "TLSv1.2" || version === "TLSv1.3", `negotiated ${version}\n${c.stderr()}`);
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(
      receivedHeader(m),
      new RegExp(`from openssl\\.interop\\.test .* with ESMTPS id .*using ${version}`),
    );
  });

  it("-starttls smtp to submission: AUTH PLAIN inside TLS, pipelined envelope", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "openssl submission",
      body: "hi\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const c = sClient(t.port("submission"), { starttls: true });
    try {
      const ehlo = await cmd(c, "EHLO laptop.interop.test", 250);
      assert.ok(ehlo.lines.includes("AUTH SCRAM-SHA-256 PLAIN LOGIN"), ehlo.lines.join("|"));
      await cmd(c, "MAIL FROM:<alice@example.test>", 530);
      const plain = Buffer.from("\0alice@example.test\0alice-secret").toString("base64");
      const ok = await cmd(c, `AUTH PLAIN ${plain}`, 235);
      assert.match(ok.raw, /^235 2\.7\.0 /);
      // RFC 2920: MAIL, RCPT and DATA in one write; the replies come back in order.
      c.send(
        "MAIL FROM:<alice@example.test>\nRCPT TO:<nobody@example.test>\nRCPT TO:<bob@example.test>\nDATA\n",
      );
      const codes = [];
      for (let i = 0; i < 4; i++) codes.push((await c.replies.read()).code);
      assert.deepEqual(codes, [250, 550, 250, 354]);
      c.send(lfText(message));
      await cmd(c, ".", 250);
      await quit(c);
    } finally {
      c.child.kill();
    }
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("implicit TLS to submissions: banner inside TLS, AUTH LOGIN challenges, no STARTTLS", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "openssl 465",
      body: "implicit\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const c = sClient(t.port("submissions"), { starttls: false });
    try {
      const banner = await c.replies.read();
      assert.match(banner.raw, /^220 mail\.example\.test ESMTP/);
      const ehlo = await cmd(c, "EHLO laptop.interop.test", 250);
      assert.ok(!ehlo.lines.includes("STARTTLS"));
      const user = await cmd(c, "AUTH LOGIN", 334);
      assert.equal(Buffer.from(user.lines[0]!, "base64").toString(), "Username:");
      const pass = await cmd(c, Buffer.from("alice@example.test").toString("base64"), 334);
      assert.equal(Buffer.from(pass.lines[0]!, "base64").toString(), "Password:");
      await cmd(c, Buffer.from("alice-secret").toString("base64"), 235);
      await cmd(c, "MAIL FROM:<alice@example.test>", 250);
      await cmd(c, "RCPT TO:<bob@example.test>", 250);
      await cmd(c, "DATA", 354);
      c.send(lfText(message));
      await cmd(c, ".", 250);
      await quit(c);
    } finally {
      c.child.kill();
    }
    assert.match(protocolOf(c.stderr()) ?? "", /^TLSv1\.[23]$/);
    await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
  });

  it("negotiates TLS 1.2 when the client offers only 1.2, and refuses TLS 1.1", async () => {
    for (const port of [t.port("smtp"), t.port("submissions")]) {
      const starttls = port === t.port("smtp") ? ["-starttls", "smtp"] : [];
      const base = [
        "s_client",
        ...starttls,
        "-connect",
        `127.0.0.1:${port}`,
        "-quiet",
        "-brief",
        "-nocommands",
      ];
      const v12 = await runTool("openssl", [...base, "-tls1_2"], { input: "QUIT\r\n", timeoutMs: 10_000 });
      assert.equal(protocolOf(v12.stderr), "TLSv1.2", describeRun(v12));
      const v11 = await runTool("openssl", [...base, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], {
        input: "QUIT\r\n",
        timeoutMs: 10_000,
      });
      assert.notEqual(v11.code, 0, describeRun(v11));
      assert.equal(protocolOf(v11.stderr), null, "no TLS 1.1 session");
      // The server answered the TLS 1.1 ClientHello with a protocol_version alert (70).
      assert.match(v11.stderr, /alert protocol version/, describeRun(v11));
    }
  });
});
