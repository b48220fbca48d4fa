// A private Postfix instance: its own config_directory, queue_directory and data_directory, smtpd on
// a loopback port, mail for the bench domain delivered by the `virtual` agent into Maildirs. Durability
// as shipped (Postfix fsyncs the queue file before 250 and virtual fsyncs the Maildir file).
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerOptions, RunningPeer } from "./postamt.js";
import { freePort, log, onCleanup, portOpen, run, waitFor } from "./proc.js";

/** nobody:nogroup owns the Maildirs (virtual_uid_maps); any uid ≥ virtual_minimum_uid would do. */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

/** Also used by the interop tests' private Postfix (test/helpers/postfix.ts). */
export function masterCf(port: number, host = "127.0.0.1"): string {
  // The Debian master.cf services we need, with chroot off (a chroot needs copies of /etc files).
  const rows = [
    `${host}:${port} inet n - n - - smtpd`,
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "proxywrite unix - - n - 1 proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "showq unix n - n - - showq",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "local unix - n n - - local",
    "virtual unix - n n - - virtual",
    "lmtp unix - - n - - lmtp",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
  ];
  return `${rows.join("\n")}\n`;
}

export async function startPostfix(opts: PeerOptions): Promise<RunningPeer> {
  const dir = await mkdtemp(join(tmpdir(), "bench-postfix-"));
  const etc = join(dir, "etc");
  const mail = join(dir, "mail");
  let started = false;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (started) {
      await run("postfix", ["-c", etc, "stop"], { check: false });
      // `postfix stop` returns before master has exited; wait for the pid file's process to go away.
      const pid = await readPid(join(dir, "spool", "pid", "master.pid"));
      if (pid) {
        await waitFor("postfix master to exit", async () => !alive(pid), 15_000).catch(() => {
          process.kill(pid, "SIGKILL");
        });
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  const cleanupNow = onCleanup(stop);
  try {
    if (!opts.smtp) throw new Error("the Postfix peer serves SMTP only");
    const port = await freePort();
    // mkdtemp makes 0700; the postfix user and the mailbox uid must be able to traverse it.
    await chmod(dir, 0o755);
    await mkdir(etc);
    await mkdir(join(dir, "spool"), { mode: 0o755 });
    await mkdir(mail);
    await chown(mail, MAIL_UID, MAIL_GID);
    const domains = [...new Set(opts.users.map((u) => u.address.slice(u.address.indexOf("@") + 1)))];
    const mailboxes = opts.users.map((u) => {
      const [local, domain] = u.address.split("@") as [string, string];
      return { address: u.address, path: `${domain}/${local}/` };
    });
    await writeFile(join(etc, "vmailbox"), mailboxes.map((m) => `${m.address} ${m.path}\n`).join(""));
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
        "myhostname = mx.peer.test",
        "mydomain = peer.test",
        "myorigin = $myhostname",
        "mydestination =",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        "mynetworks = 127.0.0.0/8",
        "alias_maps =",
        "alias_database =",
        "biff = no",
        "smtpd_banner = $myhostname ESMTP",
        `virtual_mailbox_domains = ${domains.join(" ")}`,
        `virtual_mailbox_maps = texthash:${join(etc, "vmailbox")}`,
        `virtual_mailbox_base = ${mail}`,
        `virtual_uid_maps = static:${MAIL_UID}`,
        `virtual_gid_maps = static:${MAIL_GID}`,
        `maillog_file = ${join(dir, "maillog")}`,
        `maillog_file_prefixes = ${dir}`,
        // the caller's settings last: a later line overrides an earlier one
        ...(opts.extraConfig ?? []),
        "",
      ].join("\n"),
    );
    await writeFile(join(etc, "master.cf"), masterCf(port));
    const r = await run("postfix", ["-c", etc, "start"], { check: false });
    if (r.code !== 0) throw new Error(`postfix start failed:\n${r.stderr}${r.stdout}`);
    started = true;
    await waitFor(`postfix on port ${port}`, () => portOpen(port));
    const newDirs = mailboxes.map((m) => join(mail, m.path, "new"));
    return {
      name: "postfix",
      dir,
      ports: { smtp: port },
      async storedCount() {
        let n = 0;
        for (const d of newDirs)
          n += await readdir(d).then(
            (f) => f.length,
            () => 0,
          );
        return n;
      },
      async pids() {
        const pid = await readPid(join(dir, "spool", "pid", "master.pid"));
        return pid ? [pid] : [];
      },
      stop: cleanupNow,
      configPath: etc,
      queueDir: join(dir, "spool"),
    };
  } catch (err) {
    log(`postfix failed to start; maillog follows`);
    process.stderr.write(await readFile(join(dir, "maillog"), "utf8").catch(() => "(no maillog)\n"));
    await cleanupNow();
    throw err;
  }
}

async function readPid(file: string): Promise<number | null> {
  const text = await readFile(file, "utf8").catch(() => "");
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
