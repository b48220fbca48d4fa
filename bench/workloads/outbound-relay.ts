// outbound-relay (issue 7): how fast each server relays N queued messages to another domain's MX,
// here Postfix's smtp-sink on a loopback port (bench/lib/smtp-sink.ts).
//
// Both servers get the same mail the same way: smtp-source sends N messages (20 sessions) to
// relay@bench.test, a local alias of both for rcpt@sink.test, so each queues the message for relay
// (Postamt: `alias add`; Postfix: virtual_alias_maps). Mail for sink.test goes to
// [127.0.0.1]:SINKPORT without DNS (Postamt: outbound.routes, outbound.mta_sts = false; Postfix:
// transport_maps, smtp_dns_support_level = disabled). Concurrency stays as shipped.
//
// Only the relay phase is timed; the queue is held while the mail comes in:
//   Postfix  every message goes to the hold queue (smtpd_client_restrictions = check_client_access
//            static:HOLD); once all N are there, smtp-sink starts, `postsuper -H ALL` moves them to
//            the deferred queue (untimed), and the clock runs from `postqueue -f` (flush)
//   Postamt  N-1 messages come in while nothing listens on the sink port, so each is tried once and
//            deferred (the next try 2 minutes later); once all are deferred, smtp-sink starts and
//            `postamt queue retry` makes them due (untimed). The runner of the serving process only
//            looks at the store on its own once a minute, but it wakes whenever new mail is queued:
//            the clock runs from sending the N-th message (the trigger, same size, one SMTP session)
// until smtp-sink has received N messages (its -M N makes it exit at the N-th end of data). Then
// value = N / seconds, so the runner's ratio Postamt/Postfix is Postfix's time / Postamt's time.
//
// Knobs: BENCH_RELAY_MESSAGES (default 5000), BENCH_RELAY_SIZES (KB, comma-separated, default "4";
// "4,100" adds 100 KB), BENCH_RELAY_PROFILE=DIR (Postamt under `node --cpu-prof` into DIR, with a
// window-<pid>.json per run giving the timed part, for bench/lib/cpuprofile-top.ts),
// BENCH_RELAY_POSTAMT_DEST_CONCURRENCY (diagnosis only: Postamt's queue.destination_concurrency instead
// of its default; the label says so).
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { TOOLS } from "../lib/install.js";
import { POSTAMT_MAIN, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { startPostfix } from "../lib/postfix.js";
import { freePort, log, run, sleep } from "../lib/proc.js";
import { SmtpSession } from "../lib/smtp-send.js";
import { type RunningSink, SMTP_SINK, startSink } from "../lib/smtp-sink.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const ALIAS = "relay@bench.test";
const TARGET = "rcpt@sink.test";
const SINK_DOMAIN = "sink.test";
const SENDER = "sender@client.bench.test";
/** smtp-source sessions while the queue is filled (not timed) */
const INJECT_SESSIONS = 20;

function envInt(name: string, fallback: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: must be an integer ≥ ${min}`);
  return n;
}

function sizesKb(): number[] {
  const v = process.env["BENCH_RELAY_SIZES"] ?? "4";
  const out = v.split(",").map((s) => Number.parseInt(s.trim(), 10));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(`BENCH_RELAY_SIZES=${v}: a comma-separated list of sizes in KB`);
  }
  return out;
}

interface RelayParams {
  messages: number;
  sizeBytes: number;
}

/** what start() set up for measure() */
interface RunState {
  sinkPort: number;
}
const states = new WeakMap<RunningPeer, RunState>();

/** Postamt's queue concurrency defaults, read from `postamt config describe` (reported in params) */
async function postamtQueueDefaults(): Promise<{ concurrency: string; destination: string }> {
  const r = await run(process.execPath, [POSTAMT_MAIN, "config", "describe"], { check: false });
  const pick = (key: string) =>
    new RegExp(`${key.replace(".", "\\.")}\\s+\\([^)]*default: (\\d+)\\)`).exec(r.stdout)?.[1] ?? "?";
  return { concurrency: pick("queue.concurrency"), destination: pick("queue.destination_concurrency") };
}

async function postfixDefaults(): Promise<string> {
  const r = await run(
    "postconf",
    [
      "-d",
      "-h",
      "default_destination_concurrency_limit",
      "initial_destination_concurrency",
      "default_process_limit",
    ],
    { check: false },
  );
  const [dest, initial, procs] = r.stdout.trim().split("\n");
  return `destination ${dest} (initial ${initial}), ${procs} processes`;
}

export const outboundRelay: Workload = {
  name: "outbound-relay",
  description:
    "N queued messages relayed to smtp-sink on loopback; time from the queue's release to the N-th message at the sink (Postamt vs Postfix)",
  tools: [TOOLS.smtpSource, TOOLS.postfix, SMTP_SINK],
  cases() {
    const messages = envInt("BENCH_RELAY_MESSAGES", 5000, 2);
    const profileDir = process.env["BENCH_RELAY_PROFILE"]
      ? resolve(process.env["BENCH_RELAY_PROFILE"])
      : null;
    const destConcurrency = process.env["BENCH_RELAY_POSTAMT_DEST_CONCURRENCY"]
      ? envInt("BENCH_RELAY_POSTAMT_DEST_CONCURRENCY", 4)
      : null;
    let defaults: Promise<Record<string, string>> | null = null;
    const params = () =>
      (defaults ??= Promise.all([postamtQueueDefaults(), postfixDefaults()]).then(([pa, pf]) => ({
        postamtConcurrency: destConcurrency
          ? `queue.concurrency ${pa.concurrency} (default), queue.destination_concurrency ${destConcurrency} (default ${pa.destination})`
          : `queue.concurrency ${pa.concurrency}, queue.destination_concurrency ${pa.destination} (defaults)`,
        postfixConcurrency: `${pf} (defaults)`,
      })));
    return sizesKb().map((kb): Case => {
      const p: RelayParams = { messages, sizeBytes: kb * 1024 };
      const c: Case = {
        label: `${p.messages} msgs, ${kb} KB → smtp-sink${destConcurrency ? `, Postamt dest. conc. ${destConcurrency}` : ""}`,
        params: {
          ...p,
          timed: "relay phase only: queue release (flush / wake) → N-th message at the sink",
          injectSessions: INJECT_SESSIONS,
        },
        unit: "msg/s",
        peer: "postfix",
        async start(server) {
          Object.assign(c.params, await params());
          const sinkPort = await freePort();
          let peer: RunningPeer;
          if (server === "postamt") {
            if (profileDir) await mkdir(profileDir, { recursive: true });
            peer = await startPostamt({
              users: [],
              aliases: [{ address: ALIAS, targets: [TARGET] }],
              smtp: true,
              extraConfig: [
                "[outbound]",
                `routes = ["${SINK_DOMAIN}=[127.0.0.1]:${sinkPort}"]`,
                "mta_sts = false",
                "[dkim]",
                // only submitted mail is signed anyway; said here so nobody wonders
                "sign = false",
                ...(destConcurrency ? ["[queue]", `destination_concurrency = ${destConcurrency}`] : []),
              ],
              ...(profileDir ? { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profileDir] } : {}),
            });
          } else {
            peer = await startPostfix({
              users: [],
              smtp: true,
              extraConfig: [
                "virtual_alias_domains = bench.test",
                `virtual_alias_maps = inline:{ ${ALIAS}=${TARGET} }`,
                `transport_maps = inline:{ ${SINK_DOMAIN}=smtp:[127.0.0.1]:${sinkPort} }`,
                "smtp_dns_support_level = disabled",
                // every message to the hold queue until `postsuper -H ALL`
                "smtpd_client_restrictions = check_client_access static:HOLD",
              ],
            });
          }
          states.set(peer, { sinkPort });
          return peer;
        },
        measure: (server) => relay(server, p, profileDir),
      };
      return c;
    });
  },
};

/** Fills the queue with smtp-source (not timed). */
async function inject(server: RunningPeer, count: number, sizeBytes: number): Promise<void> {
  const port = server.ports.smtp;
  if (!port) throw new Error(`${server.name} has no SMTP listener`);
  await run(TOOLS.smtpSource.path, [
    "-s",
    String(INJECT_SESSIONS),
    "-m",
    String(count),
    "-l",
    String(sizeBytes),
    "-M",
    "client.bench.test",
    "-f",
    SENDER,
    "-t",
    ALIAS,
    `127.0.0.1:${port}`,
  ]);
}

async function until(what: string, timeoutS: number, probe: () => Promise<string | null>): Promise<void> {
  const end = Date.now() + timeoutS * 1000;
  let last = "";
  for (;;) {
    const pending = await probe();
    if (pending === null) return;
    last = pending;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutS} s waiting for ${what}: ${last}`);
    await sleep(100);
  }
}

/** One message of about `size` octets in the shape smtp-source sends, for Postamt's trigger. */
function triggerMessage(size: number): Buffer {
  const head =
    `From: <${SENDER}>\r\nTo: <${ALIAS}>\r\nDate: ${new Date().toUTCString()}\r\n` +
    `Message-Id: <trigger.${Date.now()}@client.bench.test>\r\nSubject: relay trigger\r\n\r\n`;
  const lines: string[] = [];
  let n = head.length;
  while (n < size) {
    const line = "x".repeat(Math.min(78, Math.max(1, size - n - 2)));
    lines.push(line);
    n += line.length + 2;
  }
  return Buffer.from(`${head}${lines.join("\r\n")}\r\n`, "latin1");
}

function withTimeout<T>(p: Promise<T>, seconds: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${seconds} s: ${what()}`)), seconds * 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function relay(server: RunningPeer, p: RelayParams, profileDir: string | null): Promise<Sample> {
  const state = states.get(server);
  if (!state) throw new Error(`${server.name} was not started by this workload`);
  const isPostamt = server.name === "postamt";
  // Postamt: N-1 now, the N-th is the trigger
  const queued = isPostamt ? p.messages - 1 : p.messages;
  const injectTimeoutS = Math.max(180, queued / 5);
  const relayTimeoutS = Math.max(300, p.messages / 5);

  const tInject = process.hrtime.bigint();
  await inject(server, queued, p.sizeBytes);
  if (isPostamt) {
    const db = new Database(join(server.dir, "data", "postamt.db"), { readonly: true, fileMustExist: true });
    try {
      const q = db.prepare(
        `SELECT count(*) AS n, coalesce(sum(status = 'deferred' AND attempts > 0), 0) AS deferred
         FROM queue_recipients WHERE domain = ?`,
      );
      await until(`${queued} deferred queue recipients`, injectTimeoutS, async () => {
        const r = q.get(SINK_DOMAIN) as { n: number; deferred: number };
        return r.n === queued && r.deferred === queued ? null : `${r.n} queued, ${r.deferred} deferred`;
      });
    } finally {
      db.close();
    }
  } else {
    const hold = join(server.queueDir!, "hold");
    await until(`${queued} messages on hold`, injectTimeoutS, async () => {
      const n = await readdir(hold).then(
        (f) => f.length,
        () => 0,
      );
      return n === queued ? null : `${n} on hold`;
    });
  }
  const injectSeconds = Number(process.hrtime.bigint() - tInject) / 1e9;

  let sink: RunningSink | null = null;
  try {
    sink = await startSink(state.sinkPort, p.messages);
    const s = sink;
    // release the queue (not timed): make everything due, without waking the runner / qmgr yet
    const tRelease = process.hrtime.bigint();
    if (isPostamt) {
      const r = await run(process.execPath, [POSTAMT_MAIN, "--config", server.configPath!, "queue", "retry"]);
      const n = Number.parseInt(r.stdout, 10);
      if (n !== queued) throw new Error(`postamt queue retry: ${r.stdout.trim()} (expected ${queued})`);
    } else {
      await run("postsuper", ["-c", server.configPath!, "-H", "ALL"]);
    }
    const releaseSeconds = Number(process.hrtime.bigint() - tRelease) / 1e9;
    const early = s.messages();
    if (early > 0) log(`${server.name}: ${early} message(s) reached the sink before the clock started`);

    const t0 = process.hrtime.bigint();
    if (isPostamt) {
      const session = await SmtpSession.open(server.ports.smtp!);
      await session.send(SENDER, [ALIAS], triggerMessage(p.sizeBytes));
      await session.quit();
    } else {
      await run("postqueue", ["-c", server.configPath!, "-f"]);
    }
    const t1 = await withTimeout(s.done, relayTimeoutS, () => `${s.messages()} of ${p.messages} at the sink`);
    const seconds = Number(t1 - t0) / 1e9;
    if (isPostamt && profileDir) {
      const [pid] = await server.pids();
      await writeFile(
        join(profileDir, `window-${pid}.json`),
        `${JSON.stringify({ pid, startUs: Number(t0 / 1000n), endUs: Number(t1 / 1000n), seconds, ...p })}\n`,
      );
    }
    return {
      value: p.messages / seconds,
      seconds,
      extra: { injectSeconds, releaseSeconds, earlyMessages: early },
    };
  } finally {
    await sink?.stop();
  }
}
