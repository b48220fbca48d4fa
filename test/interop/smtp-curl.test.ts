// Interop: curl's SMTP client (smtp:// and smtps://, `-T file`) against a real server: the MX port in
// plaintext and with STARTTLS, submission with STARTTLS + AUTH PLAIN/LOGIN, submissions with implicit
// TLS. `-k` because the test certificate is self-signed; `-v` for the transcript on stderr.
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

const ALICE = "alice@example.test:alice-secret";

/** Lines curl wrote with -v: "> " client, "< " server. */
function sentLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n/)
    .filter((l) => l.startsWith("> "))
    .map((l) => l.slice(2));
}

describe("interop: curl", { skip: missingTools(TOOLS.curl) }, () => {
  let t: TestServer;
  let files: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    t = await startTestServer();
    files = await tempDir();
  });
  after(async () => {
    await t.stop();
    await files.remove();
  });

  async function curl(args: string[], message: Buffer) {
    const file = await files.file(`msg-${Date.now()}-${Math.random().toString(36).slice(2)}.eml`, message);
    return runTool("curl", ["-v", "-sS", "--max-time", "10", ...args, "-T", file], { timeoutMs: 15_000 });
  }

  it("smtp:// to the MX port in plaintext, with a leading-dot line, byte for byte", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "curl plain MX",
      body: "Hello from curl.\r\n.one dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await curl(
      [
        "--url",
        `smtp://127.0.0.1:${t.port("smtp")}/curl.client.test`,
        "--mail-from",
        "carol@remote.test",
        "--mail-rcpt",
        "alice@example.test",
      ],
      message,
    );
    assert.equal(r.code, 0, describeRun(r));
    const sent = sentLines(r.stderr);
    assert.ok(sent.includes("EHLO curl.client.test"), sent.join("|"));
    assert.ok(!sent.includes("STARTTLS"));
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(receivedHeader(m), /from curl\.client\.test .* with ESMTP id /);
  });

  it("smtp:// with --ssl-reqd upgrades the MX port with STARTTLS", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "curl STARTTLS MX",
      body: "tls\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await curl(
      [
        "-k",
        "--ssl-reqd",
        "--url",
        `smtp://127.0.0.1:${t.port("smtp")}`,
        "--mail-from",
        "carol@remote.test",
        "--mail-rcpt",
        "alice@example.test",
      ],
      message,
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(sentLines(r.stderr).includes("STARTTLS"));
    assert.match(r.stderr, /SSL connection using TLSv1\.[23]/);
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPS id .*using TLSv1\.[23]/);
  });

  it("several --mail-rcpt with --mail-rcpt-allowfails: the unknown one is refused, the rest delivered", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: ["alice@example.test", "bob@example.test"],
      subject: "curl many rcpt",
      body: "to many\r\n",
    });
    const beforeA = await messageCount(t.server.store, "alice@example.test");
    const beforeB = await messageCount(t.server.store, "bob@example.test");
    const r = await curl(
      [
        "--url",
        `smtp://127.0.0.1:${t.port("smtp")}`,
        "--mail-from",
        "carol@remote.test",
        "--mail-rcpt",
        "alice@example.test",
        "--mail-rcpt",
        "nobody@example.test",
        "--mail-rcpt",
        "bob@example.test",
        "--mail-rcpt-allowfails",
      ],
      message,
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stderr, /< 550 5\.1\.1 /);
    await assertDeliveredExactly(t.server.store, "alice@example.test", beforeA, message);
    await assertDeliveredExactly(t.server.store, "bob@example.test", beforeB, message);
  });

  for (const mech of ["PLAIN", "LOGIN"]) {
    it(`smtp:// --ssl-reqd --user to submission with AUTH ${mech}`, async () => {
      const message = buildMessage({
        from: "alice@example.test",
        to: "bob@example.test",
        subject: `curl ${mech}`,
        body: "hi Bob\r\n",
      });
      const before = await messageCount(t.server.store, "bob@example.test");
      const r = await curl(
        [
          "-k",
          "--ssl-reqd",
          "--url",
          `smtp://127.0.0.1:${t.port("submission")}`,
          "--user",
          ALICE,
          "--login-options",
          `AUTH=${mech}`,
          "--mail-from",
          "alice@example.test",
          "--mail-rcpt",
          "bob@example.test",
        ],
        message,
      );
      assert.equal(r.code, 0, describeRun(r));
      const sent = sentLines(r.stderr);
      assert.ok(sent.includes("STARTTLS"), sent.join("|"));
      assert.ok(
        sent.some((l) => l.startsWith(`AUTH ${mech}`)),
        sent.join("|"),
      );
      assert.match(r.stderr, /< 235 /);
      const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
      assert.match(receivedHeader(m), / with ESMTPSA id .*using TLSv1\.[23]/);
    });
  }

  it("smtps:// to submissions (implicit TLS) with --user", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "curl smtps",
      body: "465\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await curl(
      [
        "-k",
        "--url",
        `smtps://127.0.0.1:${t.port("submissions")}`,
        "--user",
        ALICE,
        "--mail-from",
        "alice@example.test",
        "--mail-rcpt",
        "bob@example.test",
      ],
      message,
    );
    assert.equal(r.code, 0, describeRun(r));
    assert.ok(!sentLines(r.stderr).includes("STARTTLS"));
    assert.match(r.stderr, /SSL connection using TLSv1\.[23]/);
    assert.match(r.stderr, /< 235 /);
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("fails with curl's login-denied exit code (67) on a wrong password; nothing stored", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "curl wrong",
      body: "x\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await curl(
      [
        "-k",
        "--url",
        `smtps://127.0.0.1:${t.port("submissions")}`,
        "--user",
        "alice@example.test:wrong-secret",
        "--login-options",
        "AUTH=PLAIN",
        "--mail-from",
        "alice@example.test",
        "--mail-rcpt",
        "bob@example.test",
      ],
      message,
    );
    assert.equal(r.code, 67, describeRun(r));
    assert.match(r.stderr, /< 535 5\.7\.8 /);
    assert.equal(await messageCount(t.server.store, "bob@example.test"), before);
  });
});
