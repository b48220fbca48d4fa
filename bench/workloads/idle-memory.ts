// idle-memory (issue 6, workload 4): N logged-in IMAP connections in IDLE (BENCH_IDLE_COUNTS, default
// "1000,10000", one case each), spread round-robin over K accounts (BENCH_IDLE_ACCOUNTS, default 10)
// whose INBOX holds M messages (BENCH_IDLE_MESSAGES, default 100; the same on both servers). Two figures:
//  - memory per connection = (server memory with N idlers − before) / N, "before" being the server after
//    loading and one untimed SELECT per account, with no client connected. Memory is the sum over the
//    server's process tree of Pss (/proc/<pid>/smaps_rollup: shared pages divided among their sharers);
//    the VmRSS sum is kept too. The runner's figure is connections per MiB of Pss (higher is better, so
//    its ratio Postamt / Dovecot above 1 means Postamt needs less memory per idler).
//  - fan-out time: one message delivered to all K accounts in one transaction (Postamt: SMTP to its MX
//    listener; Dovecot: LMTP, its delivery protocol, as Postfix would hand mail over), from the write of
//    the end-of-data dot until the "* n EXISTS" has reached every idler; BENCH_IDLE_DELIVERIES (default 3)
//    deliveries a second apart, the round's figure is their median.
// One process (this one) holds all N client sockets: raw node:net, no IMAP library. The fd limit of
// this process is raised with `prlimit --pid` (Node cannot call setrlimit), so the servers started
// afterwards inherit it. Logins: Postamt through AUTHENTICATE SCRAM-SHA-256 (server-side an HMAC; the
// client derives the salted password once per account), Dovecot through LOGIN against its {PLAIN}
// passwd-file: login cost is not what is measured. Dovecot runs as shipped, one imap process per
// connection (client_limit = 1, process_limit raised to N), so N = 10,000 means 10,000 imap processes
// (about 5 GiB of Pss; the run checks MemAvailable first). BENCH_IDLE_DOVECOT_PROCS caps the processes:
// above it each imap process serves ceil(N / cap) connections (client_limit, service_count = 0), which
// the case label says; but then Dovecot 2.3 wakes only one IDLE session per process and mailbox path at
// once (the others see the mail at the next mailbox_idle_check_interval, 30 s), so the fan-out figure
// is not comparable in that mode. Each imap process needs an inotify instance for IDLE; if
// fs.inotify.max_user_instances is lower than that, it is raised for the run and restored afterwards.
import { readFile, writeFile } from "node:fs/promises";
import { startDovecot } from "../lib/dovecot.js";
import { ImapConn } from "../lib/imap-conn.js";
import { TOOLS, type Tool } from "../lib/install.js";
import { loadDovecot, loadPostamt, mailbox, makeMessage, prng } from "../lib/mailgen.js";
import { type BenchUser, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { log, onCleanup, run, sleep } from "../lib/proc.js";
import { nofileLimit, type TreeMemory, treeMemory } from "../lib/procfs.js";
import { SmtpSession } from "../lib/smtp-send.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const SEED = 0x1d1e_5eed;
const DOMAIN = "bench.test";
const LMTP: Tool = { path: "/usr/lib/dovecot/lmtp", pkg: "dovecot-lmtpd" };
/** connections per loopback source address before the next one (127.0.0.2, …) is used */
const PER_SOURCE = 20_000;

function envInt(name: string, fallback: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: must be an integer ≥ ${min}`);
  return n;
}

interface IdleParams {
  idlers: number;
  accounts: number;
  messages: number;
  deliveries: number;
  /** connection set-ups (connect, login, SELECT, IDLE) in flight at once */
  concurrency: number;
  /** Dovecot: connections per imap process */
  dovecotClientLimit: number;
  settleSeconds: number;
}

const users = (n: number): BenchUser[] =>
  Array.from({ length: n }, (_, i) => ({
    address: `idle${i + 1}@${DOMAIN}`,
    password: `idle-password-${i + 1}`,
  }));

// ---------------------------------------------------------------- limits

/** Raises this process's RLIMIT_NOFILE (soft and hard) to at least `need`; children inherit it. */
async function ensureNofile(need: number): Promise<void> {
  const cur = await nofileLimit();
  if (cur.soft >= need) return;
  // the soft limit up to the hard one is always allowed; beyond that the hard one must go up (root)
  const v = cur.hard >= need ? `${cur.hard}:${cur.hard}` : `${need}:${need}`;
  const r = await run("prlimit", ["--pid", String(process.pid), `--nofile=${v}`], { check: false });
  const now = await nofileLimit();
  if (now.soft < need) {
    throw new Error(
      `cannot raise the open-file limit to ${need} (now ${now.soft}): ${r.stderr.trim()}; run as root`,
    );
  }
  log(`idle-memory: open-file limit raised from ${cur.soft} to ${now.soft} (prlimit --pid ${process.pid})`);
}

const INOTIFY = "/proc/sys/fs/inotify/max_user_instances";
let inotifyRestore: string | null = null;

/** Dovecot's imap processes (all one uid) each take an inotify instance for IDLE. */
async function ensureInotify(need: number): Promise<void> {
  const cur = Number((await readFile(INOTIFY, "utf8").catch(() => "0")).trim());
  if (cur >= need) return;
  try {
    await writeFile(INOTIFY, `${need}\n`);
  } catch (err) {
    log(
      `idle-memory: WARNING ${INOTIFY} is ${cur} and cannot be raised (${(err as Error).message}); Dovecot's imap processes beyond it fall back to polling every mailbox_idle_check_interval (30 s)`,
    );
    return;
  }
  if (inotifyRestore === null) {
    inotifyRestore = String(cur);
    onCleanup(async () => {
      await writeFile(INOTIFY, `${inotifyRestore}\n`).catch(() => {});
      log(`idle-memory: ${INOTIFY} restored to ${inotifyRestore}`);
    });
  }
  log(`idle-memory: ${INOTIFY} raised from ${cur} to ${need} for the run`);
}

/** About 0.5 MiB of Pss per Dovecot imap process was measured, plus the kernel's share: ask for
 * 1 MiB each and 2 GiB to spare before forking that many. */
async function ensureMemory(processes: number): Promise<void> {
  const info = await readFile("/proc/meminfo", "utf8");
  const availKiB = Number(/^MemAvailable:\s+(\d+) kB/m.exec(info)?.[1] ?? 0);
  const needKiB = processes * 1024 + 2 * 1024 * 1024;
  if (availKiB < needKiB) {
    throw new Error(
      `Dovecot with ${processes} imap processes needs about ${Math.round(needKiB / 1024)} MiB, ${Math.round(availKiB / 1024)} MiB available: ` +
        "lower BENCH_IDLE_COUNTS, or set BENCH_IDLE_DOVECOT_PROCS to put several connections in one imap process",
    );
  }
}

function dovecotSettings(p: IdleParams): string[] {
  const procs = Math.ceil(p.idlers / p.dovecotClientLimit);
  return [
    // every service without its own client_limit (anvil, auth, stats, imap-login, …) must take one
    // connection per imap process and per login
    `default_client_limit = ${p.idlers + 1000}`,
    "service imap {",
    `  process_limit = ${procs + 100}`,
    `  client_limit = ${p.dovecotClientLimit}`,
    // as shipped service_count = 1: a process stops taking connections after its first one, whatever
    // client_limit says; 0 lets it fill up to client_limit
    ...(p.dovecotClientLimit > 1 ? ["  service_count = 0"] : []),
    "}",
    "service imap-login {",
    "  process_limit = 200",
    "}",
    "protocol imap {",
    `  mail_max_userip_connections = ${p.idlers + 100}`,
    "}",
  ];
}

// ---------------------------------------------------------------- the idlers

class Idlers {
  readonly conns: ImapConn[] = [];
  /** EXISTS each idler waits for, and when it came (hrtime ms, 0 = not yet) */
  private target: Int32Array;
  private got: Float64Array;
  private received = 0;
  private waiting: (() => void) | null = null;

  constructor(private readonly n: number) {
    this.target = new Int32Array(n);
    this.got = new Float64Array(n);
  }

  /** connect, log in, SELECT INBOX, IDLE: `concurrency` at a time */
  async open(server: RunningPeer, p: IdleParams, accounts: BenchUser[]): Promise<number> {
    const port = server.ports.imap!;
    const sources = Math.ceil(this.n / PER_SOURCE);
    const scram = server.name === "postamt";
    let next = 0;
    const start = Date.now();
    const setup = async (i: number) => {
      const user = accounts[i % accounts.length]!;
      const c = await ImapConn.connect(port, {
        localAddress: sources > 1 ? `127.0.0.${1 + (i % sources)}` : undefined,
        timeoutMs: 120_000,
      });
      this.conns[i] = c;
      if (scram) await c.authenticateScram(user.address, user.password);
      else await c.login(user.address, user.password);
      const sel = await c.command("SELECT INBOX", { capture: true });
      if (sel.status !== "OK") throw new Error(`SELECT for ${user.address}: ${sel.status} ${sel.text}`);
      const exists = Number(sel.untagged.find((l) => l.endsWith(" EXISTS"))?.split(" ")[0] ?? -1);
      if (exists !== p.messages)
        throw new Error(`${user.address}: INBOX has ${exists} messages, expected ${p.messages}`);
      this.target[i] = exists + 1;
      c.onUntagged = (text) => {
        if (this.got[i] !== 0 || !text.endsWith(" EXISTS")) return;
        if (Number.parseInt(text, 10) >= this.target[i]!) {
          this.got[i] = performance.now();
          if (++this.received === this.n) this.waiting?.();
        }
      };
      await c.idle();
    };
    let lastLog = Date.now();
    const worker = async () => {
      for (let i = next++; i < this.n; i = next++) {
        await setup(i);
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(`idle-memory: ${next} of ${this.n} idlers connected to ${server.name}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(p.concurrency, this.n) }, worker));
    return (Date.now() - start) / 1000;
  }

  /** Arms every idler for the next EXISTS. */
  arm(): void {
    for (let i = 0; i < this.n; i++) if (this.got[i] !== 0) this.target[i]! += 1;
    this.got.fill(0);
    this.received = 0;
  }

  /** Resolves when every idler has its EXISTS, or at the deadline; returns the arrival times. */
  async wait(deadlineMs: number): Promise<{ times: Float64Array; missing: number }> {
    if (this.received < this.n) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.waiting = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiting = null;
    }
    return { times: this.got.slice(), missing: this.n - this.received };
  }

  closed(): number {
    return this.conns.filter((c) => c?.closed).length;
  }

  close(): void {
    for (const c of this.conns) c?.close();
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---------------------------------------------------------------- one run

interface RoundFigures {
  pssPerConnKiB: number;
  rssPerConnKiB: number;
  fanoutMaxMs: number;
  fanoutP50Ms: number;
  ackMs: number;
  processes: number;
}
const history: Record<string, Record<string, RoundFigures[]>> = {};

function summary(label: string): void {
  const h = history[label] ?? {};
  const p = h["postamt"] ?? [];
  const d = h["dovecot"] ?? [];
  if (p.length === 0 || d.length === 0) return;
  const m = (rs: RoundFigures[], k: keyof RoundFigures) => median(rs.map((r) => r[k]));
  const f = (x: number) => x.toFixed(1);
  const ratio = (k: keyof RoundFigures) => `${(m(d, k) / m(p, k)).toFixed(2)}×`;
  const row = (what: string, k: keyof RoundFigures, withRatio = true) => [
    what,
    f(m(p, k)),
    f(m(d, k)),
    withRatio ? ratio(k) : "",
  ];
  const rows = [
    ["", "postamt", "dovecot", "D/P"],
    row("Pss per connection (KiB)", "pssPerConnKiB"),
    row("VmRSS per connection (KiB)", "rssPerConnKiB"),
    row("delivery acknowledged (ms)", "ackMs"),
    row("EXISTS at half the idlers (ms)", "fanoutP50Ms"),
    row("EXISTS at every idler (ms)", "fanoutMaxMs"),
    row("server processes with N idlers", "processes", false),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  log(
    [
      `idle-memory [${label}] medians over ${p.length}/${d.length} rounds (D/P = Dovecot / Postamt; above 1: Postamt smaller or faster):`,
      ...rows.map(line),
    ].join("\n"),
  );
}

async function measure(
  server: RunningPeer,
  p: IdleParams,
  accounts: BenchUser[],
  label: string,
): Promise<Sample> {
  const roots = await server.pids();
  const t0 = Date.now();
  const mail = (i: number) => mailbox(SEED, i, accounts[i]!.address, p.messages);
  if (server.name === "postamt") await loadPostamt(server, accounts, mail);
  else await loadDovecot(server, accounts, mail);
  // one untimed SELECT per account: Dovecot indexes the Maildir, both have the mailbox warm
  for (const u of accounts) {
    const c = await ImapConn.connect(server.ports.imap!);
    await c.login(u.address, u.password);
    await c.command("SELECT INBOX");
    await c.logout();
  }
  log(
    `idle-memory: ${p.accounts} × ${p.messages} messages loaded into ${server.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  await sleep(p.settleSeconds * 1000);
  const before = await treeMemory(roots);

  const idlers = new Idlers(p.idlers);
  try {
    const setupSeconds = await idlers.open(server, p, accounts);
    log(
      `idle-memory: ${p.idlers} idlers on ${server.name} after ${setupSeconds.toFixed(1)} s; settling ${p.settleSeconds} s`,
    );
    await sleep(p.settleSeconds * 1000);
    const after = await treeMemory(roots);
    const lost = idlers.closed();
    if (lost > 0) throw new Error(`${server.name} closed ${lost} of ${p.idlers} idle connections`);

    // deliveries
    const deliverPort = server.name === "postamt" ? server.ports.smtp : server.ports.lmtp;
    if (!deliverPort) throw new Error(`${server.name} has no delivery port`);
    const smtp = await SmtpSession.open(deliverPort, { lmtp: server.name !== "postamt" });
    const rnd = prng(SEED + 1);
    const fanMax: number[] = [];
    const fanP50: number[] = [];
    const acks: number[] = [];
    let missingTotal = 0;
    try {
      for (let k = 0; k < p.deliveries; k++) {
        idlers.arm();
        const msg = makeMessage(rnd, accounts[0]!.address, 2048, `delivery.${k}`);
        let sentAt = 0;
        await smtp.send(
          "sender@client.bench.test",
          accounts.map((u) => u.address),
          msg.bytes,
          () => {
            sentAt = performance.now();
          },
        );
        acks.push(performance.now() - sentAt);
        const { times, missing } = await idlers.wait(120_000);
        missingTotal += missing;
        const delays = [...times]
          .filter((t) => t > 0)
          .map((t) => t - sentAt)
          .sort((a, b) => a - b);
        fanMax.push(missing > 0 ? Number.POSITIVE_INFINITY : delays[delays.length - 1]!);
        fanP50.push(quantile(delays, 0.5));
        log(
          `idle-memory ${server.name}: delivery ${k + 1}: acknowledged after ${acks[k]!.toFixed(1)} ms; EXISTS at p50 ${fanP50[k]!.toFixed(1)} ms, ` +
            `all ${p.idlers - missing} idlers ${missing > 0 ? `(${missing} MISSING after 120 s)` : `after ${fanMax[k]!.toFixed(1)} ms`}`,
        );
        await sleep(1000);
      }
    } finally {
      await smtp.quit();
    }
    const afterDeliveries = await treeMemory(roots);

    const per = (a: TreeMemory, k: "pssKiB" | "rssKiB") => (a[k] - before[k]) / p.idlers;
    const fig: RoundFigures = {
      pssPerConnKiB: per(after, "pssKiB"),
      rssPerConnKiB: per(after, "rssKiB"),
      fanoutMaxMs: median(fanMax),
      fanoutP50Ms: median(fanP50),
      ackMs: median(acks),
      processes: after.processes,
    };
    const h = history[label] ?? {};
    history[label] = h;
    const rounds = h[server.name] ?? [];
    h[server.name] = rounds;
    rounds.push(fig);
    log(
      `idle-memory ${server.name}: Pss ${(before.pssKiB / 1024).toFixed(1)} → ${(after.pssKiB / 1024).toFixed(1)} MiB ` +
        `(${fig.pssPerConnKiB.toFixed(1)} KiB per idler), VmRSS sum ${(before.rssKiB / 1024).toFixed(1)} → ${(after.rssKiB / 1024).toFixed(1)} MiB ` +
        `(${fig.rssPerConnKiB.toFixed(1)} KiB per idler); ${before.processes} → ${after.processes} processes ${JSON.stringify(after.byName)}; ` +
        `after the deliveries Pss ${(afterDeliveries.pssKiB / 1024).toFixed(1)} MiB`,
    );
    if (server.name !== "postamt") summary(label);
    return {
      value: 1024 / fig.pssPerConnKiB,
      seconds: setupSeconds,
      extra: {
        idlers: p.idlers,
        pssBeforeKiB: before.pssKiB,
        pssAfterKiB: after.pssKiB,
        pssAfterDeliveriesKiB: afterDeliveries.pssKiB,
        rssBeforeKiB: before.rssKiB,
        rssAfterKiB: after.rssKiB,
        pssPerConnKiB: fig.pssPerConnKiB,
        rssPerConnKiB: fig.rssPerConnKiB,
        processesBefore: before.processes,
        processesAfter: after.processes,
        setupSeconds,
        ackMs: fig.ackMs,
        fanoutP50Ms: fig.fanoutP50Ms,
        fanoutMaxMs: fig.fanoutMaxMs,
        missingExists: missingTotal,
        dovecotClientLimit: server.name === "postamt" ? 0 : p.dovecotClientLimit,
      },
    };
  } finally {
    idlers.close();
    await sleep(500);
  }
}

export const idleMemory: Workload = {
  name: "idle-memory",
  description:
    "N logged-in IMAP connections in IDLE: server memory per connection (Pss) and the time from one delivery until every idler has its EXISTS (Postamt vs Dovecot)",
  tools: [TOOLS.dovecot, LMTP],
  cases() {
    const counts = (process.env["BENCH_IDLE_COUNTS"] ?? "1000,10000").split(",").map((s) => {
      const n = Number.parseInt(s.trim(), 10);
      if (!Number.isInteger(n) || n <= 0)
        throw new Error(`BENCH_IDLE_COUNTS: ${s} is not a positive integer`);
      return n;
    });
    const accounts = envInt("BENCH_IDLE_ACCOUNTS", 10);
    const maxProcs = envInt("BENCH_IDLE_DOVECOT_PROCS", 10_000);
    return counts.map((idlers): Case => {
      const p: IdleParams = {
        idlers,
        accounts: Math.min(accounts, idlers),
        messages: envInt("BENCH_IDLE_MESSAGES", 100),
        deliveries: envInt("BENCH_IDLE_DELIVERIES", 3),
        concurrency: envInt("BENCH_IDLE_CONCURRENCY", 50),
        dovecotClientLimit: Math.ceil(idlers / maxProcs),
        settleSeconds: envInt("BENCH_IDLE_SETTLE", 5, 0),
      };
      const us = users(p.accounts);
      const label = `${idlers} idlers, ${p.accounts} accounts${p.dovecotClientLimit > 1 ? `, dovecot ${p.dovecotClientLimit} conns/process` : ""}`;
      return {
        label,
        params: { ...p },
        unit: "conn/MiB",
        peer: "dovecot",
        async start(which) {
          // one process holds the N client sockets, Postamt one process the N server ones
          await ensureNofile(idlers + 2000);
          if (which === "postamt") {
            return startPostamt({
              users: us,
              imap: true,
              smtp: true,
              extraConfig: p.accounts > 100 ? [`recipients = ${p.accounts}`] : [],
            });
          }
          const procs = Math.ceil(idlers / p.dovecotClientLimit);
          await ensureMemory(procs);
          await ensureInotify(procs + 256);
          return startDovecot({ users: us, imap: true, lmtp: true, extraConfig: dovecotSettings(p) });
        },
        measure: (server) => measure(server, p, us, label),
      };
    });
  },
};
