// A private Postfix for interop tests: its own config, queue and data directories in a temp dir, smtpd on
// one loopback address and port, virtual mailboxes delivered into Maildirs. It can answer 451 for
// chosen recipients (an access map, changed with `postfix reload`) and relay chosen domains to a next
// hop (transport_maps), e.g. into Postamt. Needs root (Postfix drops to its own users) and the Debian
// package; `postfixMissing()` says why a test must skip.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { masterCf } from "../../bench/lib/postfix.js";

const run = promisify(execFile);
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export function postfixMissing(): string | null {
  if (!existsSync("/usr/sbin/postfix")) return "postfix is not installed (apt-get install postfix)";
  if (process.getuid?.() !== 0) return "a private Postfix needs root";
  return null;
}

export interface TestPostfixOptions {
  /** loopback address for smtpd, e.g. "127.0.0.5" */
  host: string;
  port: number;
  hostname: string;
  /** mailboxes; their domains become virtual_mailbox_domains */
  users: string[];
  /** recipients answered "451 4.3.0" at RCPT */
  tempfail?: string[];
  /** "domain" → "smtp:[127.0.0.3]:2525" next hops */
  transports?: Record<string, string>;
}

export interface TestPostfix {
  host: string;
  port: number;
  dir: string;
  /** messages in the user's Maildir (new/ and cur/) */
  messages(address: string): Promise<Buffer[]>;
  setTempfail(addresses: string[]): Promise<void>;
  maillog(): Promise<string>;
  stop(): Promise<void>;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startTestPostfix(opts: TestPostfixOptions): Promise<TestPostfix> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-postfix-"));
  const etc = join(dir, "etc");
  const mail = join(dir, "mail");
  await chmod(dir, 0o755);
  await mkdir(etc);
  await mkdir(join(dir, "spool"), { mode: 0o755 });
  await mkdir(mail);
  await chown(mail, MAIL_UID, MAIL_GID);
  const domains = [...new Set(opts.users.map((u) => u.slice(u.indexOf("@") + 1)))];
  const path = (address: string) => {
    const [local, domain] = address.split("@") as [string, string];
    return `${domain}/${local}/`;
  };
  await writeFile(join(etc, "vmailbox"), opts.users.map((u) => `${u} ${path(u)}\n`).join(""));
  const writeTempfail = (list: string[]) =>
    writeFile(join(etc, "tempfail"), list.map((a) => `${a} 451 4.3.0 Try again later\n`).join("") || "\n");
  await writeTempfail(opts.tempfail ?? []);
  await writeFile(
    join(etc, "transport"),
    Object.entries(opts.transports ?? {})
      .map(([d, hop]) => `${d} ${hop}\n`)
      .join("") || "\n",
  );
  await writeFile(
    join(etc, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${join(dir, "spool")}`,
      `data_directory = ${join(dir, "lib")}`,
      "command_directory = /usr/sbin",
      "daemon_directory = /usr/lib/postfix/sbin",
      "shlib_directory = /usr/lib/postfix",
      "meta_directory = /etc/postfix",
      "mail_owner = postfix",
      "setgid_group = postdrop",
      `myhostname = ${opts.hostname}`,
      "myorigin = $myhostname",
      "mydestination =",
      // master.cf binds the address; Postfix only knows interface addresses, and 127.0.0.5 is not one
      "inet_interfaces = loopback-only",
      "inet_protocols = ipv4",
      "mynetworks = 127.0.0.0/8",
      "alias_maps =",
      "alias_database =",
      "biff = no",
      "smtpd_banner = $myhostname ESMTP",
      `smtpd_recipient_restrictions = check_recipient_access texthash:${join(etc, "tempfail")}, permit_mynetworks, reject_unauth_destination`,
      `transport_maps = texthash:${join(etc, "transport")}`,
      // the next hops are loopback addresses that are not this host's name: deliver there anyway
      "smtp_host_lookup = native",
      `smtp_bind_address = ${opts.host}`,
      "smtp_tls_security_level = may",
      "smtp_dns_support_level = disabled",
      "delay_warning_time = 0",
      "minimal_backoff_time = 1s",
      "maximal_backoff_time = 2s",
      "queue_run_delay = 1s",
      `virtual_mailbox_domains = ${domains.join(" ")}`,
      `virtual_mailbox_maps = texthash:${join(etc, "vmailbox")}`,
      `virtual_mailbox_base = ${mail}`,
      `virtual_uid_maps = static:${MAIL_UID}`,
      `virtual_gid_maps = static:${MAIL_GID}`,
      `maillog_file = ${join(dir, "maillog")}`,
      `maillog_file_prefixes = ${dir}`,
      "",
    ].join("\n"),
  );
  await writeFile(join(etc, "master.cf"), masterCf(opts.port, opts.host));
  let started = false;
  const stop = async () => {
    if (started) {
      await run("postfix", ["-c", etc, "stop"]).catch(() => undefined);
      const pid = Number.parseInt(await readFile(join(dir, "spool", "pid", "master.pid"), "utf8").catch(() => ""), 10);
      for (let i = 0; pid > 0 && i < 150; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await run("postfix", ["-c", etc, "start"]);
    started = true;
    for (let i = 0; !(await portOpen(opts.host, opts.port)); i++) {
      if (i > 100) throw new Error(`postfix did not open ${opts.host}:${opts.port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    const log = await readFile(join(dir, "maillog"), "utf8").catch(() => "");
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    host: opts.host,
    port: opts.port,
    dir,
    async messages(address) {
      const out: Buffer[] = [];
      for (const sub of ["new", "cur"]) {
        const d = join(mail, path(address), sub);
        const files = await readdir(d).catch(() => [] as string[]);
        for (const f of files.sort()) out.push(await readFile(join(d, f)));
      }
      return out;
    },
    async setTempfail(addresses) {
      await writeTempfail(addresses);
      await run("postfix", ["-c", etc, "reload"]);
    },
    maillog: () => readFile(join(dir, "maillog"), "utf8").catch(() => ""),
    stop,
  };
}
