// smtp-ingest: Postfix's smtp-source pushes N messages over S parallel sessions to one local user;
// the clock runs from smtp-source's start until every message is stored in the mailbox (Postamt: a row
// in the messages table; Postfix: a file in the Maildir's new/ directory after virtual delivery).
import { spawn } from "node:child_process";
import { TOOLS } from "../lib/install.js";
import { type BenchUser, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { startPostfix } from "../lib/postfix.js";
import { sleep } from "../lib/proc.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const USER: BenchUser = { address: "bench@bench.test", password: "bench-password-1" };

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v}: must be a positive integer`);
  return n;
}

interface IngestParams {
  sessions: number;
  sizeBytes: number;
  messages: number;
}

/** The default set; BENCH_SMTP_MATRIX=full adds 1 and 100 sessions and 100 KB messages. */
function matrix(): Array<Omit<IngestParams, "messages">> {
  if (process.env["BENCH_SMTP_MATRIX"] === "full") {
    const out: Array<Omit<IngestParams, "messages">> = [];
    for (const sizeBytes of [4096, 102_400])
      for (const sessions of [1, 20, 100]) out.push({ sessions, sizeBytes });
    return out;
  }
  return [{ sessions: 20, sizeBytes: 4096 }];
}

export const smtpIngest: Workload = {
  name: "smtp-ingest",
  description: "smtp-source → one local user, time until every message is stored (Postamt vs Postfix)",
  tools: [TOOLS.smtpSource, TOOLS.postfix],
  cases() {
    const messages = envInt("BENCH_MESSAGES", 5000);
    return matrix().map((m): Case => {
      const p: IngestParams = { ...m, messages };
      return {
        label: `${p.sessions} sess, ${p.sizeBytes / 1024} KB, ${p.messages} msgs`,
        params: { ...p },
        unit: "msg/s",
        peer: "postfix",
        start: (server) =>
          server === "postamt"
            ? startPostamt({ users: [USER], smtp: true })
            : startPostfix({ users: [USER], smtp: true }),
        measure: (server) => ingest(server, p),
      };
    });
  },
};

async function ingest(server: RunningPeer, p: IngestParams): Promise<Sample> {
  const port = server.ports.smtp;
  if (!port) throw new Error(`${server.name} has no SMTP listener`);
  const args = [
    "-s",
    String(p.sessions),
    "-m",
    String(p.messages),
    "-l",
    String(p.sizeBytes),
    "-M",
    "client.bench.test",
    "-f",
    "sender@client.bench.test",
    "-t",
    USER.address,
    `127.0.0.1:${port}`,
  ];
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  const child = spawn(TOOLS.smtpSource.path, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  let acked: number | null = null;
  let failure: Error | null = null;
  child.on("error", (err) => {
    failure = err;
  });
  child.on("exit", (code, sig) => {
    acked = elapsed();
    if (code !== 0) failure = new Error(`smtp-source exited with ${code ?? sig}: ${stderr.trim()}`);
  });
  const timeoutS = Math.max(120, p.messages / 10);
  try {
    for (;;) {
      if (failure) throw failure;
      const n = await server.storedCount();
      if (n >= p.messages) break;
      if (elapsed() > timeoutS) {
        throw new Error(`${server.name}: only ${n} of ${p.messages} messages stored after ${timeoutS} s`);
      }
      await sleep(20);
    }
    const seconds = elapsed();
    // smtp-source's own end (every 250 received) comes before storage for Postfix (queue, then
    // delivery) and at the same time for Postamt (250 only after the store commit).
    while (acked === null && !failure) await sleep(5);
    if (failure) throw failure;
    return {
      value: p.messages / seconds,
      seconds,
      extra: { acceptedSeconds: acked ?? seconds },
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
