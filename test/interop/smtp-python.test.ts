// Interop: Python's smtplib (through scripts/smtp_send.py, which prints JSON results) against a real
// server: plain SMTP to the MX port, STARTTLS + AUTH on submission, SMTP_SSL on submissions, and the
// partial/total recipient refusals smtplib reports. BDAT is not in smtplib, so CHUNKING is not covered.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import {
  assertDeliveredExactly,
  assertSameBytes,
  buildMessage,
  describeRun,
  messageCount,
  receivedHeader,
  runTool,
  scriptPath,
} from "./helpers/interop.js";

interface PyResult {
  ok: boolean;
  ehlo: { code: number; features: Record<string, string> } | null;
  tls: string | null;
  commands: string[];
  auth: { code: number; text: string } | null;
  refused: Record<string, [number, string]> | null;
  sent_b64: string | null;
  data_reply: [number, string] | null;
  error: { type: string; code?: number; text?: string; recipients?: Record<string, [number, string]> } | null;
}

interface PyJob {
  port: number;
  mode: "plain" | "starttls" | "ssl";
  auth?: {
    user: string;
    password: string;
    method: "login" | "PLAIN" | "LOGIN";
    initial_response_ok?: boolean;
  };
  api?: "sendmail" | "send_message";
  from?: string | null;
  to?: string[] | null;
  message: Buffer;
  mail_options?: string[];
}

async function smtplib(job: PyJob): Promise<PyResult & { transcript: string }> {
  const { message, ...rest } = job;
  const input = JSON.stringify({ host: "127.0.0.1", ...rest, message_b64: message.toString("base64") });
  const r = await runTool("python3", [scriptPath("smtp_send.py")], { input, timeoutMs: 15_000 });
  assert.equal(r.code, 0, describeRun(r));
  const result = JSON.parse(r.stdout) as PyResult;
  return { ...result, transcript: r.stderr };
}

function sent(r: PyResult): Buffer {
  assert.ok(r.sent_b64, "smtplib reached DATA");
  return Buffer.from(r.sent_b64, "base64");
}

const ALICE = { user: "alice@example.test", password: "alice-secret" };

describe("interop: Python smtplib", { skip: missingTools(TOOLS.python3) }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it("SMTP to the MX port: lowercase verbs, size= parameter, exact bytes stored", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "smtplib plain",
      body: "Hello from smtplib.\r\n.leading dot\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await smtplib({
      port: t.port("smtp"),
      mode: "plain",
      from: "carol@remote.test",
      to: ["alice@example.test"],
      message,
    });
    assert.equal(r.ok, true, r.transcript);
    assert.equal(r.ehlo?.code, 250);
    assert.ok("pipelining" in (r.ehlo?.features ?? {}), "smtplib parsed the EHLO keywords");
    assert.equal(r.tls, null);
    assert.deepEqual(r.refused, {});
    assert.ok(
      r.commands.includes(`mail FROM:<carol@remote.test> size=${message.length}`),
      r.commands.join("|"),
    );
    assert.match(r.data_reply?.[1] ?? "", /^2\.0\.0 /);
    assertSameBytes(sent(r), message, "smtplib sent the bytes it was given");
    await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
  });

  it("SMTP with BODY=8BITMIME and SMTPUTF8: UTF-8 header and body stored unchanged", async () => {
    const message = buildMessage({
      from: "Jürgen <juergen@remote.test>",
      to: "alice@example.test",
      subject: "Grüße – ümlaut ✓",
      headers: [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
      ],
      body: "Straße, Ærøskøbing, Ελληνικά, 日本語.\r\n",
    });
    const before = await messageCount(t.server.store, "alice@example.test");
    const r = await smtplib({
      port: t.port("smtp"),
      mode: "plain",
      from: "juergen@remote.test",
      to: ["alice@example.test"],
      message,
      mail_options: ["BODY=8BITMIME", "SMTPUTF8"],
    });
    assert.equal(r.ok, true, r.transcript);
    const m = await assertDeliveredExactly(t.server.store, "alice@example.test", before, message);
    assert.match(receivedHeader(m), / with UTF8SMTP id /);
  });

  it("starttls() on submission, then login() (smtplib picks PLAIN)", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "smtplib login",
      body: "hi\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await smtplib({
      port: t.port("submission"),
      mode: "starttls",
      auth: { ...ALICE, method: "login" },
      from: "alice@example.test",
      to: ["bob@example.test"],
      message,
    });
    assert.equal(r.ok, true, r.transcript);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    assert.ok(r.commands.includes("STARTTLS"), r.commands.join("|"));
    assert.match(r.ehlo?.features.auth ?? "", /PLAIN/);
    assert.ok(
      r.commands.some((c) => c.startsWith("AUTH PLAIN")),
      r.commands.join("|"),
    );
    assert.equal(r.auth?.code, 235);
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  for (const method of ["PLAIN", "LOGIN"] as const) {
    for (const initial of [true, false]) {
      it(`auth("${method}", initial_response_ok=${initial ? "True" : "False"}) after starttls()`, async () => {
        const message = buildMessage({
          from: "alice@example.test",
          to: "bob@example.test",
          subject: `smtplib ${method} ${initial}`,
          body: "hi\r\n",
        });
        const before = await messageCount(t.server.store, "bob@example.test");
        const r = await smtplib({
          port: t.port("submission"),
          mode: "starttls",
          auth: { ...ALICE, method, initial_response_ok: initial },
          from: "alice@example.test",
          to: ["bob@example.test"],
          message,
        });
        assert.equal(r.ok, true, r.transcript);
        assert.equal(r.auth?.code, 235);
        const authCmd = r.commands.find((c) => c.startsWith("AUTH "));
        assert.equal(authCmd, `AUTH ${method}${initial ? " <initial-response>" : ""}`);
        // PLAIN: one line (initial response) or one continuation; LOGIN: user and password, the
        // user going as the initial response when allowed.
        const continuations = r.commands.filter((c) => c === "<sasl-response>").length;
        assert.equal(continuations, method === "PLAIN" ? (initial ? 0 : 1) : initial ? 1 : 2, r.transcript);
        await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
      });
    }
  }

  it("SMTP_SSL on submissions + send_message: partial refusal comes back in the dict", async () => {
    const message = buildMessage({
      from: "Alice <alice@example.test>",
      to: ["bob@example.test", "nobody@example.test"],
      headers: ["Cc: alice@example.test"],
      subject: "smtplib send_message",
      body: "Two of three will get this.\r\n",
    });
    const beforeA = await messageCount(t.server.store, "alice@example.test");
    const beforeB = await messageCount(t.server.store, "bob@example.test");
    // No envelope given: send_message takes the sender from From: and the recipients from To/Cc.
    const r = await smtplib({
      port: t.port("submissions"),
      mode: "ssl",
      auth: { ...ALICE, method: "login" },
      api: "send_message",
      message,
    });
    assert.equal(r.ok, true, r.transcript);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    assert.ok(!r.commands.includes("STARTTLS"));
    assert.deepEqual(Object.keys(r.refused ?? {}), ["nobody@example.test"]);
    const [code, text] = r.refused!["nobody@example.test"]!;
    assert.equal(code, 550);
    assert.match(text, /^5\.1\.1 /);
    assert.ok(
      r.commands.includes("mail FROM:<alice@example.test> size=" + sent(r).length),
      r.commands.join("|"),
    );
    // What smtplib generated from the parsed message is what both mailboxes hold.
    const bytes = sent(r);
    const a = await assertDeliveredExactly(t.server.store, "alice@example.test", beforeA, bytes);
    const b = await assertDeliveredExactly(t.server.store, "bob@example.test", beforeB, bytes);
    assert.equal(a.blobId, b.blobId);
    assert.match(receivedHeader(b), / with ESMTPSA id .*using TLSv1\.[23]/);
  });

  it("raises SMTPRecipientsRefused when every recipient is refused; nothing is stored", async () => {
    const message = buildMessage({
      from: "carol@remote.test",
      to: "nobody@example.test",
      subject: "all refused",
      body: "x\r\n",
    });
    const beforeA = await messageCount(t.server.store, "alice@example.test");
    const r = await smtplib({
      port: t.port("smtp"),
      mode: "plain",
      from: "carol@remote.test",
      to: ["nobody@example.test", "victim@elsewhere.test"],
      message,
    });
    assert.equal(r.ok, false);
    assert.equal(r.error?.type, "SMTPRecipientsRefused", r.transcript);
    const rec = r.error?.recipients ?? {};
    assert.deepEqual(Object.keys(rec).sort(), ["nobody@example.test", "victim@elsewhere.test"]);
    assert.equal(rec["nobody@example.test"]![0], 550);
    assert.equal(rec["victim@elsewhere.test"]![0], 554, "no relaying on the MX port");
    assert.equal(r.sent_b64, null, "DATA was never sent");
    assert.equal(await messageCount(t.server.store, "alice@example.test"), beforeA);
  });

  it("raises SMTPAuthenticationError 535 for a wrong password", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "wrong",
      body: "x\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    for (const method of ["login", "LOGIN"] as const) {
      const r = await smtplib({
        port: t.port("submissions"),
        mode: "ssl",
        auth: { user: ALICE.user, password: "wrong-secret", method, initial_response_ok: false },
        from: "alice@example.test",
        to: ["bob@example.test"],
        message,
      });
      assert.equal(r.ok, false);
      assert.equal(r.error?.type, "SMTPAuthenticationError", r.transcript);
      assert.equal(r.error?.code, 535);
      assert.match(r.error?.text ?? "", /^5\.7\.8 /);
    }
    assert.equal(await messageCount(t.server.store, "bob@example.test"), before);
  });
});
