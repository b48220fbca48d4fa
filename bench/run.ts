// The benchmark harness (issue 6): `npm run bench` runs every workload, `npm run bench -- NAME` one.
// Each case runs against Postamt (from the current build, a separate process) and its peer (Postfix or
// Dovecot, a private instance on loopback ports) in alternation, A B A B …, BENCH_ROUNDS times (default
// 3, at least 3 unless BENCH_ALLOW_FEW_ROUNDS=1), with a fresh server and empty mailboxes per run. It
// prints medians and the Postamt/peer ratio and writes bench/results/<date>-<name>.json.
import { execSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, freemem, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTools, stopSystemServices } from "./lib/install.js";
import { log, runCleanups } from "./lib/proc.js";
import type { Case, Sample, Workload } from "./lib/types.js";
import { idleMemory } from "./workloads/idle-memory.js";
import { imapBigMailbox } from "./workloads/imap-big-mailbox.js";
import { imapMixed } from "./workloads/imap-mixed.js";
import { pop3Download } from "./workloads/pop3-download.js";
import { smtpIngest } from "./workloads/smtp-ingest.js";
import { outboundRelay } from "./workloads/outbound-relay.js";

const WORKLOADS: Workload[] = [smtpIngest, imapMixed, imapBigMailbox, idleMemory, pop3Download, outboundRelay];

/** dist/bench/run.js → the repository root */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

interface CaseResult {
  workload: string;
  case: string;
  params: Record<string, number | string>;
  unit: string;
  peer: string;
  postamt: Sample[];
  peerSamples: Sample[];
  medianPostamt: number;
  medianPeer: number;
  /** median(Postamt) / median(peer); above 1 means Postamt is faster */
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function machine(): Record<string, string | number> {
  const cpuinfo = (() => {
    try {
      return (
        execSync("grep -m1 'model name' /proc/cpuinfo", { encoding: "utf8" }).split(":")[1]?.trim() ?? ""
      );
    } catch {
      return "";
    }
  })();
  const version = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return "";
    }
  };
  return {
    cpus: cpus().length,
    cpuModel: cpuinfo || (cpus()[0]?.model ?? ""),
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(freemem() / 2 ** 20),
    node: process.version,
    postfix: version("postconf -d -h mail_version"),
    dovecot: version("dovecot --version"),
  };
}

async function runCase(w: Workload, c: Case, rounds: number): Promise<CaseResult> {
  const postamt: Sample[] = [];
  const peer: Sample[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const which of ["postamt", "peer"] as const) {
      const server = await c.start(which);
      try {
        const s = await c.measure(server);
        (which === "postamt" ? postamt : peer).push(s);
        log(
          `${w.name} [${c.label}] round ${r}/${rounds} ${server.name}: ${s.value.toFixed(1)} ${c.unit} (${s.seconds.toFixed(2)} s)`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  const mA = median(postamt.map((s) => s.value));
  const mB = median(peer.map((s) => s.value));
  return {
    workload: w.name,
    case: c.label,
    params: c.params,
    unit: c.unit,
    peer: c.peer,
    postamt,
    peerSamples: peer,
    medianPostamt: mA,
    medianPeer: mB,
    ratio: mA / mB,
  };
}

function printTable(results: CaseResult[]): void {
  const rows = [
    ["workload", "case", "postamt", "peer", "ratio"],
    ...results.map((r) => [
      r.workload,
      r.case,
      `${r.medianPostamt.toFixed(1)} ${r.unit}`,
      `${r.peer} ${r.medianPeer.toFixed(1)} ${r.unit}`,
      `${r.ratio.toFixed(2)}×`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ");
  process.stdout.write(`\n${line(rows[0]!)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n`);
  for (const row of rows.slice(1)) process.stdout.write(`${line(row)}\n`);
  process.stdout.write("\nmedians over the rounds; ratio = Postamt / peer (above 1: Postamt is faster)\n");
}

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown workload ${unknown.join(", ")}; available: ${WORKLOADS.map((w) => w.name).join(", ")}\n`,
    );
    return 2;
  }
  const selected = names.length > 0 ? WORKLOADS.filter((w) => names.includes(w.name)) : WORKLOADS;
  const rounds = Number.parseInt(process.env["BENCH_ROUNDS"] ?? "3", 10);
  if (!(rounds >= 3) && process.env["BENCH_ALLOW_FEW_ROUNDS"] !== "1") {
    process.stderr.write("BENCH_ROUNDS must be at least 3 (BENCH_ALLOW_FEW_ROUNDS=1 for a smoke run)\n");
    return 2;
  }
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
  const gitRev = (() => {
    try {
      return execSync("git rev-parse --short HEAD", { cwd: ROOT, encoding: "utf8" }).trim();
    } catch {
      return "";
    }
  })();

  await ensureTools(selected.flatMap((w) => w.tools));
  stopSystemServices();
  const env = machine();
  log(`machine: ${JSON.stringify(env)}`);

  const date = new Date().toISOString().slice(0, 10);
  const resultsDir = join(ROOT, "bench", "results");
  await mkdir(resultsDir, { recursive: true });
  const all: CaseResult[] = [];
  for (const w of selected) {
    const results: CaseResult[] = [];
    for (const c of w.cases()) results.push(await runCase(w, c, Math.max(1, rounds)));
    all.push(...results);
    const file = join(resultsDir, `${date}-${w.name}.json`);
    const doc = {
      workload: w.name,
      description: w.description,
      date: new Date().toISOString(),
      postamt: { version: pkg.version, git: gitRev },
      rounds,
      machine: env,
      results,
    };
    await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
    log(`results written to ${file}`);
  }
  printTable(all);
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  code = 1;
} finally {
  await runCleanups();
}
process.exitCode = code;
