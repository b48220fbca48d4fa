// Interop: swaks (the Swiss Army Knife for SMTP) against a real server: plaintext, STARTTLS (--tls),
// implicit TLS (--tlsc), AUTH PLAIN/LOGIN, PIPELINING, `--data @file`, and the SMTP-smuggling probes
// it can send raw with --no-data-fixup: the server must answer 550 5.5.2 and store nothing.
//
// With its default data fixups swaks dot-stuffs, and ends the data with "\r\n.\r\n" after the file's
// content: a file without a final line break arrives as the file plus CRLF, so the tests write the
// message without its last CRLF and expect the whole message stored.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import {
  assertDeliveredExactly,
  buildMessage,
  describeRun,
  messageCount,
  receivedHeader,
  runTool,
  tempDir,
} from "./helpers/interop.js";

/** The transcript lines swaks sent (" -> " plaintext, " ~> " inside TLS). */
function sent(stdout: string): string[] {
  return stdout
    .split(/\r?\n/)
    .filter((l) => / [-~]> /.test(l.slice(0, 4)))
    .map((l) => l.slice(4));
}

/** The replies swaks received ("<- ", "<~ ", and "<** "/"<~* " for unexpected ones). */
function received(stdout: string): string[] {
  return stdout
    .split(/\r?\n/)
    .filter((l) => /^<(?:[-~] |\*\* |~\* )/.test(l))
    .map((l) => l.replace(/^<\S+\s+/, ""));
}

describe("interop: swaks", { skip: missingTools(TOOLS.swaks) }, () => {
  let t: TestServer;
  let files: Awaited<ReturnType<typeof tempDir>>;
  let n = 0;
  before(async () => {
    t = await startTestServer();
    files = await tempDir();
  });
  after(async () => {
    await t.stop();
    await files.remove();
  });

  /** Runs swaks with the message in a file (`--data @file`). */
  async function swaks(args: string[], data: Buffer) {
    const file = await files.file(`msg-${++n}.eml`, data);
    return runTool(
      "swaks",
      ["--helo", "swaks.interop.test", "--timeout", "10", ...args, "--data", `@${file}`],
      {
        timeoutMs: 15_000,
      },
    );
  }

  /** The file for swaks' fixup mode: the message without its final CRLF (swaks adds it back). */
  function fixupFile(message: Buffer): Buffer {
    assert.equal(message.subarray(-2).toString(), "\r\n");
    return message.subarray(0, -2);
  }

  it("--to/--server to the MX port in plaintext, dot-stuffed by swaks, stored byte for byte", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "swaks plain",
      body: "Hello from swaks.\r\n.leading dot\r\n..two\r\nlast line\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await swaks(
      [
        "--to",
        "alice@example.test",
        "--from",
        "carol@remote.test",
        "--server",
        `127.0.0.1:${t.port("smtp")}`,
      ],
      fixupFile(message),
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(sent(r.stdout).includes("..leading dot"), "swaks stuffed the dot");
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(receivedHeader(m), /from swaks\.interop\.test .* with ESMTP id /);
  });

  it("--tls (STARTTLS) to the MX port", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "swaks tls",
      body: "tls\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await swaks(
      [
        "--to",
        "alice@example.test",
        "--from",
        "carol@remote.test",
        "--server",
        `127.0.0.1:${t.port("smtp")}`,
        "--tls",
      ],
      fixupFile(message),
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /=== TLS started with cipher TLSv1\.[23]:/);
    assert.ok(sent(r.stdout).includes("STARTTLS"));
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPS id /);
  });

  it("--tlsc (implicit TLS) to submissions with --auth PLAIN", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "swaks tlsc plain",
      body: "465\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await swaks(
      [
        "--to",
        "bob@example.test",
        "--from",
        "alice@example.test",
        "--server",
        `127.0.0.1:${t.port("submissions")}`,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.test",
        "--auth-password",
        "alice-secret",
      ],
      fixupFile(message),
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /=== TLS started with cipher TLSv1\.[23]:/);
    assert.ok(!sent(r.stdout).includes("STARTTLS"));
    assert.ok(sent(r.stdout).some((l) => l.startsWith("AUTH PLAIN ")));
    assert.ok(received(r.stdout).some((l) => l.startsWith("235 ")));
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("--tls to submission with --auth LOGIN", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "swaks login",
      body: "587\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await swaks(
      [
        "--to",
        "bob@example.test",
        "--from",
        "alice@example.test",
        "--server",
        `127.0.0.1:${t.port("submission")}`,
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "alice@example.test",
        "--auth-password",
        "alice-secret",
      ],
      fixupFile(message),
    );
    assert.equal(r.code, 0, describeRun(r));
    const lines = sent(r.stdout);
    assert.ok(lines.includes("STARTTLS"));
    assert.ok(lines.includes("AUTH LOGIN"), lines.join("|"));
    const replies = received(r.stdout);
    assert.ok(replies.includes("334 VXNlcm5hbWU6"), replies.join("|"));
    assert.ok(replies.includes("334 UGFzc3dvcmQ6"), replies.join("|"));
    assert.ok(replies.some((l) => l.startsWith("235 ")));
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("a wrong password is refused with 535 5.7.8", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "swaks wrong",
      body: "x\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await swaks(
      [
        "--to",
        "bob@example.test",
        "--from",
        "alice@example.test",
        "--server",
        `127.0.0.1:${t.port("submissions")}`,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "alice@example.test",
        "--auth-password",
        "not-it",
      ],
      fixupFile(message),
    );
    assert.notEqual(r.code, 0, describeRun(r));
    assert.ok(
      received(r.stdout).some((l) => l.startsWith("535 5.7.8 ")),
      describeRun(r),
    );
    assert.equal(await messageCount(t.server.store, "bob@example.test"), before);
  });

  it("--pipeline: the envelope in one batch, replies in order, unknown recipient refused", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: ["alice@example.test", "bob@example.test"],
      subject: "swaks pipeline",
      body: "pipelined\r\n",
    });
    const beforeA = await messageCount(t.server.store, "alice@example.test");
    const beforeB = await messageCount(t.server.store, "bob@example.test");
    const r = await swaks(
      [
        "--to",
        "alice@example.test,nobody@example.test,bob@example.test",
        "--from",
        "carol@remote.test",
        "--server",
        `127.0.0.1:${t.port("smtp")}`,
        "--pipeline",
      ],
      fixupFile(message),
    );
    assert.equal(r.code, 0, describeRun(r));
    // The transcript shows MAIL, three RCPTs and DATA written before the first of their replies.
    const lines = r.stdout.split(/\r?\n/);
    const mail = lines.findIndex((l) => l.startsWith(" -> MAIL FROM:"));
    assert.deepEqual(
      lines.slice(mail, mail + 5).map((l) => l.slice(4).split(":")[0]),
      ["MAIL FROM", "RCPT TO", "RCPT TO", "RCPT TO", "DATA"],
      r.stdout,
    );
    assert.deepEqual(
      lines.slice(mail + 5, mail + 10).map((l) => l.replace(/^<\S*\s+/, "").slice(0, 3)),
      ["250", "250", "550", "250", "354"],
      r.stdout,
    );
    const a = await assertDeliveredExactly(t.server.store, "alice@example.test", beforeA, message);
    const b = await assertDeliveredExactly(t.server.store, "bob@example.test", beforeB, message);
    assert.equal(a.blobId, b.blobId);
  });

  it("--no-data-fixup: data sent exactly as written (stuffing and terminator by hand)", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "swaks raw",
      body: ".starts with a dot\r\ntabs\tand  spaces  \r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    // swaks adds only the CRLF after the last line: the file ends with the terminating ".".
    const raw = Buffer.concat([
      Buffer.from(message.toString("latin1").replace(/^\./gm, ".."), "latin1"),
      Buffer.from("."),
    ]);
    const r = await swaks(
      [
        "--to",
        "alice@example.test",
        "--from",
        "carol@remote.test",
        "--server",
        `127.0.0.1:${t.port("smtp")}`,
        "--no-data-fixup",
      ],
      raw,
    );
    assert.equal(r.code, 0, describeRun(r));
    await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
  });

  // SMTP smuggling (SEC Consult, 2023): an end-of-data sequence with a bare LF or CR, followed by a
  // second transaction, hoping the receiver ends the data where the sender's MTA did not.
  const probes: Array<[string, string]> = [
    ["\\n.\\n", "\n.\n"],
    ["\\r\\n.\\n", "\r\n.\n"],
    ["\\n.\\r\\n", "\n.\r\n"],
    ["\\r.\\r", "\r.\r"],
    ["\\r\\n.\\r", "\r\n.\r"],
  ];
  for (const [name, end] of probes) {
    it(`smuggling probe "${name}" in the body (--no-data-fixup): 550 5.5.2, nothing stored`, async () => {
      const beforeA = await messageCount(t.server.store, "alice@example.test");
      const beforeB = await messageCount(t.server.store, "bob@example.test");
      const data = Buffer.from(
        "From: carol@remote.test\r\nTo: alice@example.test\r\nSubject: smuggling probe\r\n\r\n" +
          `innocent body${end}` +
          "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n" +
          "From: ceo@example.test\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.",
      );
      const r = await swaks(
        [
          "--to",
          "alice@example.test",
          "--from",
          "carol@remote.test",
          "--server",
          `127.0.0.1:${t.port("smtp")}`,
          "--no-data-fixup",
        ],
        data,
      );
      assert.notEqual(r.code, 0, describeRun(r));
      const replies = received(r.stdout);
      // After 354, exactly one reply to the whole data: 550 5.5.2; then QUIT is answered in sync.
      const i = replies.findIndex((l) => l.startsWith("354 "));
      assert.ok(i >= 0, r.stdout);
      assert.match(replies[i + 1] ?? "", /^550 5\.5\.2 /, r.stdout);
      assert.match(replies[i + 2] ?? "", /^221 /, r.stdout);
      assert.equal(replies.length, i + 3, r.stdout);
      assert.equal(await messageCount(t.server.store, "alice@example.test"), beforeA);
      assert.equal(await messageCount(t.server.store, "bob@example.test"), beforeB);
    });
  }
});
