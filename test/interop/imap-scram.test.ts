// Interop: SCRAM-SHA-256 over IMAP AUTHENTICATE with an independent client (scripts/imap_scram.py:
// Python's hashlib/hmac behind imaplib's authenticate()). None of the stock clients here speaks it
// (imapflow, imaplib, curl); mbsync does through Cyrus SASL, see imap-mbsync. The script verifies the
// server signature (v=…) before it answers the final challenge with an empty line.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import { startImapServer } from "./helpers/imap.js";
import { describeRun, runTool, scriptPath } from "./helpers/interop.js";

interface ScramResult {
  ok: boolean;
  tls: string | null;
  capabilities: string[] | null;
  challenges: string[];
  server_first: string | null;
  server_final: string | null;
  iterations: number | null;
  nonce_extends_ours: boolean | null;
  server_signature_verified: boolean | null;
  auth: { typ: string; text: string } | null;
  select_after: { typ: string; text: string } | null;
  error: { type: string; text: string } | null;
}

describe("interop: SCRAM-SHA-256 over IMAP (independent Python client)", {
  skip: missingTools(TOOLS.python3),
}, () => {
  let t: TestServer;
  before(async () => {
    t = await startImapServer();
  });
  after(() => t.stop());

  async function scram(job: {
    mode: "ssl" | "starttls" | "plain";
    user: string;
    password: string;
    distrust_server?: boolean;
  }): Promise<ScramResult & { trace: string }> {
    const port = job.mode === "ssl" ? t.port("imaps") : t.port("imap");
    const input = JSON.stringify({ host: "127.0.0.1", port, ...job });
    const r = await runTool("python3", [scriptPath("imap_scram.py")], { input, timeoutMs: 15_000 });
    assert.equal(r.code, 0, describeRun(r));
    const result = JSON.parse(r.stdout) as ScramResult;
    assert.equal(result.error, null, `${JSON.stringify(result.error)}\n${r.stderr}`);
    return { ...result, trace: r.stderr };
  }

  it("authenticates on imaps, verifies the server signature, and the session is logged in", async () => {
    const r = await scram({ mode: "ssl", user: "alice@example.test", password: "alice-secret" });
    assert.equal(r.ok, true, r.trace);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    assert.ok(r.capabilities?.includes("AUTH=SCRAM-SHA-256"), JSON.stringify(r.capabilities));
    assert.match(r.trace, /> b'\w+ AUTHENTICATE SCRAM-SHA-256'/);
    // the empty "+ " asking for the initial response, server-first, server-final
    assert.equal(r.challenges.length, 3, r.trace);
    assert.equal(r.challenges[0], "");
    assert.match(r.server_first ?? "", /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=\d+$/);
    assert.equal(r.iterations, 4096, "RFC 7677 §4 minimum");
    assert.equal(r.nonce_extends_ours, true);
    assert.match(r.server_final ?? "", /^v=[A-Za-z0-9+/=]+$/);
    assert.equal(r.server_signature_verified, true, "the server proved it knows the ServerKey");
    assert.match(r.trace, /< b'\+ dj[A-Za-z0-9+/=]+'\n.*write literal size 0\n/, "the empty final response");
    assert.equal(r.auth?.typ, "OK");
    assert.match(r.auth?.text ?? "", /^\[CAPABILITY [^\]]*\bIDLE\b[^\]]*\] /);
    assert.equal(r.select_after?.typ, "OK", r.trace);
    assert.match(r.select_after?.text ?? "", /^\[READ-WRITE\] /);
  });

  it("authenticates after STARTTLS, and in plaintext from loopback (SCRAM sends no password)", async () => {
    for (const mode of ["starttls", "plain"] as const) {
      const r = await scram({ mode, user: "bob@example.test", password: "bob-secret" });
      assert.equal(r.ok, true, `${mode}\n${r.trace}`);
      assert.equal(r.tls === null, mode === "plain");
      assert.equal(r.server_signature_verified, true);
      assert.equal(r.select_after?.typ, "OK");
    }
  });

  it("refuses a wrong password with NO [AUTHENTICATIONFAILED] after the proof (no server-final)", async () => {
    const r = await scram({ mode: "ssl", user: "alice@example.test", password: "alice-wrong" });
    assert.equal(r.ok, false);
    assert.equal(r.challenges.length, 2, r.trace);
    assert.equal(r.server_final, null);
    assert.equal(r.server_signature_verified, null);
    assert.equal(r.auth?.typ, "error");
    // imaplib raises with the text of the tagged NO
    assert.match(r.auth?.text ?? "", /^\[AUTHENTICATIONFAILED\] /, r.trace);
    assert.match(r.trace, /< b'\w+ NO \[AUTHENTICATIONFAILED\] /);
    assert.equal(r.select_after?.typ, "error");
    assert.match(r.select_after?.text ?? "", /SELECT command error: BAD /, "still not logged in");
  });

  it("answers an unknown user exactly like a wrong password (salt, 4096 iterations, then NO)", async () => {
    const r = await scram({ mode: "ssl", user: "nobody@example.test", password: "whatever" });
    assert.equal(r.ok, false);
    assert.match(r.server_first ?? "", /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=4096$/);
    assert.equal(r.challenges.length, 2, r.trace);
    assert.match(r.auth?.text ?? "", /^\[AUTHENTICATIONFAILED\] /, r.trace);
  });

  it("stays logged out when the client cancels after the server signature", async () => {
    // A client that could not verify v= (an impostor server) answers "*" instead of the empty
    // response: the exchange ends with BAD and the session is not authenticated.
    const r = await scram({
      mode: "ssl",
      user: "alice@example.test",
      password: "alice-secret",
      distrust_server: true,
    });
    assert.equal(r.ok, false);
    assert.equal(r.server_signature_verified, true, "the real signature did verify");
    // imaplib writes the response line as "literal" data: one byte, the "*"
    assert.match(
      r.trace,
      /< b'\+ [A-Za-z0-9+/=]+'\n.*write literal size 1\n/,
      "imaplib sent the cancellation",
    );
    assert.match(r.auth?.text ?? "", /AUTHENTICATE command error: BAD /, r.trace);
    assert.equal(r.select_after?.typ, "error");
    assert.match(r.select_after?.text ?? "", /SELECT command error: BAD /, r.trace);
  });
});
