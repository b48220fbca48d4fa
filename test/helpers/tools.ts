// Whether an external command-line tool is installed, so interop tests can skip with a clear reason on
// a machine without it (CI installs every tool, so there they all run).
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

export interface Tool {
  /** the command, looked up on PATH (or an absolute path) */
  name: string;
  /** how to get it, for the skip message, e.g. "apt-get install swaks" */
  install: string;
}

export const TOOLS = {
  curl: { name: "curl", install: "apt-get install curl" },
  openssl: { name: "openssl", install: "apt-get install openssl" },
  python3: { name: "python3", install: "apt-get install python3" },
  swaks: { name: "swaks", install: "apt-get install swaks" },
} as const satisfies Record<string, Tool>;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of a command found on PATH (or the absolute path given), or null. */
export function findTool(name: string): string | null {
  if (isAbsolute(name)) return isExecutableFile(name) ? name : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * A reason to skip when a tool is missing, or false when every tool is there; meant for node:test's
 * `skip` option: `describe("swaks", { skip: missingTools(TOOLS.swaks) }, …)`.
 */
export function missingTools(...tools: Tool[]): string | false {
  const missing = tools.filter((t) => findTool(t.name) === null);
  if (missing.length === 0) return false;
  return missing.map((t) => `${t.name} not installed (${t.install})`).join("; ");
}
