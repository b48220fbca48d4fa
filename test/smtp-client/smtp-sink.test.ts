// The client against Postfix's smtp-sink (a different SMTP implementation than ours), when installed.
// smtp-sink -d dumps each transaction to a file: X-Mail-Args / X-Rcpt-Args show the parameters we
// sent, then the message as received (dots un-stuffed, lines ended by LF).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { connect } from "../../src/smtp/client/connection.js";
import { ClientError, type OutboundEnvelope, type SmtpClientOptions } from "../../src/smtp/client/types.js";
import { freePort } from "../helpers/ports.js";

function findSink(): string | null {
  const r = spawnSync("sh", ["-c", "command -v smtp-sink || ls /usr/sbin/smtp-sink"], { encoding: "utf8" });
  const path = r.stdout.trim().split("\n")[0];
  return r.status === 0 && path ? path : null;
}
const SINK = findSink();
const SKIP = SINK
  ? false
  : "smtp-sink (Postfix) is not installed: apt-get install postfix to run these tests";

interface Sink {
  port: number;
  dir: string;
  proc: ChildProcess;
  /** the dumped transactions, oldest first, waiting until `n` exist */
  dumps(n: number): Promise<string[]>;
  stop(): Promise<void>;
}

const sinks: Sink[] = [];
after(async () => {
  for (const s of sinks) await s.stop();
});

async function startSink(flags: string[]): Promise<Sink> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "postamt-sink-"));
  // As root smtp-sink must drop privileges (-u); the dump directory must then be writable for that user.
  const root = process.getuid?.() === 0;
  if (root) await chmod(dir, 0o777);
  const user = root ? "nobody" : userInfo().username;
  const proc = spawn(SINK!, [...flags, "-u", user, "-d", `${dir}/m.`, `127.0.0.1:${port}`, "10"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  // Wait until it listens.
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) break;
    if (i > 100 || proc.exitCode !== null) throw new Error(`smtp-sink did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const sink: Sink = {
    port,
    dir,
    proc,
    async dumps(n) {
      for (let i = 0; i < 100; i++) {
        const names = (await readdir(dir)).filter((f) => f.startsWith("m."));
        if (names.length >= n) {
          const files = await Promise.all(names.map((f) => readFile(join(dir, f), "utf8")));
          // no ordering in the names: order by the test's own Subject numbering where it matters
          return files.sort();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`fewer than ${n} dumps in ${dir}`);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  sinks.push(sink);
  return sink;
}

const opts = (port: number, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: "127.0.0.1",
  port,
  localHostname: "client.test",
  tls: "opportunistic",
  ...extra,
});

const MESSAGE = "Subject: sink\r\n\r\n.dot line\r\n..two\r\n.\r\nGrüße\nno final CRLF";

function envelope(recipients: string[], extra: Partial<OutboundEnvelope> = {}): OutboundEnvelope {
  return {
    from: "carol@client.test",
    recipients: recipients.map((address) => ({ address })),
    size: Buffer.byteLength(MESSAGE) + 10,
    eightBit: true,
    smtputf8: false,
    ...extra,
  };
}
const source =
  (text = MESSAGE) =>
  () =>
    Readable.from([Buffer.from(text, "utf8")]);

/** A dump's header block (smtp-sink's X- lines) and the message after its three-line Received. */
function splitDump(dump: string): { args: string[]; message: string } {
  const lines = dump.split("\n");
  const r = lines.findIndex((l) => l.startsWith("Received: "));
  assert.ok(r > 0, dump);
  return { args: lines.slice(0, r), message: lines.slice(r + 3).join("\n") };
}

describe("SMTP client against Postfix smtp-sink", { skip: SKIP, timeout: 60_000 }, () => {
  it("pipelined delivery with BODY=8BITMIME and DSN parameters; dots and line ends survive", async () => {
    const sink = await startSink([]);
    const c = await connect(opts(sink.port));
    // smtp-sink has no TLS here and ends its EHLO reply with an empty "250 " line
    assert.equal(c.tls, null);
    assert.ok(c.extensions.has("PIPELINING") && c.extensions.has("DSN") && c.extensions.has("8BITMIME"));
    assert.equal(c.extensions.has(""), false);
    const r = await c.send(
      {
        ...envelope([]),
        recipients: [
          { address: "a@sink.test", notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;a@sink.test" },
          { address: "b@sink.test" },
        ],
        ret: "HDRS",
        envid: "id 42",
      },
      source(),
    );
    assert.deepEqual(
      r.recipients.map((x) => [x.accepted, x.reply.code, x.reply.enhanced]),
      [
        [true, 250, "2.1.5"],
        [true, 250, "2.1.5"],
      ],
    );
    assert.equal(r.data?.code, 250);
    await c.quit();
    const [dump] = await sink.dumps(1);
    const { args, message } = splitDump(dump!);
    assert.ok(
      args.includes("X-Mail-Args: <carol@client.test> BODY=8BITMIME RET=HDRS ENVID=id+2042"),
      args.join("|"),
    );
    assert.ok(args.includes("X-Rcpt-Args: <a@sink.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@sink.test"));
    assert.ok(args.includes("X-Rcpt-Args: <b@sink.test>"));
    assert.ok(args.includes("X-Helo-Args: client.test"));
    // smtp-sink writes LF line ends and one empty line after the message
    assert.equal(message, `${MESSAGE.replace(/\r?\n/g, "\n")}\n\n`);
  });

  it("lockstep without PIPELINING, no BODY or DSN parameters when not offered, three messages on one connection", async () => {
    const sink = await startSink(["-p", "-8", "-N"]);
    const c = await connect(opts(sink.port));
    assert.equal(c.extensions.has("PIPELINING"), false);
    for (let i = 1; i <= 3; i++) {
      const r = await c.send(
        { ...envelope([`r${i}@sink.test`]), ret: "FULL", envid: "x" },
        source(`Subject: ${i}\r\n\r\nbody ${i}\r\n`),
      );
      assert.equal(r.data?.code, 250);
      assert.equal(c.usable, true);
    }
    await c.quit();
    const dumps = (await sink.dumps(3)).map(splitDump);
    const byRcpt = dumps.sort((a, b) => a.message.localeCompare(b.message));
    for (let i = 1; i <= 3; i++) {
      const d = byRcpt[i - 1]!;
      assert.equal(d.message, `Subject: ${i}\n\nbody ${i}\n\n`);
      assert.ok(d.args.includes("X-Mail-Args: <carol@client.test>"), d.args.join("|"));
      assert.ok(d.args.includes(`X-Rcpt-Args: <r${i}@sink.test>`));
    }
  });

  it("soft-rejected recipients: no data, replies per recipient, connection still usable", async () => {
    const sink = await startSink(["-r", "RCPT"]);
    const c = await connect(opts(sink.port));
    const r = await c.send(envelope(["a@sink.test", "b@sink.test"]), source());
    assert.equal(r.data, null);
    assert.deepEqual(
      r.recipients.map((x) => [x.accepted, x.reply.code]),
      [
        [false, 450],
        [false, 450],
      ],
    );
    assert.equal(c.usable, true);
    await c.quit();
  });

  it("a 421 after RCPT closes the connection; the recipient carries the 421", async () => {
    const sink = await startSink(["-Q", "RCPT"]);
    const c = await connect(opts(sink.port));
    const r = await c.send(envelope(["a@sink.test", "b@sink.test"]), source());
    assert.equal(r.recipients[0]?.reply.code, 421);
    assert.equal(r.recipients[1]?.reply.code, 421);
    assert.equal(r.data, null);
    assert.equal(c.usable, false);
    await c.quit();
  });

  it("falls back to HELO when the server is not ESMTP", async () => {
    const sink = await startSink(["-e"]);
    const c = await connect(opts(sink.port));
    assert.equal(c.extensions.size, 0);
    const r = await c.send(envelope(["a@sink.test"]), source());
    assert.equal(r.data?.code, 250);
    await c.quit();
    const { args } = splitDump((await sink.dumps(1))[0]!);
    assert.ok(args.includes("X-Client-Proto: SMTP"), args.join("|"));
  });

  it("times out when the reply to DATA is late", async () => {
    const sink = await startSink(["-p", "-w", "3"]); // lockstep: with PIPELINING smtp-sink holds every reply back until DATA's
    const c = await connect(opts(sink.port, { timeouts: { dataInit: 300 } }));
    await assert.rejects(
      c.send(envelope(["a@sink.test"]), source()),
      (e) => e instanceof ClientError && e.kind === "timeout" && /DATA/.test(e.message),
    );
    assert.equal(c.usable, false);
  });
});
