// Scripted POP3 conversations over real sockets against a real server and store (issue #5): every
// command, every response code, the state machine, the maildrop lock, IMAP-side changes during a
// session, STLS, AUTH with PLAIN/LOGIN/SCRAM-SHA-256, the throttle, and the defences.
import assert from "node:assert/strict";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { type Socket, connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import Database from "better-sqlite3";
import { type PasswordCredentials, deriveCredentials } from "../../src/auth/password.js";
import { MessageSpool } from "../../src/delivery/spool.js";
import type { SessionIO } from "../../src/net/session-runner.js";
import { silentLog } from "../../src/log/logger.js";
import { LoginDelays } from "../../src/pop3/server/login-delay.js";
import { MaildropLocks } from "../../src/pop3/server/maildrop-lock.js";
import { Pop3Session } from "../../src/pop3/server/session.js";
import { SizeCache } from "../../src/pop3/server/size-cache.js";
import { AccountLookup } from "../../src/auth/account-lookup.js";
import { AuthThrottle } from "../../src/auth/throttle.js";
import type { MailStore } from "../../src/store/types.js";
import { type TestServer, startTestServer } from "../helpers/server.js";

// ---- a raw POP3 client that shows the exact wire bytes ----

class Pop3Raw {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  greeting = "";

  private constructor(public socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, opts: { tls?: boolean; proxyFrom?: string } = {}): Promise<Pop3Raw> {
    const socket = opts.tls
      ? tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      : connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    if (opts.proxyFrom) socket.write(`PROXY TCP4 ${opts.proxyFrom} 127.0.0.1 40000 110\r\n`);
    const c = new Pop3Raw(socket);
    c.greeting = await c.line();
    return c;
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => undefined);
  }

  private async more(deadline: number): Promise<void> {
    if (this.closed)
      throw new Error(`connection closed; unread: ${JSON.stringify(this.buf.toString("latin1"))}`);
    const left = deadline - Date.now();
    if (left <= 0)
      throw new Error(`no response in time; unread: ${JSON.stringify(this.buf.toString("latin1"))}`);
    await new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      setTimeout(resolve, Math.min(left, 100));
    });
  }

  /** One response line without its CRLF. */
  async line(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf("\r\n");
      if (i >= 0) {
        const l = this.buf.subarray(0, i).toString("utf8");
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      await this.more(deadline);
    }
  }

  /** The body of a multi-line response up to and including the terminator, exactly as sent. */
  async body(timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buf.subarray(0, 3).equals(Buffer.from(".\r\n"))) {
        this.buf = this.buf.subarray(3);
        return Buffer.from(".\r\n");
      }
      const i = this.buf.indexOf("\r\n.\r\n");
      if (i >= 0) {
        const b = this.buf.subarray(0, i + 5);
        this.buf = this.buf.subarray(i + 5);
        return b;
      }
      await this.more(deadline);
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line();
  }

  /** A multi-line command: the status line and the un-stuffed lines (empty when -ERR). */
  async multi(line: string): Promise<{ status: string; lines: string[] }> {
    const status = await this.cmd(line);
    if (!status.startsWith("+OK")) return { status, lines: [] };
    const lines = (await this.body()).toString("utf8").split("\r\n").slice(0, -2);
    return { status, lines: lines.map((l) => (l.startsWith(".") ? l.slice(1) : l)) };
  }

  /** RETR/TOP: the status line and the message bytes after un-stuffing (terminator removed). */
  async retrieve(line: string): Promise<{ status: string; data: Buffer; wire: Buffer }> {
    const status = await this.cmd(line);
    if (!status.startsWith("+OK")) return { status, data: Buffer.alloc(0), wire: Buffer.alloc(0) };
    const wire = await this.body();
    return { status, data: unstuff(wire), wire };
  }

  async login(user: string, password: string): Promise<string> {
    assert.match(await this.cmd(`USER ${user}`), /^\+OK/);
    return this.cmd(`PASS ${password}`);
  }

  async stls(): Promise<void> {
    assert.match(await this.cmd("STLS"), /^\+OK/);
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection not closed");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  unread(): string {
    return this.buf.toString("latin1");
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Undo dot-stuffing and drop the terminator of a multi-line response body. */
function unstuff(wire: Buffer): Buffer {
  const text = wire.toString("latin1");
  assert.ok(text.endsWith(".\r\n"));
  const lines = text.slice(0, -3).split("\r\n");
  lines.pop(); // "" after the last CRLF
  return Buffer.from(lines.map((l) => `${l.startsWith(".") ? l.slice(1) : l}\r\n`).join(""), "latin1");
}

// ---- the store side ----

const PASSWORD = "pop3-test-secret";
let creds: PasswordCredentials;
let userCounter = 0;

async function newUser(store: MailStore): Promise<{ address: string; id: number }> {
  creds ??= await deriveCredentials(PASSWORD);
  const address = `user${++userCounter}@example.test`;
  const a = await store.addAccount({ address, ...creds });
  return { address, id: a.id };
}

async function inboxOf(store: MailStore, accountId: number) {
  const box = await store.getMailbox(accountId, "INBOX");
  assert.ok(box);
  return box;
}

const PREFIX = "Return-Path: <carol@remote.test>\r\nReceived: from remote.test by mail.example.test\r\n";

/** Delivers through the store API as the delivery agent does; returns the UID. */
async function deliver(
  store: MailStore,
  accountId: number,
  message: string | Buffer,
  prefix = PREFIX,
): Promise<number> {
  const spool = new MessageSpool(store);
  await spool.write(typeof message === "string" ? Buffer.from(message, "latin1") : message);
  const m = await spool.finish();
  const r = await store.deliver({
    content: {
      blobId: m.blobId,
      blobSize: m.size,
      mime: m.mime,
      envelope: m.envelope,
      searchText: m.searchText,
    },
    targets: [{ accountId, prefix: Buffer.from(prefix, "latin1") }],
  });
  return r.copies[0]!.uid;
}

function msg(subject: string, body: string): string {
  return `From: carol@remote.test\r\nTo: someone@example.test\r\nSubject: ${subject}\r\n\r\n${body}`;
}

// ---- the conversations ----

describe("POP3 server", () => {
  let t: TestServer;
  let store: MailStore;
  let port: number;
  before(async () => {
    t = await startTestServer({
      listen: { smtp: [], submission: [], submissions: [], pop3: ["127.0.0.1:0"], pop3s: ["127.0.0.1:0"] },
      limits: { bad_commands: 5 },
      proxy: { listeners: ["pop3"] },
    });
    store = t.server.store;
    port = t.port("pop3");
  });
  after(() => t.stop());

  /** A loopback session through the PROXY header (the pop3 listener expects one in this suite). */
  const open = (from = "127.0.0.1") => Pop3Raw.connect(port, { proxyFrom: from });

  async function loggedIn(address: string): Promise<Pop3Raw> {
    const c = await open();
    assert.match(await c.login(address, PASSWORD), /^\+OK Logged in/);
    return c;
  }

  it("greets without an APOP timestamp and lists its capabilities before login", async () => {
    const c = await open();
    assert.match(c.greeting, /^\+OK mail\.example\.test Postamt POP3 server ready$/);
    assert.doesNotMatch(c.greeting, /</);
    const capa = await c.multi("CAPA");
    assert.equal(capa.status, "+OK Capability list follows");
    assert.deepEqual(capa.lines, [
      "TOP",
      "UIDL",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "PIPELINING",
      "EXPIRE NEVER",
      "USER",
      "SASL SCRAM-SHA-256 PLAIN LOGIN",
      "STLS",
      "IMPLEMENTATION Postamt",
    ]);
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
    await c.waitClosed();
  });

  it("away from loopback: no plaintext before STLS (-ERR [AUTH]), then everything after it", async () => {
    const u = await newUser(store);
    const c = await open("192.0.2.10");
    const capa = await c.multi("CAPA");
    assert.ok(!capa.lines.includes("USER"), capa.lines.join("|"));
    assert.ok(capa.lines.includes("SASL SCRAM-SHA-256"), capa.lines.join("|"));
    assert.ok(capa.lines.includes("STLS"));
    assert.match(await c.cmd(`USER ${u.address}`), /^-ERR \[AUTH\] Plaintext authentication is disallowed/);
    assert.match(await c.cmd(`PASS ${PASSWORD}`), /^-ERR Send USER first/);
    assert.match(await c.cmd("AUTH PLAIN"), /^-ERR \[AUTH\] Plaintext authentication is disallowed/);
    assert.match(await c.cmd("AUTH LOGIN"), /^-ERR \[AUTH\]/);
    const list = await c.multi("AUTH");
    assert.deepEqual(list.lines, ["SCRAM-SHA-256"]);
    await c.stls();
    const after = await c.multi("CAPA");
    assert.ok(after.lines.includes("USER"));
    assert.ok(after.lines.includes("SASL SCRAM-SHA-256 PLAIN LOGIN"));
    assert.ok(!after.lines.includes("STLS"), "no STLS once TLS is up");
    assert.match(await c.cmd("STLS"), /^-ERR Command not permitted when TLS is active/);
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in; 0 messages \(0 octets\)/);
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("STLS discards plaintext pipelined after it (RFC 2595 §4)", async () => {
    const u = await newUser(store);
    const c = await open("192.0.2.11");
    c.write(`STLS\r\nUSER ${u.address}\r\nPASS ${PASSWORD}\r\n`);
    assert.match(await c.line(), /^\+OK Begin TLS/);
    const plain = c.socket;
    plain.removeAllListeners("data");
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    const lines: string[] = [];
    secure.on("data", (d: Buffer) => lines.push(d.toString()));
    secure.write("STAT\r\n");
    await new Promise((r) => setTimeout(r, 200));
    // still in AUTHORIZATION: the pipelined USER/PASS were never run
    assert.match(lines.join(""), /^-ERR STAT is not valid before login/);
    secure.destroy();
  });

  it("serves every TRANSACTION command with exact sizes, UIDs and bytes", async () => {
    const u = await newUser(store);
    const bodies = [
      msg("one", "Hello.\r\n"),
      msg("two", ".dot line\r\n..two dots\r\nend\r\n"),
      msg("three", "x\r\n"),
    ];
    const uids: number[] = [];
    for (const b of bodies) uids.push(await deliver(store, u.id, b));
    const full = bodies.map((b) => Buffer.from(PREFIX + b, "latin1"));
    const box = await inboxOf(store, u.id);

    const c = await loggedIn(u.address);
    const total = full.reduce((a, b) => a + b.length, 0);
    assert.equal(await c.cmd("STAT"), `+OK 3 ${total}`);
    const list = await c.multi("LIST");
    assert.equal(list.status, `+OK 3 messages (${total} octets)`);
    assert.deepEqual(
      list.lines,
      full.map((f, i) => `${i + 1} ${f.length}`),
    );
    assert.equal(await c.cmd("LIST 2"), `+OK 2 ${full[1]!.length}`);
    assert.equal(await c.cmd("LIST 4"), "-ERR There is no message 4");
    assert.equal(await c.cmd("LIST 0"), "-ERR There is no message 0");
    const uidl = await c.multi("UIDL");
    assert.deepEqual(
      uidl.lines,
      uids.map((uid, i) => `${i + 1} ${box.uidValidity}.${uid}`),
    );
    assert.equal(await c.cmd("UIDL 3"), `+OK 3 ${box.uidValidity}.${uids[2]}`);

    const r2 = await c.retrieve("RETR 2");
    assert.equal(r2.status, `+OK ${full[1]!.length} octets`);
    assert.deepEqual(r2.data, full[1]);
    assert.match(r2.wire.toString(), /\r\n\.\.dot line\r\n\.\.\.two dots\r\n/, "dot-stuffed on the wire");

    const top0 = await c.retrieve("TOP 2 0");
    assert.equal(top0.status, "+OK Top of message follows");
    assert.equal(
      top0.data.toString(),
      `${PREFIX}From: carol@remote.test\r\nTo: someone@example.test\r\nSubject: two\r\n\r\n`,
    );
    const top1 = await c.retrieve("TOP 2 1");
    assert.ok(top1.data.toString().endsWith("\r\n\r\n.dot line\r\n"));
    const top9 = await c.retrieve("TOP 2 9");
    assert.deepEqual(top9.data, full[1]);

    assert.equal(await c.cmd("DELE 1"), "+OK Message 1 deleted");
    assert.equal(await c.cmd("DELE 1"), "-ERR Message 1 is already deleted");
    assert.equal(await c.cmd("RETR 1"), "-ERR Message 1 is already deleted");
    assert.equal(await c.cmd("TOP 1 0"), "-ERR Message 1 is already deleted");
    assert.equal(await c.cmd("LIST 1"), "-ERR Message 1 is already deleted");
    assert.equal(await c.cmd("UIDL 1"), "-ERR Message 1 is already deleted");
    assert.equal(await c.cmd("STAT"), `+OK 2 ${total - full[0]!.length}`);
    assert.deepEqual((await c.multi("LIST")).lines, [`2 ${full[1]!.length}`, `3 ${full[2]!.length}`]);
    assert.equal(await c.cmd("RSET"), `+OK Maildrop has 3 messages (${total} octets)`);
    assert.equal(await c.cmd("NOOP"), "+OK");
    assert.equal(await c.cmd("DELE 1"), "+OK Message 1 deleted");
    assert.equal(await c.cmd("DELE 3"), "+OK Message 3 deleted");
    assert.equal(await c.cmd("QUIT"), "+OK Bye; 2 messages deleted");
    await c.waitClosed();

    // UPDATE expunged 1 and 3; 2 was retrieved whole, so it is \Seen now (TOP does not count)
    const left = await store.listMessages(box.id);
    assert.deepEqual(
      left.map((m) => m.uid),
      [uids[1]],
    );
    assert.deepEqual(left[0]!.flags, ["\\Seen"]);
    const changes = await store.changesSince(box.id, box.highestModseq);
    assert.deepEqual(
      changes.filter((ch) => ch.kind === "expunge").map((ch) => ch.uid),
      [uids[0], uids[2]],
      "IMAP sessions see the expunges in the change log",
    );

    // the next session: renumbered from 1, same UIDL for the same message
    const c2 = await loggedIn(u.address);
    assert.equal(await c2.cmd("UIDL 1"), `+OK 1 ${box.uidValidity}.${uids[1]}`);
    assert.equal(await c2.cmd("QUIT"), "+OK Bye");
  });

  it("TOP without DELE/RETR leaves flags alone; QUIT without changes deletes nothing", async () => {
    const u = await newUser(store);
    await deliver(store, u.id, msg("a", "b\r\n"));
    const c = await loggedIn(u.address);
    await c.retrieve("TOP 1 5");
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
    const box = await inboxOf(store, u.id);
    const m = await store.listMessages(box.id);
    assert.equal(m.length, 1);
    assert.deepEqual(m[0]!.flags, []);
  });

  it("a dropped connection deletes nothing and releases the maildrop", async () => {
    const u = await newUser(store);
    await deliver(store, u.id, msg("keep", "me\r\n"));
    const c = await loggedIn(u.address);
    assert.equal(await c.cmd("DELE 1"), "+OK Message 1 deleted");
    c.destroy();
    await c.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    const c2 = await loggedIn(u.address);
    assert.equal(await c2.cmd("STAT"), `+OK 1 ${PREFIX.length + msg("keep", "me\r\n").length}`);
    assert.equal(await c2.cmd("QUIT"), "+OK Bye");
  });

  it("locks the maildrop: a second POP3 session gets -ERR [IN-USE] (RFC 2449 §8.1.2)", async () => {
    const u = await newUser(store);
    const first = await loggedIn(u.address);
    const second = await open();
    assert.equal(await second.cmd(`USER ${u.address}`), "+OK Send your password");
    assert.equal(
      await second.cmd(`PASS ${PASSWORD}`),
      "-ERR [IN-USE] Mailbox is locked by another POP3 session",
    );
    // still in AUTHORIZATION: it may try again once the first session is done
    assert.match(await second.cmd("STAT"), /^-ERR STAT is not valid before login/);
    // pop3s shares the lock
    const tls = await Pop3Raw.connect(t.port("pop3s"), { tls: true });
    assert.match(await tls.login(u.address, PASSWORD), /^-ERR \[IN-USE\]/);
    assert.equal(await first.cmd("QUIT"), "+OK Bye");
    await first.waitClosed();
    assert.match(await second.login(u.address, PASSWORD), /^\+OK Logged in/);
    assert.equal(await second.cmd("QUIT"), "+OK Bye");
    assert.equal(await tls.cmd("QUIT"), "+OK Bye");
  });

  it("wrong passwords and unknown users get the same -ERR [AUTH]; PASS needs USER", async () => {
    const u = await newUser(store);
    const c = await open();
    assert.equal(await c.cmd("PASS x"), "-ERR Send USER first");
    assert.equal(await c.cmd(`USER ${u.address}`), "+OK Send your password");
    assert.equal(await c.cmd("PASS wrong"), "-ERR [AUTH] Authentication failed");
    // the USER is used up by the failed PASS
    assert.equal(await c.cmd(`PASS ${PASSWORD}`), "-ERR Send USER first");
    assert.equal(await c.cmd("USER nobody@example.test"), "+OK Send your password");
    assert.equal(await c.cmd("PASS whatever"), "-ERR [AUTH] Authentication failed");
    assert.match(
      await c.login(u.address.toUpperCase(), PASSWORD),
      /^\+OK Logged in/,
      "addresses are case-insensitive",
    );
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("a password with spaces is taken whole (RFC 1939 §7)", async () => {
    const address = `spaces${++userCounter}@example.test`;
    await store.addAccount({ address, ...(await deriveCredentials("pass with  spaces ")) });
    const c = await open();
    assert.match(await c.login(address, "pass with  spaces "), /^\+OK Logged in/);
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("refuses commands in the wrong state, unknown commands and bad syntax, and keeps going", async () => {
    const u = await newUser(store);
    const c = await open();
    assert.equal(await c.cmd("STAT"), "-ERR STAT is not valid before login");
    assert.equal(await c.cmd("APOP mrose c4c9334bac560ecc979e58001b3e22fb"), "-ERR Unknown command: APOP");
    assert.equal(await c.cmd("NOOP"), "-ERR NOOP is not valid before login");
    assert.equal(await c.cmd("QUIT"), "+OK Bye");

    const d = await loggedIn(u.address);
    assert.equal(await d.cmd(`USER ${u.address}`), "-ERR USER is not valid after login");
    assert.equal(await d.cmd("AUTH PLAIN"), "-ERR AUTH is not valid after login");
    assert.equal(await d.cmd("STLS"), "-ERR STLS is not valid after login");
    assert.equal(await d.cmd("RETR"), "-ERR RETR needs one message number");
    assert.equal(await d.cmd("QUIT"), "+OK Bye");
  });

  it("closes after too many bad commands", async () => {
    const c = await open();
    for (let i = 1; i < 5; i++) assert.equal(await c.cmd(`BOGUS${i}`), `-ERR Unknown command: BOGUS${i}`);
    assert.equal(
      await c.cmd("BOGUS5"),
      "-ERR Unknown command: BOGUS5; too many bad commands, closing the connection",
    );
    await c.waitClosed();
  });

  it("refuses over-long command lines (RFC 2449 §4: 255 octets) and stays in sync", async () => {
    const c = await open();
    c.write(`NOOP ${"x".repeat(300)}\r\nCAPA\r\n`);
    assert.equal(await c.line(), "-ERR Command line too long (at most 255 octets)");
    assert.equal(await c.line(), "+OK Capability list follows");
    await c.body();
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("accepts LF-only command lines, as Dovecot does", async () => {
    const c = await open();
    c.write("CAPA\nQUIT\n");
    assert.equal(await c.line(), "+OK Capability list follows");
    await c.body();
    assert.equal(await c.line(), "+OK Bye");
  });

  it("answers pipelined commands in order (RFC 2449 §6.6)", async () => {
    const u = await newUser(store);
    for (let i = 1; i <= 3; i++) await deliver(store, u.id, msg(`p${i}`, `body ${i}\r\n`));
    const c = await open();
    c.write(
      `USER ${u.address}\r\nPASS ${PASSWORD}\r\nSTAT\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nBOGUS\r\nDELE 2\r\nRETR 3\r\nQUIT\r\n`,
    );
    assert.match(await c.line(), /^\+OK Send your password/);
    assert.match(await c.line(), /^\+OK Logged in; 3 messages/);
    assert.match(await c.line(), /^\+OK 3 /);
    assert.match(await c.line(), /octets$/);
    assert.match((await c.body()).toString(), /body 1/);
    assert.equal(await c.line(), "+OK Message 1 deleted");
    assert.match(await c.line(), /octets$/);
    assert.match((await c.body()).toString(), /body 2/);
    assert.equal(await c.line(), "-ERR Unknown command: BOGUS");
    assert.equal(await c.line(), "+OK Message 2 deleted");
    assert.match(await c.line(), /octets$/);
    assert.match((await c.body()).toString(), /body 3/);
    assert.equal(await c.line(), "+OK Bye; 2 messages deleted");
    await c.waitClosed();
  });

  it("reports messages expunged by IMAP as deleted, never renumbering (and ignores new mail)", async () => {
    const u = await newUser(store);
    const uids: number[] = [];
    for (let i = 1; i <= 4; i++) uids.push(await deliver(store, u.id, msg(`m${i}`, `body ${i}\r\n`)));
    const box = await inboxOf(store, u.id);
    const sizes = (await store.listMessages(box.id)).map((m) => m.size);
    const c = await loggedIn(u.address);
    assert.equal(await c.cmd("DELE 4"), "+OK Message 4 deleted");

    // meanwhile an IMAP client expunges message 2 and a new message arrives
    assert.deepEqual(await store.expunge(box.id, [uids[1]!]), [uids[1]]);
    await deliver(store, u.id, msg("new", "late\r\n"));

    assert.equal(await c.cmd("STAT"), `+OK 2 ${sizes[0]! + sizes[2]!}`);
    assert.deepEqual((await c.multi("LIST")).lines, [`1 ${sizes[0]}`, `3 ${sizes[2]}`]);
    assert.deepEqual((await c.multi("UIDL")).lines, [
      `1 ${box.uidValidity}.${uids[0]}`,
      `3 ${box.uidValidity}.${uids[2]}`,
    ]);
    assert.equal(await c.cmd("RETR 2"), "-ERR Message 2 was deleted by another session");
    assert.equal(await c.cmd("TOP 2 0"), "-ERR Message 2 was deleted by another session");
    assert.equal(await c.cmd("DELE 2"), "-ERR Message 2 was deleted by another session");
    assert.equal(await c.cmd("LIST 5"), "-ERR There is no message 5");
    // RSET restores our own marks, not what others expunged
    assert.equal(
      await c.cmd("RSET"),
      `+OK Maildrop has 3 messages (${sizes[0]! + sizes[2]! + sizes[3]!} octets)`,
    );
    const r3 = await c.retrieve("RETR 3");
    assert.match(r3.data.toString(), /body 3/);
    assert.equal(await c.cmd("DELE 1"), "+OK Message 1 deleted");
    assert.equal(await c.cmd("QUIT"), "+OK Bye; 1 messages deleted");
    const left = (await store.listMessages(box.id)).map((m) => m.uid);
    assert.equal(left.length, 3);
    assert.ok(!left.includes(uids[0]!) && !left.includes(uids[1]!));
  });

  it("finds an expunge the bus never announced when RETR reads the message", async () => {
    const u = await newUser(store);
    const uid = await deliver(store, u.id, msg("quiet", "x\r\n"));
    const box = await inboxOf(store, u.id);
    const c = await loggedIn(u.address);
    // expunge without waking the session: as if the wake-up was lost
    const bus = store.bus;
    const publish = bus.publish;
    bus.publish = () => undefined;
    try {
      await store.expunge(box.id, [uid]);
    } finally {
      bus.publish = publish;
    }
    assert.equal(await c.cmd("RETR 1"), "-ERR Message 1 was deleted by another session");
    assert.equal(await c.cmd("STAT"), "+OK 0 0");
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("sends bare-LF messages in CRLF form and then knows their exact size", async () => {
    const u = await newUser(store);
    const raw = "From: a@remote.test\nSubject: lf\n\n.line one\nline two";
    await deliver(store, u.id, raw, "");
    const c = await loggedIn(u.address);
    assert.equal(await c.cmd("LIST 1"), `+OK 1 ${raw.length}`, "first: the stored size");
    const r = await c.retrieve("RETR 1");
    assert.equal(
      r.wire.toString(),
      "From: a@remote.test\r\nSubject: lf\r\n\r\n..line one\r\nline two\r\n.\r\n",
    );
    const crlfSize = raw.length + 4;
    assert.equal(await c.cmd("LIST 1"), `+OK 1 ${crlfSize}`, "after RETR: the CRLF size");
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
    const d = await loggedIn(u.address);
    assert.equal(await d.cmd("STAT"), `+OK 1 ${crlfSize}`);
    assert.equal(await d.cmd("RETR 1"), `+OK ${crlfSize} octets`);
    await d.body();
    assert.equal(await d.cmd("QUIT"), "+OK Bye");
  });

  it("streams a large message exactly, with dot lines across read chunks", async () => {
    const u = await newUser(store);
    const lines: string[] = [];
    for (let i = 0, length = 0; length < 3_000_000; i++) {
      const l = i % 7 === 0 ? `.${"d".repeat(i % 50)}\r\n` : `${"x".repeat(i % 97)}${i}\r\n`;
      lines.push(l);
      length += l.length;
    }
    const body = msg("big", lines.join(""));
    await deliver(store, u.id, body);
    const c = await loggedIn(u.address);
    const r = await c.retrieve("RETR 1");
    assert.equal(r.status, `+OK ${PREFIX.length + body.length} octets`);
    assert.ok(r.data.equals(Buffer.from(PREFIX + body, "latin1")), "identical after un-stuffing");
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("works over implicit TLS (pop3s) without STLS in CAPA", async () => {
    const u = await newUser(store);
    await deliver(store, u.id, msg("tls", "secret\r\n"));
    const c = await Pop3Raw.connect(t.port("pop3s"), { tls: true });
    assert.match(c.greeting, /^\+OK /);
    const capa = await c.multi("CAPA");
    assert.ok(!capa.lines.includes("STLS"));
    assert.ok(capa.lines.includes("USER"));
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in; 1 messages/);
    assert.match((await c.retrieve("RETR 1")).data.toString(), /secret/);
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("CAPA after login: the same list without STLS", async () => {
    const u = await newUser(store);
    const c = await loggedIn(u.address);
    const capa = await c.multi("CAPA");
    assert.ok(capa.lines.includes("TOP") && capa.lines.includes("UIDL") && capa.lines.includes("USER"));
    assert.ok(!capa.lines.includes("STLS"));
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  describe("AUTH (RFC 5034)", () => {
    const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

    it("lists mechanisms for a bare AUTH", async () => {
      const c = await open();
      const r = await c.multi("AUTH");
      assert.equal(r.status, "+OK Supported SASL mechanisms");
      assert.deepEqual(r.lines, ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
      assert.equal(await c.cmd("QUIT"), "+OK Bye");
    });

    it("PLAIN with an initial response, and after an empty challenge", async () => {
      const u = await newUser(store);
      const c = await open();
      assert.match(await c.cmd(`AUTH PLAIN ${b64(`\0${u.address}\0${PASSWORD}`)}`), /^\+OK Logged in/);
      assert.equal(await c.cmd("QUIT"), "+OK Bye");
      const d = await open();
      assert.equal(await d.cmd("AUTH plain"), "+ ");
      assert.match(await d.cmd(b64(`${u.address}\0${u.address}\0${PASSWORD}`)), /^\+OK Logged in/);
      assert.equal(await d.cmd("QUIT"), "+OK Bye");
    });

    it("LOGIN", async () => {
      const u = await newUser(store);
      const c = await open();
      assert.equal(await c.cmd("AUTH LOGIN"), `+ ${b64("Username:")}`);
      assert.equal(await c.cmd(b64(u.address)), `+ ${b64("Password:")}`);
      assert.match(await c.cmd(b64(PASSWORD)), /^\+OK Logged in/);
      assert.equal(await c.cmd("QUIT"), "+OK Bye");
    });

    it("SCRAM-SHA-256 with an initial response; the server's final data, then an empty line", async () => {
      const u = await newUser(store);
      const c = await open();
      const cnonce = randomBytes(18).toString("base64");
      const bare = `n=${u.address},r=${cnonce}`;
      const first = await c.cmd(`AUTH SCRAM-SHA-256 ${b64(`n,,${bare}`)}`);
      assert.match(first, /^\+ /);
      const serverFirst = Buffer.from(first.slice(2), "base64").toString();
      const m = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(serverFirst);
      assert.ok(m, serverFirst);
      const salted = pbkdf2Sync(PASSWORD, Buffer.from(m[2]!, "base64"), Number(m[3]), 32, "sha256");
      const clientKey = createHmac("sha256", salted).update("Client Key").digest();
      const storedKey = createHash("sha256").update(clientKey).digest();
      const withoutProof = `c=${b64("n,,")},r=${m[1]}`;
      const authMessage = `${bare},${serverFirst},${withoutProof}`;
      const sig = createHmac("sha256", storedKey).update(authMessage).digest();
      const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!)).toString("base64");
      const final = await c.cmd(b64(`${withoutProof},p=${proof}`));
      const serverKey = createHmac("sha256", salted).update("Server Key").digest();
      const v = `v=${createHmac("sha256", serverKey).update(authMessage).digest("base64")}`;
      assert.equal(final, `+ ${b64(v)}`);
      assert.match(await c.cmd(""), /^\+OK Logged in/);
      assert.equal(await c.cmd("QUIT"), "+OK Bye");
    });

    it("cancel with *, bad base64, unknown mechanism, wrong password", async () => {
      const u = await newUser(store);
      const c = await open();
      assert.equal(await c.cmd("AUTH LOGIN"), `+ ${b64("Username:")}`);
      assert.equal(await c.cmd("*"), "-ERR AUTH cancelled");
      assert.equal(await c.cmd("AUTH PLAIN"), "+ ");
      assert.equal(
        await c.cmd("not base64!"),
        "-ERR Invalid base64 in the AUTH response; authentication cancelled",
      );
      assert.equal(await c.cmd("AUTH PLAIN !!!!"), "-ERR Invalid base64 in the initial response");
      assert.equal(await c.cmd("AUTH CRAM-MD5"), "-ERR Unsupported authentication mechanism");
      assert.equal(
        await c.cmd(`AUTH PLAIN ${b64(`\0${u.address}\0wrong`)}`),
        "-ERR [AUTH] Authentication failed",
      );
      assert.match(await c.cmd(`AUTH PLAIN ${b64(`\0${u.address}\0${PASSWORD}`)}`), /^\+OK Logged in/);
      assert.equal(await c.cmd("QUIT"), "+OK Bye");
    });
  });
});

describe("POP3 policy: EXPIRE 0 and LOGIN-DELAY (pop3.expire, pop3.login_delay)", () => {
  let t: TestServer;
  let store: MailStore;
  let port: number;
  before(async () => {
    t = await startTestServer({
      listen: { smtp: [], submission: [], submissions: [], pop3: ["127.0.0.1:0"], pop3s: ["127.0.0.1:0"] },
      pop3: { expire: 0, login_delay: 1 },
    });
    store = t.server.store;
    port = t.port("pop3");
  });
  after(() => t.stop());

  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

  it("CAPA announces EXPIRE 0 and LOGIN-DELAY 1, before and after login", async () => {
    const u = await newUser(store);
    const c = await Pop3Raw.connect(port);
    const before = await c.multi("CAPA");
    assert.deepEqual(before.lines.slice(0, 7), [
      "TOP",
      "UIDL",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "LOGIN-DELAY 1",
      "PIPELINING",
      "EXPIRE 0",
    ]);
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in/);
    const after = await c.multi("CAPA");
    assert.ok(after.lines.includes("LOGIN-DELAY 1"), after.lines.join("|"));
    assert.ok(after.lines.includes("EXPIRE 0"), after.lines.join("|"));
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("EXPIRE 0: QUIT deletes what RETR sent whole, even without DELE and after RSET; TOP keeps", async () => {
    const u = await newUser(store);
    const bodies = [msg("one", "1\r\n"), msg("two", "2\r\n"), msg("three", "3\r\n"), msg("four", "4\r\n")];
    const uids: number[] = [];
    for (const b of bodies) uids.push(await deliver(store, u.id, b));
    const box = await inboxOf(store, u.id);
    const c = await Pop3Raw.connect(port);
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in; 4 messages/);
    assert.match((await c.retrieve("RETR 1")).status, /^\+OK/);
    assert.match((await c.retrieve("TOP 2 0")).status, /^\+OK/);
    assert.match((await c.retrieve("RETR 3")).status, /^\+OK/);
    assert.equal(await c.cmd("DELE 3"), "+OK Message 3 deleted");
    assert.match(await c.cmd("RSET"), /^\+OK Maildrop has 4 messages/);
    // the implicit DELE happens in the UPDATE state: until then the messages stay listed
    assert.equal((await c.multi("LIST")).lines.length, 4);
    assert.equal(await c.cmd("QUIT"), "+OK Bye; 2 messages deleted");
    await c.waitClosed();
    const left = await store.listMessages(box.id);
    assert.deepEqual(
      left.map((m) => m.uid),
      [uids[1], uids[3]],
    );
    assert.deepEqual(
      left.map((m) => m.flags),
      [[], []],
      "TOP sets no flag",
    );
    const changes = await store.changesSince(box.id, box.highestModseq);
    assert.deepEqual(
      changes.filter((ch) => ch.kind === "expunge").map((ch) => ch.uid),
      [uids[0], uids[2]],
      "IMAP sessions see the expunges",
    );
  });

  it("EXPIRE 0: a dropped connection deletes nothing (no UPDATE state)", async () => {
    const u = await newUser(store);
    await deliver(store, u.id, msg("keep", "me\r\n"));
    const box = await inboxOf(store, u.id);
    const c = await Pop3Raw.connect(port);
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in/);
    assert.match((await c.retrieve("RETR 1")).status, /^\+OK/);
    c.destroy();
    await c.waitClosed();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await store.listMessages(box.id)).length, 1);
  });

  it("LOGIN-DELAY: a login within 1 s of the last is refused after the password check, later accepted", async (tc) => {
    const u = await newUser(store);
    const first = await Pop3Raw.connect(port);
    const start = Date.now(); // before the server's "+OK", so at or before its clock starts
    assert.match(await first.login(u.address, PASSWORD), /^\+OK Logged in/);
    const okAt = Date.now(); // after it: the delay surely ends by okAt + 1 s
    assert.equal(await first.cmd("QUIT"), "+OK Bye");

    const second = await Pop3Raw.connect(port);
    const wrong = await second.login(u.address, "wrong password");
    const refused = await second.login(u.address, PASSWORD);
    const viaAuth = await second.cmd(`AUTH PLAIN ${b64(`\0${u.address}\0${PASSWORD}`)}`);
    // only decisive if the server answered within the delay (a loaded machine may be slower)
    const decisive = Date.now() - start < 1000;
    if (decisive) {
      assert.equal(wrong, "-ERR [AUTH] Authentication failed", "a wrong password is still just wrong");
      assert.equal(refused, "-ERR [LOGIN-DELAY] minimum time between logins is 1 seconds");
      assert.equal(viaAuth, "-ERR [LOGIN-DELAY] minimum time between logins is 1 seconds");
      // still in AUTHORIZATION
      assert.match(await second.cmd("STAT"), /^-ERR STAT is not valid before login/);
    } else {
      tc.diagnostic("the second login came more than 1 s after the first; refusal not checked");
    }

    // refused attempts do not restart the clock: 1 s after the "+OK" the same connection gets in
    await sleepUntil(okAt + 1050);
    const later = decisive ? second : await Pop3Raw.connect(port);
    if (!decisive) second.destroy();
    assert.match(await later.login(u.address, PASSWORD), /^\+OK Logged in/);
    assert.equal(await later.cmd("QUIT"), "+OK Bye");
  });

  it("LOGIN-DELAY is per account and shared by pop3 and pop3s", async (tc) => {
    const u = await newUser(store);
    const v = await newUser(store);
    const start = Date.now();
    const a = await Pop3Raw.connect(port);
    assert.match(await a.login(u.address, PASSWORD), /^\+OK Logged in/);
    assert.equal(await a.cmd("QUIT"), "+OK Bye");
    const b = await Pop3Raw.connect(port);
    assert.match(await b.login(v.address, PASSWORD), /^\+OK Logged in/, "another account is not delayed");
    assert.equal(await b.cmd("QUIT"), "+OK Bye");
    const tls = await Pop3Raw.connect(t.port("pop3s"), { tls: true });
    const r = await tls.login(u.address, PASSWORD);
    if (Date.now() - start < 1000) assert.match(r, /^-ERR \[LOGIN-DELAY\]/);
    else tc.diagnostic("too slow to check the refusal over pop3s");
    assert.equal(await tls.cmd("QUIT"), "+OK Bye");
  });
});

describe("POP3 policy: EXPIRE n days after first retrieval (pop3.expire = 1)", () => {
  let t: TestServer;
  let store: MailStore;
  let port: number;
  let db: Database.Database;
  before(async () => {
    t = await startTestServer({
      listen: { smtp: [], submission: [], submissions: [], pop3: ["127.0.0.1:0"], pop3s: [] },
      pop3: { expire: 1 },
    });
    store = t.server.store;
    port = t.port("pop3");
    db = new Database(join(t.dir, "postamt.db"));
    db.pragma("busy_timeout = 5000");
  });
  after(async () => {
    db?.close();
    await t.stop();
  });

  const retrievedAt = (mailboxId: number, uid: number) =>
    (
      db
        .prepare("SELECT pop3_retrieved_at AS at FROM messages WHERE mailbox_id = ? AND uid = ?")
        .get(mailboxId, uid) as { at: number | null } | undefined
    )?.at;

  it("CAPA announces EXPIRE 1, before and after login", async () => {
    const u = await newUser(store);
    const c = await Pop3Raw.connect(port);
    assert.ok((await c.multi("CAPA")).lines.includes("EXPIRE 1"));
    assert.match(await c.login(u.address, PASSWORD), /^\+OK Logged in/);
    const after = await c.multi("CAPA");
    assert.ok(after.lines.includes("EXPIRE 1"), after.lines.join("|"));
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });

  it("keeps a RETR'd message at QUIT, records its first retrieval, and expires it a day later at login", async () => {
    const u = await newUser(store);
    const u1 = await deliver(store, u.id, msg("one", "1\r\n"));
    const u2 = await deliver(store, u.id, msg("two", "2\r\n"));
    const box = await inboxOf(store, u.id);

    const first = await Pop3Raw.connect(port);
    assert.match(await first.login(u.address, PASSWORD), /^\+OK Logged in; 2 messages/);
    const start = Date.now();
    assert.match((await first.retrieve("RETR 1")).status, /^\+OK/);
    assert.match((await first.retrieve("TOP 2 0")).status, /^\+OK/);
    assert.equal(await first.cmd("QUIT"), "+OK Bye");
    await first.waitClosed();
    assert.deepEqual(
      (await store.listMessages(box.id)).map((m) => [m.uid, m.flags]),
      [
        [u1, ["\\Seen"]],
        [u2, []],
      ],
      "nothing deleted at QUIT; RETR flags \\Seen, TOP nothing",
    );
    const at = retrievedAt(box.id, u1);
    assert.ok(typeof at === "number" && at >= start - 1000 && at <= Date.now() + 1000, String(at));
    assert.equal(retrievedAt(box.id, u2), null, "TOP is not a retrieval");

    // the next login, within the day: still there; RETR again does not move the first retrieval
    const second = await Pop3Raw.connect(port);
    assert.match(await second.login(u.address, PASSWORD), /^\+OK Logged in; 2 messages/);
    assert.match((await second.retrieve("RETR 1")).status, /^\+OK/);
    assert.equal(await second.cmd("QUIT"), "+OK Bye");
    await second.waitClosed();
    assert.equal(retrievedAt(box.id, u1), at);

    // move the first retrieval two days into the past: the next login expires it before numbering
    db.prepare("UPDATE messages SET pop3_retrieved_at = ? WHERE mailbox_id = ? AND uid = ?").run(
      Date.now() - 2 * 86_400_000,
      box.id,
      u1,
    );
    const modseq = (await inboxOf(store, u.id)).highestModseq;
    const third = await Pop3Raw.connect(port);
    assert.match(await third.login(u.address, PASSWORD), /^\+OK Logged in; 1 messages/);
    assert.deepEqual((await third.multi("UIDL")).lines, [`1 ${box.uidValidity}.${u2}`]);
    assert.equal(await third.cmd("QUIT"), "+OK Bye");
    await third.waitClosed();
    assert.deepEqual(
      (await store.listMessages(box.id)).map((m) => m.uid),
      [u2],
    );
    assert.deepEqual(
      (await store.changesSince(box.id, modseq)).map((ch) => [ch.kind, ch.uid]),
      [["expunge", u1]],
      "IMAP sessions see the expunge",
    );
  });
});

describe("LoginDelays", () => {
  it("refuses within the delay, allows at and after it; 0 disables; old entries are swept", () => {
    let now = 0;
    const d = new LoginDelays(() => now);
    assert.equal(d.tooSoon(1, 10), false, "no previous login");
    d.record(1, 10);
    now = 9_999;
    assert.equal(d.tooSoon(1, 10), true);
    assert.equal(d.tooSoon(2, 10), false, "per account");
    assert.equal(d.tooSoon(1, 0), false, "a delay of 0 never refuses");
    now = 10_000;
    assert.equal(d.tooSoon(1, 10), false);
    d.record(2, 0);
    assert.equal(d.size, 1, "nothing recorded without a delay");
    now = 25_000;
    d.record(3, 10); // a delay period since the last sweep: account 1 is forgotten
    assert.equal(d.size, 1);
    assert.equal(d.tooSoon(3, 10), true);
  });
});

describe("POP3 login throttle", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      listen: { smtp: [], submission: [], submissions: [], pop3: ["127.0.0.1:0"] },
      auth: { max_failures: 3, failure_delay: 0, ban_time: 600 },
    });
  });
  after(() => t.stop());

  it("bans after repeated failures: -ERR [SYS/TEMP] without a password check", async () => {
    const c = await Pop3Raw.connect(t.port("pop3"));
    for (let i = 0; i < 3; i++) {
      assert.equal(await c.cmd("USER alice@example.test"), "+OK Send your password");
      assert.equal(await c.cmd("PASS nope"), "-ERR [AUTH] Authentication failed");
    }
    assert.equal(await c.cmd("USER alice@example.test"), "+OK Send your password");
    assert.match(
      await c.cmd("PASS alice-secret"),
      /^-ERR \[SYS\/TEMP\] Too many failed logins; try again in 10 minutes$/,
    );
    assert.match(
      await c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1zZWNyZXQ="),
      /^-ERR \[SYS\/TEMP\] Too many failed logins/,
    );
    assert.equal(await c.cmd("QUIT"), "+OK Bye");
  });
});

// ---- the session on a fake connection: timers, shutdown and store failures ----

class FakeIO implements SessionIO {
  readonly sid = "fake-sid";
  readonly listener = "pop3" as const;
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 40000;
  readonly localAddress = "127.0.0.1";
  readonly localPort = 110;
  readonly secure = false;
  readonly tls = null;
  readonly loopback = true;
  readonly log = silentLog();
  closed = false;
  ended = false;
  written: string[] = [];
  write(data: string | Buffer): void {
    this.written.push(data.toString());
  }
  drain(): Promise<void> {
    return Promise.resolve();
  }
  async pipeFrom(): Promise<void> {}
  end(): void {
    this.ended = true;
  }
  setIdleTimeout(): void {}
  take(): string {
    const s = this.written.join("");
    this.written = [];
    return s;
  }
}

describe("POP3 session (fake connection)", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ listen: { smtp: [], submission: [], submissions: [] } });
  });
  after(() => t.stop());

  function session(store: MailStore, shuttingDown = false): { s: Pop3Session; io: FakeIO } {
    const io = new FakeIO();
    const s = new Pop3Session(io, {
      config: t.server.config,
      store,
      throttle: new AuthThrottle({ maxFailures: 10, banMs: 60_000, failureDelayMs: 0 }),
      accounts: new AccountLookup(store),
      scram: {},
      locks: MaildropLocks.for(store),
      sizes: SizeCache.for(store),
      loginDelays: LoginDelays.for(store),
      isShuttingDown: () => shuttingDown,
    });
    return { s, io };
  }

  const feed = (s: Pop3Session, text: string) => s.ingest(Buffer.from(text));

  it("autologout after idling (RFC 1939 §3): -ERR, no UPDATE, lock released", async () => {
    const store = t.server.store;
    const u = await newUser(store);
    await deliver(store, u.id, msg("idle", "x\r\n"));
    const { s, io } = session(store);
    s.greeting();
    await feed(s, `USER ${u.address}\r\nPASS ${PASSWORD}\r\nDELE 1\r\n`);
    assert.match(io.take(), /\+OK Message 1 deleted\r\n$/);
    assert.equal(MaildropLocks.for(store).holder(u.id), "fake-sid");
    s.onIdleTimeout();
    assert.equal(io.take(), "-ERR Autologout; idle for too long\r\n");
    assert.equal(MaildropLocks.for(store).holder(u.id), null);
    const box = await inboxOf(store, u.id);
    assert.equal((await store.listMessages(box.id)).length, 1, "nothing deleted");
  });

  it("shutdown: says so with [SYS/TEMP] and closes; a greeting during shutdown refuses", async () => {
    const { s, io } = session(t.server.store);
    s.greeting();
    io.take();
    s.onShutdown();
    assert.equal(io.take(), "-ERR [SYS/TEMP] Server shutting down, try again later\r\n");
    assert.ok(io.ended);
    const late = session(t.server.store, true);
    late.s.greeting();
    assert.match(late.io.take(), /^-ERR \[SYS\/TEMP\] Server shutting down/);
    assert.ok(late.io.ended);
  });

  it("store failures answer -ERR [SYS/TEMP]; an account without INBOX -ERR [SYS/PERM]", async () => {
    const real = t.server.store;
    const u = await newUser(real);
    let mode: "fail" | "no-inbox" = "fail";
    // Proxy: the real store except the maildrop listing
    const broken = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === "listMessages" && mode === "fail")
          return () => Promise.reject(new Error("disk on fire"));
        if (prop === "getMailbox" && mode === "no-inbox") return () => Promise.resolve(null);
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { s, io } = session(broken);
    await feed(s, `USER ${u.address}\r\nPASS ${PASSWORD}\r\n`);
    assert.match(io.take(), /-ERR \[SYS\/TEMP\] Cannot open the mailbox; try again later\r\n$/);
    assert.equal(MaildropLocks.for(broken).holder(u.id), null, "lock released");
    mode = "no-inbox";
    await feed(s, `USER ${u.address}\r\nPASS ${PASSWORD}\r\n`);
    assert.match(io.take(), /-ERR \[SYS\/PERM\] The account has no INBOX/);
  });
});
