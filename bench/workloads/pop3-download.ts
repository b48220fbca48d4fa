// pop3-download: 10 accounts × N messages of mixed size (default 200, BENCH_POP3_MESSAGES), the same bytes
// for both servers, loaded before the clock starts (Postamt: over its SMTP port; Dovecot: Maildir files
// written into new/, as a delivery agent would leave them). Timed: 10 parallel POP3 clients, one per
// account (USER/PASS, STAT, LIST, then RETR and DELE for every message, QUIT), from the first connect
// until the last QUIT's +OK. Every client checks that it received every octet LIST announced.
import { chown, mkdir, writeFile } from "node:fs/promises";
import { type Socket, connect } from "node:net";
import { join } from "node:path";
import { startDovecot } from "../lib/dovecot.js";
import { TOOLS } from "../lib/install.js";
import { Pop3Client } from "../lib/pop3-client.js";
import { type BenchUser, type RunningPeer, startPostamt } from "../lib/postamt.js";
import { sleep } from "../lib/proc.js";
import type { Case, Sample, Workload } from "../lib/types.js";

const ACCOUNTS = 10;
const DOMAIN = "bench.test";
const MAIL_UID = 65534;
const MAIL_GID = 65534;

const USERS: BenchUser[] = Array.from({ length: ACCOUNTS }, (_, i) => ({
  address: `pop${i + 1}@${DOMAIN}`,
  password: `bench-password-${i + 1}`,
}));

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v}: must be a positive integer`);
  return n;
}

/** mulberry32: a small seeded PRNG, so every run generates the same mailboxes */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS =
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua postamt mail server message benchmark download retrieve mailbox".split(
    " ",
  );

/** 512 body lines of up to 76 characters (words only: no line starts with "."), each with CRLF */
const LINES: Buffer[] = (() => {
  const rnd = prng(42);
  const out: Buffer[] = [];
  for (let i = 0; i < 512; i++) {
    let l = "";
    for (;;) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)]!;
      if (l.length + w.length + 1 > 76) break;
      l += l ? ` ${w}` : w;
    }
    out.push(Buffer.from(`${l}\r\n`, "latin1"));
  }
  return out;
})();

/** Sizes: mostly log-uniform between 1 KB and 200 KB, one in 50 about 1 MB. */
function messageSize(rnd: () => number): number {
  if (rnd() < 0.02) return Math.round(900_000 + rnd() * 200_000);
  return Math.round(1024 * 200 ** rnd());
}

/** One account's messages as RFC 5322 bytes with CRLF line ends. */
function generate(account: number, count: number): Buffer[] {
  const rnd = prng(1000 + account);
  const msgs: Buffer[] = [];
  const to = USERS[account]!.address;
  for (let m = 0; m < count; m++) {
    const target = messageSize(rnd);
    const date = new Date(Date.UTC(2026, 0, 1) + (account * count + m) * 60_000).toUTCString();
    const head = Buffer.from(
      [
        `From: Sender ${m % 17} <sender${m % 17}@client.bench.test>`,
        `To: <${to}>`,
        `Subject: pop3-download message ${m + 1} for ${to}`,
        `Date: ${date.replace("GMT", "+0000")}`,
        `Message-ID: <${account}.${m}@client.bench.test>`,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "",
      ].join("\r\n"),
      "latin1",
    );
    const parts: Buffer[] = [head];
    let size = head.length;
    while (size < target) {
      const l = LINES[Math.floor(rnd() * LINES.length)]!;
      parts.push(l);
      size += l.length;
    }
    msgs.push(Buffer.concat(parts, size));
  }
  return msgs;
}

let generated: { perAccount: number; mail: Buffer[][] } | null = null;
function mailboxes(perAccount: number): Buffer[][] {
  if (generated?.perAccount !== perAccount) {
    generated = { perAccount, mail: USERS.map((_, i) => generate(i, perAccount)) };
  }
  return generated.mail;
}

// ---- loading (not timed) ----

/** A minimal SMTP sender: one session per account, the messages one after another. */
async function smtpLoad(port: number, rcpt: string, msgs: Buffer[]): Promise<void> {
  const sock: Socket = connect({ host: "127.0.0.1", port, noDelay: true });
  let buf = "";
  let waiting: ((reply: string) => void) | null = null;
  let failure: Error | null = null;
  const replies: string[] = [];
  sock.setEncoding("latin1");
  sock.on("data", (d: string) => {
    buf += d;
    for (;;) {
      const i = buf.indexOf("\r\n");
      if (i < 0) break;
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (line[3] === "-") continue; // a continuation line of a multi-line reply
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(line);
      } else replies.push(line);
    }
  });
  const closed = new Promise<never>((_, reject) => {
    sock.on("error", (e) => {
      failure = e;
      reject(e);
    });
    sock.on("close", () => reject(failure ?? new Error("SMTP connection closed")));
  });
  closed.catch(() => {});
  const reply = (expect: string, what: string): Promise<string> => {
    const got = replies.shift();
    const p =
      got !== undefined
        ? Promise.resolve(got)
        : Promise.race([new Promise<string>((r) => (waiting = r)), closed]);
    return p.then((line) => {
      if (!line.startsWith(expect)) throw new Error(`SMTP ${what}: ${line}`);
      return line;
    });
  };
  try {
    await reply("220", "greeting");
    sock.write("EHLO loader.bench.test\r\n");
    await reply("250", "EHLO");
    for (const m of msgs) {
      sock.write(`MAIL FROM:<loader@client.bench.test> SIZE=${m.length}\r\n`);
      await reply("250", "MAIL");
      sock.write(`RCPT TO:<${rcpt}>\r\n`);
      await reply("250", "RCPT");
      sock.write("DATA\r\n");
      await reply("354", "DATA");
      sock.write(m);
      sock.write(".\r\n");
      await reply("250", "end of data");
    }
    sock.write("QUIT\r\n");
    await reply("221", "QUIT");
  } finally {
    sock.destroy();
  }
}

async function loadPostamt(server: RunningPeer, mail: Buffer[][]): Promise<void> {
  const port = server.ports.smtp;
  if (!port) throw new Error("postamt has no SMTP listener");
  await Promise.all(USERS.map((u, i) => smtpLoad(port, u.address, mail[i]!)));
  const total = mail.reduce((n, m) => n + m.length, 0);
  const end = Date.now() + 60_000;
  while ((await server.storedCount()) < total) {
    if (Date.now() > end) throw new Error(`postamt: fewer than ${total} messages stored after loading`);
    await sleep(20);
  }
}

/** Maildir files in new/, named as Dovecot names its own (S= file size, W= size with CRLF). */
async function loadDovecot(server: RunningPeer, mail: Buffer[][]): Promise<void> {
  const domainDir = join(server.dir, "mail", DOMAIN);
  await mkdir(domainDir, { recursive: true });
  await chown(domainDir, MAIL_UID, MAIL_GID);
  const now = Math.floor(Date.now() / 1000);
  await Promise.all(
    USERS.map(async (u, i) => {
      const home = join(domainDir, u.address.slice(0, u.address.indexOf("@")));
      const maildir = join(home, "Maildir");
      for (const d of [home, maildir, join(maildir, "new"), join(maildir, "cur"), join(maildir, "tmp")]) {
        await mkdir(d, { recursive: true });
        await chown(d, MAIL_UID, MAIL_GID);
      }
      const msgs = mail[i]!;
      for (let m = 0; m < msgs.length; m++) {
        const crlf = msgs[m]!;
        const lf = Buffer.from(crlf.toString("latin1").replaceAll("\r\n", "\n"), "latin1");
        const name = `${now + m}.M${m}P${i}.bench,S=${lf.length},W=${crlf.length}`;
        const file = join(maildir, "new", name);
        await writeFile(file, lf);
        await chown(file, MAIL_UID, MAIL_GID);
      }
    }),
  );
}

// ---- the timed part ----

interface Pop3Params {
  accounts: number;
  messagesPerAccount: number;
}

async function download(
  port: number,
  user: BenchUser,
  expected: number,
): Promise<{ messages: number; octets: number }> {
  const c = await Pop3Client.connect(port);
  try {
    await c.login(user.address, user.password);
    const [count, statOctets] = await c.stat();
    if (count !== expected) throw new Error(`${user.address}: STAT shows ${count} messages, expected ${expected}`);
    const sizes = await c.list();
    let listed = 0;
    for (const s of sizes.values()) listed += s;
    let received = 0;
    for (const n of sizes.keys()) {
      received += await c.retr(n);
      await c.command(`DELE ${n}`);
    }
    await c.quit();
    if (received !== listed) {
      throw new Error(`${user.address}: received ${received} octets, LIST announced ${listed}`);
    }
    if (statOctets !== listed) {
      throw new Error(`${user.address}: STAT shows ${statOctets} octets, LIST ${listed}`);
    }
    return { messages: sizes.size, octets: received };
  } finally {
    c.close();
  }
}

async function measure(server: RunningPeer, p: Pop3Params): Promise<Sample> {
  const port = server.ports.pop3;
  if (!port) throw new Error(`${server.name} has no POP3 listener`);
  const start = process.hrtime.bigint();
  const results = await Promise.all(USERS.map((u) => download(port, u, p.messagesPerAccount)));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const messages = results.reduce((n, r) => n + r.messages, 0);
  const octets = results.reduce((n, r) => n + r.octets, 0);
  return {
    value: messages / seconds,
    seconds,
    extra: { messages, octets, mbPerSecond: octets / 1e6 / seconds },
  };
}

export const pop3Download: Workload = {
  name: "pop3-download",
  description:
    "10 parallel POP3 clients RETR and DELE every message of their account (mixed sizes), Postamt vs Dovecot",
  tools: [TOOLS.dovecot, TOOLS.dovecotPop3],
  cases() {
    const p: Pop3Params = { accounts: ACCOUNTS, messagesPerAccount: envInt("BENCH_POP3_MESSAGES", 200) };
    return [
      {
        label: `${p.accounts} accounts × ${p.messagesPerAccount} msgs, mixed 1 KB–1 MB`,
        params: { ...p },
        unit: "msg/s",
        peer: "dovecot",
        async start(which) {
          const mail = mailboxes(p.messagesPerAccount);
          const server =
            which === "postamt"
              ? await startPostamt({
                  users: USERS,
                  smtp: true,
                  pop3: true,
                  // BENCH_POP3_PROFILE=DIR: Postamt under node --cpu-prof (the whole run, loading included)
                  ...(process.env["BENCH_POP3_PROFILE"]
                    ? { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", process.env["BENCH_POP3_PROFILE"]] }
                    : {}),
                })
              : await startDovecot({ users: USERS, pop3: true });
          try {
            if (which === "postamt") await loadPostamt(server, mail);
            else await loadDovecot(server, mail);
          } catch (err) {
            await server.stop();
            throw err;
          }
          return server;
        },
        measure: (server) => measure(server, p),
      } satisfies Case,
    ];
  },
};
