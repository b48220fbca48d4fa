// big-mailbox (issue 6, workload 5): one INBOX of N messages (default 100,000; BENCH_BIG_MESSAGES),
// the same on both servers, generated from a seeded PRNG: 1–3 KB each, varied senders, subjects, Date
// headers and flags, and a rare word in about 1% of the bodies. Loading is not timed (Postamt: IMAP
// MULTIAPPEND with LITERAL+ over one connection, several commands in flight; Dovecot: Maildir files
// written straight into cur/, indexed by Dovecot on the first SELECT). After one untimed SELECT on
// each server (so both are measured warm), each command is timed from its write to its tagged OK:
// SELECT INBOX, FETCH 1:* (FLAGS), UID SEARCH TEXT "<rare word>", SORT (DATE) US-ASCII ALL — each
// BENCH_BIG_REPEAT times (default 3) per server start, the round's figure being the median.
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startDovecot } from "../lib/dovecot.js";
import { ImapClient, quote } from "../lib/imap-client.js";
import { TOOLS } from "../lib/install.js";
import { type BenchUser, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { log, run } from "../lib/proc.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const USER: BenchUser = { address: "bench@bench.test", password: "bench-password-1" };
const RARE_WORD = "quokkaphrenic";
const SEED = 0x5eed_b16;

const COMMANDS = {
  select: "SELECT INBOX",
  fetchFlags: "FETCH 1:* (FLAGS)",
  searchText: `UID SEARCH TEXT ${quote(RARE_WORD)}`,
  sortDate: "SORT (DATE) US-ASCII ALL",
} as const;
type CommandName = keyof typeof COMMANDS;
const GOALS_MS: Partial<Record<CommandName, number>> = { select: 50, searchText: 100 };

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v}: must be a positive integer`);
  return n;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the of and to in is for on with as by at from that this be are was it an or have not but " +
  "meeting report quarterly budget invoice project release schedule review draft update status " +
  "server network storage backup restore deploy customer contract proposal agenda minutes travel " +
  "holiday lunch coffee office team design build test ship plan risk issue ticket question answer " +
  "summer winter spring autumn monday friday weekend morning evening garden kitchen library museum"
).split(" ");
const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory"];
const DOMAINS = ["example.com", "example.org", "example.net", "mail.test", "corp.example"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

interface Msg {
  bytes: Buffer;
  /** seconds since the epoch: the Date header, INTERNALDATE and the Maildir file's mtime */
  time: number;
  seen: boolean;
  flagged: boolean;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 5322 date in UTC, also valid as an IMAP date-time after swapping the layout. */
function rfc5322(t: number): string {
  const d = new Date(t * 1000);
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function imapDate(t: number): string {
  const d = new Date(t * 1000);
  const day = String(d.getUTCDate()).padStart(2, " ");
  return `${day}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** The mailbox: deterministic for a given N. */
function* messages(n: number): Generator<Msg> {
  const rnd = mulberry32(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const start = Date.UTC(2019, 0, 1) / 1000;
  const span = Date.UTC(2026, 0, 1) / 1000 - start;
  for (let i = 0; i < n; i++) {
    const time = start + Math.floor(rnd() * span);
    const subjectWords: string[] = [];
    const sw = 2 + Math.floor(rnd() * 6);
    for (let k = 0; k < sw; k++) subjectWords.push(pick(WORDS));
    const prefix = rnd() < 0.3 ? (rnd() < 0.5 ? "Re: " : "Fwd: ") : "";
    const from = `${pick(NAMES)}@${pick(DOMAINS)}`;
    const target = 1024 + Math.floor(rnd() * 2048);
    const rare = rnd() < 0.01;
    const head = [
      `Return-Path: <${from}>`,
      `From: ${from}`,
      `To: ${USER.address}`,
      `Subject: ${prefix}${subjectWords.join(" ")}`,
      `Date: ${rfc5322(time)}`,
      `Message-ID: <${i}.${time}@bench.test>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=us-ascii",
      "",
      "",
    ].join("\r\n");
    let body = "";
    let line = "";
    const rareAt = rare ? Math.floor(rnd() * (target - head.length)) : -1;
    let placed = false;
    while (head.length + body.length < target) {
      const w = !placed && rare && head.length + body.length + line.length >= rareAt ? RARE_WORD : pick(WORDS);
      if (w === RARE_WORD) placed = true;
      line = line ? `${line} ${w}` : w;
      if (line.length > 66) {
        body += `${line}\r\n`;
        line = "";
      }
    }
    if (rare && !placed) line = line ? `${line} ${RARE_WORD}` : RARE_WORD;
    if (line) body += `${line}\r\n`;
    const r = rnd();
    yield {
      bytes: Buffer.from(head + body, "latin1"),
      time,
      seen: r < 0.7,
      flagged: r < 0.05,
    };
  }
}

function expectedHits(n: number): number {
  let hits = 0;
  for (const m of messages(n)) if (m.bytes.includes(RARE_WORD)) hits++;
  return hits;
}

// ---------------------------------------------------------------- loading (not timed)

async function loadPostamt(server: RunningPeer, n: number): Promise<void> {
  const c = await ImapClient.connect(server.ports.imap!);
  try {
    await c.login(USER.address, USER.password);
    const batch = 250; // MULTIAPPEND: ≤ 1000 literals per command in Postamt's receiver
    const inFlight: Array<Promise<unknown>> = [];
    let parts: Array<string | Buffer> = [];
    let count = 0;
    const flush = async () => {
      if (parts.length === 0) return;
      const p = c.command(["APPEND INBOX", ...parts]).then((r) => {
        if (r.status !== "OK") throw new Error(`postamt APPEND: ${r.status} ${r.text}`);
      });
      parts = [];
      count = 0;
      inFlight.push(p);
      if (inFlight.length >= 4) await inFlight.shift();
    };
    for (const m of messages(n)) {
      const flags = [m.seen ? "\\Seen" : "", m.flagged ? "\\Flagged" : ""].filter(Boolean).join(" ");
      parts.push(` (${flags}) "${imapDate(m.time)}" {${m.bytes.length}+}\r\n`, m.bytes);
      if (++count === batch) await flush();
    }
    await flush();
    await Promise.all(inFlight);
  } finally {
    await c.logout();
  }
}

async function loadDovecot(server: RunningPeer, n: number): Promise<void> {
  const [local, domain] = USER.address.split("@") as [string, string];
  const maildir = join(server.dir, "mail", domain, local, "Maildir");
  for (const d of ["cur", "new", "tmp"]) await mkdir(join(maildir, d), { recursive: true });
  const pending: Array<Promise<void>> = [];
  let i = 0;
  for (const m of messages(n)) {
    const flags = `${m.flagged ? "F" : ""}${m.seen ? "S" : ""}`;
    const file = join(maildir, "cur", `${m.time}.M${i}P1.bench,S=${m.bytes.length}:2,${flags}`);
    i++;
    pending.push(writeFile(file, m.bytes));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  // mtime = INTERNALDATE, as APPEND sets it for Postamt
  await setMtimes(maildir);
  await run("chown", ["-R", "65534:65534", join(server.dir, "mail", domain)]);
}

async function setMtimes(maildir: string): Promise<void> {
  const cur = join(maildir, "cur");
  const names = await readdir(cur);
  for (let k = 0; k < names.length; k += 64) {
    await Promise.all(
      names.slice(k, k + 64).map((f) => {
        const t = Number.parseInt(f, 10);
        return utimes(join(cur, f), t, t);
      }),
    );
  }
}

// ---------------------------------------------------------------- measuring

type Times = Record<CommandName, number>;
/** per server, per command, the round figures so far (for the summary printed after each round) */
const history: Record<string, Partial<Record<CommandName, number[]>>> = {};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function summary(): void {
  const p = history["postamt"];
  const d = history["dovecot"];
  if (!p || !d) return;
  const lines = ["big-mailbox medians so far (ms; ratio = Dovecot / Postamt, above 1: Postamt faster):"];
  for (const name of Object.keys(COMMANDS) as CommandName[]) {
    const a = p[name] ?? [];
    const b = d[name] ?? [];
    if (a.length === 0 || b.length === 0) continue;
    const ma = median(a);
    const mb = median(b);
    const goal = GOALS_MS[name];
    const g = goal === undefined ? "" : ` goal < ${goal} ms: ${ma < goal ? "met" : "NOT met"}`;
    lines.push(
      `  ${COMMANDS[name].padEnd(34)} postamt ${ma.toFixed(1).padStart(8)}  dovecot ${mb.toFixed(1).padStart(8)}  ${(mb / ma).toFixed(2)}× (${a.length}/${b.length} rounds)${g}`,
    );
  }
  log(lines.join("\n"));
}

async function measure(server: RunningPeer, n: number, repeat: number, hits: number): Promise<Sample> {
  const port = server.ports.imap;
  if (!port) throw new Error(`${server.name} has no IMAP listener`);
  const t0 = Date.now();
  if (server.name === "postamt") await loadPostamt(server, n);
  else await loadDovecot(server, n);
  const loadSeconds = (Date.now() - t0) / 1000;
  log(`big-mailbox: ${n} messages loaded into ${server.name} in ${loadSeconds.toFixed(1)} s (not timed)`);

  const c = await ImapClient.connect(port);
  try {
    await c.login(USER.address, USER.password);
    const t1 = Date.now();
    const warm = await c.command(COMMANDS.select, { capture: true });
    const warmSeconds = (Date.now() - t1) / 1000;
    if (warm.status !== "OK") throw new Error(`${server.name} SELECT: ${warm.status} ${warm.text}`);
    const exists = Number(/\* (\d+) EXISTS/.exec(warm.untagged)?.[1] ?? -1);
    if (exists !== n) throw new Error(`${server.name}: INBOX has ${exists} messages, expected ${n}`);

    const runs: Record<CommandName, number[]> = { select: [], fetchFlags: [], searchText: [], sortDate: [] };
    const bytes: Partial<Record<CommandName, number>> = {};
    let gotHits = -1;
    let sorted = -1;
    for (let k = 0; k < repeat; k++) {
      for (const name of Object.keys(COMMANDS) as CommandName[]) {
        const capture = name === "searchText" || name === "sortDate";
        const r = await c.command(COMMANDS[name], { capture });
        if (r.status !== "OK") throw new Error(`${server.name} ${COMMANDS[name]}: ${r.status} ${r.text}`);
        runs[name].push(r.ms);
        bytes[name] = r.bytes;
        if (name === "searchText") gotHits = countNumbers(r.untagged, "SEARCH");
        if (name === "sortDate") sorted = countNumbers(r.untagged, "SORT");
      }
    }
    if (gotHits !== hits) {
      log(`big-mailbox: WARNING ${server.name} found ${gotHits} messages with "${RARE_WORD}", expected ${hits}`);
    }
    if (sorted !== n) log(`big-mailbox: WARNING ${server.name} SORT returned ${sorted} of ${n} messages`);
    const times = Object.fromEntries(
      (Object.keys(runs) as CommandName[]).map((name) => [name, median(runs[name])]),
    ) as Times;
    const h = history[server.name] ?? {};
    history[server.name] = h;
    for (const name of Object.keys(times) as CommandName[]) h[name] = [...(h[name] ?? []), times[name]];
    log(
      `big-mailbox ${server.name}: ` +
        (Object.keys(times) as CommandName[]).map((x) => `${x} ${times[x].toFixed(1)} ms`).join(", ") +
        ` (median of ${repeat}; first SELECT ${(warmSeconds * 1000).toFixed(0)} ms, untimed)`,
    );
    if (server.name !== "postamt") summary();
    const total = times.select + times.fetchFlags + times.searchText + times.sortDate;
    return {
      // the four commands once, as sequences per second: the runner's ratio is then Dovecot / Postamt time
      value: 1000 / total,
      seconds: total / 1000,
      extra: {
        selectMs: times.select,
        fetchFlagsMs: times.fetchFlags,
        searchTextMs: times.searchText,
        sortDateMs: times.sortDate,
        fetchFlagsBytes: bytes.fetchFlags ?? 0,
        searchHits: gotHits,
        expectedHits: hits,
        sortCount: sorted,
        loadSeconds,
        firstSelectMs: warmSeconds * 1000,
      },
    };
  } finally {
    await c.logout();
  }
}

/** Numbers in the untagged "* SEARCH …" / "* SORT …" lines. */
function countNumbers(untagged: string, kind: string): number {
  let count = 0;
  for (const line of untagged.split("\r\n")) {
    if (!line.startsWith(`* ${kind}`)) continue;
    const rest = line.slice(2 + kind.length).trim();
    if (rest) count += rest.split(/\s+/).length;
  }
  return count;
}

export const imapBigMailbox: Workload = {
  name: "big-mailbox",
  description:
    "one INBOX of N messages: SELECT, FETCH 1:* (FLAGS), UID SEARCH TEXT, SORT (DATE), ms per command (Postamt vs Dovecot)",
  tools: [TOOLS.dovecot],
  cases() {
    const n = envInt("BENCH_BIG_MESSAGES", 100_000);
    const repeat = envInt("BENCH_BIG_REPEAT", 3);
    let hits: number | null = null;
    const c: Case = {
      label: `${n} msgs`,
      params: { messages: n, repeat, rareWord: RARE_WORD },
      unit: "seq/s",
      peer: "dovecot",
      start: (server) =>
        server === "postamt"
          ? startPostamt({ users: [USER], imap: true })
          : startDovecot({ users: [USER], imap: true }),
      measure: async (server) => {
        hits ??= expectedHits(n);
        return measure(server, n, repeat, hits);
      },
    };
    return [c];
  },
};
