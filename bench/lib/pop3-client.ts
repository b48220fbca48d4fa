// A small POP3 client for the benchmarks (node:net, plain, loopback): one command at a time, single-line
// responses end at the first CRLF, multi-line ones at CRLF "." CRLF, found by scanning each received
// Buffer (plus the few bytes straddling chunk boundaries) without concatenating while waiting.
import { type Socket, connect } from "node:net";

const CRLF = Buffer.from("\r\n");
const TERM = Buffer.from("\r\n.\r\n");
const STUFFED = Buffer.from("\r\n..");

export interface Pop3Response {
  ok: boolean;
  /** the status line without CRLF */
  line: string;
  /** multi-line responses: the raw data after the status line, dot-stuffed, terminator included */
  chunks: Buffer[];
  /** byte length of the data in `chunks` */
  length: number;
}

interface Waiter {
  multi: boolean;
  resolve(r: Pop3Response): void;
  reject(e: Error): void;
  /** index of the status line's CRLF in `first`, once known */
  statusEnd: number;
  first: Buffer | null;
  ok: boolean;
}

export class Pop3Client {
  private chunks: Buffer[] = [];
  private length = 0;
  /** the last (up to 4) bytes received, for a terminator straddling two chunks */
  private tail: Buffer = Buffer.alloc(0);
  private waiter: Waiter | null = null;
  private failure: Error | null = null;

  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("POP3 connection closed")));
  }

  /** Connects and reads the greeting. */
  static async connect(port: number, host = "127.0.0.1"): Promise<Pop3Client> {
    const sock = connect({ host, port, noDelay: true });
    const c = new Pop3Client(sock);
    const greeting = await c.read(false);
    if (!greeting.ok) throw new Error(`POP3 greeting: ${greeting.line}`);
    return c;
  }

  /** Sends one command and reads its response; throws on -ERR. */
  async command(line: string, multi = false): Promise<Pop3Response> {
    const p = this.read(multi);
    this.sock.write(`${line}\r\n`);
    const r = await p;
    if (!r.ok) throw new Error(`POP3 ${line.split(" ")[0]}: ${r.line}`);
    return r;
  }

  async login(user: string, password: string): Promise<void> {
    await this.command(`USER ${user}`);
    await this.command(`PASS ${password}`);
  }

  /** STAT → [messages, octets] */
  async stat(): Promise<[number, number]> {
    const r = await this.command("STAT");
    const [, n, size] = r.line.split(" ");
    return [Number(n), Number(size)];
  }

  /** LIST → message number → size in octets */
  async list(): Promise<Map<number, number>> {
    const r = await this.command("LIST", true);
    const text = Buffer.concat(r.chunks, r.length).toString("latin1");
    const out = new Map<number, number>();
    for (const l of text.split("\r\n")) {
      if (l === "" || l === ".") continue;
      const [n, size] = l.split(" ");
      out.set(Number(n), Number(size));
    }
    return out;
  }

  /** RETR n → the message's octet count after undoing the dot-stuffing */
  async retr(n: number): Promise<number> {
    const r = await this.command(`RETR ${n}`, true);
    // the data minus the terminator's "." CRLF (its first CRLF ends the last line of the message) and
    // one byte per stuffed dot
    const data = r.chunks.length === 1 ? r.chunks[0]! : Buffer.concat(r.chunks, r.length);
    let stuffed = 0;
    for (let i = data.indexOf(STUFFED); i >= 0; i = data.indexOf(STUFFED, i + 4)) stuffed++;
    return data.length - 3 - stuffed;
  }

  async quit(): Promise<void> {
    await this.command("QUIT");
    this.failure = new Error("POP3 session ended");
    this.sock.end();
  }

  close(): void {
    this.sock.destroy();
  }

  private read(multi: boolean): Promise<Pop3Response> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error("POP3 client: one command at a time"));
    return new Promise((resolve, reject) => {
      this.waiter = { multi, resolve, reject, statusEnd: -1, first: null, ok: false };
      if (this.length > 0) this.advance(null);
    });
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(e);
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.length += d.length;
    if (this.waiter) this.advance(d);
    else this.remember(d);
  }

  private remember(d: Buffer): void {
    if (d.length >= 4) this.tail = d.subarray(d.length - 4);
    else this.tail = Buffer.concat([this.tail, d]).subarray(-4);
  }

  /** Checks whether the waiter's response is complete; `d` is the chunk just received (or null). */
  private advance(d: Buffer | null): void {
    const w = this.waiter!;
    if (w.statusEnd < 0) {
      // the status line is short: gather what there is into one buffer
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
      this.chunks = [all];
      const i = all.indexOf(CRLF);
      if (i < 0) {
        this.remember(all);
        return;
      }
      w.statusEnd = i;
      w.first = all;
      w.ok = all[0] === 0x2b; // "+"
      if (!w.multi || !w.ok) {
        this.finish(all.length, i + 2);
        return;
      }
      // the terminator's first CRLF may be the status line's own (an empty listing)
      const j = all.indexOf(TERM, i);
      if (j >= 0) this.finish(j + TERM.length, i + 2);
      else this.remember(all);
      return;
    }
    if (!d) return;
    // a terminator straddling the previous chunk and this one
    const edge = Buffer.concat([this.tail, d.subarray(0, 4)]);
    const k = edge.indexOf(TERM);
    if (k >= 0) {
      this.finish(this.length - d.length + (k + TERM.length - this.tail.length), w.statusEnd + 2);
      return;
    }
    const j = d.indexOf(TERM);
    if (j >= 0) {
      this.finish(this.length - d.length + j + TERM.length, w.statusEnd + 2);
      return;
    }
    this.remember(d);
  }

  /** Completes the waiter with the first `end` bytes; data starts at `bodyStart`. */
  private finish(end: number, bodyStart: number): void {
    const w = this.waiter!;
    this.waiter = null;
    const first = w.first ?? this.chunks[0]!;
    const line = first.subarray(0, w.statusEnd).toString("latin1");
    // split the chunks at `end` (bytes beyond it stay for the next response)
    const taken: Buffer[] = [];
    let left = end;
    let i = 0;
    for (; i < this.chunks.length && left > 0; i++) {
      const c = this.chunks[i]!;
      if (c.length <= left) {
        taken.push(c);
        left -= c.length;
      } else {
        taken.push(c.subarray(0, left));
        this.chunks[i] = c.subarray(left);
        left = 0;
        break;
      }
    }
    this.chunks = this.chunks.slice(i);
    this.length -= end;
    this.tail = Buffer.alloc(0);
    if (this.length > 0) this.remember(Buffer.concat(this.chunks, this.length));
    // drop the status line from the data
    if (taken.length > 0) taken[0] = taken[0]!.subarray(bodyStart);
    const length = end - bodyStart;
    w.resolve({ ok: w.ok, line, chunks: w.multi && w.ok ? taken : [], length: w.multi && w.ok ? length : 0 });
  }
}
