// Installs the Debian packages the benchmark needs (postfix for smtp-source and as the SMTP peer,
// dovecot for the IMAP/POP3 peer) on first use, without ever letting the system services start.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { log, run } from "./proc.js";

export interface Tool {
  /** a file that exists once the package is installed */
  path: string;
  pkg: string;
}

export const TOOLS = {
  smtpSource: { path: "/usr/sbin/smtp-source", pkg: "postfix" },
  postfix: { path: "/usr/sbin/postfix", pkg: "postfix" },
  dovecot: { path: "/usr/sbin/dovecot", pkg: "dovecot-imapd" },
  dovecotPop3: { path: "/usr/lib/dovecot/pop3", pkg: "dovecot-pop3d" },
} satisfies Record<string, Tool>;

const POLICY = "/usr/sbin/policy-rc.d";

/** The system services of these packages and the pid files their masters write. */
const SERVICES = [
  { name: "postfix", pidFile: "/var/spool/postfix/pid/master.pid" },
  { name: "dovecot", pidFile: "/run/dovecot/master.pid" },
];

export async function ensureTools(tools: Tool[]): Promise<void> {
  const missing = [...new Set(tools.filter((t) => !existsSync(t.path)).map((t) => t.pkg))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${missing.join(", ")}: run as root once, or: apt-get install -y ${missing.join(" ")}`,
    );
  }
  log(`installing ${missing.join(", ")} (first use)`);
  // policy-rc.d exiting 101 tells invoke-rc.d not to start services during the install.
  const ownPolicy = !existsSync(POLICY);
  if (ownPolicy) await writeFile(POLICY, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run("debconf-set-selections", [], {
      input:
        "postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string localhost\n",
      env,
    });
    await run("apt-get", ["update", "-q"], { env });
    await run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { env });
  } finally {
    if (ownPolicy) await rm(POLICY, { force: true });
  }
  stopSystemServices();
  for (const t of tools)
    if (!existsSync(t.path)) throw new Error(`${t.path} still missing after installing ${t.pkg}`);
}

/** Stops the system postfix/dovecot if something started them (never our own instances, which keep
 * their pid files in their own directories). `service X status` is no help: Debian's postfix script
 * answers 0 without a main.cf. */
export function stopSystemServices(): void {
  for (const s of SERVICES) {
    if (!pidAlive(s.pidFile)) continue;
    log(`system ${s.name} is running; stopping it (the benchmark runs its own instance)`);
    spawnSync("service", [s.name, "stop"], { stdio: "ignore" });
  }
}

function pidAlive(file: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
