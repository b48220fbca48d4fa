// One SMTP or LMTP session for timed deliveries (idle-memory): EHLO/LHLO once, then transactions with
// several recipients. LMTP answers the end of data once per recipient (RFC 2033), SMTP once.
import { connect, type Socket } from "node:net";

export class SmtpSession {
  private buf = "";
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | null = null;
  private failure: Error | null = null;

  private constructor(
    private readonly sock: Socket,
    private readonly lmtp: boolean,
  ) {
    sock.setNoDelay(true);
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf("\r\n"); i >= 0; i = this.buf.indexOf("\r\n")) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        if (line[3] === "-") continue; // not the last line of a multi-line reply
        const w = this.waiter;
        this.waiter = null;
        if (w) w(line);
        else this.lines.push(line);
      }
    });
    sock.on("error", (e) => {
      this.failure ??= e;
    });
    sock.on("close", () => {
      this.failure ??= new Error("SMTP/LMTP connection closed");
      const w = this.waiter;
      this.waiter = null;
      w?.("");
    });
  }

  static async open(port: number, opts: { lmtp?: boolean; helo?: string } = {}): Promise<SmtpSession> {
    const sock = connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", () => resolve());
      sock.once("error", reject);
    });
    const s = new SmtpSession(sock, opts.lmtp ?? false);
    await s.expect("220", "greeting");
    s.sock.write(`${s.lmtp ? "LHLO" : "EHLO"} ${opts.helo ?? "sender.bench.test"}\r\n`);
    await s.expect("250", s.lmtp ? "LHLO" : "EHLO");
    return s;
  }

  private reply(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<string>((resolve) => {
      this.waiter = resolve;
    });
  }

  private async expect(code: string, what: string): Promise<string> {
    const line = await this.reply();
    if (!line.startsWith(code)) throw new Error(`${what}: ${line || this.failure?.message}`);
    return line;
  }

  /**
   * One transaction. `onEndOfData` runs right after the final "." is written (the clock of a delivery
   * starts there); resolves once every recipient's end-of-data reply is in.
   */
  async send(from: string, rcpts: string[], message: Buffer, onEndOfData?: () => void): Promise<void> {
    if (message.includes("\r\n.")) throw new Error("message needs dot-stuffing");
    this.sock.write(`MAIL FROM:<${from}>\r\n`);
    await this.expect("250", "MAIL FROM");
    for (const r of rcpts) {
      this.sock.write(`RCPT TO:<${r}>\r\n`);
      await this.expect("250", `RCPT TO ${r}`);
    }
    this.sock.write("DATA\r\n");
    await this.expect("354", "DATA");
    this.sock.write(message);
    this.sock.write(message.subarray(-2).equals(Buffer.from("\r\n")) ? ".\r\n" : "\r\n.\r\n");
    onEndOfData?.();
    for (let i = 0; i < (this.lmtp ? rcpts.length : 1); i++) await this.expect("250", "end of data");
  }

  async quit(): Promise<void> {
    try {
      this.sock.write("QUIT\r\n");
      await this.expect("221", "QUIT");
    } catch {
      // closing anyway
    }
    this.sock.destroy();
  }
}
