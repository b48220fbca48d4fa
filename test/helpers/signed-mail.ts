// Shared pieces of the inbound-authentication e2e tests: messages signed by dkimpy (Debian's
// python3-dkim, a signer that shares no code with Postamt or mailauth), an independent SMTP client
// (Python's smtplib, bound to a chosen loopback source address so the server sees "another" IP), and
// reading back the Authentication-Results fields a stored message carries.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type ParsedAuthResults,
  type ParsedResInfo,
  parseAuthResults,
} from "../../src/security/auth-results.js";
import { runTool } from "../interop/helpers/interop.js";

// ---- messages ----

let serial = 0;

export interface MailParts {
  from: string;
  to?: string;
  subject?: string;
  body?: string;
  /** extra header lines (CRLF-joined, no final CRLF) placed after Message-ID */
  extra?: string;
  /** extra header lines placed first, before From: */
  top?: string;
  /** default: now */
  date?: Date;
}

/** An RFC 5322 message as CRLF text, with a unique Message-ID (returned too). */
export function buildMail(p: MailParts): { text: string; messageId: string } {
  const messageId = `<e2e-${process.pid}-${++serial}-${Date.now().toString(36)}@inbound.test>`;
  const lines = [
    ...(p.top ? [p.top] : []),
    `From: ${p.from}`,
    `To: ${p.to ?? "Bob <bob@example.test>"}`,
    `Subject: ${p.subject ?? "Quarterly numbers"}`,
    `Date: ${(p.date ?? new Date()).toUTCString().replace(/GMT$/, "+0000")}`,
    `Message-ID: ${messageId}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    ...(p.extra ? [p.extra] : []),
    "",
    p.body ?? "Hello Bob,\r\n\r\nthe numbers are in and they look fine.\r\n\r\nAlice\r\n",
  ];
  return { text: lines.join("\r\n"), messageId };
}

// ---- DKIM keys and dkimpy ----

export interface DkimKeys {
  /** selector → TXT record to publish at <selector>._domainkey.<domain> */
  records: Record<string, string>;
  rsaFile: string;
  edFile: string;
}

/** An RSA (selector "py") and an Ed25519 (selector "pyed") key pair, written for dkimpy to read. */
export async function makeDkimKeys(dir: string): Promise<DkimKeys> {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ed = generateKeyPairSync("ed25519");
  const rsaFile = join(dir, "py.pem");
  const edFile = join(dir, "pyed.key");
  await writeFile(rsaFile, rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString());
  // dkimpy reads an Ed25519 private key as the base64 of its 32-byte seed (RFC 8463 §3)
  await writeFile(
    edFile,
    ed.privateKey.export({ type: "pkcs8", format: "der" }).subarray(-32).toString("base64"),
  );
  return {
    rsaFile,
    edFile,
    records: {
      py: `v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: "spki", format: "der" }).toString("base64")}`,
      pyed: `v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: "spki", format: "der" }).subarray(-32).toString("base64")}`,
    },
  };
}

/** dkimpy: argv key-file selector domain algorithm; the message on stdin; the field on stdout. */
const DKIMPY_SIGN = `
import sys, dkim
key = open(sys.argv[1], "rb").read()
msg = sys.stdin.buffer.read()
sig = dkim.sign(msg, sys.argv[2].encode(), sys.argv[3].encode(), key,
                canonicalize=(b"relaxed", b"simple"),
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
                signature_algorithm=sys.argv[4].encode())
sys.stdout.buffer.write(sig)
`;

/** The message with a dkimpy DKIM-Signature field prepended (RSA with selector py, Ed25519 with pyed). */
export async function dkimpySign(
  python: string,
  keys: DkimKeys,
  message: string,
  domain: string,
  algorithm: "rsa-sha256" | "ed25519-sha256" = "rsa-sha256",
): Promise<string> {
  const [file, selector] = algorithm === "rsa-sha256" ? [keys.rsaFile, "py"] : [keys.edFile, "pyed"];
  const r = await runTool(python, ["-c", DKIMPY_SIGN, file, selector, domain, algorithm], { input: message });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^DKIM-Signature: /);
  return r.stdout + message;
}

// ---- an independent SMTP client: Python's smtplib ----

const SESSION_PY = `
import base64, json, smtplib, sys
job = json.load(sys.stdin)
out = {"connect": None, "ehlo": None, "mail": None, "rcpt": [], "data": None, "error": None}
def t(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)
try:
    c = smtplib.SMTP(local_hostname=job["helo"], timeout=job.get("timeout", 20), source_address=(job["source"], 0))
    code, msg = c.connect(job["host"], job["port"])
    out["connect"] = [code, t(msg)]
    code, msg = c.ehlo()
    out["ehlo"] = [code, t(msg)]
    code, msg = c.mail(job["from"])
    out["mail"] = [code, t(msg)]
    if code == 250:
        accepted = False
        for r in job["rcpts"]:
            code, msg = c.rcpt(r)
            out["rcpt"].append([code, t(msg)])
            accepted = accepted or code in (250, 251)
        if accepted and job.get("message_b64") is not None:
            code, msg = c.data(base64.b64decode(job["message_b64"]))
            out["data"] = [code, t(msg)]
    c.quit()
except Exception as e:
    out["error"] = type(e).__name__ + ": " + str(e)
json.dump(out, sys.stdout)
`;

export type Reply = [code: number, text: string];

export interface SessionResult {
  connect: Reply | null;
  ehlo: Reply | null;
  mail: Reply | null;
  rcpt: Reply[];
  data: Reply | null;
  error: string | null;
}

export interface SessionJob {
  port: number;
  host?: string;
  /** the client's address (any 127.0.0.0/8 address works on Linux); default 127.0.0.1 */
  source?: string;
  helo?: string;
  /** "" = the null sender */
  from: string;
  rcpts: string[];
  /** the message (sent with DATA, smtplib dot-stuffs it) or null to stop after RCPT */
  message: string | Buffer | null;
}

/** One SMTP transaction with smtplib: EHLO, MAIL, each RCPT, DATA; every reply as the server sent it. */
export async function smtplibSession(job: SessionJob): Promise<SessionResult> {
  const input = JSON.stringify({
    host: job.host ?? "127.0.0.1",
    port: job.port,
    source: job.source ?? "127.0.0.1",
    helo: job.helo ?? "client.sender.test",
    from: job.from,
    rcpts: job.rcpts,
    message_b64: job.message === null ? null : Buffer.from(job.message).toString("base64"),
  });
  const r = await runTool("python3", ["-c", SESSION_PY], { input, timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as SessionResult;
  return out;
}

/** The reply as "code text" (smtplib joins the lines of a multi-line reply with \n). */
export function replyText(r: Reply | null): string {
  return r ? `${r[0]} ${r[1]}` : "(no reply)";
}

// ---- reading stored messages ----

/** The header section of a message (up to the empty line), as text. */
export function headerSection(raw: Buffer | string): string {
  const text = Buffer.isBuffer(raw) ? raw.toString("utf8") : raw;
  const end = text.indexOf("\r\n\r\n");
  return end < 0 ? text : text.slice(0, end + 2);
}

/** The unfolded values of every field with this name in the top-level header, in order. */
export function fieldValues(raw: Buffer | string, name: string): string[] {
  const unfolded = headerSection(raw).replace(/\r\n(?=[ \t])/g, "");
  const out: string[] = [];
  const re = new RegExp(`^${name.replace(/[-]/g, "\\-")}[ \\t]*:(.*)$`, "gim");
  for (const m of unfolded.matchAll(re)) out.push(m[1]!.replace(/\r$/, ""));
  return out;
}

/** Every Authentication-Results field of the top-level header, parsed (asserts each parses). */
export function authResultsFields(raw: Buffer | string): ParsedAuthResults[] {
  return fieldValues(raw, "Authentication-Results").map((v) => {
    const p = parseAuthResults(v);
    assert.ok(p, `Authentication-Results does not parse: ${v}`);
    return p;
  });
}

/** The one Authentication-Results field with this authserv-id (asserts there is exactly one). */
export function ourAuthResults(raw: Buffer | string, authservId: string): ParsedAuthResults {
  const all = authResultsFields(raw);
  const ours = all.filter((a) => a.authservId.toLowerCase() === authservId);
  assert.equal(
    ours.length,
    1,
    `expected one Authentication-Results by ${authservId}, found ${ours.length}:\n${headerSection(raw)}`,
  );
  return ours[0]!;
}

/** The results of one method, in header order. */
export function results(ar: ParsedAuthResults, method: string): ParsedResInfo[] {
  return ar.results.filter((r) => r.method === method);
}

/** method → result of the first resinfo of each method, e.g. { spf: "pass", dkim: "pass", … } */
export function summary(ar: ParsedAuthResults): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of ar.results) out[r.method] ??= r.result;
  return out;
}

export function prop(r: ParsedResInfo | undefined, name: string): string | undefined {
  return r?.props.find(([k]) => k === name)?.[1];
}
