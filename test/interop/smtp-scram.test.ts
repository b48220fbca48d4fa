// Interop: SCRAM-SHA-256 over SMTP AUTH with an independent client (scripts/smtp_scram.py: Python's
// hashlib/hmac on top of smtplib's docmd). No stock client speaks it; the script verifies the server
// signature (v=…) before it answers the final challenge with an empty line.
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
  scriptPath,
} from "./helpers/interop.js";

interface ScramResult {
  ok: boolean;
  tls: string | null;
  ehlo_auth: string | null;
  steps: Array<[number, string]>;
  server_first: string | null;
  server_final: string | null;
  iterations: number | null;
  nonce_extends_ours: boolean | null;
  server_signature_verified: boolean | null;
  auth_code: number | null;
  auth_text: string | null;
  mail_after_failure: [number, string] | null;
  refused: Record<string, [number, string]> | null;
  error: { type: string; code?: number; text?: string } | null;
}

async function scram(job: {
  port: number;
  mode: "ssl" | "starttls";
  user: string;
  password: string;
  from?: string;
  to?: string[];
  message?: Buffer;
  distrust_server?: boolean;
}): Promise<ScramResult & { transcript: string }> {
  const { message, ...rest } = job;
  const input = JSON.stringify({
    host: "127.0.0.1",
    ...rest,
    message_b64: message?.toString("base64") ?? null,
  });
  const r = await runTool("python3", [scriptPath("smtp_scram.py")], { input, timeoutMs: 15_000 });
  assert.equal(r.code, 0, describeRun(r));
  return { ...(JSON.parse(r.stdout) as ScramResult), transcript: r.stderr };
}

describe("interop: SCRAM-SHA-256 over SMTP (independent Python client)", {
  skip: missingTools(TOOLS.python3),
}, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  it("authenticates on submissions, verifies the server signature, and sends", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "scram 465",
      body: "SCRAM works.\r\n",
    });
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await scram({
      port: t.port("submissions"),
      mode: "ssl",
      user: "alice@example.test",
      password: "alice-secret",
      from: "alice@example.test",
      to: ["bob@example.test"],
      message,
    });
    assert.equal(r.ok, true, `${JSON.stringify(r.error)}\n${r.transcript}`);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    assert.match(r.ehlo_auth ?? "", /\bSCRAM-SHA-256\b/);
    assert.deepEqual(
      r.steps.map(([code]) => code),
      [334, 334, 235],
    );
    assert.match(r.server_first ?? "", /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=\d+$/);
    assert.equal(r.iterations, 4096, "RFC 7677 §4 minimum");
    assert.equal(r.nonce_extends_ours, true);
    assert.match(r.server_final ?? "", /^v=[A-Za-z0-9+/=]+$/);
    assert.equal(r.server_signature_verified, true, "the server proved it knows the ServerKey");
    assert.match(r.auth_text ?? "", /^2\.7\.0 /);
    assert.deepEqual(r.refused, {});
    const m = await assertDeliveredExactly(t.server.store, "bob@example.test", before, message);
    assert.match(receivedHeader(m), / with ESMTPSA id /);
  });

  it("authenticates on submission after STARTTLS", async () => {
    const r = await scram({
      port: t.port("submission"),
      mode: "starttls",
      user: "bob@example.test",
      password: "bob-secret",
    });
    assert.equal(r.ok, true, `${JSON.stringify(r.error)}\n${r.transcript}`);
    assert.equal(r.server_signature_verified, true);
    assert.equal(r.auth_code, 235);
  });

  it("refuses a wrong password with 535 after the client proof (no server-final)", async () => {
    const before = await messageCount(t.server.store, "bob@example.test");
    const r = await scram({
      port: t.port("submissions"),
      mode: "ssl",
      user: "alice@example.test",
      password: "alice-wrong",
      from: "alice@example.test",
      to: ["bob@example.test"],
      message: buildMessage({
        from: "alice@example.test",
        to: "bob@example.test",
        subject: "scram wrong",
        body: "x\r\n",
      }),
    });
    assert.equal(r.ok, false);
    assert.deepEqual(
      r.steps.map(([code]) => code),
      [334, 535],
      r.transcript,
    );
    assert.equal(r.auth_code, 535);
    assert.match(r.auth_text ?? "", /^5\.7\.8 /);
    assert.equal(r.server_final, null);
    assert.equal(r.server_signature_verified, null);
    assert.equal(r.mail_after_failure?.[0], 530, "still not authenticated");
    assert.equal(await messageCount(t.server.store, "bob@example.test"), before);
  });

  it("leaves the session unauthenticated when the client cancels after the server signature", async () => {
    // A client that could not verify v= (an impostor server) cancels with "*" instead of the empty
    // response: the exchange must fail (501) and MAIL still needs AUTH (530).
    const r = await scram({
      port: t.port("submissions"),
      mode: "ssl",
      user: "alice@example.test",
      password: "alice-secret",
      distrust_server: true,
    });
    assert.equal(r.ok, false);
    assert.equal(r.server_signature_verified, true, "the real signature did verify");
    assert.deepEqual(
      r.steps.map(([code]) => code),
      [334, 334, 501],
      r.transcript,
    );
    assert.equal(r.mail_after_failure?.[0], 530, r.transcript);
  });

  it("answers an unknown user exactly like a wrong password (salt, 4096 iterations, then 535)", async () => {
    const r = await scram({
      port: t.port("submissions"),
      mode: "ssl",
      user: "nobody@example.test",
      password: "whatever",
    });
    assert.equal(r.ok, false);
    assert.match(r.server_first ?? "", /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=4096$/);
    assert.deepEqual(
      r.steps.map(([code]) => code),
      [334, 535],
      r.transcript,
    );
    assert.match(r.auth_text ?? "", /^5\.7\.8 /);
  });
});
