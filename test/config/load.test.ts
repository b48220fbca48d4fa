import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, type ConfigIssue } from "../../src/config/errors.js";
import { configFromObject, loadConfig } from "../../src/config/load.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "postamt-config-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;

function tmpDir(): string {
  const dir = path.join(tmpRoot, String(tmpCount++));
  fs.mkdirSync(dir);
  return dir;
}

/** Writes postamt.toml into a fresh directory and loads it (cwd = that directory). */
function loadText(toml: string): { dir: string; file: string; load: () => ReturnType<typeof loadConfig> } {
  const dir = tmpDir();
  const file = path.join(dir, "postamt.toml");
  fs.writeFileSync(file, toml);
  return { dir, file, load: () => loadConfig({ file, cwd: dir, env: {} }) };
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  assert.fail("expected a ConfigError");
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail("expected a ConfigError");
}

describe("loading a file", () => {
  it("a minimal file: one key, the rest defaults, paths relative to the file", () => {
    const { dir, file, load } = loadText('hostname = "mail.example.com"\n');
    const c = load();
    assert.equal(c.source, file);
    assert.equal(c.hostname, "mail.example.com");
    assert.equal(c.data_dir, path.join(dir, "data"));
    assert.equal(c.store.url, `sqlite:${path.join(dir, "data", "postamt.db")}`);
    assert.deepEqual(c.listen.smtp, [{ host: "0.0.0.0", port: 25, text: "0.0.0.0:25" }]);
    assert.deepEqual(c.listen.http, [{ host: "127.0.0.1", port: 8080, text: "127.0.0.1:8080" }]);
    assert.deepEqual(c.tls, { cert: null, key: null });
    assert.deepEqual(c.dns.servers, []);
    assert.deepEqual(c.outbound, {
      port: 25,
      smarthost: null,
      smarthost_tls: "starttls",
      smarthost_user: "",
      smarthost_password: "",
      routes: [],
      tls: "opportunistic",
      mta_sts: true,
      dane: true,
      tls_ca: null,
      https_port: 443,
      bind_address: "",
      bind_address6: "",
      connect_timeout: 30,
    });
    assert.deepEqual(c.queue, {
      retry_intervals: [120, 300, 600, 900, 1800, 3600, 7200, 14400],
      lifetime: 432000,
      delay_warning: 14400,
      concurrency: 100,
      destination_concurrency: 20,
    });
    assert.deepEqual(c.dkim, { sign: true });
    assert.equal(c.log.level, "info");
    assert.deepEqual(c.limits, {
      message_size: 52428800,
      mime_header_bytes: 1048576,
      mime_parts: 10000,
      mime_depth: 100,
      recipients: 100,
      bad_commands: 10,
      junk_commands: 100,
      hops: 50,
      connections_per_ip: 50,
      connections_per_network: 200,
      connection_rate: 120,
      message_rate: 300,
      recipient_rate: 1000,
      exempt_networks: ["127.0.0.0/8", "::1/128"],
      null_sender_recipients: 1,
      send_messages_per_hour: 1000,
      send_recipients_per_day: 10000,
    });
    assert.deepEqual(c.inbound, {
      authenticate: true,
      dmarc_enforce: true,
      protect_local_domains: true,
      spf_reject: false,
      trusted_arc_sealers: [],
      dmarc_reports: true,
    });
    assert.deepEqual(c.dnsbl, { zones: [] });
    assert.deepEqual(c.greylist, {
      enabled: false,
      delay: 300,
      retry_window: 172800,
      auto_allow_time: 3024000,
      allow_networks: [],
      allow_senders: [],
    });
    assert.deepEqual(c.rspamd, { url: null, timeout: 15, on_error: "accept" });
    assert.deepEqual(c.timeouts, { smtp_command: 300, smtp_data: 600 });
    assert.deepEqual(c.smtp, { greet_pause: 0 });
    assert.deepEqual(c.pop3, { expire: "never", login_delay: 0 });
    assert.deepEqual(c.auth, { max_failures: 10, ban_time: 900, failure_delay: 1 });
    assert.deepEqual(c.proxy, { listeners: [] });
    assert.equal(c.accounts.default_quota, 0);
    assert.equal(c.server.shutdown_grace, 30);
  });

  it("an empty file is all defaults, hostname from the machine", () => {
    const c = loadText("").load();
    assert.equal(c.hostname, os.hostname());
  });

  it("a full file: every key set", () => {
    const { dir, load } = loadText(`
hostname = "mx1.example.org"
data_dir = "/var/lib/postamt"

[listen]
smtp = ["0.0.0.0:2525", "[::1]:2525"]
submission = ["127.0.0.1:0"]
submissions = []
imap = ["localhost:1143"]
imaps = ["*:1993"]
pop3 = []
pop3s = ["[::]:1995"]
http = ["127.0.0.1:9090"]

[store]
url = "postgres://postamt:secret@db.example.org:5432/postamt"

[dns]
servers = ["127.0.0.1:5353", "[::1]:53", "192.0.2.1"]

[outbound]
port = 2526

[log]
level = "debug"

[limits]
message_size = "10M"
mime_header_bytes = 65536
mime_parts = 500
mime_depth = 20
recipients = 1000
bad_commands = 5
junk_commands = 50
connections_per_ip = 0
connections_per_network = 10
connection_rate = 30
message_rate = 60
recipient_rate = 200
exempt_networks = ["10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"]
null_sender_recipients = 2
send_messages_per_hour = 100
send_recipients_per_day = 500

[inbound]
authenticate = false
dmarc_enforce = false
protect_local_domains = false
spf_reject = true
trusted_arc_sealers = ["lists.example.org"]
dmarc_reports = false

[dnsbl]
zones = ["zen.spamhaus.org", "bl.example.net"]

[greylist]
enabled = true
delay = "1m"
retry_window = "1d"
auto_allow_time = "7d"
allow_networks = ["198.51.100.0/24"]
allow_senders = ["example.com"]

[rspamd]
url = "http://127.0.0.1:11333"
timeout = "5s"
on_error = "tempfail"

[timeouts]
smtp_command = "1m"
smtp_data = "1h"

[smtp]
greet_pause = "3s"

[pop3]
expire = 0
login_delay = "5m"

[auth]
max_failures = 3
ban_time = "1h"
failure_delay = 0

[proxy]
listeners = ["smtp", "imaps"]

[accounts]
default_quota = "2GiB"

[server]
shutdown_grace = "1m30s"
`);
    const c = load();
    assert.equal(c.hostname, "mx1.example.org");
    assert.equal(c.data_dir, path.resolve("/var/lib/postamt"));
    assert.deepEqual(
      c.listen.smtp.map((a) => [a.host, a.port]),
      [
        ["0.0.0.0", 2525],
        ["::1", 2525],
      ],
    );
    assert.deepEqual(c.listen.submission, [{ host: "127.0.0.1", port: 0, text: "127.0.0.1:0" }]);
    assert.deepEqual(c.listen.submissions, []);
    assert.deepEqual(c.listen.imap, [{ host: "localhost", port: 1143, text: "localhost:1143" }]);
    assert.deepEqual(c.listen.imaps, [{ host: "0.0.0.0", port: 1993, text: "*:1993" }]);
    assert.deepEqual(c.listen.pop3, []);
    assert.deepEqual(c.listen.pop3s, [{ host: "::", port: 1995, text: "[::]:1995" }]);
    assert.equal(c.store.url, "postgres://postamt:secret@db.example.org:5432/postamt");
    assert.deepEqual(c.dns.servers, ["127.0.0.1:5353", "[::1]:53", "192.0.2.1"]);
    assert.equal(c.outbound.port, 2526);
    assert.equal(c.log.level, "debug");
    assert.deepEqual(c.limits, {
      message_size: 10485760,
      mime_header_bytes: 65536,
      mime_parts: 500,
      mime_depth: 20,
      recipients: 1000,
      bad_commands: 5,
      junk_commands: 50,
      hops: 50,
      connections_per_ip: 0,
      connections_per_network: 10,
      connection_rate: 30,
      message_rate: 60,
      recipient_rate: 200,
      exempt_networks: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"],
      null_sender_recipients: 2,
      send_messages_per_hour: 100,
      send_recipients_per_day: 500,
    });
    assert.deepEqual(c.inbound, {
      authenticate: false,
      dmarc_enforce: false,
      protect_local_domains: false,
      spf_reject: true,
      trusted_arc_sealers: ["lists.example.org"],
      dmarc_reports: false,
    });
    assert.deepEqual(c.dnsbl, { zones: ["zen.spamhaus.org", "bl.example.net"] });
    assert.deepEqual(c.greylist, {
      enabled: true,
      delay: 60,
      retry_window: 86400,
      auto_allow_time: 604800,
      allow_networks: ["198.51.100.0/24"],
      allow_senders: ["example.com"],
    });
    assert.deepEqual(c.rspamd, { url: "http://127.0.0.1:11333", timeout: 5, on_error: "tempfail" });
    assert.deepEqual(c.timeouts, { smtp_command: 60, smtp_data: 3600 });
    assert.deepEqual(c.smtp, { greet_pause: 3 });
    assert.deepEqual(c.pop3, { expire: 0, login_delay: 300 });
    assert.deepEqual(c.auth, { max_failures: 3, ban_time: 3600, failure_delay: 0 });
    assert.deepEqual(c.proxy, { listeners: ["smtp", "imaps"] });
    assert.equal(c.accounts.default_quota, 2 * 1024 ** 3);
    assert.equal(c.server.shutdown_grace, 90);
    assert.ok(!fs.existsSync(path.join(dir, "data")));
  });

  it("store.url follows a changed data_dir; relative paths resolve against the file's directory", () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, "etc"));
    const file = path.join(dir, "etc", "postamt.toml");
    fs.writeFileSync(file, 'data_dir = "../var/mail"\n');
    // given relative to cwd, resolved against the file's own directory
    const c = loadConfig({ file: "etc/postamt.toml", cwd: dir, env: {} });
    assert.equal(c.source, file);
    assert.equal(c.data_dir, path.join(dir, "var", "mail"));
    assert.equal(c.store.url, `sqlite:${path.join(dir, "var", "mail", "postamt.db")}`);

    fs.writeFileSync(file, '[store]\nurl = "sqlite:db/mail.db"\n');
    const d = loadConfig({ file, cwd: "/", env: {} });
    assert.equal(d.store.url, `sqlite:${path.join(dir, "etc", "db", "mail.db")}`);
  });

  it("without a file, relative paths resolve against cwd", () => {
    const dir = tmpDir();
    const c = configFromObject({ data_dir: "state" }, { cwd: dir });
    assert.equal(c.source, null);
    assert.equal(c.data_dir, path.join(dir, "state"));
    assert.equal(c.store.url, `sqlite:${path.join(dir, "state", "postamt.db")}`);
  });
});

describe("finding the file", () => {
  it("./postamt.toml in cwd comes before POSTAMT_CONFIG", () => {
    const { dir, file } = loadText('hostname = "local.example"\n');
    const other = loadText('hostname = "env.example"\n');
    const c = loadConfig({ cwd: dir, env: { POSTAMT_CONFIG: other.file } });
    assert.equal(c.source, file);
    assert.equal(c.hostname, "local.example");
  });

  it("POSTAMT_CONFIG when there is no ./postamt.toml", () => {
    const other = loadText('hostname = "env.example"\n');
    const c = loadConfig({ cwd: tmpDir(), env: { POSTAMT_CONFIG: other.file } });
    assert.equal(c.source, other.file);
    assert.equal(c.hostname, "env.example");
  });

  it("built-in defaults when there is neither", () => {
    const dir = tmpDir();
    const c = loadConfig({ cwd: dir, env: {} });
    assert.equal(c.source, null);
    assert.equal(c.data_dir, path.join(dir, "data"));
  });

  it("file: null searches like no option", () => {
    const { dir, file } = loadText("");
    assert.equal(loadConfig({ file: null, cwd: dir, env: {} }).source, file);
  });

  const missing: Array<[string, (dir: string) => Parameters<typeof loadConfig>[0], string]> = [
    [
      "an explicit file that does not exist",
      (dir) => ({ file: "nope.toml", cwd: dir, env: {} }),
      "no such file",
    ],
    ["an explicit directory", (dir) => ({ file: ".", cwd: dir, env: {} }), "directory"],
    [
      "POSTAMT_CONFIG naming a missing file",
      (dir) => ({ cwd: dir, env: { POSTAMT_CONFIG: "gone.toml" } }),
      "named by POSTAMT_CONFIG: no such file; fix or unset POSTAMT_CONFIG",
    ],
  ];
  for (const [name, opts, fragment] of missing) {
    it(`${name} is an error`, () => {
      const issues = issuesOf(() => loadConfig(opts(tmpDir())));
      assert.equal(issues.length, 1);
      assert.equal(issues[0]!.key, "");
      assert.ok(issues[0]!.reason.includes(fragment), issues[0]!.reason);
    });
  }
});

/** In the error table: the issue has no value (a missing key), or its value is not compared. */
const NO_VALUE = Symbol("no value");
const ANY_VALUE = Symbol("any value");

describe("errors", () => {
  // [name, file text, key, value as written, reason fragment]
  const cases: Array<[string, string, string, unknown, string]> = [
    ["unknown top-level key", 'hostnme = "x"', "hostnme", "x", 'unknown key; did you mean "hostname"?'],
    ["unknown key in a table", "[listen]\nsmpt = []", "listen.smpt", [], 'did you mean "listen.smtp"?'],
    [
      "key in the wrong table",
      "[limits]\nshutdown_grace = 5",
      "limits.shutdown_grace",
      5,
      '"server.shutdown_grace"',
    ],
    ["top-level key that lives in a table", "message_size = 5", "message_size", 5, '"limits.message_size"'],
    ["upper-case key", 'Hostname = "x.example"', "Hostname", "x.example", 'did you mean "hostname"?'],
    ["unknown table", "[frobnicate]\nx = 1", "frobnicate", ANY_VALUE, "config describe` lists every key"],
    ["table written as a value", "listen = 5", "listen", 5, "must be a table: write [listen]"],
    ["hostname of the wrong type", "hostname = 5", "hostname", 5, "must be a host name string, not a number"],
    [
      "hostname with a bad label",
      'hostname = "-bad.example.com"',
      "hostname",
      "-bad.example.com",
      'label "-bad"',
    ],
    [
      "hostname with a trailing dot",
      'hostname = "mail.example.com."',
      "hostname",
      "mail.example.com.",
      "trailing dot",
    ],
    ["hostname that is an IP", 'hostname = "192.0.2.1"', "hostname", "192.0.2.1", "is an IP address"],
    [
      "data_dir of the wrong type",
      "data_dir = true",
      "data_dir",
      true,
      "must be a path string, not true/false",
    ],
    [
      "listen not a list",
      '[listen]\nsmtp = "0.0.0.0:25"',
      "listen.smtp",
      "0.0.0.0:25",
      'write ["0.0.0.0:25"]',
    ],
    [
      "listen port too big",
      '[listen]\nsmtp = ["0.0.0.0:99999"]',
      "listen.smtp[0]",
      "0.0.0.0:99999",
      "port must be 1-65535",
    ],
    ["listen without port", '[listen]\nimap = ["127.0.0.1"]', "listen.imap[0]", "127.0.0.1", "needs a port"],
    ["listen bare IPv6", '[listen]\nimap = ["::1:143"]', "listen.imap[0]", "::1:143", "brackets"],
    [
      "listen bad IPv4",
      '[listen]\npop3 = ["300.1.1.1:110"]',
      "listen.pop3[0]",
      "300.1.1.1:110",
      "not a valid one",
    ],
    [
      "listen bad host name",
      '[listen]\nhttp = ["my_host:80"]',
      "listen.http[0]",
      "my_host:80",
      'label "my_host"',
    ],
    ["listen element not a string", "[listen]\nsmtp = [25]", "listen.smtp[0]", 25, "not a number"],
    ["listen 2nd element", '[listen]\nsmtp = ["0.0.0.0:25", "x"]', "listen.smtp[1]", "x", "needs a port"],
    ["outbound.port 0", "[outbound]\nport = 0", "outbound.port", 0, "port must be 1-65535"],
    ["outbound.port quoted", '[outbound]\nport = "25"', "outbound.port", "25", "write 25 without quotes"],
    ["log.level unknown", '[log]\nlevel = "verbose"', "log.level", "verbose", 'must be one of "trace"'],
    [
      "size with unknown unit",
      '[limits]\nmessage_size = "50 parsecs"',
      "limits.message_size",
      "50 parsecs",
      "unknown unit",
    ],
    [
      "size zero where 1 is the minimum",
      "[limits]\nmessage_size = 0",
      "limits.message_size",
      0,
      "at least 1 byte",
    ],
    ["size negative", "[accounts]\ndefault_quota = -1", "accounts.default_quota", -1, "must not be negative"],
    ["int out of range", "[limits]\nmime_depth = 0", "limits.mime_depth", 0, "must be 1-1000"],
    ["int fractional", "[limits]\nmime_parts = 2.5", "limits.mime_parts", 2.5, "whole number"],
    [
      "duration too long",
      '[server]\nshutdown_grace = "2d"',
      "server.shutdown_grace",
      "2d",
      "at most 86400 seconds",
    ],
    [
      "duration in ms",
      '[server]\nshutdown_grace = "500ms"',
      "server.shutdown_grace",
      "500ms",
      "not milliseconds",
    ],
    [
      "pop3.expire too many days",
      "[pop3]\nexpire = 36501",
      "pop3.expire",
      36501,
      'must be "never" or a whole number of days 0-36500, not a number',
    ],
    [
      "pop3.expire fractional",
      "[pop3]\nexpire = 1.5",
      "pop3.expire",
      1.5,
      'must be "never" or a whole number of days 0-36500, not a fractional number',
    ],
    ["pop3.expire quoted", '[pop3]\nexpire = "0"', "pop3.expire", "0", "write 0 without quotes"],
    [
      "pop3.expire unknown word",
      '[pop3]\nexpire = "forever"',
      "pop3.expire",
      "forever",
      'must be "never" or a whole number of days 0-36500',
    ],
    [
      "pop3.expire negative",
      "[pop3]\nexpire = -1",
      "pop3.expire",
      -1,
      'must be "never" or a whole number of days 0-36500, not a number',
    ],
    [
      "pop3.login_delay too long",
      '[pop3]\nlogin_delay = "2d"',
      "pop3.login_delay",
      "2d",
      "at most 86400 seconds",
    ],
    ["sqlite in memory", '[store]\nurl = "sqlite::memory:"', "store.url", "sqlite::memory:", "in-memory"],
    ["store unknown scheme", '[store]\nurl = "mysql://h/db"', "store.url", "mysql://h/db", "unknown scheme"],
    [
      "dns server by name",
      '[dns]\nservers = ["dns.google"]',
      "dns.servers[0]",
      "dns.google",
      "not an IP address",
    ],
    [
      "dns server bad port",
      '[dns]\nservers = ["1.1.1.1:0"]',
      "dns.servers[0]",
      "1.1.1.1:0",
      "port must be 1-65535",
    ],
    ["dns servers not a list", '[dns]\nservers = "1.1.1.1"', "dns.servers", "1.1.1.1", "must be a list"],
    ["a date where a string belongs", "hostname = 1979-05-27", "hostname", ANY_VALUE, "not a date"],
    ["tls.cert without tls.key", '[tls]\ncert = "c.pem"', "tls.key", NO_VALUE, "is not set but tls.cert is"],
    ["tls.key without tls.cert", '[tls]\nkey = "k.pem"', "tls.cert", NO_VALUE, "is not set but tls.key is"],
    [
      "same address twice across listeners",
      '[listen]\nsmtp = ["127.0.0.1:2525"]\nsubmission = ["127.0.0.1:2525"]',
      "listen.submission[0]",
      "127.0.0.1:2525",
      'port 2525 is used twice (also listen.smtp[0] = "127.0.0.1:2525")',
    ],
    [
      "same address twice in one listener",
      '[listen]\nimap = ["127.0.0.1:1143", "127.0.0.1:1143"]',
      "listen.imap[1]",
      "127.0.0.1:1143",
      "also listen.imap[0]",
    ],
    [
      "same IPv6 address spelled differently",
      '[listen]\npop3 = ["[::1]:1110"]\npop3s = ["[0:0::1]:1110"]',
      "listen.pop3s[0]",
      "[0:0::1]:1110",
      "used twice",
    ],
    [
      "a specific address under a wildcard on the same port",
      '[listen]\nsmtp = ["0.0.0.0:2525"]\nimap = ["127.0.0.1:2525"]',
      "listen.imap[0]",
      "127.0.0.1:2525",
      "overlaps",
    ],
    [
      "an IPv4 address under the dual-stack wildcard",
      '[listen]\nsmtp = ["[::]:2525"]\nimap = ["127.0.0.1:2525"]',
      "listen.imap[0]",
      "127.0.0.1:2525",
      "overlaps",
    ],
    [
      "a default listener clashing with a configured one",
      '[listen]\nimap = ["127.0.0.1:25"]',
      "listen.imap[0]",
      "127.0.0.1:25",
      'also listen.smtp[0] = "0.0.0.0:25"',
    ],
  ];
  for (const [name, toml, key, value, fragment] of cases) {
    it(`${name}: ${key}`, () => {
      const { file, load } = loadText(`${toml}\n`);
      const issues = issuesOf(load);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      const issue = issues[0]!;
      assert.equal(issue.file, file);
      assert.equal(issue.key, key);
      if (value === NO_VALUE) assert.ok(!("value" in issue), "a missing key has no value");
      else if (value !== ANY_VALUE) assert.deepEqual(issue.value, value);
      assert.ok(issue.reason.includes(fragment), `"${issue.reason}" should contain "${fragment}"`);
    });
  }

  it("port 0 never clashes (every test binds its own free port)", () => {
    const c = configFromObject({
      listen: { smtp: ["127.0.0.1:0"], imap: ["127.0.0.1:0"], pop3: ["[::1]:0"] },
    });
    assert.equal(c.listen.imap[0]!.port, 0);
  });

  it("different addresses on one port, and one address on different ports, are fine", () => {
    configFromObject({ listen: { smtp: ["127.0.0.1:2525", "[::1]:2525"], submission: ["127.0.0.2:2525"] } });
    configFromObject({ listen: { smtp: ["0.0.0.0:2525"], submission: ["[::1]:2525"] } });
  });

  it("collects every problem in one error, in file order, one line each", () => {
    const { dir, load } = loadText(
      [
        'hostname = "bad_name"',
        'colour = "blue"',
        "[listen]",
        'smtp = ["0.0.0.0:99999"]',
        '[log]\nlevel = "loud"',
        '[limits]\nmessage_size = "big"',
        '[tls]\ncert = "c.pem"',
      ].join("\n"),
    );
    const err = errorOf(load);
    assert.deepEqual(
      err.issues.map((i) => i.key),
      ["colour", "hostname", "listen.smtp[0]", "log.level", "limits.message_size", "tls.key"],
    );
    const lines = err.format(dir).split("\n");
    assert.equal(lines.length, 6);
    assert.ok(
      lines.every((l) => l.startsWith("postamt.toml: ")),
      lines.join("\n"),
    );
    assert.ok(
      lines.includes(
        'postamt.toml: listen.smtp[0] = "0.0.0.0:99999": port must be 1-65535 (or 0 for any free port)',
      ),
    );
    assert.ok(
      lines.includes('postamt.toml: colour = "blue": unknown key; `postamt config describe` lists every key'),
    );
    assert.ok(err.message.startsWith("invalid configuration (6 problems):\n"));
  });

  it("names the file by its absolute path when it is outside cwd", () => {
    const { file, load } = loadText("hostname = 1\n");
    assert.ok(errorOf(load).format("/nonexistent-cwd").startsWith(`${file}: hostname = 1: `));
  });

  it("TOML syntax errors carry the line and column", () => {
    const { dir, file, load } = loadText(
      'hostname = "mail.example.com"\n[listen]\nsmtp = ["0.0.0.0:25",\nimap = 3\n',
    );
    const issues = issuesOf(load);
    assert.equal(issues.length, 1);
    const issue = issues[0]!;
    assert.equal(issue.file, file);
    assert.equal(issue.key, "");
    assert.equal(issue.line, 4);
    assert.equal(typeof issue.column, "number");
    assert.match(issue.reason, /^TOML syntax error: /);
    assert.match(errorOf(load).format(dir), /^postamt\.toml:4:\d+: TOML syntax error: /);
  });

  it("a duplicate key is a TOML error with its line", () => {
    const { load } = loadText('hostname = "a.example"\n\nhostname = "b.example"\n');
    assert.equal(issuesOf(load)[0]!.line, 3);
  });
});

describe("configFromObject", () => {
  it("validates in-memory objects like files; null means unset", () => {
    const c = configFromObject({
      listen: { smtp: ["127.0.0.1:0"] },
      tls: { cert: null, key: null },
      limits: { message_size: 1000 },
    });
    assert.deepEqual(c.listen.smtp, [{ host: "127.0.0.1", port: 0, text: "127.0.0.1:0" }]);
    assert.equal(c.limits.message_size, 1000);
    assert.equal(c.tls.cert, null);
  });

  it("pop3.expire takes a number of days (RFC 2449 §6.7 EXPIRE n), up to 36500", () => {
    assert.equal(configFromObject({ pop3: { expire: 30 } }).pop3.expire, 30);
    assert.equal(configFromObject({ pop3: { expire: 36500 } }).pop3.expire, 36500);
    assert.equal(configFromObject({ pop3: { expire: "NEVER" } }).pop3.expire, "never");
  });

  it("reports issues with file null, shown as 'config'", () => {
    const err = errorOf(() => configFromObject({ outbound: { port: 70000 } }));
    assert.equal(err.issues[0]!.file, null);
    assert.equal(err.format(), "config: outbound.port = 70000: port must be 1-65535");
  });

  it("rejects something that is not a table", () => {
    for (const bad of [null, 5, "x", ["a"]]) {
      assert.equal(
        issuesOf(() => configFromObject(bad))[0]!.reason,
        "the configuration must be a table of keys",
      );
    }
  });
});

describe("results", () => {
  it("are deeply frozen", () => {
    const c = configFromObject({ dns: { servers: ["127.0.0.1"] } });
    for (const o of [c, c.listen, c.listen.smtp, c.listen.smtp[0], c.tls, c.dns.servers, c.limits]) {
      assert.ok(Object.isFrozen(o));
    }
    assert.throws(() => {
      (c as { hostname: string }).hostname = "x";
    }, TypeError);
    assert.throws(() => (c.dns.servers as string[]).push("1.1.1.1"), TypeError);
    assert.throws(() => {
      (c.listen.smtp[0] as { port: number }).port = 1;
    }, TypeError);
  });

  it("loading has no side effects: no data_dir, no database, nothing new in the directory", () => {
    const { dir, load } = loadText('data_dir = "state/data"\n[store]\nurl = "sqlite:db/mail.db"\n');
    const before = fs.readdirSync(dir);
    const c = load();
    assert.equal(c.data_dir, path.join(dir, "state", "data"));
    assert.deepEqual(fs.readdirSync(dir), before);
    assert.ok(!fs.existsSync(path.join(dir, "state")));
    assert.ok(!fs.existsSync(path.join(dir, "db")));
    // defaults without a file do not create ./data in cwd either
    const empty = tmpDir();
    loadConfig({ cwd: empty, env: {} });
    assert.deepEqual(fs.readdirSync(empty), []);
  });
});

describe("outbound routes and next hops", () => {
  it("parses smarthost and routes, keeping brackets as 'no MX lookup'", () => {
    const c = configFromObject({
      outbound: {
        smarthost: "smtp.provider.example:587",
        routes: ["example.org=[10.0.0.5]:2525", "*.corp.example=relay.corp.example"],
      },
    });
    assert.equal(c.outbound.smarthost, "smtp.provider.example:587");
    assert.deepEqual(c.outbound.routes, [
      { domain: "example.org", hop: { host: "10.0.0.5", port: 2525, literal: true, text: "[10.0.0.5]:2525" } },
      {
        domain: "*.corp.example",
        hop: { host: "relay.corp.example", port: 25, literal: false, text: "relay.corp.example" },
      },
    ]);
  });

  it("reports a bad route with its index and the fix", () => {
    const err = errorOf(() => configFromObject({ outbound: { routes: ["example.org"] } }));
    assert.match(err.format(), /outbound\.routes\[0\] = "example\.org": has no "="; write "DOMAIN=HOST:PORT"/);
    const err2 = errorOf(() => configFromObject({ outbound: { smarthost: "relay:99999" } }));
    assert.match(err2.format(), /outbound\.smarthost = "relay:99999": port must be 1-65535/);
  });
});
