// A deliberately raw SMTP client for scripted conversations: it sends exactly the bytes a test
// gives it (bare LFs, pipelined commands, garbage) and reads replies as the server wrote them.
import { type Socket, connect } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";

export interface SmtpReply {
  code: number;
  lines: string[];
  /** the whole reply as received, CRLFs included */
  raw: string;
}

export class RawSmtp {
  private buf = "";
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(public socket: Socket | TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, opts: { tls?: boolean; host?: string } = {}): Promise<RawSmtp> {
    const host = opts.host ?? "127.0.0.1";
    const socket = opts.tls ? tlsConnect({ port, host, rejectUnauthorized: false }) : connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? "secureConnect" : "connect", () => resolve());
      socket.once("error", reject);
    });
    return new RawSmtp(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => undefined);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Reads one complete (possibly multi-line) reply. */
  async read(timeoutMs = 5000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:(\d{3})-[^\r\n]*\r\n)*(\d{3}) [^\r\n]*\r\n|^(\d{3})\r\n/.exec(this.buf);
      if (m) {
        const raw = m[0];
        this.buf = this.buf.slice(raw.length);
        const lines = raw.split("\r\n").filter(Boolean);
        return {
          code: Number(lines[lines.length - 1]!.slice(0, 3)),
          lines: lines.map((l) => l.slice(4)),
          raw,
        };
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; buffer: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 100));
      });
    }
  }

  async cmd(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  /** Upgrades after a 220 to STARTTLS. */
  async startTls(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.buf = "";
    this.attach(secure);
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection still open");
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Everything received and not yet read as a reply. */
  get unread(): string {
    return this.buf;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function plainAuth(user: string, password: string): string {
  return Buffer.from(`\0${user}\0${password}`).toString("base64");
}
