// Verifying Postamt's DKIM signatures with two verifiers that share no code with the signer: mailauth's
// dkimVerify (in process) and dkimpy (Debian's python3-dkim, through test/interop/scripts/dkim_verify.py).
// Both get their TXT answers from a map instead of DNS.
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { runTool } from "../interop/helpers/interop.js";

/** owner name without the final dot ("sel._domainkey.example.test") → TXT value (strings joined). */
export type TxtRecords = Record<string, string>;

export interface Verdict {
  selector: string;
  algorithm: string;
  pass: boolean;
  /** why not, when the verifier said */
  detail: string;
}

export async function verifyWithMailauth(message: Buffer, records: TxtRecords): Promise<Verdict[]> {
  const r = await dkimVerify(message, {
    resolver: async (name: string, rrtype: string) => {
      const value = rrtype === "TXT" ? records[name.toLowerCase().replace(/\.$/, "")] : undefined;
      if (value === undefined) {
        throw Object.assign(new Error(`no ${rrtype} record for ${name}`), { code: "ENOTFOUND" });
      }
      return [[value]];
    },
  });
  return r.results.map((x) => ({
    selector: x.selector ?? "",
    // mailauth 4.13.3 sets `algo` at run time although its typings say `algorithm`
    algorithm: (x as { algo?: string }).algo ?? x.algorithm ?? "",
    pass: x.status.result === "pass",
    detail: `${x.status.result}${x.status.comment ? `: ${x.status.comment}` : ""}`,
  }));
}

/** From dist/test/security to the uncompiled script. */
const SCRIPT = resolve(import.meta.dirname, "../../../test/interop/scripts/dkim_verify.py");

/**
 * A Python that can import dkimpy and PyNaCl (the one on PATH may be a pyenv without Debian's packages,
 * so /usr/bin/python3 is tried too), or null.
 */
export function findDkimPython(): string | null {
  for (const py of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(py, ["-c", "import dkim, nacl.signing"], { stdio: "ignore", timeout: 10_000 });
    if (r.status === 0) return py;
  }
  return null;
}

export const DKIMPY_MISSING =
  "dkimpy not importable by python3 or /usr/bin/python3 (apt-get install python3-dkim python3-nacl)";

interface PyResult {
  results: Array<{ selector: string; algorithm: string; ok: boolean; error: string | null }>;
}

export async function verifyWithDkimpy(
  python: string,
  message: Buffer,
  records: TxtRecords,
): Promise<Verdict[]> {
  const r = await runTool(python, [SCRIPT, JSON.stringify(records)], { input: message, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`dkim_verify.py exited ${r.code}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as PyResult;
  return out.results.map((x) => ({
    selector: x.selector,
    algorithm: x.algorithm,
    pass: x.ok,
    detail: x.error ?? (x.ok ? "pass" : "fail"),
  }));
}

/** The DKIM TXT records printed by `postamt dns` (zone-file lines with quoted strings), as TxtRecords. */
export function dkimRecordsFromZone(zone: string): TxtRecords {
  const out: TxtRecords = {};
  for (const line of zone.split("\n")) {
    const m = /^(\S+\._domainkey\.\S+)\.\s+\d+\s+IN\s+TXT\s+(.*)$/.exec(line);
    if (!m) continue;
    const strings = [...m[2]!.matchAll(/"([^"]*)"/g)].map((s) => s[1]!);
    out[m[1]!.toLowerCase()] = strings.join("");
  }
  return out;
}
