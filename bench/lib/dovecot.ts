// A private Dovecot instance for the IMAP/POP3 workloads (not wired to a workload yet; start-up,
// login, SELECT and POP3 STAT were checked by hand): `dovecot -F -c <dir>/dovecot.conf`, its own
// base_dir and loopback ports, users from a passwd-file, Maildirs under the temp dir owned by
// nobody. Durability as shipped (mail_fsync = optimized, the default).
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerOptions, RunningPeer } from "./postamt.js";
import { freePort, log, onCleanup, portOpen, waitFor } from "./proc.js";

const MAIL_UID = 65534;
const MAIL_GID = 65534;

export async function startDovecot(opts: PeerOptions): Promise<RunningPeer> {
  const dir = await mkdtemp(join(tmpdir(), "bench-dovecot-"));
  let child: ReturnType<typeof spawn> | null = null;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
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
  try {
    await chmod(dir, 0o755);
    const mail = join(dir, "mail");
    await mkdir(mail);
    await chown(mail, MAIL_UID, MAIL_GID);
    const ports = {
      imap: opts.imap ? await freePort() : undefined,
      pop3: opts.pop3 ? await freePort() : undefined,
      lmtp: opts.lmtp ? await freePort() : undefined,
    };
    // {PLAIN} passwords: the peer's password check is not what is measured (Postamt uses scrypt at
    // login; that cost is part of its figures).
    await writeFile(
      join(dir, "users"),
      opts.users.map((u) => `${u.address}:{PLAIN}${u.password}::::::\n`).join(""),
    );
    const protocols = [ports.imap ? "imap" : "", ports.pop3 ? "pop3" : "", ports.lmtp ? "lmtp" : ""]
      .filter(Boolean)
      .join(" ");
    const conf = [
      `base_dir = ${join(dir, "run")}`,
      `state_dir = ${join(dir, "state")}`,
      `log_path = ${join(dir, "dovecot.log")}`,
      `protocols = ${protocols || "none"}`,
      "listen = 127.0.0.1",
      "ssl = no",
      "disable_plaintext_auth = no",
      "auth_mechanisms = plain login",
      `mail_location = maildir:${mail}/%d/%n/Maildir`,
      `mail_uid = ${MAIL_UID}`,
      `mail_gid = ${MAIL_GID}`,
      "first_valid_uid = 1",
      "namespace inbox {",
      "  inbox = yes",
      "  separator = /",
      "  mailbox Archive {",
      "    auto = create",
      "    special_use = \\Archive",
      "  }",
      "}",
      "passdb {",
      "  driver = passwd-file",
      `  args = scheme=PLAIN username_format=%u ${join(dir, "users")}`,
      "}",
      "userdb {",
      "  driver = static",
      `  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${mail}/%d/%n`,
      "}",
      "service imap-login {",
      "  inet_listener imap {",
      `    port = ${ports.imap ?? 0}`,
      "  }",
      "  inet_listener imaps {",
      "    port = 0",
      "  }",
      "}",
      "service pop3-login {",
      "  inet_listener pop3 {",
      `    port = ${ports.pop3 ?? 0}`,
      "  }",
      "  inet_listener pop3s {",
      "    port = 0",
      "  }",
      "}",
      "protocol imap {",
      "  mail_max_userip_connections = 1000",
      "}",
      ...(ports.lmtp
        ? [
            "service lmtp {",
            "  inet_listener lmtp {",
            "    address = 127.0.0.1",
            `    port = ${ports.lmtp}`,
            "  }",
            "}",
          ]
        : []),
      ...(opts.extraConfig ?? []),
      "",
    ].join("\n");
    const confFile = join(dir, "dovecot.conf");
    await writeFile(confFile, conf);
    child = spawn("/usr/sbin/dovecot", ["-F", "-c", confFile], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const c = child;
    for (const p of Object.values(ports)) {
      if (p) {
        await waitFor(`dovecot on port ${p}`, async () => {
          if (c.exitCode !== null) throw new Error(`dovecot exited with ${c.exitCode}: ${out.trim()}`);
          return portOpen(p);
        });
      }
    }
    return {
      name: "dovecot",
      dir,
      ports,
      async storedCount() {
        return 0;
      },
      async pids() {
        return c.pid ? [c.pid] : [];
      },
      stop: cleanupNow,
    };
  } catch (err) {
    log(`dovecot failed to start`);
    await cleanupNow();
    throw err;
  }
}
