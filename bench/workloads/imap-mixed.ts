// imap-mixed (issue 6, workload 2): C concurrent IMAP clients (default 20, BENCH_MIXED_CLIENTS), each
// logged in to its own account whose INBOX holds M messages (default 1,000, BENCH_MIXED_MESSAGES; the
// same seeded messages on both servers), run a realistic mix of commands with zero think time, one
// command at a time per client, for a fixed duration (BENCH_MIXED_SECONDS, default 20) after an untimed
// warm-up (BENCH_MIXED_WARMUP, default 3 s), or for a fixed number of commands (BENCH_MIXED_OPS). The
// figure is completed commands/second over all clients (a NO or BAD counts as an error, not as a
// command); every command's latency is kept and the workload prints p50/p99 per command. Appends, copies (to Archive) and expunges keep the INBOX about steady.
// Loading is not timed (Postamt: MULTIAPPEND; Dovecot: Maildir files, indexed at the untimed first
// SELECT). LOGIN is not part of the mix: the two servers' password schemes differ (Dovecot's {PLAIN}
// passwd-file vs Postamt's scrypt). BENCH_MIXED_PROFILE=DIR runs Postamt under `node --cpu-prof` into DIR
// and writes DIR/window-<pid>.json with the timed part, for bench/lib/cpuprofile-top.ts.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { startDovecot } from "../lib/dovecot.js";
import { type ConnResult, ImapConn, quote } from "../lib/imap-conn.js";
import { TOOLS } from "../lib/install.js";
import {
  type GenMessage,
  imapDate,
  loadDovecot,
  loadPostamt,
  mailbox,
  makeMessage,
  NAMES,
  prng,
  TOPICS,
} from "../lib/mailgen.js";
import { type BenchUser, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { log, sleep } from "../lib/proc.js";
import { processTree, treeCpuSeconds } from "../lib/procfs.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const SEED = 0x6d1c_ed;
const DOMAIN = "bench.test";
const HEADER_PAGE = 25;

function envInt(name: string, fallback: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: must be an integer ≥ ${min}`);
  return n;
}

/** The mix: weight of each operation; "delete" is two commands (STORE +FLAGS \Deleted, UID EXPUNGE). */
const MIX = [
  ["fetch-headers", 20],
  ["fetch-body", 14],
  ["fetch-text", 5],
  ["store-seen", 10],
  ["store-unseen", 7],
  ["search-unseen", 8],
  ["search-from", 6],
  ["search-text", 3],
  ["append", 7],
  ["copy", 4],
  ["delete", 7],
  ["select", 3],
  ["noop", 6],
] as const;
type OpName = (typeof MIX)[number][0];
const MIX_TOTAL = MIX.reduce((n, [, w]) => n + w, 0);

/** The commands as reported (a "delete" operation reports two). */
const COMMANDS = {
  "fetch-headers": `UID FETCH (${HEADER_PAGE} msgs) BODY.PEEK[HEADER.FIELDS (…)]`,
  "fetch-body": "UID FETCH <uid> BODY.PEEK[]",
  "fetch-text": "UID FETCH <uid> BODY[TEXT]",
  "store-seen": "UID STORE <uid> +FLAGS (\\Seen)",
  "store-unseen": "UID STORE <uid> -FLAGS (\\Seen)",
  "store-deleted": "UID STORE <uid> +FLAGS.SILENT (\\Deleted)",
  expunge: "UID EXPUNGE <uid>",
  "search-unseen": "UID SEARCH UNSEEN",
  "search-from": 'UID SEARCH FROM "<name>"',
  "search-text": 'UID SEARCH TEXT "<word>"',
  append: "APPEND INBOX (2–6 KB)",
  copy: "UID COPY <uid> Archive",
  select: "SELECT INBOX",
  noop: "NOOP",
} as const;
type CommandName = keyof typeof COMMANDS;

interface MixedParams {
  clients: number;
  messages: number;
  seconds: number;
  warmup: number;
  /** 0: run for `seconds`; otherwise stop after this many commands (over all clients) */
  ops: number;
}

const users = (n: number): BenchUser[] =>
  Array.from({ length: n }, (_, i) => ({
    address: `mix${i + 1}@${DOMAIN}`,
    password: `mix-password-${i + 1}`,
  }));

/** Shared between the clients of one run: whether commands count yet, and when to stop. */
class Control {
  recording = false;
  stop = false;
  /** commands still to count in op-count mode (Infinity in duration mode) */
  remaining = Number.POSITIVE_INFINITY;
  recordedEnd = 0n;
  readonly latencies = new Map<CommandName, number[]>();
  errors = 0;
  readonly errorSamples: string[] = [];

  error(name: CommandName, text: string): void {
    this.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(`${COMMANDS[name]}: ${text}`);
  }

  /** Counts an OK command while recording; a NO or BAD is counted as an error only. */
  record(name: CommandName, r: ConnResult): void {
    if (r.status !== "OK") {
      this.error(name, `${r.status} ${r.text}`);
      return;
    }
    if (!this.recording) return;
    let xs = this.latencies.get(name);
    if (!xs) {
      xs = [];
      this.latencies.set(name, xs);
    }
    xs.push(r.ms);
    if (--this.remaining <= 0) {
      this.recording = false;
      this.stop = true;
      this.recordedEnd = process.hrtime.bigint();
    }
  }
}

class MixedClient {
  private uids: number[] = [];
  private readonly appendPool: GenMessage[];
  private appended = 0;

  private constructor(
    private readonly conn: ImapConn,
    private readonly rnd: () => number,
    user: BenchUser,
    index: number,
  ) {
    const r = prng(SEED ^ (index * 104_729));
    this.appendPool = Array.from({ length: 16 }, (_, k) =>
      makeMessage(r, user.address, 2048 + Math.floor(r() * 4096), `append.${index}.${k}`),
    );
  }

  static async open(port: number, user: BenchUser, index: number, expected: number): Promise<MixedClient> {
    const conn = await ImapConn.connect(port);
    await conn.login(user.address, user.password);
    const c = new MixedClient(conn, prng(SEED + index), user, index);
    const sel = await conn.command("SELECT INBOX", { capture: true });
    if (sel.status !== "OK") throw new Error(`SELECT for ${user.address}: ${sel.status} ${sel.text}`);
    const exists = Number(sel.untagged.find((l) => l.endsWith(" EXISTS"))?.split(" ")[0] ?? -1);
    if (exists !== expected)
      throw new Error(`${user.address}: INBOX has ${exists} messages, expected ${expected}`);
    const all = await conn.command("UID SEARCH ALL", { capture: true });
    c.uids = searchUids(all.untagged);
    if (c.uids.length !== expected)
      throw new Error(`${user.address}: UID SEARCH ALL gave ${c.uids.length} UIDs`);
    return c;
  }

  close(): Promise<void> {
    return this.conn.logout();
  }

  private pickOp(): OpName {
    let x = this.rnd() * MIX_TOTAL;
    for (const [name, w] of MIX) {
      x -= w;
      if (x < 0) return name;
    }
    return "noop";
  }

  private uid(): number {
    return this.uids[Math.floor(this.rnd() * this.uids.length)]!;
  }

  async run(ctl: Control): Promise<void> {
    while (!ctl.stop) await this.step(ctl);
  }

  private async step(ctl: Control): Promise<void> {
    const c = this.conn;
    const rec = (name: CommandName, r: ConnResult) => {
      ctl.record(name, r);
      return r;
    };
    let op = this.pickOp();
    if (op === "delete" && this.uids.length < HEADER_PAGE * 2) op = "append";
    switch (op) {
      case "fetch-headers": {
        const i = Math.floor(this.rnd() * Math.max(1, this.uids.length - HEADER_PAGE));
        const last = this.uids[Math.min(i + HEADER_PAGE, this.uids.length) - 1]!;
        const r = await c.command(
          `UID FETCH ${this.uids[i]}:${last} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)])`,
        );
        rec(op, r);
        if (r.status === "OK" && r.literalBytes === 0) ctl.error(op, "no headers returned");
        return;
      }
      case "fetch-body":
      case "fetch-text": {
        const r = await c.command(
          `UID FETCH ${this.uid()} (${op === "fetch-body" ? "BODY.PEEK[]" : "BODY[TEXT]"})`,
        );
        rec(op, r);
        if (r.status === "OK" && r.literalBytes < 200)
          ctl.error(op, `only ${r.literalBytes} octets returned`);
        return;
      }
      case "store-seen":
        rec(op, await c.command(`UID STORE ${this.uid()} +FLAGS (\\Seen)`));
        return;
      case "store-unseen":
        rec(op, await c.command(`UID STORE ${this.uid()} -FLAGS (\\Seen)`));
        return;
      case "search-unseen":
        rec(op, await c.command("UID SEARCH UNSEEN"));
        return;
      case "search-from":
        rec(op, await c.command(`UID SEARCH FROM ${quote(NAMES[Math.floor(this.rnd() * NAMES.length)]!)}`));
        return;
      case "search-text":
        rec(op, await c.command(`UID SEARCH TEXT ${quote(TOPICS[Math.floor(this.rnd() * TOPICS.length)]!)}`));
        return;
      case "append": {
        const m = this.appendPool[this.appended++ % this.appendPool.length]!;
        const r = rec(
          op,
          await c.command([`APPEND INBOX () "${imapDate(m.time)}" {${m.bytes.length}+}\r\n`, m.bytes]),
        );
        const uid = /\[APPENDUID \d+ (\d+)\]/i.exec(r.text)?.[1];
        if (uid) this.uids.push(Number(uid));
        return;
      }
      case "copy":
        rec(op, await c.command(`UID COPY ${this.uid()} Archive`));
        return;
      case "delete": {
        const i = Math.floor(this.rnd() * this.uids.length);
        const [uid] = this.uids.splice(i, 1);
        rec("store-deleted", await c.command(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`));
        if (ctl.stop) return;
        rec("expunge", await c.command(`UID EXPUNGE ${uid}`));
        return;
      }
      case "select":
        rec(op, await c.command("SELECT INBOX"));
        return;
      case "noop":
        rec(op, await c.command("NOOP"));
        return;
    }
  }

  get size(): number {
    return this.uids.length;
  }
}

function searchUids(untagged: string[]): number[] {
  const out: number[] = [];
  for (const l of untagged) {
    if (!l.startsWith("SEARCH")) continue;
    for (const n of l.slice(6).trim().split(/\s+/)) if (n) out.push(Number(n));
  }
  return out.sort((a, b) => a - b);
}

/** nearest-rank percentile */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---------------------------------------------------------------- per-command summary

interface RoundStats {
  opsPerSecond: number;
  perCommand: Partial<Record<CommandName, { count: number; p50: number; p99: number }>>;
}
const history: Record<string, RoundStats[]> = {};

function summary(): void {
  const p = history["postamt"] ?? [];
  const d = history["dovecot"] ?? [];
  if (p.length === 0 || d.length === 0) return;
  const f = (x: number) => (Number.isNaN(x) ? "-" : x < 10 ? x.toFixed(2) : x.toFixed(1));
  const stat = (rs: RoundStats[], name: CommandName, k: "p50" | "p99" | "count") =>
    median(rs.map((r) => r.perCommand[name]?.[k] ?? Number.NaN));
  const rows: string[][] = [["command", "postamt n", "p50", "p99", "dovecot n", "p50", "p99", "p50 D/P"]];
  for (const name of Object.keys(COMMANDS) as CommandName[]) {
    const pp50 = stat(p, name, "p50");
    const dp50 = stat(d, name, "p50");
    rows.push([
      COMMANDS[name],
      String(stat(p, name, "count")),
      f(pp50),
      f(stat(p, name, "p99")),
      String(stat(d, name, "count")),
      f(dp50),
      f(stat(d, name, "p99")),
      `${(dp50 / pp50).toFixed(2)}×`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const pOps = median(p.map((r) => r.opsPerSecond));
  const dOps = median(d.map((r) => r.opsPerSecond));
  log(
    [
      `imap-mixed: ${pOps.toFixed(1)} vs ${dOps.toFixed(1)} commands/s (Postamt / Dovecot ${(pOps / dOps).toFixed(2)}×, ${p.length}/${d.length} rounds)`,
      "per-command latency, ms (median over rounds of each round's p50 / p99; n = commands per round; D/P above 1: Postamt faster):",
      line(rows[0]!),
      ...rows.slice(1).map(line),
    ].join("\n"),
  );
}

// ---------------------------------------------------------------- one run

async function measure(
  server: RunningPeer,
  p: MixedParams,
  accounts: BenchUser[],
  profileDir: string | null,
): Promise<Sample> {
  const port = server.ports.imap;
  if (!port) throw new Error(`${server.name} has no IMAP listener`);
  const t0 = Date.now();
  const mail = (i: number) => mailbox(SEED, i, accounts[i]!.address, p.messages);
  if (server.name === "postamt") await loadPostamt(server, accounts, mail);
  else await loadDovecot(server, accounts, mail);
  log(
    `imap-mixed: ${p.clients} × ${p.messages} messages loaded into ${server.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s (not timed)`,
  );
  const clients = await Promise.all(accounts.map((u, i) => MixedClient.open(port, u, i, p.messages)));
  try {
    const ctl = new Control();
    const running = clients.map((c) => c.run(ctl));
    await sleep(p.warmup * 1000);
    const roots = await server.pids();
    const cpu0 = await treeCpuSeconds(roots);
    const me0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    ctl.recording = true;
    if (p.ops > 0) ctl.remaining = p.ops;
    else {
      await sleep(p.seconds * 1000);
      ctl.recording = false;
      ctl.stop = true;
      ctl.recordedEnd = process.hrtime.bigint();
    }
    await Promise.all(running);
    const seconds = Number(ctl.recordedEnd - start) / 1e9;
    const serverCpu = (await treeCpuSeconds(roots)) - cpu0;
    const me = process.cpuUsage(me0);
    const processes = (await processTree(roots)).length;
    if (server.name === "postamt" && profileDir) {
      const [pid] = roots;
      await writeFile(
        join(profileDir, `window-${pid}.json`),
        `${JSON.stringify({ ...p, pid, startUs: Number(start / 1000n), endUs: Number(ctl.recordedEnd / 1000n), seconds })}\n`,
      );
    }

    let ops = 0;
    const perCommand: RoundStats["perCommand"] = {};
    const extra: Record<string, number> = {};
    for (const name of Object.keys(COMMANDS) as CommandName[]) {
      const xs = ctl.latencies.get(name) ?? [];
      ops += xs.length;
      const s = { count: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99) };
      perCommand[name] = s;
      extra[`${name}.count`] = s.count;
      extra[`${name}.p50Ms`] = s.p50;
      extra[`${name}.p99Ms`] = s.p99;
    }
    const all = [...ctl.latencies.values()].flat();
    const opsPerSecond = ops / seconds;
    const rounds = history[server.name] ?? [];
    history[server.name] = rounds;
    rounds.push({ opsPerSecond, perCommand });
    if (ctl.errors > 0) {
      log(
        `imap-mixed: WARNING ${server.name}: ${ctl.errors} commands failed, e.g. ${ctl.errorSamples.join("; ")}`,
      );
    }
    const sizes = clients.map((c) => c.size);
    log(
      `imap-mixed ${server.name}: ${ops} commands in ${seconds.toFixed(2)} s = ${opsPerSecond.toFixed(1)}/s, ` +
        `p50 ${percentile(all, 50).toFixed(2)} ms, p99 ${percentile(all, 99).toFixed(2)} ms; ` +
        `server CPU ${((serverCpu / seconds) * 100).toFixed(0)}% (${processes} processes), client CPU ${(((me.user + me.system) / 1e6 / seconds) * 100).toFixed(0)}%; ` +
        `INBOX sizes ${Math.min(...sizes)}–${Math.max(...sizes)}`,
    );
    if (server.name !== "postamt") summary();
    return {
      value: opsPerSecond,
      seconds,
      extra: {
        commands: ops,
        errors: ctl.errors,
        p50Ms: percentile(all, 50),
        p99Ms: percentile(all, 99),
        serverCpuPercent: (serverCpu / seconds) * 100,
        clientCpuPercent: ((me.user + me.system) / 1e6 / seconds) * 100,
        serverProcesses: processes,
        minInboxSize: Math.min(...sizes),
        maxInboxSize: Math.max(...sizes),
        ...extra,
      },
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

export const imapMixed: Workload = {
  name: "imap-mixed",
  description:
    "C concurrent IMAP clients, one account each, a mix of FETCH/STORE/SEARCH/APPEND/COPY/EXPUNGE with zero think time: commands/s and per-command p50/p99 (Postamt vs Dovecot)",
  tools: [TOOLS.dovecot],
  cases() {
    const p: MixedParams = {
      clients: envInt("BENCH_MIXED_CLIENTS", 20),
      messages: envInt("BENCH_MIXED_MESSAGES", 1000, HEADER_PAGE * 2),
      seconds: envInt("BENCH_MIXED_SECONDS", 20),
      warmup: envInt("BENCH_MIXED_WARMUP", 3, 0),
      ops: envInt("BENCH_MIXED_OPS", 0, 0),
    };
    const accounts = users(p.clients);
    const profileDir = process.env["BENCH_MIXED_PROFILE"]
      ? resolve(process.env["BENCH_MIXED_PROFILE"])
      : null;
    const c: Case = {
      label: `${p.clients} clients × ${p.messages} msgs, ${p.ops > 0 ? `${p.ops} commands` : `${p.seconds} s`}`,
      params: { ...p, mix: MIX.map(([n, w]) => `${n}:${w}`).join(" ") },
      unit: "cmd/s",
      peer: "dovecot",
      async start(which) {
        if (which !== "postamt") return startDovecot({ users: accounts, imap: true });
        if (!profileDir) return startPostamt({ users: accounts, imap: true });
        await mkdir(profileDir, { recursive: true });
        return startPostamt({
          users: accounts,
          imap: true,
          nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profileDir],
        });
      },
      measure: (server) => measure(server, p, accounts, profileDir),
    };
    return [c];
  },
};
