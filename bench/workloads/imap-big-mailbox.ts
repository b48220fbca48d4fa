// big-mailbox (issue 6, workload 5): one INBOX of N messages (default 100,000; BENCH_BIG_MESSAGES),
// the same on both servers, generated from a seeded PRNG: 1–3 KB each, varied senders, subjects, Date
// headers and flags, and a rare word in about 1% of the bodies. Loading is not timed (Postamt: through
// its store API into the running server's data directory, see loadPostamtStore; Dovecot: Maildir
// files written straight into cur/, indexed by Dovecot on the first SELECT). After one untimed SELECT
// on each server (so both are measured warm), each command is timed from its write to its tagged OK:
// SELECT INBOX, FETCH 1:* (FLAGS), UID SEARCH TEXT "<rare word>", SORT (DATE) US-ASCII ALL — each
// BENCH_BIG_REPEAT times (default 3) per server start, the round's figure being the median. Then,
// once, STORE 1:* +FLAGS (\Seen), timed and reported apart (it changes the mailbox).
import { createHash } from "node:crypto";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { startDovecot } from "../lib/dovecot.js";
import { MessageSpool } from "../../src/delivery/spool.js";
import type { SpooledMessage } from "../../src/delivery/types.js";
import { LocalChangeBus } from "../../src/store/change-bus.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite-store.js";
import type { BlobWriter } from "../../src/store/types.js";
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
/**
 * Once per server start, after the timed commands (it changes the mailbox): about 30% of the messages
 * get \Seen, and all N get a FETCH response. Not part of the runner's sequence figure.
 */
const STORE_SEEN = "STORE 1:* +FLAGS (\\Seen)";
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

/** RFC 5322 date in UTC. */
function rfc5322(t: number): string {
  const d = new Date(t * 1000);
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** The mailbox: deterministic for a given N. */
export function* messages(n: number): Generator<Msg> {
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
      const w =
        !placed && rare && head.length + body.length + line.length >= rareAt ? RARE_WORD : pick(WORDS);
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

/**
 * Postamt's mailbox is written through its store API, from this process, into the data directory of
 * the running server (SQLite WAL lets both open it, as the admin CLI does): every message goes
 * through the same MessageSpool as an APPEND (blob written and fsynced, MIME parsed, text extracted
 * for the index) and one `deliver` per message with its INTERNALDATE and flags. Blobs are spooled
 * concurrently, then a chunk is delivered in generation order (so UIDs follow it) and the store's
 * group commit puts up to 500 deliveries in one transaction. IMAP APPEND of 100,000 messages took
 * about 10 minutes on the 2-core machine; this takes a fraction of that.
 */
async function loadPostamt(server: RunningPeer, n: number): Promise<void> {
  await loadPostamtStore(join(server.dir, "data"), n);
}

export async function loadPostamtStore(dataDir: string, n: number): Promise<void> {
  const store = new SqliteMailStore({
    path: join(dataDir, "postamt.db"),
    blobs: new UnsyncedBlobStore(join(dataDir, "blobs")),
    bus: new LocalChangeBus(),
  });
  await store.open();
  try {
    const account = await store.getAccount(USER.address);
    if (!account) throw new Error(`postamt: no account ${USER.address}`);
    const inbox = await store.getMailbox(account.id, "INBOX");
    if (!inbox) throw new Error("postamt: no INBOX");
    const source = messages(n)[Symbol.iterator]();
    const CHUNK = 2000;
    const SPOOLERS = 32;
    for (;;) {
      const chunk: Msg[] = [];
      for (let r = source.next(); !r.done; r = source.next()) {
        chunk.push(r.value);
        if (chunk.length === CHUNK) break;
      }
      if (chunk.length === 0) break;
      const spooled = new Array<SpooledMessage>(chunk.length);
      let next = 0;
      const spooler = async () => {
        for (let i = next++; i < chunk.length; i = next++) {
          const spool = new MessageSpool(store);
          await spool.write(chunk[i]!.bytes);
          spooled[i] = await spool.finish();
        }
      };
      await Promise.all(Array.from({ length: SPOOLERS }, spooler));
      await Promise.all(
        chunk.map((m, i) => {
          const sp = spooled[i]!;
          return store.deliver({
            content: {
              blobId: sp.blobId,
              blobSize: sp.size,
              mime: sp.mime,
              envelope: sp.envelope,
              searchText: sp.searchText,
              header: sp.header,
            },
            internalDate: new Date(m.time * 1000),
            targets: [
              {
                accountId: account.id,
                mailboxId: inbox.id,
                flags: [...(m.seen ? ["\\Seen"] : []), ...(m.flagged ? ["\\Flagged"] : [])],
              },
            ],
          });
        }),
      );
    }
  } finally {
    await store.close();
  }
}

/**
 * The server's blob layout (FsBlobStore), written without fsync: the loader needs no durability and
 * 100,000 file + directory fsyncs took minutes. Dovecot's Maildir files are written without fsync too.
 */
class UnsyncedBlobStore extends FsBlobStore {
  private readonly made = new Set<string>();

  override createWriter(): BlobWriter {
    const parts: Buffer[] = [];
    return {
      write: async (chunk) => {
        parts.push(Buffer.from(chunk));
      },
      finish: async () => {
        const data = Buffer.concat(parts);
        const id = createHash("sha256").update(data).digest("hex");
        const path = this.pathOf(id);
        if (!this.made.has(dirname(path))) {
          await mkdir(dirname(path), { recursive: true });
          this.made.add(dirname(path));
        }
        await writeFile(path, data);
        return { id, size: data.length };
      },
      abort: async () => undefined,
    };
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
const history: Record<string, Partial<Record<CommandName | "storeSeen", number[]>>> = {};

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
  const a = p.storeSeen ?? [];
  const b = d.storeSeen ?? [];
  if (a.length > 0 && b.length > 0) {
    const ma = median(a);
    const mb = median(b);
    lines.push(
      `  ${`${STORE_SEEN} (once)`.padEnd(34)} postamt ${ma.toFixed(1).padStart(8)}  dovecot ${mb.toFixed(1).padStart(8)}  ${(mb / ma).toFixed(2)}× (${a.length}/${b.length} rounds)`,
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
      log(
        `big-mailbox: WARNING ${server.name} found ${gotHits} messages with "${RARE_WORD}", expected ${hits}`,
      );
    }
    if (sorted !== n) log(`big-mailbox: WARNING ${server.name} SORT returned ${sorted} of ${n} messages`);
    const store = await c.command(STORE_SEEN);
    if (store.status !== "OK") throw new Error(`${server.name} ${STORE_SEEN}: ${store.status} ${store.text}`);
    const times = Object.fromEntries(
      (Object.keys(runs) as CommandName[]).map((name) => [name, median(runs[name])]),
    ) as Times;
    const h = history[server.name] ?? {};
    history[server.name] = h;
    for (const name of Object.keys(times) as CommandName[]) h[name] = [...(h[name] ?? []), times[name]];
    h.storeSeen = [...(h.storeSeen ?? []), store.ms];
    log(
      `big-mailbox ${server.name}: ` +
        (Object.keys(times) as CommandName[]).map((x) => `${x} ${times[x].toFixed(1)} ms`).join(", ") +
        ` (median of ${repeat}; first SELECT ${(warmSeconds * 1000).toFixed(0)} ms, untimed);` +
        ` then ${STORE_SEEN} ${store.ms.toFixed(1)} ms`,
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
        storeSeenMs: store.ms,
        storeSeenBytes: store.bytes,
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
