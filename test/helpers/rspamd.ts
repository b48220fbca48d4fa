// A private rspamd for tests: the Debian package's shipped rules (/etc/rspamd) with our own top-level
// config in a temp dir: only a normal worker, on 127.0.0.1 and a free port (no controller, proxy or
// fuzzy storage), temp dbdir/rundir/log, in the foreground (-f) as a child of the test.
//
// It must not touch the network or need redis: DNS goes to 127.0.0.1:9 (nothing answers there), the
// modules that query DNS, fetch maps or need redis are disabled (so startup is quick and scans are
// deterministic), and the public suffix list is replaced by a few TLDs: compiling the full list costs
// ~20 s of CPU at every start. What is left are rspamd's content rules (headers, MIME, regexps) and:
//   - the GTUBE-like patterns of every action (enable_test_patterns; gtube_patterns = "all" from 3.8),
//   - a prefilter reading the test header `X-Postamt-Test` (see TEST_HEADER below) for the actions no
//     pattern gives: soft reject, greylist, a reject with a crafted message, milter add_headers, and an
//     echo of the envelope rspamd read from the request headers.
//
// Installing: this helper installs nothing. CI installs rspamd (.ci/run); on a machine without it the
// test skips, saying how to install it, except under CI=true, where a missing rspamd is an error.
// Privileges: as root rspamd's workers run as the package's `_rspamd` user (-u/-g; the temp dir is
// handed to it); without that user, --insecure. As any other user it simply runs as that user.
// rspamd 3.4 answers /ping 1.1-1.6 s after the spawn with this config.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { findTool } from "./tools.js";

const SHIPPED_CONFDIR = "/etc/rspamd";
const STARTUP_MS = 60_000;

export const GTUBE = {
  reject: "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
  addHeader: "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
  rewriteSubject: "ZJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
  noAction: "AJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
} as const;

/**
 * The header the test prefilter reads, and its values:
 *   soft-reject     → "soft reject", message "Try again later (postamt test)"
 *   greylist        → "greylist", message "Greylisted (postamt test)"
 *   reject-message  → "reject" with a message carrying CRLF and a header line (injection attempt)
 *   milter          → no action, milter.add_headers: X-Postamt-Milter (value with CRLF), X-Postamt-Multi (a, b)
 *   envelope        → milter.add_headers X-Postamt-Envelope: what rspamd read from the request headers,
 *                     "from=<a> rcpt=<b>,<c> ip=192.0.2.1 helo=h hostname=h user=u qid=q" ("-" for none)
 */
export const TEST_HEADER = "X-Postamt-Test";

export interface TestRspamd {
  /** the normal worker, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  dir: string;
  /** rspamd's log so far, for failure messages */
  log(): Promise<string>;
  stop(): Promise<void>;
}

// Modules that resolve names, fetch remote maps, talk to external services or need redis.
const DISABLED_MODULES = [
  "antivirus",
  "arc",
  "asn",
  "bimi",
  "clickhouse",
  "dcc",
  "dkim",
  "dmarc",
  "elastic",
  "emails",
  "external_services",
  "fuzzy_check",
  "greylist",
  "hfilter",
  "history_redis",
  "metadata_exporter",
  "multimap",
  "mx_check",
  "neural",
  "p0f",
  "phishing",
  "ratelimit",
  "rbl",
  "replies",
  "reputation",
  "rspamd_update",
  "spamassassin",
  "spf",
  "surbl",
  "url_redirector",
  "whitelist",
];

const TOP_CONF = (port: number) => `# Postamt test rspamd: the shipped rules, one normal worker
.include "$CONFDIR/common.conf"

options {
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}

logging {
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  .include "$CONFDIR/logging.inc"
}

worker "normal" {
  bind_socket = "127.0.0.1:${port}";
  .include "$CONFDIR/worker-normal.inc"
  count = 1;
}
`;

const OPTIONS_INC = `# no DNS beyond loopback: nothing listens on the discard port
dns {
  nameserver = ["127.0.0.1:9"];
  timeout = 500ms;
  retransmits = 1;
}
url_tld = "$LOCAL_CONFDIR/tld.dat";
# regexps run through PCRE: no hyperscan compiler burning CPU while the tests run
disable_hyperscan = true;
# GTUBE-like patterns for every action (3.4: enable_test_patterns; 3.8+: gtube_patterns)
enable_test_patterns = true;
gtube_patterns = "all";
`;

const TLDS = ["com", "net", "org", "de", "example", "test", "invalid", "localhost"];

const PREFILTER_LUA = `-- Postamt tests: actions on demand, read from the ${TEST_HEADER} header
rspamd_config:register_symbol({
  name = 'POSTAMT_TEST',
  type = 'prefilter',
  priority = 10,
  callback = function(task)
    local h = task:get_header('${TEST_HEADER}')
    if not h then return end
    if h == 'soft-reject' then
      task:set_pre_result('soft reject', 'Try again later (postamt test)', 'postamt_test')
    elseif h == 'greylist' then
      task:set_pre_result('greylist', 'Greylisted (postamt test)', 'postamt_test')
    elseif h == 'reject-message' then
      task:set_pre_result('reject', 'Go away\\r\\n250 2.0.0 Ok\\r\\nX-Injected: yes', 'postamt_test')
    elseif h == 'envelope' then
      -- what rspamd understood of the request headers, echoed back as a milter header
      local function addrs(list)
        local out = {}
        for _, a in ipairs(list or {}) do table.insert(out, '<' .. (a.addr or '') .. '>') end
        return table.concat(out, ',')
      end
      local ip = task:get_from_ip()
      task:set_milter_reply({ add_headers = { ['X-Postamt-Envelope'] = string.format(
        'from=%s rcpt=%s ip=%s helo=%s hostname=%s user=%s qid=%s',
        addrs(task:get_from('smtp')), addrs(task:get_recipients('smtp')),
        (ip and ip:is_valid()) and tostring(ip) or '-', task:get_helo() or '-',
        task:get_hostname() or '-', task:get_user() or '-', task:get_queue_id() or '-') } })
    elseif h == 'milter' then
      task:set_milter_reply({ add_headers = {
        ['X-Postamt-Milter'] = 'one\\r\\nX-Injected: yes',
        ['X-Postamt-Multi'] = { { value = 'b', order = 1 }, { value = 'a', order = 0 } },
      } })
    end
  end,
})
`;

/** uid and gid of the package's user, when it exists. */
async function packageUser(): Promise<{ user: string; group: string; uid: number; gid: number } | null> {
  const passwd = await readFile("/etc/passwd", "utf8").catch(() => "");
  const p = passwd.split("\n").find((l) => l.startsWith("_rspamd:"));
  if (!p) return null;
  const [, , uid, gid] = p.split(":");
  const group =
    (await readFile("/etc/group", "utf8").catch(() => ""))
      .split("\n")
      .map((l) => l.split(":"))
      .find((f) => f[2] === gid)?.[0] ?? "";
  if (!group || uid === undefined || gid === undefined) return null;
  return { user: "_rspamd", group, uid: Number(uid), gid: Number(gid) };
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await chown(p, uid, gid);
  }
}

function ping(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}/ping`, { timeout: 1000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve(res.statusCode === 200 && body.trim() === "pong"));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Why rspamd cannot run here (to skip), or null. Throws under CI, where it must be installed. */
export function rspamdMissing(): string | null {
  if (findTool("rspamd") !== null && existsSync(join(SHIPPED_CONFDIR, "rspamd.conf"))) return null;
  const why = "rspamd is not installed (apt-get install rspamd)";
  if (process.env["CI"] === "true") throw new Error(`${why}; CI must install it (.ci/run)`);
  return why;
}

export async function startRspamd(): Promise<TestRspamd | { skip: string }> {
  const missing = rspamdMissing();
  if (missing) return { skip: missing };
  const bin = findTool("rspamd")!;
  // the port is only known free until rspamd binds it: on a lost race, try another
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, await freePort());
    } catch (e) {
      if (attempt >= 3 || !(e instanceof PortTaken)) throw e;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(bin: string, port: number): Promise<TestRspamd> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-rspamd-"));
  const conf = join(dir, "conf");
  const db = join(dir, "db");
  const run = join(dir, "run");
  const logFile = join(dir, "rspamd.log");
  await mkdir(join(conf, "local.d"), { recursive: true });
  await mkdir(db);
  await mkdir(run);
  await writeFile(join(dir, "rspamd.conf"), TOP_CONF(port));
  await writeFile(join(conf, "local.d", "options.inc"), OPTIONS_INC);
  for (const m of DISABLED_MODULES) await writeFile(join(conf, "local.d", `${m}.conf`), "enabled = false;\n");
  await writeFile(join(conf, "tld.dat"), `${TLDS.join("\n")}\n`);
  // loaded by the shipped rules/rspamd.lua from $LOCAL_CONFDIR
  await writeFile(join(conf, "rspamd.local.lua"), PREFILTER_LUA);

  const privilege: string[] = [];
  if (process.getuid?.() === 0) {
    const pkg = await packageUser();
    if (pkg) {
      await chmod(dir, 0o755);
      await chownTree(dir, pkg.uid, pkg.gid);
      privilege.push("-u", pkg.user, "-g", pkg.group);
    } else {
      privilege.push("--insecure");
    }
  }
  const args = [
    "-f",
    "-c",
    join(dir, "rspamd.conf"),
    "--var",
    `LOCAL_CONFDIR=${conf}`,
    "--var",
    `DBDIR=${db}`,
    "--var",
    `RUNDIR=${run}`,
    "--var",
    `LOGDIR=${dir}`,
    ...privilege,
  ];
  // its own process group: stop() can reach workers even if the main process died first
  const child: ChildProcess = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const collect = (b: Buffer) => {
    if (output.length < 64 * 1024) output += b.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  child.once("error", (e) => {
    output += `spawn failed: ${e.message}\n`;
  });
  const killGroup = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // the group is gone already
    }
  };
  // a test process that dies without stop() must not leave rspamd behind
  const onExit = () => killGroup("SIGKILL");
  process.once("exit", onExit);

  const log = () => readFile(logFile, "utf8").catch(() => "");
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", onExit);
    if (!exited) {
      killGroup("SIGTERM");
      const timer = new Promise<"late">((r) => setTimeout(() => r("late"), 5000).unref());
      if ((await Promise.race([exit, timer])) === "late") killGroup("SIGKILL");
    }
    // workers that outlived the main process
    killGroup("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    if (await ping(url)) break;
    if (exited || Date.now() > deadline) {
      const text = await log();
      await stop();
      const state = exited
        ? `exited (${JSON.stringify(exited)})`
        : `did not answer /ping within ${STARTUP_MS} ms`;
      if (/Address already in use/.test(text)) throw new PortTaken(`port ${port} taken`);
      throw new Error(`rspamd ${state}\n--- output\n${output.slice(-4000)}\n--- log\n${text.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, port, dir, log, stop };
}
