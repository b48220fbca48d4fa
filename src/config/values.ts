// Value parsers for the config schema. Each takes a raw value (from TOML or an in-memory object)
// and returns a result instead of throwing, so the loader can collect every problem in one pass.
// Reasons are phrased to follow `key = value: ` and say what to write instead.

import net from "node:net";
import path from "node:path";
import type { ListenAddress } from "./types.js";
import { parseNetwork } from "../net/cidr.js";

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** "a string", "a list", … for "must be X, not Y" messages. */
export function describeKind(raw: unknown): string {
  if (raw === null || raw === undefined) return "nothing";
  if (Array.isArray(raw)) return "a list";
  if (raw instanceof Date) return "a date";
  if (typeof raw === "object") return "a table";
  if (typeof raw === "boolean") return "true/false";
  if (typeof raw === "number" || typeof raw === "bigint") {
    return Number.isInteger(Number(raw)) ? "a number" : "a fractional number";
  }
  return `a ${typeof raw}`;
}

export function parseString(raw: unknown): Parsed<string> {
  if (typeof raw !== "string") return fail(`must be a string, not ${describeKind(raw)}`);
  return ok(raw);
}

export function parseBool(raw: unknown): Parsed<boolean> {
  if (typeof raw === "boolean") return ok(raw);
  if (raw === "true" || raw === "false") return fail(`must be true or false without quotes`);
  return fail(`must be true or false, not ${describeKind(raw)}`);
}

export function parseInteger(raw: unknown, min: number, max: number): Parsed<number> {
  if (typeof raw === "string" && /^\s*-?\d+\s*$/.test(raw)) {
    return fail(`must be a number, not a string: write ${raw.trim()} without quotes`);
  }
  if (typeof raw !== "number" && typeof raw !== "bigint") {
    return fail(`must be a whole number, not ${describeKind(raw)}`);
  }
  const n = Number(raw);
  if (!Number.isInteger(n)) return fail("must be a whole number");
  if (n < min || n > max) return fail(`must be ${min}-${max}`);
  return ok(n);
}

/** Ports: 1-65535; listeners also take 0 ("any free port") so tests can bind ephemeral ports. */
export function parsePort(raw: unknown, allowZero = false): Parsed<number> {
  const r = parseInteger(raw, allowZero ? 0 : 1, 65535);
  const outOfRange =
    !r.ok && (typeof raw === "number" || typeof raw === "bigint") && Number.isInteger(Number(raw));
  return outOfRange ? fail(portRangeReason(allowZero)) : r;
}

function portRangeReason(allowZero: boolean): string {
  return allowZero ? "port must be 1-65535 (or 0 for any free port)" : "port must be 1-65535";
}

export function parseEnum<T extends string>(raw: unknown, values: readonly T[]): Parsed<T> {
  const list = values.map((v) => `"${v}"`).join(", ");
  if (typeof raw !== "string") return fail(`must be one of ${list}, not ${describeKind(raw)}`);
  const hit = values.find((v) => v === raw.toLowerCase());
  return hit === undefined ? fail(`must be one of ${list}`) : ok(hit);
}

// ---- sizes ---------------------------------------------------------------------------------------

/** Binary multiples, as Postfix and Dovecot users expect: "k", "kb" and "kib" all mean 1024. */
const SIZE_UNITS: Readonly<Record<string, bigint>> = {
  "": 1n,
  b: 1n,
  k: 1n << 10n,
  kb: 1n << 10n,
  kib: 1n << 10n,
  m: 1n << 20n,
  mb: 1n << 20n,
  mib: 1n << 20n,
  g: 1n << 30n,
  gb: 1n << 30n,
  gib: 1n << 30n,
  t: 1n << 40n,
  tb: 1n << 40n,
  tib: 1n << 40n,
};

const SIZE_HINT =
  'write a whole number of bytes or a number with a unit, e.g. 52428800, "50MiB", "512KiB", "10M"';

/** Bytes: a non-negative integer, or a string like "50MB", "512KiB", "1.5G" (units are powers of 1024). */
export function parseSize(raw: unknown): Parsed<number> {
  if (typeof raw === "number" || typeof raw === "bigint") {
    const n = Number(raw);
    if (!Number.isInteger(n)) return fail(`is not a whole number of bytes; ${SIZE_HINT}`);
    if (n < 0) return fail("must not be negative");
    if (!Number.isSafeInteger(n)) return fail("is too large");
    return ok(n);
  }
  if (typeof raw !== "string") return fail(`must be a size, not ${describeKind(raw)}; ${SIZE_HINT}`);
  const m = /^(\d+)(?:\.(\d+))?\s*([a-z]*)$/i.exec(raw.trim());
  if (!m) return fail(`is not a size; ${SIZE_HINT}`);
  const [, whole, frac = "", unitText] = m as unknown as [string, string, string | undefined, string];
  const unit = SIZE_UNITS[unitText.toLowerCase()];
  if (unit === undefined) {
    return fail(
      `has an unknown unit "${unitText}"; use B, KiB, MiB, GiB or TiB (K, KB and KiB all mean 1024)`,
    );
  }
  // Exact arithmetic: "1.5K" is 1536 bytes, "1.1K" is not a whole number of bytes.
  const scaled = BigInt(whole + frac) * unit;
  const denominator = 10n ** BigInt(frac.length);
  if (scaled % denominator !== 0n) return fail(`is not a whole number of bytes; ${SIZE_HINT}`);
  const bytes = scaled / denominator;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return fail("is too large");
  return ok(Number(bytes));
}

// ---- durations -----------------------------------------------------------------------------------

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION_HINT =
  'write whole seconds or a number with a unit, e.g. 30, "30s", "10m", "2h", "1d", "1h30m"';

/** Seconds: a non-negative integer, or a string like "30s", "10m", "2h", "1d", "1h30m". */
export function parseDuration(raw: unknown): Parsed<number> {
  if (typeof raw === "number" || typeof raw === "bigint") {
    const n = Number(raw);
    if (!Number.isInteger(n)) return fail(`is not a whole number of seconds; ${DURATION_HINT}`);
    if (n < 0) return fail("must not be negative");
    if (!Number.isSafeInteger(n)) return fail("is too large");
    return ok(n);
  }
  if (typeof raw !== "string") return fail(`must be a duration, not ${describeKind(raw)}; ${DURATION_HINT}`);
  const text = raw.trim().toLowerCase();
  if (text.length === 0) return fail(`is empty; ${DURATION_HINT}`);
  if (/^\d+$/.test(text)) return parseDuration(Number(text));
  const part = /(\d+)\s*([a-z]+)\s*/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) return fail(`is not a duration; ${DURATION_HINT}`);
    const [, digits, unitText] = m as unknown as [string, string, string];
    const unit = DURATION_UNITS[unitText];
    if (unit === undefined) {
      if (unitText === "ms") return fail(`durations are whole seconds, not milliseconds; ${DURATION_HINT}`);
      return fail(`has an unknown unit "${unitText}"; use s, m, h or d`);
    }
    total += Number(digits) * unit;
    at = part.lastIndex;
  }
  if (!Number.isSafeInteger(total)) return fail("is too large");
  return ok(total);
}

// ---- names and addresses -------------------------------------------------------------------------

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** RFC 1123 host name syntax; returns why it is invalid, or undefined. Does not accept IP literals. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty; write a DNS name such as mail.example.com";
  if (net.isIP(name) !== 0) return "is an IP address; write the server's DNS name, e.g. mail.example.com";
  if (name.length > 253) return "is longer than 253 characters";
  if (name.endsWith(".")) return 'ends with "."; write the name without the trailing dot';
  if (/[^\x00-\x7f]/.test(name))
    return "contains non-ASCII characters; write international names in punycode (xn--…)";
  const labels = name.split(".");
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return label === ""
        ? 'has an empty label (".." or a leading ".")'
        : `has an invalid label "${label}": use letters, digits and "-" (not first or last), at most 63 characters`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) return "looks like an IP address but is not a valid one";
  return undefined;
}

export function parseHostname(raw: unknown): Parsed<string> {
  if (typeof raw !== "string") return fail(`must be a host name string, not ${describeKind(raw)}`);
  const problem = hostnameProblem(raw);
  return problem === undefined ? ok(raw) : fail(problem);
}

/** A key for comparing hosts: lower case, IPv6 in its canonical short form. */
export function hostKey(host: string): string {
  if (net.isIPv6(host)) {
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch {
      // zone ids ("fe80::1%eth0") are not URL hosts; compare them as written
    }
  }
  return host.toLowerCase();
}

/** Split "host:port" / "[v6]:port"; the host is not validated here. */
function splitHostPort(text: string): { host: string; port: string; bracketed: boolean } | string {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return 'has "[" without "]"; write IPv6 addresses as "[::1]:25"';
    const rest = text.slice(close + 1);
    if (!rest.startsWith(":")) return 'needs a port after "]", e.g. "[::1]:25"';
    return { host: text.slice(1, close), port: rest.slice(1), bracketed: true };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) return 'needs a port: write "ADDRESS:PORT", e.g. "0.0.0.0:25"';
  const host = text.slice(0, colon);
  if (host.includes(":")) return 'write IPv6 addresses in brackets, e.g. "[::1]:25"';
  return { host, port: text.slice(colon + 1), bracketed: false };
}

/** "0.0.0.0:25", "[::1]:143", "localhost:8080", "*:25". "*" means every IPv4 address and becomes
 *  host "0.0.0.0" (as net/bind.ts reads it); "[::]" is every address, dual-stack. */
export function parseListenAddress(raw: unknown): Parsed<ListenAddress> {
  if (typeof raw !== "string") return fail(`must be an "address:port" string, not ${describeKind(raw)}`);
  const split = splitHostPort(raw.trim());
  if (typeof split === "string") return fail(split);
  if (!/^\d+$/.test(split.port)) {
    return fail(
      `port ${split.port === "" ? "is missing" : `"${split.port}" is not a number`}; e.g. "0.0.0.0:25"`,
    );
  }
  const port = Number(split.port);
  if (port > 65535) return fail(portRangeReason(true));
  let host = split.host;
  if (split.bracketed) {
    if (!net.isIPv6(host)) return fail(`"${host}" is not an IPv6 address`);
  } else if (host === "*") {
    host = "0.0.0.0";
  } else if (host === "") {
    return fail('has no address before ":"; use "0.0.0.0:PORT" for every IPv4 address');
  } else if (!net.isIPv4(host)) {
    const problem = hostnameProblem(host);
    if (problem !== undefined) return fail(`address "${host}" ${problem}`);
  }
  return ok({ host, port, text: raw });
}

/** A DNS server for node's Resolver.setServers: "ip", "ip:port" or "[ipv6]:port". */
export function parseDnsServer(raw: unknown): Parsed<string> {
  const hint =
    'write an IP address with an optional port, e.g. "192.0.2.53", "127.0.0.1:5353", "[2001:db8::53]:53"';
  if (typeof raw !== "string") return fail(`must be a string, not ${describeKind(raw)}; ${hint}`);
  const text = raw.trim();
  if (net.isIP(text) !== 0) return ok(text);
  const split = splitHostPort(text);
  if (typeof split === "string" || net.isIP(split.host) === 0) {
    return fail(`is not an IP address (the resolver cannot look up its own servers by name); ${hint}`);
  }
  if (!split.bracketed && !net.isIPv4(split.host)) return fail(hint);
  if (!/^\d+$/.test(split.port)) return fail(`port "${split.port}" is not a number; ${hint}`);
  const port = parsePort(Number(split.port));
  if (!port.ok) return fail(`${port.reason}; ${hint}`);
  return ok(text);
}

/** A file system path, resolved against baseDir (the config file's directory). */
export function parsePath(raw: unknown, baseDir: string): Parsed<string> {
  if (typeof raw !== "string") return fail(`must be a path string, not ${describeKind(raw)}`);
  if (raw === "") return fail("is empty; write a path");
  if (raw.includes("\0")) return fail("contains a NUL character");
  if (raw === "~" || raw.startsWith("~/"))
    return fail('starts with "~", which is not expanded; write the full path');
  return ok(path.resolve(baseDir, raw));
}

/** "sqlite:PATH" (PATH resolved like other paths) or "postgres://…" / "postgresql://…". */
export function parseStoreUrl(raw: unknown, baseDir: string): Parsed<string> {
  const hint = 'write "sqlite:PATH" or "postgres://USER@HOST/DB"';
  if (typeof raw !== "string") return fail(`must be a string, not ${describeKind(raw)}; ${hint}`);
  if (raw.startsWith("sqlite:")) {
    const file = raw.slice("sqlite:".length);
    if (file === ":memory:")
      return fail("an in-memory database would lose all mail on exit; write a file path");
    if (file.startsWith("//"))
      return fail(`write "sqlite:/abs/path.db" or "sqlite:relative/path.db", without "//"`);
    const p = parsePath(file, baseDir);
    return p.ok ? ok(`sqlite:${p.value}`) : fail(`database path ${p.reason}`);
  }
  if (/^postgres(?:ql)?:\/\//i.test(raw)) {
    try {
      new URL(raw);
    } catch {
      return fail(`is not a valid URL; ${hint}`);
    }
    return ok(raw);
  }
  return fail(`has an unknown scheme; ${hint}`);
}

// ---- outbound routes -----------------------------------------------------------------------------

/** A next hop: a host name or IP (brackets for IPv6 or to skip MX lookup as in Postfix) and a port. */
export interface NextHop {
  host: string;
  port: number;
  /** written as "[host]": connect to the host itself, never look up its MX records */
  literal: boolean;
  text: string;
}

const HOP_HINT = 'write "HOST:PORT", e.g. "smtp.example.net:587" or "[192.0.2.1]:25"';

/** "smtp.example.net:587", "[192.0.2.1]:25", "[2001:db8::1]:25", "mx.example.net" (port 25). */
export function parseNextHop(raw: unknown): Parsed<NextHop> {
  if (typeof raw !== "string") return fail(`must be a string, not ${describeKind(raw)}; ${HOP_HINT}`);
  const text = raw.trim();
  if (text === "") return fail(`is empty; ${HOP_HINT}`);
  let host: string;
  let portText = "25";
  let literal = false;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return fail(`has "[" without "]"; ${HOP_HINT}`);
    host = text.slice(1, close);
    literal = true;
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return fail(`needs ":PORT" after "]"; ${HOP_HINT}`);
      portText = rest.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(":")) return fail(`write IPv6 addresses in brackets; ${HOP_HINT}`);
    } else host = text;
  }
  if (!/^\d+$/.test(portText)) return fail(`port "${portText}" is not a number; ${HOP_HINT}`);
  const port = parsePort(Number(portText));
  if (!port.ok) return fail(`${port.reason}; ${HOP_HINT}`);
  if (net.isIP(host) === 0) {
    const problem = hostnameProblem(host);
    if (problem !== undefined) return fail(`host "${host}" ${problem}`);
  }
  return ok({ host: host.toLowerCase(), port: port.value, literal, text });
}

export interface Route {
  /** lower case; "*.example.org" matches subdomains */
  domain: string;
  hop: NextHop;
}

/** "example.org=[10.0.0.5]:25" — mail for a domain goes to that next hop instead of its MX. */
export function parseRoute(raw: unknown): Parsed<Route> {
  const hint = 'write "DOMAIN=HOST:PORT", e.g. "example.org=[10.0.0.5]:25"';
  if (typeof raw !== "string") return fail(`must be a string, not ${describeKind(raw)}; ${hint}`);
  const eq = raw.indexOf("=");
  if (eq < 0) return fail(`has no "="; ${hint}`);
  const domain = raw.slice(0, eq).trim().toLowerCase();
  const bare = domain.startsWith("*.") ? domain.slice(2) : domain;
  const problem = hostnameProblem(bare);
  if (problem !== undefined) return fail(`domain "${domain}" ${problem}`);
  const hop = parseNextHop(raw.slice(eq + 1));
  if (!hop.ok) return hop;
  return ok({ domain, hop: hop.value });
}

// ---- networks ------------------------------------------------------------------------------------

/** "192.0.2.0/24", "2001:db8::/32" or one address; kept as its canonical CIDR text. */
export function parseNetworkValue(raw: unknown): Parsed<string> {
  if (typeof raw !== "string") return fail(`must be a network string like "192.0.2.0/24", not ${describeKind(raw)}`);
  const n = parseNetwork(raw);
  if (!n) return fail(`is not a network: write an address ("192.0.2.7") or address/prefix ("192.0.2.0/24", "2001:db8::/32")`);
  return ok(n.text);
}
