// Seeded mailboxes for the IMAP load workloads (imap-mixed, idle-memory) and the two ways of loading
// them before the clock starts: Postamt through IMAP MULTIAPPEND with LITERAL+ (its fastest path from
// outside: several accounts at once, a few commands in flight each), Dovecot by writing Maildir files
// straight into cur/ (flags in the name, mtime = INTERNALDATE), indexed by Dovecot at the first SELECT.
import { chown, mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImapConn } from "./imap-conn.js";
import type { BenchUser, RunningPeer } from "./postamt.js";
import { run } from "./proc.js";

export const MAIL_UID = 65534;
export const MAIL_GID = 65534;

/** mulberry32: small, seeded, the same sequence on every run */
export function prng(seed: number): () => number {
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
  "holiday lunch coffee office team design build test ship plan risk issue ticket question answer"
).split(" ");
/** senders (SEARCH FROM) */
export const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];
const DOMAINS = ["example.com", "example.org", "example.net", "mail.test", "corp.example"];
/** words each in about 3% of the bodies (SEARCH TEXT) */
export const TOPICS = [
  "zeppelin",
  "marmalade",
  "quasar",
  "tangerine",
  "fjord",
  "obsidian",
  "lantern",
  "walrus",
];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const pad = (n: number) => String(n).padStart(2, "0");

export interface GenMessage {
  bytes: Buffer;
  /** seconds since the epoch: Date header, INTERNALDATE, Maildir mtime */
  time: number;
  seen: boolean;
  flagged: boolean;
}

function rfc5322(t: number): string {
  const d = new Date(t * 1000);
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export function imapDate(t: number): string {
  const d = new Date(t * 1000);
  return `${String(d.getUTCDate()).padStart(2, " ")}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/**
 * One plain-text message of about `size` octets (CRLF line ends), to `to`, from one of NAMES; about
 * 3% of the bodies carry each TOPIC word.
 */
export function makeMessage(rnd: () => number, to: string, size: number, id: string): GenMessage {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const time = Date.UTC(2020, 0, 1) / 1000 + Math.floor(rnd() * 6 * 365 * 86400);
  const from = `${pick(NAMES)}@${pick(DOMAINS)}`;
  const subject: string[] = [];
  for (let k = 2 + Math.floor(rnd() * 6); k > 0; k--) subject.push(pick(WORDS));
  const head = [
    `Return-Path: <${from}>`,
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${rnd() < 0.3 ? "Re: " : ""}${subject.join(" ")}`,
    `Date: ${rfc5322(time)}`,
    `Message-ID: <${id}@bench.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "",
  ].join("\r\n");
  const topics = TOPICS.filter(() => rnd() < 0.03);
  const lines: string[] = [];
  let length = head.length;
  let line = "";
  while (length + line.length < size || topics.length > 0) {
    const w = topics.length > 0 && rnd() < 0.05 ? topics.pop()! : pick(WORDS);
    line = line ? `${line} ${w}` : w;
    if (line.length > 66) {
      lines.push(line);
      length += line.length + 2;
      line = "";
    }
  }
  if (line) lines.push(line);
  const r = rnd();
  return {
    bytes: Buffer.from(`${head}${lines.join("\r\n")}\r\n`, "latin1"),
    time,
    seen: r < 0.7,
    flagged: r < 0.05,
  };
}

/** `count` messages for one account, 1–8 KB (log-uniform), deterministic per (seed, account). */
export function mailbox(seed: number, account: number, to: string, count: number): GenMessage[] {
  const rnd = prng(seed + account * 7919);
  const out: GenMessage[] = [];
  for (let i = 0; i < count; i++) {
    out.push(makeMessage(rnd, to, Math.round(1024 * 8 ** rnd()), `${account}.${i}`));
  }
  return out;
}

// ---------------------------------------------------------------- loading (not timed)

/** Postamt: MULTIAPPEND with LITERAL+, `batch` messages per command, two commands in flight. */
export async function appendAll(
  port: number,
  user: BenchUser,
  msgs: GenMessage[],
  batch = 100,
): Promise<void> {
  const c = await ImapConn.connect(port);
  try {
    await c.login(user.address, user.password);
    const inFlight: Array<Promise<void>> = [];
    for (let i = 0; i < msgs.length; i += batch) {
      const parts: Array<string | Buffer> = ["APPEND INBOX"];
      for (const m of msgs.slice(i, i + batch)) {
        const flags = [m.seen ? "\\Seen" : "", m.flagged ? "\\Flagged" : ""].filter(Boolean).join(" ");
        parts.push(` (${flags}) "${imapDate(m.time)}" {${m.bytes.length}+}\r\n`, m.bytes);
      }
      inFlight.push(
        c.command(parts).then((r) => {
          if (r.status !== "OK") throw new Error(`APPEND for ${user.address}: ${r.status} ${r.text}`);
        }),
      );
      if (inFlight.length >= 2) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } finally {
    await c.logout();
  }
}

/** Postamt: every account's messages, `parallel` accounts at a time. */
export async function loadPostamt(
  server: RunningPeer,
  users: BenchUser[],
  mail: (i: number) => GenMessage[],
  parallel = 8,
): Promise<void> {
  const port = server.ports.imap;
  if (!port) throw new Error("postamt has no IMAP listener");
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < users.length; i = next++) await appendAll(port, users[i]!, mail(i));
  };
  await Promise.all(Array.from({ length: Math.min(parallel, users.length) }, worker));
}

/** Dovecot: Maildir files in cur/ (as big-mailbox does), owned by the mail uid. */
export async function loadDovecot(
  server: RunningPeer,
  users: BenchUser[],
  mail: (i: number) => GenMessage[],
): Promise<void> {
  const domains = new Set<string>();
  for (let u = 0; u < users.length; u++) {
    const [local, domain] = users[u]!.address.split("@") as [string, string];
    domains.add(domain);
    const maildir = join(server.dir, "mail", domain, local, "Maildir");
    for (const d of ["cur", "new", "tmp"]) await mkdir(join(maildir, d), { recursive: true });
    const msgs = mail(u);
    const cur = join(maildir, "cur");
    for (let i = 0; i < msgs.length; i += 64) {
      await Promise.all(
        msgs.slice(i, i + 64).map(async (m, k) => {
          const flags = `${m.flagged ? "F" : ""}${m.seen ? "S" : ""}`;
          const file = join(cur, `${m.time}.M${i + k}P${u}.bench,S=${m.bytes.length}:2,${flags}`);
          await writeFile(file, m.bytes);
          await utimes(file, m.time, m.time);
        }),
      );
    }
  }
  for (const d of domains) await run("chown", ["-R", `${MAIL_UID}:${MAIL_GID}`, join(server.dir, "mail", d)]);
  await chown(join(server.dir, "mail"), MAIL_UID, MAIL_GID);
}

/** Number of files in a Dovecot Maildir's cur/ (a check after loading). */
export async function maildirCount(server: RunningPeer, address: string): Promise<number> {
  const [local, domain] = address.split("@") as [string, string];
  return (await readdir(join(server.dir, "mail", domain, local, "Maildir", "cur"))).length;
}
