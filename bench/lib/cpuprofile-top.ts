// Summarises a V8 .cpuprofile (node --cpu-prof) by self time and by inclusive time per function,
// optionally only for the samples inside a time window: the window-<pid>.json that outbound-relay
// writes next to the profile under BENCH_RELAY_PROFILE (V8's profile timestamps and
// process.hrtime() both read CLOCK_MONOTONIC, in µs here).
//
//   node dist/bench/lib/cpuprofile-top.js PROFILE.cpuprofile [WINDOW.json] [--top N]
import { readFile } from "node:fs/promises";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function frameKey(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  const url = f.url.replace(/^file:\/\//, "").replace(/^.*\/(dist|node_modules)\//, "$1/");
  return `${name} ${url}:${f.lineNumber + 1}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let top = 25;
  const t = args.indexOf("--top");
  if (t >= 0) {
    top = Number.parseInt(args[t + 1] ?? "25", 10);
    args.splice(t, 2);
  }
  const [file, windowFile] = args;
  if (!file) throw new Error("usage: cpuprofile-top PROFILE.cpuprofile [WINDOW.json] [--top N]");
  const prof = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  if (windowFile) {
    const w = JSON.parse(await readFile(windowFile, "utf8")) as { startUs: number; endUs: number };
    from = w.startUs;
    to = w.endUs;
  }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let ts = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    ts += prof.timeDeltas[i] ?? 0;
    // the sample covers the time until the next one
    const dt = prof.timeDeltas[i + 1] ?? 0;
    if (ts < from || ts > to) continue;
    total += dt;
    const id = prof.samples[i]!;
    const node = byId.get(id);
    if (!node) continue;
    const k = frameKey(node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const key = frameKey(byId.get(n)!.callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const ms = (us: number) =>
    `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const span = windowFile
    ? `window ${((to - from) / 1e6).toFixed(2)} s`
    : `whole profile ${((prof.endTime - prof.startTime) / 1e6).toFixed(2)} s`;
  process.stdout.write(`${file}: ${span}, ${(total / 1e6).toFixed(2)} s sampled\n\nself time\n`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${ms(v)}  ${k}\n`);
  process.stdout.write("\ninclusive time (our code and its libraries)\n");
  const ours = [...inclusive].filter(([k]) => /dist\/src\/|node_modules\//.test(k));
  for (const [k, v] of ours.sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${ms(v)}  ${k}\n`);
}

await main();
