// Runs the real `postamt` command (the built dist/src/cli/main.js) as a child process, as a user would.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CLI = resolve(import.meta.dirname, "../../src/cli/main.js");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  opts: { cwd: string; input?: string; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, POSTAMT_CONFIG: "", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/** A temp directory with a postamt.toml that disables every listener but the ones given. */
export async function makeWorkdir(
  listen: Record<string, string[]> = {},
  extra = "",
): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-cli-"));
  const names = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http"];
  const lines = names.map((n) => `${n} = ${JSON.stringify(listen[n] ?? [])}`);
  await writeFile(
    join(dir, "postamt.toml"),
    `hostname = "mail.example.test"\ndata_dir = "./data"\n${extra}\n[listen]\n${lines.join("\n")}\n`,
  );
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
