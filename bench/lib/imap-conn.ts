// A raw IMAP connection for the load workloads (imap-mixed, idle-memory): plain TCP on loopback, one
// object per connection and nothing else, so one process can hold 10,000 of them. Unlike
// imap-client.ts it understands literals in responses ({n} at the end of a line: the n octets that
// follow are counted, never kept or scanned), so FETCH BODY[] responses cannot be mistaken for tagged
// lines. Untagged responses go to `onUntagged` (if set) and, when the command asked for it, into the
// command's result; "+" continuations resolve `nextContinuation()`. LOGIN, AUTHENTICATE SCRAM-SHA-256
// (client side of RFC 5802/7677, the salted password cached per salt) and IDLE/DONE are built in.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

export interface ConnResult {
  status: "OK" | "NO" | "BAD";
  /** the tagged line without tag and status */
  text: string;
  /** milliseconds from the write of the command to its tagged completion */
  ms: number;
  /** untagged responses (literal contents left out, their {n} markers kept), when captured */
  untagged: string[];
  /** octets of literals in the untagged responses received while this command was the oldest */
  literalBytes: number;
}

interface Pending {
  tag: string;
  start: bigint;
  capture: boolean;
  untagged: string[];
  literalBytes: number;
  resolve(r: ConnResult): void;
  reject(e: Error): void;
}

export interface ConnectOptions {
  host?: string;
  /** source address (e.g. 127.0.0.2) when one address runs short of ephemeral ports */
  localAddress?: string;
  /** greeting deadline, default 30 s */
  timeoutMs?: number;
}

const CRLF = Buffer.from("\r\n");
const LITERAL = /\{(\d+)\+?\}$/;

export class ImapConn {
  /** called with every untagged response (without the "* "), before any command sees it */
  onUntagged: ((text: string) => void) | null = null;
  private seq = 0;
  private readonly pending: Pending[] = [];
  private rest: Buffer | null = null;
  /** parts of a response whose lines so far ended in literals */
  private acc: string[] = [];
  private accLiteral = 0;
  private literalLeft = 0;
  private failure: Error | null = null;
  private greeting: ((line: string) => void) | null = null;
  private contWaiter: ((text: string) => void) | null = null;
  private idleTag: string | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => this.onData(chunk));
    sock.on("error", (err) => this.fail(err));
    sock.on("close", () => this.fail(new Error("IMAP connection closed")));
  }

  static async connect(port: number, opts: ConnectOptions = {}): Promise<ImapConn> {
    const sock = connect({ port, host: opts.host ?? "127.0.0.1", localAddress: opts.localAddress });
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    sock.removeAllListeners("error");
    const c = new ImapConn(sock);
    const line = await new Promise<string>((resolve, reject) => {
      c.greeting = resolve;
      const t = setTimeout(() => reject(new Error("no IMAP greeting in time")), opts.timeoutMs ?? 30_000);
      t.unref();
      sock.once("close", () => reject(new Error("connection closed before the greeting")));
    });
    if (!line.startsWith("* OK")) {
      c.close();
      throw new Error(`unexpected greeting: ${line}`);
    }
    return c;
  }

  get closed(): boolean {
    return this.failure !== null;
  }

  /**
   * Sends one command (without tag and CRLF; `parts` may hold Buffers, e.g. LITERAL+ literals) and
   * resolves on its tagged completion. Several may be outstanding.
   */
  command(cmd: string | Array<string | Buffer>, opts: { capture?: boolean } = {}): Promise<ConnResult> {
    if (this.failure) return Promise.reject(this.failure);
    const tag = `c${++this.seq}`;
    const done = new Promise<ConnResult>((resolve, reject) => {
      this.pending.push({
        tag,
        start: process.hrtime.bigint(),
        capture: opts.capture ?? false,
        untagged: [],
        literalBytes: 0,
        resolve,
        reject,
      });
    });
    if (typeof cmd === "string") this.sock.write(`${tag} ${cmd}\r\n`);
    else {
      this.sock.cork();
      this.sock.write(`${tag} `);
      for (const p of cmd) this.sock.write(p);
      this.sock.write("\r\n");
      this.sock.uncork();
    }
    return done;
  }

  /** Resolves with the text of the next "+" continuation. Set it up before writing what causes it. */
  nextContinuation(): Promise<string> {
    return new Promise<string>((resolve) => {
      this.contWaiter = resolve;
    });
  }

  /** Writes a raw line (a SASL response, DONE). */
  writeLine(line: string): void {
    this.sock.write(`${line}\r\n`);
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (r.status !== "OK") throw new Error(`LOGIN ${user} failed: ${r.status} ${r.text}`);
  }

  /** AUTHENTICATE SCRAM-SHA-256 with SASL-IR; the server's final message is not verified. */
  async authenticateScram(user: string, password: string): Promise<void> {
    const nonce = randomBytes(18).toString("base64");
    const bare = `n=${user.replace(/=/g, "=3D").replace(/,/g, "=2C")},r=${nonce}`;
    const first = this.nextContinuation();
    const done = this.command(`AUTHENTICATE SCRAM-SHA-256 ${b64(`n,,${bare}`)}`);
    const serverFirst = await Promise.race([first.then(unb64), done.then(failed("SCRAM start"))]);
    const attrs = new Map(serverFirst.split(",").map((kv) => [kv[0]!, kv.slice(2)] as const));
    const r = attrs.get("r");
    const s = attrs.get("s");
    const i = Number(attrs.get("i"));
    if (!r?.startsWith(nonce) || !s || !(i > 0)) throw new Error(`bad SCRAM server-first: ${serverFirst}`);
    const salted = saltedPassword(password, s, i);
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${r}`;
    const signature = createHmac("sha256", storedKey)
      .update(`${bare},${serverFirst},${withoutProof}`)
      .digest();
    const proof = Buffer.alloc(clientKey.length);
    for (let k = 0; k < proof.length; k++) proof[k] = clientKey[k]! ^ signature[k]!;
    const last = this.nextContinuation();
    this.writeLine(b64(`${withoutProof},p=${proof.toString("base64")}`));
    // The server's v=… comes either as a continuation (answered with an empty line) or in the OK.
    const outcome = await Promise.race([last.then(() => "cont" as const), done]);
    this.contWaiter = null;
    if (outcome === "cont") this.writeLine("");
    const res = await done;
    if (res.status !== "OK") throw new Error(`SCRAM login ${user} failed: ${res.status} ${res.text}`);
  }

  /** Sends IDLE and resolves at the server's "+". The IDLE command stays outstanding until done(). */
  async idle(): Promise<void> {
    const cont = this.nextContinuation();
    const tag = `c${this.seq + 1}`;
    const done = this.command("IDLE");
    this.idleTag = tag;
    this.idleDone = done;
    await Promise.race([cont, done.then(failed("IDLE"))]);
  }

  private idleDone: Promise<ConnResult> | null = null;

  /** Ends IDLE with DONE and waits for its tagged completion. */
  async done(): Promise<ConnResult> {
    const d = this.idleDone;
    if (!d || !this.idleTag) throw new Error("not idling");
    this.idleTag = null;
    this.idleDone = null;
    this.writeLine("DONE");
    return d;
  }

  async logout(): Promise<void> {
    try {
      await this.command("LOGOUT");
    } catch {
      // the server may close first
    }
    this.sock.destroy();
  }

  close(): void {
    this.sock.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private onData(chunk: Buffer): void {
    const data = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let pos = 0;
    while (pos < data.length) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, data.length - pos);
        this.literalLeft -= n;
        this.accLiteral += n;
        pos += n;
        continue;
      }
      const eol = data.indexOf(CRLF, pos);
      if (eol < 0) {
        this.rest = data.subarray(pos);
        break;
      }
      const line = data.toString("latin1", pos, eol);
      pos = eol + 2;
      if (this.greeting) {
        const g = this.greeting;
        this.greeting = null;
        g(line);
        continue;
      }
      const lit = LITERAL.exec(line);
      if (lit) {
        this.acc.push(line, "\r\n");
        this.literalLeft = Number(lit[1]);
        continue;
      }
      let text = line;
      if (this.acc.length > 0) {
        this.acc.push(line);
        text = this.acc.join("");
        this.acc = [];
      }
      const literalBytes = this.accLiteral;
      this.accLiteral = 0;
      this.dispatch(text, literalBytes);
    }
  }

  private dispatch(text: string, literalBytes: number): void {
    if (text.startsWith("* ")) {
      const body = text.slice(2);
      this.onUntagged?.(body);
      const head = this.pending[0];
      if (head) {
        head.literalBytes += literalBytes;
        if (head.capture) head.untagged.push(body);
      }
      return;
    }
    if (text.startsWith("+")) {
      const w = this.contWaiter;
      this.contWaiter = null;
      w?.(text.slice(2));
      return;
    }
    const sp = text.indexOf(" ");
    const tag = text.slice(0, sp);
    const idx = this.pending.findIndex((p) => p.tag === tag);
    if (idx < 0) return;
    const [p] = this.pending.splice(idx, 1);
    const rest = text.slice(sp + 1);
    const sp2 = rest.indexOf(" ");
    const status = (sp2 < 0 ? rest : rest.slice(0, sp2)) as ConnResult["status"];
    p!.resolve({
      status,
      text: sp2 < 0 ? "" : rest.slice(sp2 + 1),
      ms: Number(process.hrtime.bigint() - p!.start) / 1e6,
      untagged: p!.untagged,
      literalBytes: p!.literalBytes,
    });
  }
}

const salts = new Map<string, Buffer>();

/** PBKDF2 once per (password, salt, iterations): 10,000 logins to one account cost one derivation. */
function saltedPassword(password: string, salt: string, iterations: number): Buffer {
  const key = `${password}\0${salt}\0${iterations}`;
  let v = salts.get(key);
  if (!v) {
    v = pbkdf2Sync(password, Buffer.from(salt, "base64"), iterations, 32, "sha256");
    salts.set(key, v);
  }
  return v;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s.trim(), "base64").toString("utf8");
const failed = (what: string) => (r: ConnResult) => {
  throw new Error(`${what}: ${r.status} ${r.text}`);
};

export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, "\\$1")}"`;
}
