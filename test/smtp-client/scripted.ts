// Small scripted SMTP servers for the client's edge cases: each accepted connection runs a script
// that reads the client's bytes and writes exactly the replies the test wants, when it wants.
import assert from "node:assert/strict";
import { type Server, type Socket, createConnection, createServer } from "node:net";
import { TLSSocket } from "node:tls";
import { testTlsMaterial } from "../helpers/tls.js";

export class Peer {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  /** every line read with line(), in order */
  readonly lines: string[] = [];
  /** the sizes of the chunks as they arrived (to see what came in one write) */
  readonly arrivals: number[] = [];

  constructor(
    public socket: Socket | TLSSocket,
    readonly index: number,
  ) {
    this.attach(socket);
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on("data", (d: Buffer) => {
      this.arrivals.push(d.length);
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async waitFor<T>(take: () => T | null, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = take();
      if (got !== null) return got;
      if (this.closed) throw new Error(`client closed while the script waited for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`script: no ${what} within ${ms} ms; have ${JSON.stringify(this.pending)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(left, 50));
      });
    }
  }

  /** the next CRLF-ended line, without the CRLF */
  async line(ms = 5000): Promise<string> {
    const l = await this.waitFor(
      () => {
        const i = this.buf.indexOf("\r\n");
        if (i < 0) return null;
        const s = this.buf.subarray(0, i).toString("utf8");
        this.buf = this.buf.subarray(i + 2);
        return s;
      },
      "line",
      ms,
    );
    this.lines.push(l);
    return l;
  }

  /** everything up to and including `marker` */
  async until(marker: string, ms = 5000): Promise<Buffer> {
    return this.waitFor(
      () => {
        const i = this.buf.indexOf(marker);
        if (i < 0) return null;
        const out = Buffer.from(this.buf.subarray(0, i + marker.length));
        this.buf = this.buf.subarray(i + marker.length);
        return out;
      },
      JSON.stringify(marker),
      ms,
    );
  }

  /** exactly n octets */
  async bytes(n: number, ms = 5000): Promise<Buffer> {
    return this.waitFor(
      () => {
        if (this.buf.length < n) return null;
        const out = Buffer.from(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        return out;
      },
      `${n} octets`,
      ms,
    );
  }

  get pending(): string {
    return this.buf.toString("latin1");
  }

  /** true when the client sent nothing more within `ms` (it is waiting for us) */
  async quiet(ms = 150): Promise<boolean> {
    const before = this.buf.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.buf.length === before && !this.closed;
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Sends a (multi-line) reply: reply(250, "a", "b") → "250-a\r\n250 b\r\n". */
  reply(code: number, ...lines: string[]): void {
    const ls = lines.length ? lines : [""];
    this.write(ls.map((l, i) => `${code}${i === ls.length - 1 ? " " : "-"}${l}\r\n`).join(""));
  }

  /** Greeting, then answers EHLO with `extensions`. */
  async greet(extensions: string[], banner = "scripted.test ESMTP"): Promise<string> {
    this.write(`220 ${banner}\r\n`);
    const ehlo = await this.line();
    assert.match(ehlo, /^EHLO /);
    this.reply(250, "scripted.test", ...extensions);
    return ehlo;
  }

  /** Reads DATA content up to the terminator (returned without it) and answers it. */
  async data(code = 250, text = "2.0.0 queued"): Promise<Buffer> {
    const raw = await this.until("\r\n.\r\n");
    this.reply(code, text);
    return raw.subarray(0, raw.length - 3);
  }

  /** The server side of STARTTLS after "220" was sent: the test certificate. */
  async startTls(): Promise<void> {
    // Detach before the first await: the ClientHello may already be on its way.
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    plain.pause();
    const tls = await testTlsMaterial();
    const secure = new TLSSocket(plain, { isServer: true, key: tls.key, cert: tls.cert });
    await new Promise<void>((resolve, reject) => {
      secure.once("secure", () => resolve());
      secure.once("error", reject);
    });
    this.socket = secure;
    this.buf = Buffer.alloc(0);
    this.attach(secure);
  }

  async waitClosed(ms = 5000): Promise<void> {
    await this.waitFor(() => (this.closed ? true : null), "close", ms).catch((e: Error) => {
      if (!this.closed) throw e;
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface Scripted {
  port: number;
  peers: Peer[];
  /** rethrows the first error a script threw (an assertion about what the client sent) */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** A server on 127.0.0.1 whose n-th connection runs `script(peer)`. */
export async function scriptedServer(script: (p: Peer) => Promise<void>): Promise<Scripted> {
  const peers: Peer[] = [];
  const runs: Array<Promise<void>> = [];
  const errors: unknown[] = [];
  const server: Server = createServer((socket) => {
    const p = new Peer(socket, peers.length);
    peers.push(p);
    runs.push(
      script(p).catch((e: unknown) => {
        errors.push(e);
        p.close();
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    peers,
    async check() {
      await Promise.all(runs);
      if (errors.length > 0) throw errors[0];
    },
    async close() {
      for (const p of peers) p.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP relay that records what the client sent (to see BDAT on the wire to the real server). */
export async function recordingProxy(targetPort: number): Promise<{
  port: number;
  sent(): string;
  close(): Promise<void>;
}> {
  const chunks: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = createConnection(targetPort, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (d: Buffer) => chunks.push(d));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    sent: () => Buffer.concat(chunks).toString("latin1"),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
