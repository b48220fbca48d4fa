// The schema table: the ONLY place that states each key's type, default and meaning. load.ts
// validates against it, describe.ts documents from it (docs/config.md), and the types below tie every
// entry to the matching field of Config at compile time.

import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  type Config,
  LISTENER_NAMES,
  type ListenAddress,
  type ListenerName,
  type LogLevel,
  type Pop3Expire,
  type SmarthostTls,
} from "./types.js";
import * as v from "./values.js";

// ---- value types ---------------------------------------------------------------------------------

export interface ParseContext {
  /** relative paths resolve against this: the config file's directory, or the cwd without a file */
  readonly baseDir: string;
}

/** One problem with a value; `at` is "" or an element index like "[0]". */
export interface Problem {
  readonly at: string;
  readonly value: unknown;
  readonly reason: string;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

export interface ValueType<T> {
  /** shown in `config describe`; the syntax of each base name is explained in VALUE_FORMATS */
  readonly name: string;
  parse(raw: unknown, ctx: ParseContext): Outcome<T>;
}

function scalar<T>(name: string, parse: (raw: unknown, ctx: ParseContext) => v.Parsed<T>): ValueType<T> {
  return {
    name,
    parse(raw, ctx) {
      const r = parse(raw, ctx);
      return r.ok ? r : { ok: false, problems: [{ at: "", value: raw, reason: r.reason }] };
    },
  };
}

/** A list whose elements are checked one by one, so each bad element is reported with its index. */
function list<T>(name: string, example: string, parse: (raw: unknown) => v.Parsed<T>): ValueType<T[]> {
  return {
    name,
    parse(raw) {
      if (!Array.isArray(raw)) {
        const reason = `must be a list, e.g. ${example}${typeof raw === "string" ? `; write [${JSON.stringify(raw)}]` : ""}`;
        return { ok: false, problems: [{ at: "", value: raw, reason }] };
      }
      const values: T[] = [];
      const problems: Problem[] = [];
      raw.forEach((item, i) => {
        const r = parse(item);
        if (r.ok) values.push(r.value);
        else problems.push({ at: `[${i}]`, value: item, reason: r.reason });
      });
      return problems.length === 0 ? { ok: true, value: values } : { ok: false, problems };
    },
  };
}

function bounded(
  r: v.Parsed<number>,
  min: number,
  max: number,
  unit: (n: number) => string,
): v.Parsed<number> {
  if (!r.ok) return r;
  if (r.value < min) return { ok: false, reason: `must be at least ${unit(min)}` };
  if (r.value > max) return { ok: false, reason: `must be at most ${unit(max)}` };
  return r;
}

/** Upper bound of `pop3.expire` in days (100 years). */
export const POP3_EXPIRE_MAX_DAYS = 36_500;

/** `pop3.expire`: "never" or a whole number of days 0-36500 (see Pop3Expire). */
function parsePop3Expire(raw: unknown): v.Parsed<Pop3Expire> {
  const expected = `must be "never" or a whole number of days 0-${POP3_EXPIRE_MAX_DAYS}`;
  if (typeof raw === "string") {
    const text = raw.trim().toLowerCase();
    if (text === "never") return { ok: true, value: "never" };
    if (/^\d+$/.test(text))
      return { ok: false, reason: `must be a number, not a string: write ${text} without quotes` };
    return { ok: false, reason: expected };
  }
  if (typeof raw === "number" || typeof raw === "bigint") {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 0 && n <= POP3_EXPIRE_MAX_DAYS) return { ok: true, value: n };
  }
  return { ok: false, reason: `${expected}, not ${v.describeKind(raw)}` };
}

const bytes = (n: number) => `${n} byte${n === 1 ? "" : "s"}`;
const seconds = (n: number) => `${n} second${n === 1 ? "" : "s"}`;

export const types = {
  string: scalar("string", v.parseString),
  hostname: scalar("hostname", v.parseHostname),
  bool: scalar("bool", v.parseBool),
  int: (min: number, max: number) => scalar(`integer ${min}-${max}`, (raw) => v.parseInteger(raw, min, max)),
  /** allowZero: listeners and the like, where 0 means "any free port" (tests) */
  port: (allowZero = false) => scalar("port", (raw) => v.parsePort(raw, allowZero)),
  listen: list<ListenAddress>("listen list", '["0.0.0.0:25"]', v.parseListenAddress),
  size: (min = 0, max = Number.MAX_SAFE_INTEGER) =>
    scalar("size", (raw) => bounded(v.parseSize(raw), min, max, bytes)),
  duration: (min = 0, max = Number.MAX_SAFE_INTEGER) =>
    scalar(max < Number.MAX_SAFE_INTEGER ? `duration, at most ${max}s` : "duration", (raw) =>
      bounded(v.parseDuration(raw), min, max, seconds),
    ),
  path: scalar("path", (raw, ctx) => v.parsePath(raw, ctx.baseDir)),
  enum: <T extends string>(values: readonly T[]) =>
    scalar(`one of ${values.join(", ")}`, (raw) => v.parseEnum(raw, values)),
  listeners: list<ListenerName>("listener list", '["smtp"]', (raw) => v.parseEnum(raw, LISTENER_NAMES)),
  dnsServers: list<string>("address list", '["127.0.0.1:5353"]', v.parseDnsServer),
  storeUrl: scalar("store url", (raw, ctx) => v.parseStoreUrl(raw, ctx.baseDir)),
  /** "" or an IP address of the given family */
  ipAddress: (family: 4 | 6) =>
    scalar(`IPv${family} address`, (raw) => {
      if (raw === "") return { ok: true, value: "" };
      if (typeof raw === "string" && net.isIP(raw.trim()) === family) return { ok: true, value: raw.trim() };
      return { ok: false, reason: `must be an IPv${family} address or "" (let the system choose)` };
    }),
  /** kept as its text (Config leaves are scalars); read it with v.parseNextHop */
  nextHop: scalar("next hop", (raw) => {
    const r = v.parseNextHop(raw);
    return r.ok ? { ok: true, value: r.value.text } : r;
  }),
  routes: list<v.Route>("route list", '["example.org=[10.0.0.5]:25"]', v.parseRoute),
  durations: list<number>("duration list", '["2m", "10m", "1h"]', (raw) =>
    bounded(v.parseDuration(raw), 1, 86_400 * 7, seconds),
  ),
  networks: list<string>("network list", '["192.0.2.0/24", "2001:db8::/32"]', v.parseNetworkValue),
  hostnames: list<string>("hostname list", '["zen.spamhaus.org"]', v.parseHostname),
  pop3Expire: scalar(`one of "never", 0-${POP3_EXPIRE_MAX_DAYS} (days)`, parsePop3Expire),
};

/** The syntax of each type, for `config describe` (keyed by the start of ValueType.name). */
export const VALUE_FORMATS: ReadonlyArray<{ name: string; doc: string }> = [
  { name: "hostname", doc: "A DNS name (RFC 1123): letters, digits and `-` in dot-separated labels." },
  {
    name: "listen list",
    doc:
      'A list of `"address:port"` strings: an IPv4 address, `"[IPv6]:port"`, a host name, or `*` ' +
      '(every IPv4 address, the same as `0.0.0.0`; `"[::]:port"` is every IPv4 and IPv6 address). ' +
      "Port 0 picks a free port (for tests). " +
      "`[]` disables the listener. Two listeners cannot share an address and port.",
  },
  {
    name: "size",
    doc:
      'Bytes: a whole number, or a string with a unit: `"50MiB"`, `"512KiB"`, `"10M"`, `"1.5G"`. Units ' +
      "are case-insensitive powers of 1024: K, KB and KiB all mean 1024; M, MB, MiB 1024²; G, GB, GiB " +
      "1024³; T, TB, TiB 1024⁴.",
  },
  {
    name: "duration",
    doc: 'Seconds: a whole number, or a string with units s, m, h, d: `"30s"`, `"10m"`, `"2h"`, `"1d"`, `"1h30m"`.',
  },
  {
    name: "path",
    doc: "A file or directory. A relative path is resolved against the config file's directory (without a file: the current directory).",
  },
  {
    name: "store url",
    doc:
      '`"sqlite:PATH"` (PATH resolved like any path; `sqlite::memory:` is refused, as it would lose all mail) ' +
      'or `"postgres://USER:PASSWORD@HOST:PORT/DB"` (`postgresql://` works too).',
  },
  {
    name: "listener list",
    doc: `A list of listener names: ${LISTENER_NAMES.map((n) => `\`"${n}"\``).join(", ")}.`,
  },
  {
    name: "next hop",
    doc:
      '`"HOST:PORT"` or `"HOST"` (port 25). `"[HOST]:PORT"` (brackets, always for IPv6) connects to that host ' +
      "itself; without brackets a host name's MX records are looked up first, as Postfix does.",
  },
  {
    name: "route list",
    doc: 'A list of `"DOMAIN=NEXTHOP"` strings, e.g. `["example.org=[10.0.0.5]:25", "*.corp.example=relay.corp.example:25"]`; `*.` matches every subdomain.',
  },
  { name: "IPv4 address", doc: 'An IPv4 address such as `"192.0.2.25"`, or `""` for none.' },
  { name: "IPv6 address", doc: 'An IPv6 address such as `"2001:db8::25"`, or `""` for none.' },
  { name: "duration list", doc: 'A list of durations, e.g. `["2m", "5m", "1h"]`.' },
  {
    name: "network list",
    doc: 'A list of IP networks: `"192.0.2.0/24"`, `"2001:db8::/32"`, or one address such as `"192.0.2.7"`.',
  },
  { name: "hostname list", doc: 'A list of DNS names, e.g. `["zen.spamhaus.org"]`.' },
  { name: "address list", doc: 'A list of DNS server addresses: `"ip"`, `"ip:port"` or `"[ipv6]:port"`.' },
];

// ---- the table -----------------------------------------------------------------------------------

/** Dotted keys of Config's leaves ("listen.smtp", "limits.message_size"), without `source`. */
type LeafKeys<T, P extends string = ""> = {
  [K in keyof T & string]: T[K] extends string | number | boolean | null | readonly unknown[]
    ? `${P}${K}`
    : LeafKeys<T[K], `${P}${K}.`>;
}[keyof T & string];

export type ConfigKey = Exclude<LeafKeys<Config>, "source">;

/** The type of Config at a dotted key. */
export type ValueAt<K extends string, T = Config> = K extends `${infer H}.${infer R}`
  ? H extends keyof T
    ? ValueAt<R, T[H]>
    : never
  : K extends keyof T
    ? T[K]
    : never;

/** A value as it is written in the file (before parsing). */
export type RawValue = string | number | boolean | readonly string[];

/** A default that depends on the machine or on other keys; `text` is what describe shows instead. */
export interface DerivedDefault {
  /** undefined when a key it depends on is invalid (that key's problem is already reported) */
  readonly derive: (get: (key: ConfigKey) => unknown) => RawValue | undefined;
  /** markdown: put code in backticks (text output strips them) */
  readonly text: string;
}

export interface SchemaEntry<K extends ConfigKey = ConfigKey, T = unknown> {
  readonly key: K;
  readonly type: ValueType<T>;
  /** written like a value in the file and parsed like one; null = unset */
  readonly default: RawValue | DerivedDefault | null;
  readonly doc: string;
  /** shown, commented out, in the example file when the default is null or derived */
  readonly example?: RawValue;
  /** checks against other keys, run once every key is parsed; returns the reason it is wrong */
  readonly validate?: (value: T | null, get: (key: ConfigKey) => unknown) => string | undefined;
}

/** Ties the entry's value type to Config's type at its key (checked at compile time). */
function entry<K extends ConfigKey>(e: SchemaEntry<K, NonNullable<ValueAt<K>>>): SchemaEntry<K> {
  return e as unknown as SchemaEntry<K>;
}

/** Compile-time check that the table covers every key of Config: a missing key is a type error
 *  naming it ("Property 'missing' is missing … { missing: "limits.foo" }"). */
function complete<const T extends readonly SchemaEntry[]>(
  table: T &
    ([Exclude<ConfigKey, T[number]["key"]>] extends [never]
      ? unknown
      : { missing: Exclude<ConfigKey, T[number]["key"]> }),
): readonly SchemaEntry[] {
  return table;
}

/** Generic so each entry keeps its literal key for complete(); the value type is checked once
 *  against every listen.* key (they all share it). */
function listener<K extends `listen.${ListenerName}`>(key: K, address: string, doc: string): SchemaEntry<K> {
  const checked = entry({
    key: key as `listen.${ListenerName}`,
    type: types.listen,
    default: [address],
    doc,
  });
  return { ...checked, key };
}

/** tls.cert and tls.key are set together or not at all. */
function pairedWith(other: ConfigKey, self: ConfigKey) {
  return (value: string | null, get: (key: ConfigKey) => unknown): string | undefined => {
    const otherValue = get(other);
    if (value === null && typeof otherValue === "string") {
      return `is not set but ${other} is; set ${self} too (or remove both to use a generated self-signed certificate)`;
    }
    return undefined;
  };
}

export const SCHEMA: readonly SchemaEntry[] = complete([
  entry({
    key: "hostname",
    type: types.hostname,
    default: { derive: () => os.hostname(), text: "the machine's host name" },
    example: "mail.example.com",
    doc:
      "Name of this server: the SMTP greeting, Received headers and EHLO when sending. Use the name " +
      "the MX and PTR records point to.",
  }),
  entry({
    key: "data_dir",
    type: types.path,
    default: "./data",
    doc:
      "Directory for the database, message files, the generated TLS certificate and DKIM keys. " +
      "Created when the server starts; loading the configuration never creates it.",
  }),
  listener("listen.smtp", "0.0.0.0:25", "Inbound SMTP from other mail servers (RFC 5321), with STARTTLS."),
  listener(
    "listen.submission",
    "0.0.0.0:587",
    "Message submission by mail clients (RFC 6409): STARTTLS, then AUTH.",
  ),
  listener("listen.submissions", "0.0.0.0:465", "Message submission over implicit TLS (RFC 8314)."),
  listener("listen.imap", "0.0.0.0:143", "IMAP with STARTTLS."),
  listener("listen.imaps", "0.0.0.0:993", "IMAP over implicit TLS."),
  listener("listen.pop3", "0.0.0.0:110", "POP3 with STLS."),
  listener("listen.pop3s", "0.0.0.0:995", "POP3 over implicit TLS."),
  listener(
    "listen.http",
    "127.0.0.1:8080",
    "Admin API, metrics, autoconfig and the MTA-STS policy. Keep it on loopback unless a reverse proxy is in front.",
  ),
  entry({
    key: "tls.cert",
    type: types.path,
    default: null,
    example: "/etc/postamt/fullchain.pem",
    validate: pairedWith("tls.key", "tls.cert"),
    doc:
      "PEM certificate chain, server certificate first. Unset: a self-signed certificate is generated " +
      "into `<data_dir>/tls`. Set together with `tls.key`.",
  }),
  entry({
    key: "tls.key",
    type: types.path,
    default: null,
    example: "/etc/postamt/privkey.pem",
    validate: pairedWith("tls.cert", "tls.key"),
    doc: "PEM private key (unencrypted) of `tls.cert`. Set together with `tls.cert`.",
  }),
  entry({
    key: "store.url",
    type: types.storeUrl,
    default: {
      derive: (get) => {
        const dataDir = get("data_dir");
        return typeof dataDir === "string" ? `sqlite:${path.join(dataDir, "postamt.db")}` : undefined;
      },
      text: "`sqlite:<data_dir>/postamt.db`",
    },
    example: "postgres://postamt@localhost/postamt",
    doc: "Where accounts, mailboxes, message metadata and the queue are kept: SQLite or PostgreSQL.",
  }),
  entry({
    key: "dns.servers",
    type: types.dnsServers,
    default: [],
    doc: 'DNS servers for MX, SPF, DKIM, DMARC and MTA-STS lookups, e.g. `["127.0.0.1:5353"]`. Empty: the system resolver.',
  }),
  entry({
    key: "outbound.port",
    type: types.port(),
    default: 25,
    doc: "Destination port for delivery to other domains' MX hosts. Only tests and unusual setups change it.",
  }),
  entry({
    key: "outbound.smarthost",
    type: types.nextHop,
    default: null,
    example: "smtp.provider.example:587",
    doc:
      "Send all mail for other domains through this relay (your provider's or ISP's SMTP server) instead of " +
      "each domain's MX. Unset: deliver directly.",
  }),
  entry({
    key: "outbound.smarthost_tls",
    type: types.enum<SmarthostTls>(["starttls", "implicit", "none"]),
    default: "starttls",
    doc: "How to talk to the smarthost: `starttls` (required, port 587/25), `implicit` (TLS from the first byte, port 465) or `none` (plain text, only for a relay on a trusted network).",
  }),
  entry({
    key: "outbound.smarthost_user",
    type: types.string,
    default: "",
    doc: "User name for SMTP AUTH at the smarthost; empty: no authentication.",
  }),
  entry({
    key: "outbound.smarthost_password",
    type: types.string,
    default: "",
    doc: "Password for SMTP AUTH at the smarthost (keep the config file readable only by Postamt).",
  }),
  entry({
    key: "outbound.routes",
    type: types.routes,
    default: [],
    doc: "Per-domain next hops, used instead of the smarthost and MX lookup for those domains.",
  }),
  entry({
    key: "outbound.tls",
    type: types.enum(["opportunistic", "required"] as const),
    default: "opportunistic",
    doc:
      "TLS towards MX hosts that publish no MTA-STS or DANE policy: `opportunistic` uses STARTTLS when offered and " +
      "accepts any certificate (RFC 7435), `required` defers mail to hosts without working STARTTLS.",
  }),
  entry({
    key: "outbound.mta_sts",
    type: types.bool,
    default: true,
    doc: "Fetch and obey recipient domains' MTA-STS policies (RFC 8461): in `enforce` mode mail is only sent to an allowed MX with a valid certificate.",
  }),
  entry({
    key: "outbound.dane",
    type: types.bool,
    default: true,
    doc:
      "Verify MX certificates against DNSSEC-signed TLSA records (RFC 7672). Needs a validating resolver in " +
      "`dns.servers` that sets the AD bit; without one, TLS stays opportunistic.",
  }),
  entry({
    key: "outbound.tls_ca",
    type: types.path,
    default: null,
    example: "/etc/postamt/private-ca.pem",
    doc: "Extra trusted CA certificates (PEM) for MX, smarthost and MTA-STS certificate checks, besides the system's.",
  }),
  entry({
    key: "outbound.https_port",
    type: types.port(),
    default: 443,
    doc: "Port of the HTTPS servers that publish MTA-STS policies. Only tests change it.",
  }),
  entry({
    key: "outbound.bind_address",
    type: types.ipAddress(4),
    default: "",
    doc: "Source IPv4 address for connections to other mail servers (Postfix smtp_bind_address); the one your SPF record and PTR name. Empty: the system picks.",
  }),
  entry({
    key: "outbound.bind_address6",
    type: types.ipAddress(6),
    default: "",
    doc: "Source IPv6 address for connections to other mail servers. Empty: the system picks.",
  }),
  entry({
    key: "outbound.connect_timeout",
    type: types.duration(1, 600),
    default: "30s",
    doc: "How long to wait for a TCP connection to a remote mail server before trying the next address.",
  }),
  entry({
    key: "queue.retry_intervals",
    type: types.durations,
    default: ["2m", "5m", "10m", "15m", "30m", "1h", "2h", "4h"],
    doc: "Waits between delivery attempts after a temporary failure; the last one repeats until the message expires.",
  }),
  entry({
    key: "queue.lifetime",
    type: types.duration(60, 86_400 * 30),
    default: "5d",
    doc: "How long a message is retried before it is returned to the sender as undeliverable.",
  }),
  entry({
    key: "queue.delay_warning",
    type: types.duration(0, 86_400 * 30),
    default: "4h",
    doc: "After this long undelivered, the sender gets one delay notice (unless they asked for none with DSN NOTIFY). 0: never.",
  }),
  entry({
    key: "queue.concurrency",
    type: types.int(1, 10_000),
    default: 100,
    doc: "Outbound deliveries in progress at once (Postfix default_process_limit: 100).",
  }),
  entry({
    key: "queue.destination_concurrency",
    type: types.int(1, 1_000),
    default: 20,
    doc: "Outbound deliveries in progress at once to one recipient domain, each on its own connection (Postfix default_destination_concurrency_limit: 20).",
  }),
  entry({
    key: "dkim.sign",
    type: types.bool,
    default: true,
    doc: "DKIM-sign mail that local users send (RFC 6376 rsa-sha256 and RFC 8463 ed25519-sha256) with the keys `postamt dns` publishes.",
  }),
  entry({
    key: "inbound.authenticate",
    type: types.bool,
    default: true,
    doc:
      "Check SPF (RFC 7208), DKIM (RFC 6376, 8463), DMARC (RFC 7489), ARC (RFC 8617) and reverse DNS of mail " +
      "arriving on the `smtp` listener, and record the results in an `Authentication-Results` header " +
      "(RFC 8601) named after `hostname`. Such headers that claim to be ours are removed from incoming mail.",
  }),
  entry({
    key: "inbound.dmarc_enforce",
    type: types.bool,
    default: true,
    doc:
      "Honour the sender domain's DMARC policy when a message fails DMARC: `p=reject` is refused with " +
      "550 5.7.1, `p=quarantine` is delivered to the recipient's Junk mailbox. false: only record the result.",
  }),
  entry({
    key: "inbound.protect_local_domains",
    type: types.bool,
    default: true,
    doc:
      "Mail from outside whose From: is one of our own domains must pass DMARC alignment (SPF or DKIM) even " +
      "when the domain publishes no DMARC record; otherwise it is refused with 550 5.7.1. Local users send through submission.",
  }),
  entry({
    key: "inbound.spf_reject",
    type: types.bool,
    default: false,
    doc:
      "Refuse at MAIL FROM (550 5.7.23) when SPF of the sender's domain fails (`-all`). Off by default: " +
      "forwarded mail fails SPF, and DMARC judges SPF together with DKIM.",
  }),
  entry({
    key: "inbound.trusted_arc_sealers",
    type: types.hostnames,
    default: [],
    example: ["lists.example.org"],
    doc:
      "Domains whose ARC seal (RFC 8617) Postamt trusts, e.g. mailing lists that rewrite messages: mail that fails " +
      "DMARC but carries a passing ARC chain sealed by one of them, with dmarc=pass recorded there, is not rejected or quarantined.",
  }),
  entry({
    key: "inbound.dmarc_reports",
    type: types.bool,
    default: true,
    doc:
      "Record DMARC aggregate report data (per day, From domain, source IP and result), shown by `postamt dmarc`.",
  }),
  entry({
    key: "dnsbl.zones",
    type: types.hostnames,
    default: [],
    example: ["zen.spamhaus.org"],
    doc:
      "DNS blocklists the `smtp` listener checks the client IP against (RFC 5782); a listed client's recipients " +
      "are refused with 554 5.7.1 quoting the list's TXT answer. Empty: no DNSBL check.",
  }),
  entry({
    key: "greylist.enabled",
    type: types.bool,
    default: false,
    doc:
      "Greylisting (RFC 6647) on the `smtp` listener: the first message of an unknown (client network, sender, " +
      "recipient) triplet gets 451 4.7.1; a retry after `greylist.delay` is accepted, and the client network is allowed from then on.",
  }),
  entry({
    key: "greylist.delay",
    type: types.duration(0, 86_400),
    default: "5m",
    doc: "How long a sender must wait before its retry is accepted.",
  }),
  entry({
    key: "greylist.retry_window",
    type: types.duration(60, 86_400 * 30),
    default: "2d",
    doc: "A retry later than this after the first attempt counts as a new first attempt.",
  }),
  entry({
    key: "greylist.auto_allow_time",
    type: types.duration(0, 86_400 * 365),
    default: "35d",
    doc: "How long a client network that retried correctly skips greylisting (renewed by each message).",
  }),
  entry({
    key: "greylist.allow_networks",
    type: types.networks,
    default: [],
    doc: "Client networks never greylisted.",
  }),
  entry({
    key: "greylist.allow_senders",
    type: types.hostnames,
    default: [],
    doc: "Sender domains (MAIL FROM) never greylisted, e.g. big providers that retry from other addresses.",
  }),
  entry({
    key: "rspamd.url",
    type: types.string,
    default: null,
    example: "http://127.0.0.1:11333",
    doc:
      "The URL of rspamd's normal worker (HTTP /checkv2). When set, every message on the `smtp` listener is scanned and " +
      "rspamd's action is honoured: reject → 550 5.7.1, soft reject/greylist → 451 4.7.1, add header / rewrite subject → " +
      "X-Spam headers and the Junk mailbox. Unset: the built-in checks decide.",
  }),
  entry({
    key: "rspamd.timeout",
    type: types.duration(1, 600),
    default: "15s",
    doc: "How long to wait for rspamd's answer.",
  }),
  entry({
    key: "rspamd.on_error",
    type: types.enum(["accept", "tempfail"] as const),
    default: "accept",
    doc: "What to do when rspamd cannot be reached or answers badly: accept the message unscanned, or 451 4.7.1.",
  }),
  entry({
    key: "log.level",
    type: types.enum<LogLevel>(["trace", "debug", "info", "warn", "error", "fatal"]),
    default: "info",
    doc: "Least severe level that is logged.",
  }),
  entry({
    key: "limits.message_size",
    type: types.size(1),
    default: "50MiB",
    doc: "Largest message accepted, advertised as SIZE in EHLO; larger messages are refused with 552.",
  }),
  entry({
    key: "limits.mime_header_bytes",
    type: types.size(1),
    default: "1MiB",
    doc: "MIME parser bound: longest header section of one part.",
  }),
  entry({
    key: "limits.mime_parts",
    type: types.int(1, 1_000_000),
    default: 10_000,
    doc: "MIME parser bound: most parts in one message (Dovecot's default is 10000).",
  }),
  entry({
    key: "limits.mime_depth",
    type: types.int(1, 1000),
    default: 100,
    doc: "MIME parser bound: deepest nesting of multiparts and attached messages (Dovecot's default is 100).",
  }),
  entry({
    key: "limits.recipients",
    type: types.int(1, 100_000),
    default: 100,
    doc: "Recipients accepted in one SMTP transaction; more get 452 4.5.3 (RFC 5321 §4.5.3.1.8 asks for at least 100).",
  }),
  entry({
    key: "limits.bad_commands",
    type: types.int(1, 10_000),
    default: 10,
    doc: "Protocol errors (unknown commands, syntax errors, bad sequence) in one session before it is closed with 421.",
  }),
  entry({
    key: "limits.junk_commands",
    type: types.int(1, 100_000),
    default: 100,
    doc: "NOOP, RSET, VRFY, HELP and other commands that move no mail, per SMTP session, before it is closed with 421.",
  }),
  entry({
    key: "limits.hops",
    type: types.int(5, 1_000),
    default: 50,
    doc: "Received header fields a message may carry; more means a mail loop, and it is refused or bounced with 5.4.6 (RFC 5321 §6.3).",
  }),
  entry({
    key: "limits.connections_per_ip",
    type: types.int(0, 1_000_000),
    default: 50,
    doc: "Simultaneous connections from one IP address (IPv6: one /64) to each protocol; 0 means unlimited.",
  }),
  entry({
    key: "limits.connections_per_network",
    type: types.int(0, 1_000_000),
    default: 200,
    doc: "Simultaneous connections from one network (IPv4 /24, IPv6 /48) to each protocol; 0 means unlimited.",
  }),
  entry({
    key: "limits.connection_rate",
    type: types.int(0, 1_000_000),
    default: 120,
    doc:
      "New connections one IP address (IPv6: one /64) may open per minute, over all listeners; more are " +
      "answered with a temporary error (SMTP 421 4.7.0) and closed. 0 means unlimited.",
  }),
  entry({
    key: "limits.message_rate",
    type: types.int(0, 1_000_000),
    default: 300,
    doc: "Messages one client IP address may send to the `smtp` (MX) listener per minute; more get 451 4.7.1. 0 means unlimited.",
  }),
  entry({
    key: "limits.recipient_rate",
    type: types.int(0, 1_000_000),
    default: 1000,
    doc: "Recipients one client IP address may name on the `smtp` (MX) listener per minute; more get 451 4.7.1. 0 means unlimited.",
  }),
  entry({
    key: "limits.exempt_networks",
    type: types.networks,
    default: ["127.0.0.0/8", "::1/128"],
    doc:
      "Client networks that skip the connection, message and recipient rates, DNSBL checks and greylisting " +
      "(like Postfix's `smtpd_client_event_limit_exceptions`). It grants no relaying.",
  }),
  entry({
    key: "limits.null_sender_recipients",
    type: types.int(1, 100_000),
    default: 1,
    doc: "Recipients of one message from the null sender `<>` (a bounce) on the `smtp` listener; a real bounce has one.",
  }),
  entry({
    key: "limits.send_messages_per_hour",
    type: types.int(0, 100_000_000),
    default: 1000,
    doc: "Messages one account may submit (ports 587/465) per hour; more get 451 4.7.1 at MAIL FROM. 0 means unlimited.",
  }),
  entry({
    key: "limits.send_recipients_per_day",
    type: types.int(0, 100_000_000),
    default: 10000,
    doc: "Recipients one account may submit to per 24 hours; more get 451 4.7.1 at RCPT TO. 0 means unlimited.",
  }),
  entry({
    key: "timeouts.smtp_command",
    type: types.duration(1, 86_400),
    default: "5m",
    doc:
      "Deadline for an SMTP client to send one complete command line (RFC 5321 §4.5.3.2.7: 5 minutes). It is " +
      "a deadline: a client that trickles a byte at a time is cut off too.",
  }),
  entry({
    key: "timeouts.smtp_data",
    type: types.duration(1, 86_400),
    default: "10m",
    doc: "Deadline for one whole DATA or BDAT transfer (RFC 5321 §4.5.3.2.6 gives 10 minutes for the end of data).",
  }),
  entry({
    key: "smtp.greet_pause",
    type: types.duration(0, 60),
    default: 0,
    doc:
      "Seconds the `smtp` (MX) listener waits before its greeting. A client that talks before the greeting is " +
      "refused with 554 (spam engines often do). 0 disables the check.",
  }),
  entry({
    key: "pop3.expire",
    type: types.pop3Expire,
    default: "never",
    doc:
      'Announced as EXPIRE in CAPA (RFC 2449 §6.7). `"never"`: Postamt never deletes mail on its own; ' +
      "clients may leave it on the server. `0`: clients may not leave mail on the server: every message " +
      "retrieved whole with RETR is deleted when the session ends with QUIT, as if DELE had been sent " +
      "(RSET does not keep it; a dropped connection deletes nothing). A number of days n > 0: clients may " +
      "leave mail on the server, but a message is deleted n days after POP3 first retrieved it whole with " +
      "RETR (checked when the account logs in to POP3; mail never retrieved by POP3 is kept). " +
      "IMAP sees the deletion as an expunge.",
  }),
  entry({
    key: "pop3.login_delay",
    type: types.duration(0, 86_400),
    default: 0,
    doc:
      "Minimum seconds between two POP3 logins of the same account, announced as LOGIN-DELAY in CAPA " +
      "(RFC 2449 §6.5). A login sooner after the previous successful one is refused with " +
      "`-ERR [LOGIN-DELAY]` once the password has been checked. Counted in this process only. 0: no delay, " +
      "not announced.",
  }),
  entry({
    key: "auth.max_failures",
    type: types.int(1, 1_000_000),
    default: 10,
    doc: "Failed logins (SMTP AUTH, IMAP, POP3) from one IP address, or for one account, before a temporary ban.",
  }),
  entry({
    key: "auth.ban_time",
    type: types.duration(1, 86_400 * 30),
    default: "15m",
    doc: "How long a banned IP address or account is refused, without checking any password.",
  }),
  entry({
    key: "auth.failure_delay",
    type: types.duration(0, 60),
    default: 1,
    doc: "Seconds the answer to a failed login is delayed; the delay doubles with each further failure, up to 8 times this.",
  }),
  entry({
    key: "proxy.listeners",
    type: types.listeners,
    default: [],
    doc:
      'Listeners behind a load balancer that sends the PROXY protocol (v1 or v2), e.g. `["smtp", "imaps"]`. ' +
      "Their connections must start with the header; the client address it names is used for limits, logs and policy.",
  }),
  entry({
    key: "accounts.default_quota",
    type: types.size(0),
    default: 0,
    doc: "Storage quota given to new accounts; 0 means unlimited.",
  }),
  entry({
    key: "server.shutdown_grace",
    type: types.duration(0, 86_400),
    default: "30s",
    doc: "On SIGTERM or SIGINT, how long in-flight sessions and deliveries may finish before they are cut off.",
  }),
]);

/** One sentence per TOML table, for describe. "" is the top level. */
export const TABLE_DOCS: Readonly<Record<string, string>> = {
  "": "Keys before the first [table].",
  listen: 'Listeners: each is a list of "address:port"; [] disables it.',
  tls: "The certificate for STARTTLS and implicit-TLS listeners.",
  store: "The mail store.",
  dns: "DNS resolution.",
  outbound: "Delivery to other domains: routes, smarthost, TLS policy.",
  queue: "The outbound queue: retries, expiry, concurrency.",
  dkim: "DKIM signing of outgoing mail.",
  inbound: "Authentication of incoming mail: SPF, DKIM, DMARC, ARC, reverse DNS.",
  dnsbl: "DNS blocklists checked against clients of the smtp listener.",
  greylist: "Greylisting on the smtp listener (off by default).",
  rspamd: "An external spam scanner (rspamd) asked about every incoming message.",
  log: "Logging.",
  limits: "Limits on what clients may do.",
  timeouts: "Deadlines for clients.",
  smtp: "SMTP behaviour.",
  pop3: "POP3 policy announced in CAPA: how long mail may stay on the server, how often clients may log in.",
  auth: "Login failure handling, shared by SMTP, IMAP and POP3.",
  proxy: "PROXY protocol for listeners behind a load balancer.",
  accounts: "Defaults for new accounts.",
  server: "Process behaviour.",
};

/** "listen" for "listen.smtp", "" for top-level keys. */
export function tableOf(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? "" : key.slice(0, dot);
}

export function isDerived(d: SchemaEntry["default"]): d is DerivedDefault {
  return d !== null && typeof d === "object" && !Array.isArray(d);
}
