// SessionRunner: the one place that owns a client connection for SMTP, IMAP and POP3 (DESIGN.md §4).
// It reads from the socket and hands bytes to a ProtocolSession, one chunk at a time and never two at
// once (a session that awaits the store pauses reading: back-pressure), keeps the single idle timer,
// swaps in TLS for STARTTLS/STLS, unwraps the PROXY protocol, enforces per-IP connection limits, and
// tells sessions to wind down at shutdown. Sessions only parse, decide and write.
import { type Server, type Socket, createServer } from "node:net";
import type { Readable } from "node:stream";
import { type SecureContext, TLSSocket } from "node:tls";
import type { ListenerName } from "../config/types.js";
import type { Metrics } from "../http/metrics.js";
import { type Log, newSessionId } from "../log/logger.js";
import type { TlsInfo } from "../tls/context.js";
import type { ConnectionTracker } from "./connection-tracker.js";
import type { ConnectionGate } from "./admission.js";
import { parseProxyHeader } from "./proxy-protocol.js";

export type IngestResult = "continue" | "close" | "starttls";

export interface ProtocolSession {
  /** writes the greeting; called once the connection (and implicit TLS) is up */
  greeting(): void | Promise<void>;
  /** consumes a chunk of client bytes; "starttls": the session has answered "go ahead" and the runner
   *  must start TLS now, discarding whatever plaintext follows (RFC 3207 §4.2, RFC 2595 §3.1) */
  ingest(chunk: Buffer): IngestResult | Promise<IngestResult>;
  /** TLS is up after a "starttls" result: the session forgets its earlier state as its RFC requires */
  onTlsStarted?(): void;
  /** the client was silent for too long: write the protocol's goodbye (the runner then closes) */
  onIdleTimeout(): void;
  /** the server is stopping: finish the current transaction, then say goodbye and close */
  onShutdown(): void;
  /** the connection is gone (either side); release resources */
  onClose?(): void;
}

export interface SessionIO {
  readonly sid: string;
  readonly listener: ListenerName;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** true once TLS is up (implicit or after STARTTLS) */
  readonly secure: boolean;
  readonly tls: TlsInfo | null;
  /** true for 127.0.0.0/8 and ::1 (plaintext login is allowed there, as Dovecot does) */
  readonly loopback: boolean;
  readonly log: Log;
  write(data: string | Buffer): void;
  /** resolves when the socket's write buffer has drained (streaming large responses) */
  drain(): Promise<void>;
  /** streams a readable to the client with back-pressure */
  pipeFrom(stream: Readable): Promise<void>;
  /** closes after flushing what was written */
  end(): void;
  /** changes the idle timeout (e.g. IMAP IDLE allows 30 minutes) */
  setIdleTimeout(ms: number): void;
  readonly closed: boolean;
}

export interface RunnerOptions {
  listener: ListenerName;
  protocol: "smtp" | "imap" | "pop3";
  implicitTls: boolean;
  proxyProtocol: boolean;
  idleTimeoutMs: number;
  secureContext: SecureContext;
  log: Log;
  metrics: Metrics;
  tracker: ConnectionTracker;
  /** connection limits and rates of the client address */
  limiter: ConnectionGate;
  createSession(io: SessionIO): ProtocolSession;
  /** the line sent when a client IP has too many connections, e.g. "421 4.7.0 Too many connections\r\n" */
  tooManyConnections: string;
  /** the line sent when a client IP opens connections too fast */
  tooFast: string;
  /** the line sent when the session fails unexpectedly, e.g. "421 4.3.0 Internal error\r\n" */
  internalError: string;
}

const PROXY_HEADER_TIMEOUT_MS = 10_000;
/** how long a refused connection may stay half-open after the refusal line */
const REFUSED_LINGER_MS = 5_000;
/**
 * Output a client may leave unread before it is disconnected. Sessions wait for the socket to drain
 * between commands, so only a client that pipelines commands and never reads can get here.
 */
export const MAX_PENDING_OUTPUT = 64 * 1024 * 1024;

export function createSessionServer(opts: RunnerOptions): Server {
  const server = createServer({ noDelay: true, pauseOnConnect: false });
  server.on("connection", (socket) => {
    new Connection(opts, socket).start();
  });
  return server;
}

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address.startsWith("::ffff:127.");
}

class Connection implements SessionIO {
  readonly sid = newSessionId();
  readonly listener: ListenerName;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  secure = false;
  tls: TlsInfo | null = null;
  log: Log;
  closed = false;

  private stream: Socket;
  private session: ProtocolSession | null = null;
  private busy = false;
  private pending: Buffer[] = [];
  private upgrading = false;
  private counted = false;
  private readonly openedAt = Date.now();
  private result: "ok" | "timeout" | "error" | "shutdown" | "refused" = "ok";
  private idleMs: number;

  constructor(
    private readonly opts: RunnerOptions,
    private readonly socket: Socket,
  ) {
    this.listener = opts.listener;
    this.stream = socket;
    this.remoteAddress = socket.remoteAddress ?? "unknown";
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? "unknown";
    this.localPort = socket.localPort ?? 0;
    this.idleMs = opts.idleTimeoutMs;
    this.log = opts.log.child({ sid: this.sid, listener: opts.listener });
  }

  get loopback(): boolean {
    return isLoopback(this.remoteAddress);
  }

  start(): void {
    const { metrics, tracker, listener } = this.opts;
    metrics.connections.inc({ listener });
    metrics.connectionsActive.inc({ listener });
    tracker.add(this.socket, { onShutdown: () => this.shutdown() });
    this.socket.on("error", (err) => this.onSocketError(err));
    this.socket.once("close", () => this.onClosed());
    if (this.opts.proxyProtocol) this.readProxyHeader();
    else void this.begin(null);
  }

  /** Reads the PROXY header before anything else, then continues with the real client address. */
  private readProxyHeader(): void {
    let buf: Buffer = Buffer.alloc(0);
    this.socket.setTimeout(PROXY_HEADER_TIMEOUT_MS);
    const onTimeout = () => this.socket.destroy();
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.kind === "need-more") return;
      this.socket.off("data", onData);
      this.socket.off("timeout", onTimeout);
      this.socket.pause();
      if (r.kind === "error") {
        this.log.warn("session.error", `PROXY protocol: ${r.reason}; closing`, {
          remote: this.remoteAddress,
        });
        this.result = "error";
        this.socket.destroy();
        return;
      }
      if (r.header.command === "PROXY" && r.header.sourceAddress) {
        this.remoteAddress = r.header.sourceAddress;
        this.remotePort = r.header.sourcePort ?? 0;
        this.localAddress = r.header.destAddress ?? this.localAddress;
        this.localPort = r.header.destPort ?? this.localPort;
      }
      void this.begin(r.rest.length > 0 ? r.rest : null);
    };
    this.socket.on("data", onData);
    this.socket.on("timeout", onTimeout);
  }

  private async begin(early: Buffer | null): Promise<void> {
    const refusal = this.opts.limiter.admit(this.remoteAddress);
    if (refusal !== null) {
      this.result = "refused";
      const why =
        refusal === "rate"
          ? "connection rate exceeded"
          : refusal === "network"
            ? "too many connections from its network"
            : "too many connections";
      this.log.warn("session.open", `refused ${this.remoteAddress}: ${why}`, {
        remote: this.remoteAddress,
        limit: refusal,
      });
      this.socket.end(refusal === "rate" ? this.opts.tooFast : this.opts.tooManyConnections);
      // a client that never closes its side must not keep the socket: refusals count against nothing
      setTimeout(() => this.socket.destroy(), REFUSED_LINGER_MS).unref();
      return;
    }
    this.counted = true;
    if (this.opts.implicitTls) {
      // Bytes read with the PROXY header already belong to the TLS handshake.
      if (early) this.socket.unshift(early);
      early = null;
      const ok = await this.wrapTls();
      if (!ok) return;
    }
    this.log.info("session.open", `connection from ${this.remoteAddress}:${this.remotePort}`, {
      remote: this.remoteAddress,
      tls: this.tls?.protocol,
    });
    this.session = this.opts.createSession(this);
    this.stream.setTimeout(this.idleMs);
    this.stream.on("timeout", () => this.onIdle());
    try {
      await this.session.greeting();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.stream.on("data", (chunk: Buffer) => this.onData(chunk));
    if (early) this.onData(early);
    this.stream.resume();
  }

  /** Starts server-side TLS on the socket; resolves false when the handshake failed. */
  private wrapTls(): Promise<boolean> {
    return new Promise((resolve) => {
      const tlsSocket = new TLSSocket(this.socket, {
        isServer: true,
        secureContext: this.opts.secureContext,
        requestCert: false,
      });
      const onError = (err: Error) => {
        this.log.info("session.error", `TLS handshake failed: ${err.message}`, {
          remote: this.remoteAddress,
        });
        this.result = "error";
        this.socket.destroy();
        resolve(false);
      };
      tlsSocket.once("error", onError);
      tlsSocket.once("secure", () => {
        tlsSocket.off("error", onError);
        tlsSocket.on("error", (err) => this.onSocketError(err));
        const cipher = tlsSocket.getCipher();
        this.tls = {
          protocol: tlsSocket.getProtocol() ?? "TLS",
          cipher: cipher.standardName ?? cipher.name,
          bits: null,
        };
        this.secure = true;
        this.stream = tlsSocket;
        resolve(true);
      });
    });
  }

  private onData(chunk: Buffer): void {
    if (this.upgrading || this.closed) return; // plaintext after STARTTLS is discarded, never run
    if (this.busy) {
      this.pending.push(chunk);
      return;
    }
    void this.process(chunk);
  }

  private async process(first: Buffer): Promise<void> {
    this.busy = true;
    let chunk: Buffer | undefined = first;
    while (chunk && !this.closed) {
      let result: IngestResult;
      try {
        const r = this.session!.ingest(chunk);
        if (r instanceof Promise) {
          this.stream.pause();
          result = await r;
          if (!this.closed && !this.upgrading) this.stream.resume();
        } else {
          result = r;
        }
      } catch (err) {
        this.fail(err);
        break;
      }
      if (result === "close") {
        this.end();
        break;
      }
      if (result === "starttls") {
        await this.startTls();
        break;
      }
      chunk = this.pending.shift();
    }
    this.busy = false;
  }

  private async startTls(): Promise<void> {
    this.upgrading = true;
    this.pending = []; // RFC 3207 §4.2: anything the client pipelined after STARTTLS is dropped
    this.stream.pause();
    this.stream.removeAllListeners("data");
    this.stream.removeAllListeners("timeout");
    this.stream.setTimeout(0);
    const ok = await this.wrapTls();
    if (!ok) return;
    this.upgrading = false;
    this.stream.setTimeout(this.idleMs);
    this.stream.on("timeout", () => this.onIdle());
    this.session!.onTlsStarted?.();
    this.stream.on("data", (chunk: Buffer) => this.onData(chunk));
    this.stream.resume();
  }

  private onIdle(): void {
    if (this.closed) return;
    this.result = "timeout";
    try {
      this.session?.onIdleTimeout();
    } finally {
      this.end();
    }
  }

  private shutdown(): void {
    if (this.closed) return;
    this.result = "shutdown";
    if (!this.session) {
      this.socket.destroy();
      return;
    }
    try {
      this.session.onShutdown();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.result = "error";
    this.log.error("internal.error", "session failed unexpectedly; closing the connection", { err });
    if (!this.closed) {
      this.write(this.opts.internalError);
      this.end();
    }
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    // Resets and broken pipes are how clients often leave; they are not server errors.
    this.log.debug("session.error", `socket error: ${err.code ?? err.message}`);
    if (this.result === "ok") this.result = "error";
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const { metrics, listener, protocol } = this.opts;
    metrics.connectionsActive.dec({ listener });
    if (this.counted) this.opts.limiter.release(this.remoteAddress);
    if (this.session) {
      metrics.sessions.inc({ protocol, result: this.result });
      try {
        this.session.onClose?.();
      } catch (err) {
        this.log.error("internal.error", "error while closing the session", { err });
      }
      this.log.info("session.close", `closed (${this.result})`, {
        result: this.result,
        ms: Date.now() - this.openedAt,
        in: this.socket.bytesRead,
        out: this.socket.bytesWritten,
      });
    }
  }

  // ---- SessionIO ----

  write(data: string | Buffer): void {
    if (this.closed || this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.write(data);
    if (this.stream.writableLength > MAX_PENDING_OUTPUT) {
      this.log.warn("session.error", "client does not read its responses; disconnecting", {
        pending: this.stream.writableLength,
      });
      this.result = "error";
      this.stream.destroy();
    }
  }

  drain(): Promise<void> {
    if (this.closed || !this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
    });
  }

  async pipeFrom(readable: Readable): Promise<void> {
    for await (const chunk of readable) {
      if (this.closed) {
        readable.destroy();
        return;
      }
      if (!this.stream.write(chunk as Buffer)) await this.drain();
    }
  }

  end(): void {
    if (this.closed || this.stream.writableEnded) return;
    this.stream.end();
    // A client that never reads could keep the socket half-open; give it a bounded time.
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  setIdleTimeout(ms: number): void {
    this.idleMs = ms;
    this.stream.setTimeout(ms);
  }
}
