// Loading: find the file, parse TOML, check every key against the schema, then the checks that span
// keys (listener clashes, TLS files). All problems are collected and thrown together as one
// ConfigError. Loading only reads: it creates no directories and touches no data.

import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { parse, TomlError } from "smol-toml";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { type ConfigKey, isDerived, SCHEMA, type SchemaEntry, tableOf } from "./schema.js";
import { type Config, LISTENER_NAMES, type ListenAddress } from "./types.js";
import { hostKey } from "./values.js";

export interface LoadOptions {
  /** an explicit file (--config); it must exist */
  file?: string | null;
  /** where ./postamt.toml is looked for and relative names resolve; default process.cwd() */
  cwd?: string;
  /** for POSTAMT_CONFIG; default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface FromObjectOptions {
  /** the file the object came from (for messages and relative paths); null = none */
  file?: string | null;
  /** relative paths resolve against the file's directory, or this without a file; default process.cwd() */
  cwd?: string;
}

export const DEFAULT_FILE_NAME = "postamt.toml";
export const CONFIG_ENV_VAR = "POSTAMT_CONFIG";

/** Which file loadConfig would read, and why; null = built-in defaults. */
export function findConfigFile(
  opts: LoadOptions = {},
): { path: string; origin: "option" | "cwd" | "env" } | null {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  if (opts.file !== undefined && opts.file !== null)
    return { path: path.resolve(cwd, opts.file), origin: "option" };
  const local = path.join(cwd, DEFAULT_FILE_NAME);
  if (fs.existsSync(local)) return { path: local, origin: "cwd" };
  const fromEnv = env[CONFIG_ENV_VAR];
  if (fromEnv) return { path: path.resolve(cwd, fromEnv), origin: "env" };
  return null;
}

/** --config FILE, else ./postamt.toml, else $POSTAMT_CONFIG, else built-in defaults. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const found = findConfigFile(opts);
  if (found === null) return configFromObject({}, { file: null, cwd });
  const text = readConfigText(found.path, found.origin);
  return configFromObject(parseToml(found.path, text), { file: found.path, cwd });
}

function readConfigText(file: string, origin: "option" | "cwd" | "env"): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const why = origin === "env" ? `, named by ${CONFIG_ENV_VAR}` : "";
    const fix = origin === "env" ? `fix or unset ${CONFIG_ENV_VAR}` : "check the path";
    throw new ConfigError([
      { file, key: "", reason: `cannot read the config file${why}: ${ioReason(err)}; ${fix}` },
    ]);
  }
}

function parseToml(file: string, text: string): unknown {
  try {
    return parse(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const what = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
    throw new ConfigError([
      { file, key: "", line: err.line, column: err.column, reason: `TOML syntax error: ${what}` },
    ]);
  }
}

/** Validate an in-memory object shaped like the TOML file (tests: ports "127.0.0.1:0"). */
export function configFromObject(obj: unknown, opts: FromObjectOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file ? path.resolve(cwd, opts.file) : null;
  const baseDir = file ? path.dirname(file) : cwd;
  const issues: ConfigIssue[] = [];
  const written = collectKeys(obj, file, issues);
  const values = new Map<ConfigKey, unknown>();
  const get = (key: ConfigKey) => values.get(key);

  for (const entry of SCHEMA) parseEntry(entry, written, values, file, baseDir, issues);
  for (const entry of SCHEMA) {
    if (!entry.validate || !values.has(entry.key)) continue;
    const reason = entry.validate(values.get(entry.key), get);
    if (reason !== undefined) issues.push(issueAt(file, entry.key, written, reason));
  }
  issues.push(...listenerClashes(values, file));
  issues.push(...tlsProblems(values, written, file));
  if (issues.length > 0) throw new ConfigError(issues);

  const root: Record<string, unknown> = { source: file };
  for (const entry of SCHEMA) setDotted(root, entry.key, values.get(entry.key));
  return deepFreeze(root) as unknown as Config;
}

// ---- keys ----------------------------------------------------------------------------------------

const ENTRIES = new Map<string, SchemaEntry>(SCHEMA.map((e) => [e.key, e]));
const TABLES = new Set(SCHEMA.map((e) => tableOf(e.key)).filter((t) => t !== ""));

function isTable(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Date);
}

/** Flatten the document to dotted keys, reporting unknown keys and tables written as values. */
function collectKeys(obj: unknown, file: string | null, issues: ConfigIssue[]): Map<string, unknown> {
  const written = new Map<string, unknown>();
  if (!isTable(obj)) {
    issues.push({ file, key: "", value: obj, reason: "the configuration must be a table of keys" });
    return written;
  }
  for (const [key, value] of Object.entries(obj)) {
    if (ENTRIES.has(key)) written.set(key, value);
    else if (!TABLES.has(key)) issues.push(unknownKey(file, key, value));
    else if (!isTable(value)) {
      issues.push({
        file,
        key,
        value,
        reason: `must be a table: write [${key}] on a line of its own, its keys below`,
      });
    } else {
      for (const [sub, subValue] of Object.entries(value)) {
        const full = `${key}.${sub}`;
        if (ENTRIES.has(full)) written.set(full, subValue);
        else issues.push(unknownKey(file, full, subValue));
      }
    }
  }
  return written;
}

function unknownKey(file: string | null, key: string, value: unknown): ConfigIssue {
  const near = suggestKey(key);
  const hint = near ? `did you mean "${near}"?` : "`postamt config describe` lists every key";
  return { file, key, value, reason: `unknown key; ${hint}` };
}

/** The known key the user most likely meant: the same name in another table, else the closest spelling. */
export function suggestKey(key: string): string | undefined {
  const leaf = key.slice(key.lastIndexOf(".") + 1).toLowerCase();
  const sameLeaf = SCHEMA.find((e) => e.key.slice(e.key.lastIndexOf(".") + 1) === leaf);
  if (sameLeaf && sameLeaf.key !== key) return sameLeaf.key;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of [...ENTRIES.keys(), ...TABLES]) {
    const d = editDistance(key.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = row;
  }
  return prev[b.length]!;
}

// ---- values --------------------------------------------------------------------------------------

function parseEntry(
  entry: SchemaEntry,
  written: Map<string, unknown>,
  values: Map<ConfigKey, unknown>,
  file: string | null,
  baseDir: string,
  issues: ConfigIssue[],
): void {
  let raw = written.get(entry.key);
  // null only comes from in-memory objects (TOML has none): it means "unset", as if absent
  const isWritten = raw !== undefined && raw !== null;
  if (!isWritten) {
    if (entry.default === null) {
      values.set(entry.key, null);
      return;
    }
    raw = isDerived(entry.default) ? entry.default.derive((k) => values.get(k)) : entry.default;
    if (raw === undefined) return; // depends on a key that is already reported as invalid
  }
  const result = entry.type.parse(raw, { baseDir });
  if (result.ok) {
    values.set(entry.key, result.value);
    return;
  }
  for (const p of result.problems) {
    if (isWritten) {
      issues.push({ file, key: entry.key + p.at, value: p.value, reason: p.reason });
    } else {
      // only machine-dependent defaults can fail (hostname): say where the value came from
      const origin = isDerived(entry.default) ? entry.default.text : "the default";
      issues.push({
        file,
        key: entry.key,
        value: p.value,
        reason: `${origin} ${p.reason}; set ${entry.key} in the config file`,
      });
    }
  }
}

function issueAt(
  file: string | null,
  key: string,
  written: Map<string, unknown>,
  reason: string,
): ConfigIssue {
  const raw = written.get(key);
  return raw === undefined || raw === null ? { file, key, reason } : { file, key, value: raw, reason };
}

function setDotted(root: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = root;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---- checks across keys --------------------------------------------------------------------------

/** Would binding b fail because a already holds the port? Linux refuses a specific address once
 *  the wildcard of its family is bound, and node binds "::" dual-stack (it covers IPv4 too). */
function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  const [ka, kb] = [hostKey(a.host), hostKey(b.host)];
  if (ka === kb || ka === "::" || kb === "::") return true;
  return (ka === "0.0.0.0" && net.isIPv4(kb)) || (kb === "0.0.0.0" && net.isIPv4(ka));
}

function listenerClashes(values: Map<ConfigKey, unknown>, file: string | null): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen: Array<{ key: string; address: ListenAddress }> = [];
  for (const name of LISTENER_NAMES) {
    const addresses = values.get(`listen.${name}`) as readonly ListenAddress[] | undefined;
    addresses?.forEach((address, i) => {
      const key = `listen.${name}[${i}]`;
      const clash = seen.find((s) => overlaps(s.address, address));
      if (clash) {
        const same = hostKey(clash.address.host) === hostKey(address.host);
        const why = same ? "is used twice" : "overlaps: a wildcard address takes the port on every address";
        issues.push({
          file,
          key,
          value: address.text,
          reason: `port ${address.port} ${why} (also ${clash.key} = "${clash.address.text}"); use another port or remove one of them`,
        });
      }
      seen.push({ key, address });
    });
  }
  return issues;
}

/** Both files readable, PEM, parseable, and the key belongs to the certificate. */
function tlsProblems(
  values: Map<ConfigKey, unknown>,
  written: Map<string, unknown>,
  file: string | null,
): ConfigIssue[] {
  const certPath = values.get("tls.cert");
  const keyPath = values.get("tls.key");
  if (typeof certPath !== "string" || typeof keyPath !== "string") return [];
  const issues: ConfigIssue[] = [];
  const report = (key: ConfigKey, reason: string) => issues.push(issueAt(file, key, written, reason));

  let cert: crypto.X509Certificate | undefined;
  const certText = readText(certPath);
  if (certText.error !== undefined) report("tls.cert", certText.error);
  else if (!certText.text.includes("-----BEGIN CERTIFICATE-----")) {
    report(
      "tls.cert",
      `${certPath} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" line); convert DER with: openssl x509 -inform der -in FILE -out cert.pem`,
    );
  } else {
    try {
      cert = new crypto.X509Certificate(certText.text);
    } catch (err) {
      report("tls.cert", `cannot parse the certificate in ${certPath}: ${errorText(err)}`);
    }
  }

  let key: crypto.KeyObject | undefined;
  const keyText = readText(keyPath);
  if (keyText.error !== undefined) report("tls.key", keyText.error);
  else if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(keyText.text)) {
    report("tls.key", `${keyPath} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" line)`);
  } else {
    try {
      key = crypto.createPrivateKey(keyText.text);
    } catch (err) {
      report(
        "tls.key",
        `cannot load the private key in ${keyPath}: ${errorText(err)} (an encrypted key must be decrypted first: openssl pkey -in KEY -out plain.pem)`,
      );
    }
  }

  if (cert && key && !cert.checkPrivateKey(key)) {
    report(
      "tls.key",
      `does not belong to the certificate in tls.cert (${certPath}); use the key the certificate was issued for`,
    );
  }
  return issues;
}

function readText(file: string): { text: string; error?: undefined } | { error: string } {
  try {
    return { text: fs.readFileSync(file, "utf8") };
  } catch (err) {
    return { error: `cannot read ${file}: ${ioReason(err)}` };
  }
}

function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "it is a directory, not a file";
  return errorText(err);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
