// Postfix's smtp-sink as the next hop of the outbound-relay workload: it accepts mail on a loopback
// port (ESMTP with PIPELINING, 8BITMIME, DSN announced; nothing written to disk) and throws it away.
// `-c` prints running counters ("sess=S quit=Q mesg=M", one per event, separated by CR) on stdout; `-M
// N` makes it exit as soon as the N-th message's end of data has arrived, which is when the timed part
// of a run ends. The counters are kept for progress reports and for the check that nothing arrived
// before the clock started.
import { spawn } from "node:child_process";
import type { Tool } from "./install.js";
import { log, onCleanup, portOpen, waitFor } from "./proc.js";

export const SMTP_SINK: Tool = { path: "/usr/sbin/smtp-sink", pkg: "postfix" };

export interface RunningSink {
  port: number;
  /** messages received so far (end of data seen) */
  messages(): number;
  /** SMTP sessions so far (the readiness probe is one of them) */
  sessions(): number;
  /** resolves with the time (process.hrtime.bigint()) at which smtp-sink exited after `expect`
   * messages; rejects if it exits otherwise */
  done: Promise<bigint>;
  stop(): Promise<void>;
}

export async function startSink(port: number, expect: number): Promise<RunningSink> {
  const args = ["-4", "-c", "-M", String(expect), "-h", "sink.bench.test"];
  // as root it must drop privileges after binding (-u is required then)
  if (process.getuid?.() === 0) args.push("-u", "postfix");
  args.push(`127.0.0.1:${port}`, "1024");
  const child = spawn(SMTP_SINK.path, args, { stdio: ["ignore", "pipe", "pipe"] });
  let mesg = 0;
  let sess = 0;
  let tail = "";
  let stderr = "";
  child.stdout.setEncoding("latin1").on("data", (d: string) => {
    // only complete records (each ends with CR); the rest waits for the next chunk
    const records = (tail + d).split(/[\r\n]/);
    tail = records.pop() ?? "";
    for (let i = records.length - 1; i >= 0; i--) {
      const m = /sess=(\d+) quit=\d+ mesg=(\d+)/.exec(records[i]!);
      if (m) {
        sess = Number(m[1]);
        mesg = Number(m[2]);
        break;
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-4096);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const done = new Promise<bigint>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, sig) => {
      const at = process.hrtime.bigint();
      if (code === 0) {
        mesg = Math.max(mesg, expect);
        resolve(at);
      } else
        reject(new Error(`smtp-sink exited with ${code ?? sig} after ${mesg} messages: ${stderr.trim()}`));
    });
  });
  done.catch(() => undefined); // observed by the caller; never an unhandled rejection
  const stop = onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
  });
  try {
    await waitFor(`smtp-sink on port ${port}`, async () => {
      if (child.exitCode !== null)
        throw new Error(`smtp-sink exited with ${child.exitCode}: ${stderr.trim()}`);
      return portOpen(port);
    });
  } catch (err) {
    log(`smtp-sink ${args.join(" ")} failed`);
    await stop();
    throw err;
  }
  return { port, messages: () => mesg, sessions: () => sess, done, stop };
}
