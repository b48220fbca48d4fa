// Configuration problems. Loading collects every problem before throwing, so one run of
// `postamt config check` shows everything to fix, not just the first mistake.

import path from "node:path";

export interface ConfigIssue {
  /** absolute path of the config file, or null for built-in defaults / an in-memory object */
  file: string | null;
  /** dotted key as written in the file, with an index for list elements ("listen.smtp[0]");
   *  "" for problems with the file itself (unreadable, TOML syntax) */
  key: string;
  /** the offending value as written; absent when the problem is a missing value */
  value?: unknown;
  /** why, phrased so it says what to do */
  reason: string;
  /** TOML syntax errors only: 1-based position in the file */
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const n = issues.length;
    super(`invalid configuration (${n} problem${n === 1 ? "" : "s"}):\n${formatIssues(issues)}`);
    this.name = "ConfigError";
    this.issues = issues;
  }

  /** one line per issue: `postamt.toml: listen.smtp[0] = "0.0.0.0:99999": port must be 1-65535` */
  format(cwd: string = process.cwd()): string {
    return formatIssues(this.issues, cwd);
  }
}

export function formatIssues(issues: readonly ConfigIssue[], cwd: string = process.cwd()): string {
  return issues.map((i) => formatIssue(i, cwd)).join("\n");
}

export function formatIssue(issue: ConfigIssue, cwd: string = process.cwd()): string {
  let where = displayFile(issue.file, cwd);
  if (issue.line !== undefined)
    where += `:${issue.line}${issue.column !== undefined ? `:${issue.column}` : ""}`;
  const parts = [where];
  if (issue.key !== "") {
    parts.push("value" in issue ? `${issue.key} = ${displayValue(issue.value)}` : issue.key);
  }
  parts.push(issue.reason);
  return parts.join(": ");
}

/** Relative to cwd when the file lies below it (the common case: ./postamt.toml), else absolute. */
function displayFile(file: string | null, cwd: string): string {
  if (file === null) return "config";
  const rel = path.relative(cwd, file);
  return rel === "" || rel.startsWith("..") || path.isAbsolute(rel) ? file : rel;
}

/** The value as TOML-ish text: strings quoted, long values shortened so one issue stays one line. */
export function displayValue(value: unknown): string {
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (typeof value === "bigint") text = value.toString();
  else if (value === undefined) text = "(unset)";
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
