// A deliberately raw IMAP client for scripted conversations: it sends exactly the text a test gives
// it and returns the server's responses as they were written (literals inlined), so tests can assert
// on the exact wire format.
import { type Socket, connect } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";

export interface ImapResponse {
  tag: string;
  /** "OK" | "NO" | "BAD" */
  status: string;
  /** the tagged line without the tag, e.g. "OK [READ-WRITE] SELECT completed" */
  text: string;
  /** untagged responses without "* ", literals inlined (each a complete response) */
  untagged: string[];
  /** everything the server sent for this command, bytes as latin1 */
  raw: string;
}

export class ImapRaw {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private counter = 0;
  closed = false;
  greeting = "";

  private constructor(public socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, opts: { tls?: boolean; host?: string } = {}): Promise<ImapRaw> {
    const host = opts.host ?? "127.0.0.1";
    const socket = opts.tls ? tlsConnect({ port, host, rejectUnauthorized: false }) : connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    const c = new ImapRaw(socket);
    c.greeting = (await c.readResponse()).toString("utf8");
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
      throw new Error(
        `no response in time; buffer: ${JSON.stringify(this.buf.toString("latin1").slice(0, 500))}`,
      );
    await new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      setTimeout(resolve, Math.min(left, 100));
    });
  }

  /** One complete response line, with any literals it announces, as raw bytes (CRLF excluded). */
  async readResponse(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const nl = this.buf.indexOf("\r\n", pos);
      if (nl < 0) {
        await this.more(deadline);
        continue;
      }
      const line = this.buf.subarray(0, nl);
      const m = /\{(\d+)\+?\}$/.exec(line.toString("latin1"));
      if (m) {
        const n = Number(m[1]);
        if (this.buf.length < nl + 2 + n) {
          pos = 0;
          await this.more(deadline);
          continue;
        }
        parts.push(this.buf.subarray(0, nl + 2 + n));
        this.buf = this.buf.subarray(nl + 2 + n);
        pos = 0;
        continue;
      }
      parts.push(line);
      this.buf = this.buf.subarray(nl + 2);
      return Buffer.concat(parts);
    }
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  nextTag(): string {
    return `A${++this.counter}`;
  }

  /** Sends `TAG line` and collects responses up to the tagged one. */
  async cmd(line: string, timeoutMs = 5000): Promise<ImapResponse> {
    const tag = this.nextTag();
    this.write(`${tag} ${line}\r\n`);
    return this.until(tag, timeoutMs);
  }

  /** Reads until the tagged response for `tag`. Continuation requests are collected as untagged "+ …". */
  async until(tag: string, timeoutMs = 5000): Promise<ImapResponse> {
    const untagged: string[] = [];
    const raw: string[] = [];
    for (;;) {
      const r = (await this.readResponse(timeoutMs)).toString("utf8");
      raw.push(r);
      if (r.startsWith(`${tag} `)) {
        const text = r.slice(tag.length + 1);
        return { tag, status: text.split(" ")[0]!, text, untagged, raw: raw.join("\r\n") };
      }
      untagged.push(r.startsWith("* ") ? r.slice(2) : r);
    }
  }

  /** Sends a command whose last argument is a synchronizing literal, waiting for "+" first. */
  async literalCmd(prefix: string, literal: Buffer | string, suffix = ""): Promise<ImapResponse> {
    const data = typeof literal === "string" ? Buffer.from(literal) : literal;
    const tag = this.nextTag();
    this.write(`${tag} ${prefix} {${data.length}}\r\n`);
    const cont = (await this.readResponse()).toString("utf8");
    if (!cont.startsWith("+")) {
      return {
        tag,
        status: cont.split(" ")[1] ?? "",
        text: cont.slice(tag.length + 1),
        untagged: [],
        raw: cont,
      };
    }
    this.write(Buffer.concat([data, Buffer.from(`${suffix}\r\n`)]));
    return this.until(tag);
  }

  async login(user: string, password: string): Promise<ImapResponse> {
    const r = await this.cmd(`LOGIN "${user}" "${password}"`);
    if (r.status !== "OK") throw new Error(`login failed: ${r.text}`);
    return r;
  }

  async startTls(): Promise<void> {
    const r = await this.cmd("STARTTLS");
    if (r.status !== "OK") throw new Error(`STARTTLS refused: ${r.text}`);
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.buf = Buffer.alloc(0);
    this.attach(secure);
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection still open");
      await this.more(deadline).catch(() => undefined);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
