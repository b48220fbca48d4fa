// A minimal raw IMAP client for the benchmarks: plain TCP on loopback, LOGIN, tagged commands that may
// be pipelined (LITERAL+ literals are sent inline), and the time from writing a command to its tagged
// completion. It parses only tagged completion lines and counts response bytes; untagged data is kept
// only when asked for (capture), so a 100,000-line FETCH costs the client almost nothing. It does not
// understand literals in responses, so it is only for commands whose responses carry none.
import { connect, type Socket } from "node:net";

export interface ImapResult {
  status: "OK" | "NO" | "BAD";
  /** the tagged line without the tag */
  text: string;
  /** milliseconds from the write of the command to the tagged completion */
  ms: number;
  /** response octets received while the command was the oldest one outstanding */
  bytes: number;
  /** the untagged response text, when captured */
  untagged: string;
}

interface Pending {
  tag: string;
  start: bigint;
  capture: boolean;
  untagged: string;
  bytes: number;
  resolve(r: ImapResult): void;
  reject(e: Error): void;
}

const TAGGED = /(?:^|\r\n)(B\d+) (OK|NO|BAD)([^\r\n]*)\r\n/g;

export class ImapClient {
  private seq = 0;
  private readonly pending: Pending[] = [];
  /** text after the last CRLF of the previous chunk (an incomplete line) */
  private carry = "";
  private failure: Error | null = null;
  private greeting: ((line: string) => void) | null = null;

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => this.onData(chunk));
    sock.on("error", (err) => this.fail(err));
    sock.on("close", () => this.fail(new Error("IMAP connection closed")));
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<ImapClient> {
    const sock = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    const c = new ImapClient(sock);
    const line = await new Promise<string>((resolve, reject) => {
      c.greeting = resolve;
      const t = setTimeout(() => reject(new Error("no IMAP greeting within 10 s")), 10_000);
      t.unref();
    });
    if (!line.startsWith("* OK")) throw new Error(`unexpected greeting: ${line}`);
    return c;
  }

  async login(user: string, password: string): Promise<void> {
    const r = await this.command(`LOGIN ${quote(user)} ${quote(password)}`);
    if (r.status !== "OK") throw new Error(`LOGIN failed: ${r.text}`);
  }

  /**
   * Sends one command (without tag and CRLF; `parts` may hold Buffers, e.g. LITERAL+ literals) and
   * resolves on its tagged completion. Several may be outstanding (pipelining).
   */
  async command(cmd: string | Array<string | Buffer>, opts: { capture?: boolean } = {}): Promise<ImapResult> {
    if (this.failure) throw this.failure;
    const tag = `B${++this.seq}`;
    const parts = typeof cmd === "string" ? [cmd] : cmd;
    const done = new Promise<ImapResult>((resolve, reject) => {
      this.pending.push({
        tag,
        start: process.hrtime.bigint(),
        capture: opts.capture ?? false,
        untagged: "",
        bytes: 0,
        resolve,
        reject,
      });
    });
    let ok = this.sock.write(`${tag} `);
    for (const p of parts) ok = this.sock.write(p);
    ok = this.sock.write("\r\n");
    if (!ok) await new Promise<void>((r) => this.sock.once("drain", () => r()));
    return done;
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
    const text = this.carry + chunk.toString("latin1");
    const lastEol = text.lastIndexOf("\r\n");
    if (this.greeting) {
      if (lastEol < 0) {
        this.carry = text;
        return;
      }
      const g = this.greeting;
      this.greeting = null;
      g(text.slice(0, text.indexOf("\r\n")));
      this.carry = text.slice(text.indexOf("\r\n") + 2);
      return;
    }
    const head = this.pending[0];
    if (head) head.bytes += chunk.length;
    if (lastEol < 0) {
      this.carry = text;
      return;
    }
    const complete = text.slice(0, lastEol + 2);
    this.carry = text.slice(lastEol + 2);
    TAGGED.lastIndex = 0;
    let from = 0;
    for (let m = TAGGED.exec(complete); m; m = TAGGED.exec(complete)) {
      const at = m.index + (m[0].startsWith("\r\n") ? 2 : 0);
      const idx = this.pending.findIndex((p) => p.tag === m![1]);
      if (idx < 0) continue;
      const [p] = this.pending.splice(idx, 1);
      if (p!.capture) p!.untagged += complete.slice(from, at);
      from = at + m[0].length - (m[0].startsWith("\r\n") ? 2 : 0);
      p!.resolve({
        status: m[2] as ImapResult["status"],
        text: m[3]!.trim(),
        ms: Number(process.hrtime.bigint() - p!.start) / 1e6,
        bytes: p!.bytes,
        untagged: p!.untagged,
      });
      // the regex consumed the CRLF ending the tagged line; the next match needs a preceding CRLF
      TAGGED.lastIndex = from - 2;
    }
    const next = this.pending[0];
    if (next?.capture) next.untagged += complete.slice(from);
  }
}

export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, "\\$1")}"`;
}
