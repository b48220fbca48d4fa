// Memory and CPU of a server's process tree from /proc: the tree is the given pids and all their
// descendants (Dovecot: master, config, log, anvil, auth, stats, imap-login, imap, lmtp …; Postamt:
// one process). VmRSS from /proc/<pid>/status counts shared pages (libraries, mmapped index files) in
// every process that maps them; Pss from /proc/<pid>/smaps_rollup divides each shared page among its
// sharers, so the sum over a tree is what the tree really occupies.
import { readdir, readFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";

async function children(): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const name of await readdir("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid …: comm may contain spaces and parentheses; the last ")" ends it
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    const list = out.get(ppid) ?? [];
    list.push(pid);
    out.set(ppid, list);
  }
  return out;
}

/** The pids and all their descendants. */
export async function processTree(roots: number[]): Promise<number[]> {
  const kids = await children();
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return [...seen];
}

export interface TreeMemory {
  processes: number;
  /** sum of VmRSS, KiB */
  rssKiB: number;
  /** sum of Pss, KiB */
  pssKiB: number;
  /** processes per command name (comm), e.g. { imap: 1000, "imap-login": 3 } */
  byName: Record<string, number>;
}

function kib(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

export async function treeMemory(roots: number[]): Promise<TreeMemory> {
  const pids = await processTree(roots);
  const m: TreeMemory = { processes: 0, rssKiB: 0, pssKiB: 0, byName: {} };
  const batch = 64;
  for (let i = 0; i < pids.length; i += batch) {
    await Promise.all(
      pids.slice(i, i + batch).map(async (pid) => {
        const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
        if (!status) return;
        const rollup = await readFile(`/proc/${pid}/smaps_rollup`, "utf8").catch(() => "");
        m.processes++;
        m.rssKiB += kib(status, "VmRSS");
        m.pssKiB += kib(rollup, "Pss");
        const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? "?";
        m.byName[name] = (m.byName[name] ?? 0) + 1;
      }),
    );
  }
  return m;
}

const TICKS = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number.parseInt(r.stdout ?? "", 10);
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/**
 * CPU seconds (user + system) used so far by the tree, counting the reaped children of each process
 * (cutime/cstime), so processes that came and went (Dovecot's imap-login, lmtp) are not lost as long
 * as their parent is in the tree.
 */
export async function treeCpuSeconds(roots: number[]): Promise<number> {
  const pids = await processTree(roots);
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const f = stat.slice(close + 2).split(" ");
    // fields after comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / TICKS;
}

/** The soft and hard RLIMIT_NOFILE of a process, from /proc/<pid>/limits. */
export async function nofileLimit(pid: number | "self" = "self"): Promise<{ soft: number; hard: number }> {
  const text = await readFile(`/proc/${pid}/limits`, "utf8");
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  const n = (s: string | undefined) =>
    s === "unlimited" || s === undefined ? Number.POSITIVE_INFINITY : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}
