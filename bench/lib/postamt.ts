// Postamt as a separate process from the current build (dist/), with a temp data dir, loopback
// listeners and users added through the CLI, exactly as an operator would.
import { openSync, closeSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { freePort, log, onCleanup, portOpen, run, waitFor } from "./proc.js";

/** dist/bench/lib → dist/src/cli/main.js */
export const POSTAMT_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

export interface BenchUser {
  address: string;
  password: string;
}

export interface PeerOptions {
  users: BenchUser[];
  smtp?: boolean;
  imap?: boolean;
  pop3?: boolean;
  /** Dovecot only: an LMTP listener on a loopback port (ports.lmtp), for deliveries */
  lmtp?: boolean;
  /** lines appended to the server's configuration file (Postamt: after the [limits] table; Postfix:
   * at the end of main.cf, where a later setting overrides an earlier one) */
  extraConfig?: string[];
  /** local domains besides the users' (Postamt: `domain add`; outbound-relay) */
  domains?: string[];
  /** Postamt: aliases added with `alias add` (their domains become local domains too) */
  aliases?: Array<{ address: string; targets: string[] }>;
  /** Postamt: options for the node process that serves, e.g. ["--cpu-prof", "--cpu-prof-dir", DIR] */
  nodeArgs?: string[];
}

export interface RunningPeer {
  name: string;
  dir: string;
  ports: { smtp?: number; imap?: number; pop3?: number; lmtp?: number };
  /** messages stored in the user's mailboxes (all users) */
  storedCount(): Promise<number>;
  /** PIDs of the peer's processes, for memory figures */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
  /** Postamt: its postamt.toml (for CLI commands); Postfix: its config_directory (postsuper -c) */
  configPath?: string;
  /** Postfix: its queue_directory */
  queueDir?: string;
}

export async function startPostamt(opts: PeerOptions): Promise<RunningPeer> {
  const dir = await mkdtemp(join(tmpdir(), "bench-postamt-"));
  let stopped = false;
  let child: ReturnType<typeof spawn> | null = null;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    db?.close();
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const exited = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGTERM");
      const t = setTimeout(() => c.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const cleanupNow = onCleanup(stop);
  let db: Database.Database | null = null;
  try {
    const ports = {
      smtp: opts.smtp ? await freePort() : undefined,
      imap: opts.imap ? await freePort() : undefined,
      pop3: opts.pop3 ? await freePort() : undefined,
    };
    const listen = (p: number | undefined) => (p ? `["127.0.0.1:${p}"]` : "[]");
    const configFile = join(dir, "postamt.toml");
    await writeFile(
      configFile,
      [
        `hostname = "mail.bench.test"`,
        `data_dir = "${join(dir, "data")}"`,
        "[listen]",
        `smtp = ${listen(ports.smtp)}`,
        "submission = []",
        "submissions = []",
        `imap = ${listen(ports.imap)}`,
        "imaps = []",
        `pop3 = ${listen(ports.pop3)}`,
        "pop3s = []",
        "http = []",
        "[log]",
        `level = "info"`,
        // benchmarks never send traffic beyond loopback: no DNS server answers here
        "[dns]",
        `servers = ["127.0.0.1:9"]`,
        // Postfix runs without an SPF/DKIM/DMARC milter in these runs; Postamt does the same work
        "[inbound]",
        "authenticate = false",
        "[limits]",
        // every smtp-source session comes from 127.0.0.1; Postfix exempts mynetworks from its limits too
        "connections_per_ip = 0",
        ...(opts.extraConfig ?? []),
        "",
      ].join("\n"),
    );
    const cli = (args: string[], input?: string) =>
      run(process.execPath, [POSTAMT_MAIN, "--config", configFile, ...args], { input });
    const domainOf = (a: string) => a.slice(a.indexOf("@") + 1);
    const domains = [
      ...new Set([
        ...opts.users.map((u) => domainOf(u.address)),
        ...(opts.domains ?? []),
        ...(opts.aliases ?? []).map((a) => domainOf(a.address)),
      ]),
    ];
    for (const d of domains) await cli(["domain", "add", d]);
    for (const u of opts.users) await cli(["user", "add", u.address, "--password-stdin"], `${u.password}\n`);
    for (const a of opts.aliases ?? []) await cli(["alias", "add", a.address, ...a.targets]);

    // The log goes to a file, as Postfix's does (maillog_file): both pay for their logging.
    const logFd = openSync(join(dir, "postamt.log"), "a");
    const args = [...(opts.nodeArgs ?? []), POSTAMT_MAIN, "--config", configFile, "serve"];
    child = spawn(process.execPath, args, { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    const c = child;
    c.once("exit", (code, sig) => {
      if (!stopped) log(`postamt exited unexpectedly (${code ?? sig}); log in ${join(dir, "postamt.log")}`);
    });
    for (const p of Object.values(ports)) {
      if (p) {
        await waitFor(`postamt on port ${p}`, async () => {
          if (c.exitCode !== null) throw new Error(`postamt exited with ${c.exitCode}`);
          return portOpen(p);
        });
      }
    }
    const dbFile = join(dir, "data", "postamt.db");
    return {
      name: "postamt",
      dir,
      ports,
      async storedCount() {
        db ??= new Database(dbFile, { readonly: true, fileMustExist: true });
        const row = db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number };
        return row.n;
      },
      async pids() {
        return c.pid ? [c.pid] : [];
      },
      stop: cleanupNow,
      configPath: configFile,
    };
  } catch (err) {
    await cleanupNow();
    throw err;
  }
}
