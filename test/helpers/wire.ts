// A line client whose socket can be bound to a chosen loopback address (127.0.0.2, 127.0.0.3 …),
// so one test can be several clients as far as the server's per-IP limits and bans can tell.
import assert from "node:assert/strict";
import { type Socket, connect } from "node:net";

/** Text lines over one TCP connection, with timeouts that say what was unread. */
export class Wire {
  private buf = "";
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf += d.toString("utf8");
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  static async open(port: number, localAddress: string, host = "127.0.0.1"): Promise<Wire> {
    const socket = connect({ port, host, localAddress });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    assert.equal(socket.localAddress, localAddress, "the client socket is bound to the chosen address");
    return new Wire(socket);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** One line without its CRLF. */
  async line(timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf("\r\n");
      if (i >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        return l;
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms; unread: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 100));
      });
    }
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection still open");
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The last line of an SMTP reply ("NNN text"); earlier lines of a multi-line reply are skipped. */
export async function smtpReply(w: Wire): Promise<string> {
  for (;;) {
    const l = await w.line();
    if (/^\d{3}(?: |$)/.test(l)) return l;
    if (!/^\d{3}-/.test(l)) throw new Error(`not an SMTP reply line: ${JSON.stringify(l)}`);
  }
}
