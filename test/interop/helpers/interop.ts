// Shared pieces of the interop tests: running an external client with a deadline, building exact
// RFC 5322 bytes, and reading back what the store holds so a test can compare it byte for byte with
// what the client sent.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";
import type { MailStore } from "../../../src/store/types.js";
import { withoutTrace } from "../../helpers/mailbox.js";

/** The Python scripts are not compiled: from dist/test/interop/helpers back to test/interop/scripts. */
export function scriptPath(name: string): string {
  return resolve(import.meta.dirname, "../../../../test/interop/scripts", name);
}

// ---- running tools ----

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs a command to completion (killed at the deadline); never rejects for a non-zero exit. */
export function runTool(cmd: string, args: string[], opts: RunOptions = {}): Promise<ToolResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 15_000);
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.stdin.on("error", () => undefined);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({
        code,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
        timedOut,
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** A one-line summary of a run for assertion messages. */
export function describeRun(r: ToolResult): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}${r.timedOut ? " TIMED OUT" : ""}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** A temporary directory for message files, removed by the returned cleanup. */
export async function tempDir(): Promise<{
  dir: string;
  file(name: string, data: string | Buffer): Promise<string>;
  remove(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-interop-"));
  return {
    dir,
    async file(name, data) {
      const path = join(dir, name);
      await writeFile(path, data);
      return path;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

// ---- messages ----

export interface MessageSpec {
  from: string;
  to: string | string[];
  subject: string;
  body: string;
  /** extra header lines, without line endings */
  headers?: string[];
  /** a fixed Message-ID, so the bytes are fully known; default derived from the subject */
  messageId?: string;
}

/** Exact RFC 5322 bytes (CRLF everywhere, UTF-8), with Date and Message-ID fixed by the test. */
export function buildMessage(spec: MessageSpec): Buffer {
  const to = Array.isArray(spec.to) ? spec.to.join(", ") : spec.to;
  const id = spec.messageId ?? `<${spec.subject.replace(/[^A-Za-z0-9]+/g, ".")}.${process.pid}@interop.test>`;
  const lines = [
    `From: ${spec.from}`,
    `To: ${to}`,
    `Subject: ${spec.subject}`,
    "Date: Mon, 06 Jan 2025 10:00:00 +0000",
    `Message-ID: ${id}`,
    ...(spec.headers ?? []),
    "",
  ];
  const body = spec.body.replace(/\r?\n/g, "\r\n");
  return Buffer.from(`${lines.join("\r\n")}\r\n${body.endsWith("\r\n") ? body : `${body}\r\n`}`, "utf8");
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

// ---- the store ----

export interface StoredMessage {
  uid: number;
  /** trace prefix + blob, as IMAP would serve it */
  full: Buffer;
  prefix: Buffer;
  blob: Buffer;
  blobId: string;
}

export async function storedMessages(
  store: MailStore,
  address: string,
  mailbox = "INBOX",
): Promise<StoredMessage[]> {
  const account = await store.getAccount(address);
  if (!account) throw new Error(`no account ${address}`);
  const box = await store.getMailbox(account.id, mailbox);
  if (!box) throw new Error(`no mailbox ${mailbox}`);
  const out: StoredMessage[] = [];
  for (const m of await store.listMessages(box.id)) {
    const rec = await store.getMessage(box.id, m.uid);
    if (!rec) continue;
    const blob = await store.blobs.read(rec.blobId);
    out.push({
      uid: m.uid,
      full: Buffer.concat([rec.prefix, blob]),
      prefix: rec.prefix,
      blob,
      blobId: rec.blobId,
    });
  }
  return out;
}

/** A mailbox's message count now, to find the messages a case adds. */
export async function messageCount(store: MailStore, address: string): Promise<number> {
  return (await storedMessages(store, address)).length;
}

/** The messages added to a mailbox since it held `before` messages. */
export async function newMessages(
  store: MailStore,
  address: string,
  before: number,
): Promise<StoredMessage[]> {
  return (await storedMessages(store, address)).slice(before);
}

/** The header lines a trace prefix may hold (Return-Path, Delivered-To, Received, Authentication-Results). */
const TRACE_FIELD = /^(Return-Path|Delivered-To|Received|Authentication-Results):|^[ \t]/;

/**
 * Asserts that `address` got exactly one new message since `before`, whose content after the trace
 * prefix is byte-identical to `sent`; returns it for further checks.
 */
export async function assertDeliveredExactly(
  store: MailStore,
  address: string,
  before: number,
  sent: Buffer,
): Promise<StoredMessage> {
  const added = await newMessages(store, address, before);
  assert.equal(added.length, 1, `${address}: one new message expected, got ${added.length}`);
  const m = added[0]!;
  assertSameBytes(m.blob, sent, `${address}: stored content`);
  // The same through the generic reader: the prefix holds trace fields only.
  assert.equal(withoutTrace(m.full), sent.toString("utf8"));
  const prefixLines = m.prefix.toString("utf8").split("\r\n");
  assert.equal(prefixLines.pop(), "", "the trace prefix ends with CRLF");
  for (const line of prefixLines) assert.match(line, TRACE_FIELD, "only trace fields in the prefix");
  return m;
}

/** Byte equality with a readable difference (first differing offset and context). */
export function assertSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  const ctx = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 40).toString("latin1"));
  assert.fail(
    `${what}: ${actual.length} bytes stored, ${expected.length} sent; first difference at offset ${i}\n` +
      `  stored: ${ctx(actual)}\n  sent:   ${ctx(expected)}`,
  );
}

/** The Received: field of a stored copy, unfolded. */
export function receivedHeader(m: StoredMessage): string {
  const text = m.prefix.toString("utf8").replace(/\r\n[ \t]+/g, " ");
  const line = text.split("\r\n").find((l) => l.startsWith("Received:"));
  assert.ok(line, `a Received: field in ${JSON.stringify(text)}`);
  return line;
}

// ---- driving an interactive tool (openssl s_client) ----

export interface Reply {
  code: number;
  lines: string[];
  raw: string;
}

/** Reads SMTP replies from a child's stdout as they arrive (multi-line replies joined). */
export class ReplyReader {
  private buf = "";
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(stream: Readable) {
    stream.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      this.wake();
    });
    stream.on("end", () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** One complete reply; lines may end with CRLF or LF (tools differ). */
  async read(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        const raw = m[0];
        this.buf = this.buf.slice(raw.length);
        const lines = raw.split(/\r?\n/).filter(Boolean);
        return {
          code: Number(lines[lines.length - 1]!.slice(0, 3)),
          lines: lines.map((l) => l.slice(4)),
          raw,
        };
      }
      if (this.ended) throw new Error(`output ended; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; unread: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, Math.min(left, 100));
      });
    }
  }

  get unread(): string {
    return this.buf;
  }
}

/** A running interactive child with its stdout parsed as replies and its stderr collected. */
export interface Interactive {
  child: ChildProcessWithoutNullStreams;
  replies: ReplyReader;
  stderr(): string;
  send(text: string): void;
  /** closes stdin and waits for the exit (killed at the deadline) */
  finish(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnInteractive(cmd: string, args: string[], timeoutMs = 15_000): Interactive {
  const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  const err: Buffer[] = [];
  child.stderr.on("data", (d: Buffer) => err.push(d));
  child.stdin.on("error", () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once("close", (code, signal) => r({ code, signal })),
  );
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  void exited.then(() => clearTimeout(killer));
  return {
    child,
    replies: new ReplyReader(child.stdout),
    stderr: () => Buffer.concat(err).toString("utf8"),
    send(text) {
      child.stdin.write(text);
    },
    async finish(ms = 5000) {
      child.stdin.end();
      const t = setTimeout(() => child.kill("SIGKILL"), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    },
  };
}
