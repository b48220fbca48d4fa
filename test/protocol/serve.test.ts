// `postamt serve` as a process: start-up on an empty directory, /healthz and /metrics, a clean stop on
// SIGTERM, and a clear error when a port is taken.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { CLI, makeWorkdir, runCli } from "../helpers/cli.js";
import { freePort } from "../helpers/ports.js";

interface LogLine {
  level: number;
  event: string;
  msg: string;
  [k: string]: unknown;
}

function startServe(cwd: string): {
  child: ChildProcess;
  lines: LogLine[];
  waitFor(event: string): Promise<LogLine>;
} {
  const child = spawn(process.execPath, [CLI, "serve", "--log-format", "json"], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const waiters: Array<{ event: string; resolve(l: LogLine): void }> = [];
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as LogLine;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((w) => w.event === line.event)) w.resolve(line);
      nl = buf.indexOf("\n");
    }
  });
  const waitFor = (event: string) =>
    new Promise<LogLine>((resolve, reject) => {
      const seen = lines.find((l) => l.event === event);
      if (seen) return resolve(seen);
      waiters.push({ event, resolve });
      child.once("exit", (code) => reject(new Error(`serve exited (${code}) before ${event}`)));
    });
  return { child, lines, waitFor };
}

describe("postamt serve", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let port: number;
  before(async () => {
    port = await freePort();
    ({ dir, cleanup } = await makeWorkdir({ http: [`127.0.0.1:${port}`] }));
  });
  after(() => cleanup());

  it("starts on an empty directory, serves /healthz and /metrics, and stops cleanly on SIGTERM", async () => {
    const s = startServe(dir);
    const ready = await s.waitFor("server.ready");
    assert.deepEqual((ready.listeners as Record<string, string[]>).http, [`127.0.0.1:${port}`]);
    // what it did and what to do next
    assert.ok(s.lines.some((l) => l.event === "data.created"));
    assert.ok(s.lines.some((l) => l.event === "tls.generated"));
    const next = await s.waitFor("server.next-steps");
    assert.match(next.msg, /postamt domain add/);
    // the generated certificate is real and names the host
    const cert = new X509Certificate(readFileSync(join(dir, "data", "tls", "selfsigned-cert.pem")));
    assert.match(cert.subjectAltName ?? "", /DNS:mail\.example\.test/);

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, "ok");
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /postamt_store_operation_seconds_bucket\{le="[^"]+",op="schemaVersion"\}/);
    assert.match(metrics, /postamt_connections_total\{listener="http"\} \d+/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);

    // An admin command works against the same data while the server runs.
    const r = await runCli(["domain", "add", "live.test"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);

    const exited = new Promise<number | null>((resolve) => s.child.once("exit", (code) => resolve(code)));
    s.child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.ok(s.lines.some((l) => l.event === "server.stop"));
    const db = new Database(join(dir, "data", "postamt.db"), { readonly: true });
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }) as string, "ok");
    } finally {
      db.close();
    }
  });

  it("says which listener cannot bind a port in use, and how to change it", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      const r = await runCli(["serve", "--log-format", "json"], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /listener http cannot bind 127\.0\.0\.1:\d+: the address is already in use/);
      assert.match(r.stderr, /listen\.http/);
    } finally {
      blocker.close();
    }
  });

  it("refuses to start with a broken config and touches no data", async () => {
    const w = await makeWorkdir({ http: ["127.0.0.1:70000"] });
    try {
      const r = await runCli(["serve"], { cwd: w.dir });
      assert.equal(r.code, 78);
      assert.match(r.stderr, /listen\.http/);
      assert.equal(existsSync(join(w.dir, "data")), false);
    } finally {
      await w.cleanup();
    }
  });
});
