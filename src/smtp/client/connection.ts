// The outbound SMTP client: one connection to one remote host (contract in types.ts). It speaks the
// protocol — greeting, EHLO/HELO, STARTTLS, AUTH, pipelined or lockstep transactions, DATA or BDAT —
// and reports every reply; deciding what a reply means for the message (retry, bounce) is the
// caller's business.
import { type Socket, isIP, connect as netConnect } from "node:net";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type TLSSocket, rootCertificates, connect as tlsConnect } from "node:tls";
import { ContentEncoder, DotStuffer, crlfNormalizer } from "./dot-stuffer.js";
import { authMechanisms, parseEhlo, sizeLimit } from "./ehlo-parse.js";
import { ReplyParser } from "./reply-parser.js";
import {
  ClientError,
  type ClientReply,
  type ConnectFn,
  type OutboundEnvelope,
  type MessageSource,
  type OutboundRecipient,
  type RecipientResult,
  type SendResult,
  type SmtpClientOptions,
  type SmtpConnection,
  type TlsMode,
  type TlsSession,
} from "./types.js";

type TimeoutName = keyof NonNullable<SmtpClientOptions["timeouts"]>;
type Timeouts = Record<TimeoutName, number>;

/** RFC 5321 §4.5.3.2 (connect: ours; EHLO, STARTTLS, AUTH, RSET use "command"). */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  connect: 30_000,
  greeting: 300_000, // §4.5.3.2.1
  command: 300_000, // §4.5.3.2.2, §4.5.3.2.3
  dataInit: 120_000, // §4.5.3.2.4
  dataBlock: 180_000, // §4.5.3.2.5: each send of a data block (and each intermediate BDAT reply)
  dataDone: 600_000, // §4.5.3.2.6: reply to the final dot / BDAT LAST
});

const DEFAULT_CHUNK = 64 * 1024;
/** BDAT chunks in flight with PIPELINING (RFC 3030 §2 allows pipelining them); 1 without. */
const BDAT_WINDOW = 4;
/** quit() waits this long for 221 at most */
const QUIT_WAIT = 2_000;

const is2xx = (r: ClientReply) => r.code >= 200 && r.code < 300;

/**
 * Connects, reads the greeting, says EHLO (HELO after a 5xx), negotiates TLS as `opts.tls` asks and
 * authenticates when `opts.auth` is given. Throws ClientError.
 */
export const connect: ConnectFn = async (opts) => {
  validateOptions(opts);
  try {
    return await open(opts, opts.tls);
  } catch (err) {
    // Postfix's behaviour for opportunistic TLS: a failed handshake says nothing about whether the
    // host takes mail, so try once more in plaintext and remember why.
    if (err instanceof HandshakeFailed && opts.tls === "opportunistic") {
      const conn = await open(opts, "none");
      conn.tlsFallback = err.message;
      return conn;
    }
    throw err;
  }
};

/** A STARTTLS handshake failed (internal: turned into a plaintext retry or a ClientError "tls"). */
class HandshakeFailed extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

function validateOptions(opts: SmtpClientOptions): void {
  // Our own name goes into a command line: no spaces or line breaks (§4.1.1.1).
  if (!/^[\x21-\x7e]+$/.test(opts.localHostname))
    throw new RangeError(`invalid localHostname ${JSON.stringify(opts.localHostname)}`);
}

function timeoutsOf(opts: SmtpClientOptions): Timeouts {
  const t: Timeouts = { ...DEFAULT_TIMEOUTS };
  for (const [k, v] of Object.entries(opts.timeouts ?? {}))
    if (typeof v === "number" && v > 0) t[k as TimeoutName] = v;
  return t;
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return /^::ffff:127\./.test(h);
}

async function open(opts: SmtpClientOptions, mode: TlsMode): Promise<Connection> {
  const t = timeoutsOf(opts);
  const plain = await tcpConnect(opts, t.connect);
  let wire: Wire | null = null;
  try {
    let tls: TlsSession | null = null;
    if (mode === "implicit") {
      const secure = await handshake(plain, opts, t.command).catch((e: HandshakeFailed) => {
        throw new ClientError(e.timedOut ? "timeout" : "tls", e.message);
      });
      tls = checkedSession(secure, opts, true);
      wire = new Wire(secure, opts);
    } else {
      wire = new Wire(plain, opts);
    }
    const greeting = await wire.read(t.greeting, "the greeting");
    if (!is2xx(greeting)) {
      // §3.1: after a 554 greeting the client should say QUIT; after 421 the server is gone anyway.
      if (greeting.code !== 421) wire.writeQuietly("QUIT\r\n");
      throw new ClientError("rejected", `greeting: ${greeting.text}`, greeting);
    }
    let ehlo = await hello(wire, opts, t.command);
    let tlsFallback: string | null = null;
    if ((mode === "opportunistic" || mode === "required") && wire.socket === plain) {
      if (!ehlo.has("STARTTLS")) {
        if (mode === "required") throw new ClientError("tls", "the remote does not offer STARTTLS");
      } else {
        await wire.write("STARTTLS\r\n", t.command, "STARTTLS");
        const r = await wire.read(t.command, "STARTTLS");
        if (r.code === 220) {
          // RFC 3207 §4.2 and the STARTTLS command injection attacks (CVE-2011-0411 in reverse):
          // plaintext that arrived after the 220 is dropped, never read as a post-TLS reply.
          wire.detach();
          let secure: TLSSocket;
          try {
            secure = await handshake(plain, opts, t.command);
          } catch (e) {
            const f = e as HandshakeFailed;
            if (mode === "opportunistic") throw f;
            throw new ClientError(f.timedOut ? "timeout" : "tls", f.message);
          }
          tls = checkedSession(secure, opts, mode === "required");
          wire = new Wire(secure, opts);
          // RFC 3207 §4.2: forget what the server said before TLS and ask again.
          ehlo = await hello(wire, opts, t.command);
        } else if (r.code === 421) {
          throw new ClientError("rejected", `STARTTLS: ${r.text}`, r);
        } else if (mode === "required") {
          throw new ClientError("tls", `STARTTLS refused: ${r.text}`, r);
        } else {
          // Still in the EHLO state after a refused STARTTLS: go on in plaintext.
          tlsFallback = `STARTTLS refused: ${r.text}`;
        }
      }
    }
    if (opts.auth) await authenticate(wire, opts, ehlo, tls !== null, t.command);
    const conn = new Connection(wire, opts, t, greeting, ehlo, tls);
    conn.tlsFallback = tlsFallback;
    return conn;
  } catch (err) {
    if (wire) wire.destroy();
    plain.destroy();
    throw err;
  }
}

function tcpConnect(opts: SmtpClientOptions, ms: number): Promise<Socket> {
  const where = `${opts.host}:${opts.port}`;
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host: opts.host,
      port: opts.port,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ClientError("timeout", `connecting to ${where}: no answer within ${ms} ms`));
    }, ms);
    const onError = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new ClientError("connect", `connecting to ${where}: ${e.message}`));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeListener("error", onError);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/**
 * TLS over the connected socket. Never rejects an untrusted certificate at the socket level: with
 * opportunistic TLS that is the point, and with required TLS `verifyCertificate` (DANE, MTA-STS) may
 * accept what PKIX does not; checkedSession() decides.
 */
function handshake(plain: Socket, opts: SmtpClientOptions, ms: number): Promise<TLSSocket> {
  const name = opts.servername ?? opts.host;
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({
      socket: plain,
      // SNI must be a host name (RFC 6066 §3), never an address literal.
      ...(isIP(name) ? {} : { servername: name }),
      // Node checks the certificate's name against servername, else host.
      host: name,
      rejectUnauthorized: false,
      // `ca` is extra (types.ts): Node's `ca` replaces the default roots, so add them back.
      ...(opts.ca ? { ca: [...rootCertificates, ...(Array.isArray(opts.ca) ? opts.ca : [opts.ca])] } : {}),
    });
    // The plain socket's own errors surface on the TLS socket; keep them from being "unhandled".
    plain.on("error", () => undefined);
    const done = (err: HandshakeFailed | null) => {
      clearTimeout(timer);
      secure.removeListener("error", onError);
      secure.removeListener("close", onClose);
      if (err) {
        secure.destroy();
        reject(err);
      } else resolve(secure);
    };
    const timer = setTimeout(
      () => done(new HandshakeFailed(`TLS handshake: no progress within ${ms} ms`, true)),
      ms,
    );
    const onError = (e: Error) => done(new HandshakeFailed(`TLS handshake failed: ${e.message}`, false));
    const onClose = () => done(new HandshakeFailed("TLS handshake failed: connection closed", false));
    secure.once("error", onError);
    secure.once("close", onClose);
    secure.once("secureConnect", () => done(null));
  });
}

function describeTls(secure: TLSSocket): TlsSession {
  const cert = secure.getPeerCertificate();
  const err = secure.authorizationError as Error | string | null | undefined;
  return {
    protocol: secure.getProtocol() ?? null,
    cipher: secure.getCipher()?.name ?? null,
    authorized: secure.authorized,
    authorizationError: err ? (typeof err === "string" ? err : err.message) : null,
    peerCertificate: cert && Object.keys(cert).length > 0 ? cert : null,
    verifyError: null,
  };
}

/** Builds the TlsSession and applies the certificate policy; `strict` throws ClientError "tls". */
function checkedSession(secure: TLSSocket, opts: SmtpClientOptions, strict: boolean): TlsSession {
  const session = describeTls(secure);
  let reason: string | null;
  if (opts.verifyCertificate) {
    try {
      reason = opts.verifyCertificate(session, secure);
    } catch (e) {
      reason = `verifyCertificate threw: ${(e as Error).message}`;
    }
    session.verifyError = reason;
  } else {
    reason = session.authorized ? null : `certificate not trusted: ${session.authorizationError}`;
  }
  if (strict && reason !== null) {
    secure.destroy();
    throw new ClientError("tls", reason);
  }
  return session;
}

/** EHLO, or HELO when EHLO gets a 5xx (§4.1.1.1, §3.2). Returns the extensions (empty after HELO). */
async function hello(wire: Wire, opts: SmtpClientOptions, ms: number): Promise<Map<string, string>> {
  await wire.write(`EHLO ${opts.localHostname}\r\n`, ms, "EHLO");
  const r = await wire.read(ms, "EHLO");
  if (is2xx(r)) return parseEhlo(r).extensions;
  if (r.code >= 500) {
    await wire.write(`HELO ${opts.localHostname}\r\n`, ms, "HELO");
    const h = await wire.read(ms, "HELO");
    if (is2xx(h)) return new Map();
    throw new ClientError("rejected", `HELO: ${h.text}`, h);
  }
  throw new ClientError("rejected", `EHLO: ${r.text}`, r);
}

/** AUTH PLAIN (RFC 4616), else LOGIN; never over plaintext except to loopback. */
async function authenticate(
  wire: Wire,
  opts: SmtpClientOptions,
  ext: ReadonlyMap<string, string>,
  secure: boolean,
  ms: number,
): Promise<void> {
  const { user, pass } = opts.auth!;
  if (!secure && !isLoopback(opts.host))
    throw new ClientError("auth", "not sending credentials over a connection without TLS");
  const mechs = authMechanisms(ext);
  const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
  let r: ClientReply;
  if (mechs.includes("PLAIN")) {
    const ir = b64(`\0${user}\0${pass}`);
    // RFC 4954 §4: an initial response that would push the line past 512 octets waits for "334".
    if (ir.length <= 490) {
      await wire.write(`AUTH PLAIN ${ir}\r\n`, ms, "AUTH");
      r = await wire.read(ms, "AUTH");
    } else {
      await wire.write("AUTH PLAIN\r\n", ms, "AUTH");
      r = await wire.read(ms, "AUTH");
      if (r.code === 334) {
        await wire.write(`${ir}\r\n`, ms, "AUTH");
        r = await wire.read(ms, "AUTH");
      }
    }
  } else if (mechs.includes("LOGIN")) {
    await wire.write("AUTH LOGIN\r\n", ms, "AUTH");
    r = await wire.read(ms, "AUTH");
    for (const answer of [user, pass]) {
      if (r.code !== 334) break;
      await wire.write(`${b64(answer)}\r\n`, ms, "AUTH");
      r = await wire.read(ms, "AUTH");
    }
  } else {
    throw new ClientError("auth", `no usable AUTH mechanism (offered: ${mechs.join(" ") || "none"})`);
  }
  if (r.code === 334) {
    // An unexpected further challenge: cancel the exchange (RFC 4954 §4) and fail.
    await wire.write("*\r\n", ms, "AUTH");
    r = await wire.read(ms, "AUTH");
  }
  if (r.code !== 235) throw new ClientError(r.code === 421 ? "rejected" : "auth", `AUTH: ${r.text}`, r);
}

/**
 * The socket and its reply stream: replies are parsed as they arrive (so a pipelined batch never
 * stalls on unread data) and queued for read() in order.
 */
class Wire {
  private readonly parser = new ReplyParser();
  private readonly replies: ClientReply[] = [];
  private waiter: (() => void) | null = null;
  error: ClientError | null = null;
  closed = false;
  /** a 421 arrived: the remote is closing (§3.8) */
  got421 = false;
  readonly peer: string;

  constructor(
    readonly socket: Socket | TLSSocket,
    opts: SmtpClientOptions,
  ) {
    this.peer = `${opts.host}:${opts.port}`;
    socket.on("data", this.onData);
    socket.on("close", this.onClose);
    socket.on("error", this.onError);
    if (socket.destroyed) this.closed = true;
  }

  private readonly onData = (chunk: Buffer) => {
    this.parser.push(chunk);
    try {
      for (let r = this.parser.next(); r; r = this.parser.next()) {
        this.replies.push(r);
        if (r.code === 421) this.got421 = true;
      }
    } catch (e) {
      this.fail(new ClientError("protocol", `${this.peer} sent an invalid reply: ${(e as Error).message}`));
    }
    if (this.got421) {
      // The remote closes after 421 (§3.8); so do we. Queued replies stay readable.
      this.socket.destroy();
    }
    this.wake();
  };

  private readonly onClose = () => {
    this.closed = true;
    this.wake();
  };

  private readonly onError = (e: Error) => {
    this.error ??= new ClientError("protocol", `connection to ${this.peer}: ${e.message}`);
    this.wake();
  };

  private wake(): void {
    this.waiter?.();
  }

  /** Stop listening (STARTTLS hands the socket to TLS); unread plaintext is discarded. */
  detach(): void {
    this.socket.removeListener("data", this.onData);
    this.socket.removeListener("close", this.onClose);
    this.socket.removeListener("error", this.onError);
    this.parser.reset();
    this.replies.length = 0;
  }

  /** replies received but not read yet (a remote that talks out of turn) */
  get unread(): number {
    return this.replies.length;
  }

  peek(): ClientReply | undefined {
    return this.replies[0];
  }

  fail(err: ClientError): void {
    this.error ??= err;
    this.socket.destroy();
    this.wake();
  }

  destroy(): void {
    this.socket.destroy();
  }

  read(ms: number, what: string): Promise<ClientReply> {
    return new Promise((resolve, reject) => {
      const settle = (): boolean => {
        const r = this.replies.shift();
        if (r) resolve(r);
        else if (this.error) reject(this.error);
        else if (this.closed)
          reject(
            new ClientError("protocol", `${this.peer} closed the connection; expected the reply to ${what}`),
          );
        else return false;
        return true;
      };
      if (settle()) return;
      const timer = setTimeout(() => {
        this.waiter = null;
        this.fail(new ClientError("timeout", `${this.peer}: no reply to ${what} within ${ms} ms`));
        reject(this.error);
      }, ms);
      this.waiter = () => {
        if (!settle()) return;
        clearTimeout(timer);
        this.waiter = null;
      };
    });
  }

  /** Writes, and when the socket's buffer is full waits for "drain" (back-pressure) up to `ms`. */
  async write(data: string | Buffer, ms: number, what: string): Promise<void> {
    if (this.error) throw this.error;
    if (this.closed || this.socket.destroyed)
      throw new ClientError("protocol", `${this.peer} closed the connection before ${what}`);
    if (this.socket.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.socket.removeListener("drain", onDrain);
        this.socket.removeListener("close", onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(
          this.error ?? new ClientError("protocol", `${this.peer} closed the connection during ${what}`),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        this.fail(new ClientError("timeout", `${this.peer}: sending ${what} stalled for ${ms} ms`));
        reject(this.error);
      }, ms);
      this.socket.on("drain", onDrain);
      this.socket.on("close", onClose);
    });
  }

  writeQuietly(data: string): void {
    if (!this.socket.destroyed) this.socket.write(data, () => undefined);
  }
}

/**
 * Streams `src` through `encoder` into `each`, one chunk at a time (so `each` applies back-pressure).
 * Rejects with the first real error: Node 20's pipeline() reports an AbortError instead of the error
 * an async destination function threw, so that one is kept aside.
 */
async function pump(
  src: Readable,
  encoder: Transform,
  each: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  const thrown: { error?: unknown; set: boolean } = { set: false };
  try {
    await pipeline(src, encoder, async (chunks: AsyncIterable<Buffer>) => {
      try {
        for await (const chunk of chunks) await each(chunk);
      } catch (e) {
        thrown.error = e;
        thrown.set = true;
        throw e;
      }
    });
  } catch (err) {
    throw thrown.set ? thrown.error : err;
  }
}

/** Thrown inside the content pipeline to stop reading the source once a BDAT chunk failed. */
class StopSending extends Error {}

class Connection implements SmtpConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly banner: string;
  tlsFallback: string | null = null;
  /** a transaction was left open (refused DATA, failed BDAT…): RSET before the next MAIL */
  private needsRset = false;
  private busy = false;
  private quitting = false;

  constructor(
    private readonly wire: Wire,
    private readonly opts: SmtpClientOptions,
    private readonly t: Timeouts,
    greeting: ClientReply,
    readonly extensions: ReadonlyMap<string, string>,
    readonly tls: TlsSession | null,
  ) {
    this.remoteAddress = wire.socket.remoteAddress ?? opts.host;
    this.remotePort = wire.socket.remotePort ?? opts.port;
    this.banner = greeting.lines[0] ?? "";
  }

  get usable(): boolean {
    const w = this.wire;
    return !this.quitting && !w.closed && !w.error && !w.got421 && !w.socket.destroyed;
  }

  async send(envelope: OutboundEnvelope, source: MessageSource): Promise<SendResult> {
    if (this.busy) throw new Error("a transaction is already in progress on this connection");
    const utf8 = validateEnvelope(envelope);
    if (!this.usable) throw new ClientError("protocol", `the connection to ${this.wire.peer} is closed`);
    if (this.wire.unread > 0) {
      // A reply nobody asked for: the reply stream is out of step, nothing after it can be trusted.
      const r = this.wire.peek()!;
      this.destroy();
      throw new ClientError("protocol", `${this.wire.peer} sent an unexpected reply: ${r.text}`, r);
    }
    const limit = sizeLimit(this.extensions);
    if (limit !== null && envelope.size > limit)
      throw new ClientError(
        "size",
        `message of ${envelope.size} octets is over ${this.wire.peer}'s limit of ${limit} (RFC 1870)`,
      );
    if (utf8 && !this.extensions.has("SMTPUTF8"))
      throw new ClientError("smtputf8", `${this.wire.peer} does not offer SMTPUTF8 (RFC 6531)`);
    this.busy = true;
    try {
      return await this.transaction(envelope, source, utf8);
    } catch (err) {
      // Whatever failed mid-transaction (timeout, drop, garbage, the source stream), the protocol state
      // is unknown: the connection is not reused.
      this.destroy();
      throw err;
    } finally {
      this.busy = false;
    }
  }

  private async transaction(
    envelope: OutboundEnvelope,
    source: MessageSource,
    utf8: boolean,
  ): Promise<SendResult> {
    const ext = this.extensions;
    const w = this.wire;
    const t = this.t;
    const pipelining = ext.has("PIPELINING");
    const chunking = ext.has("CHUNKING") && this.opts.chunking !== false;
    const mailCmd = mailCommand(envelope, ext, utf8);
    const rcptCmds = envelope.recipients.map((r) => rcptCommand(r, ext));
    const rset = this.needsRset;

    // RFC 2920 §3.1: RSET, MAIL and RCPT may go anywhere in a group, DATA only last. With PIPELINING
    // all of them leave in one write and the replies are matched by counting, in order.
    if (pipelining) {
      const group = [...(rset ? ["RSET"] : []), mailCmd, ...rcptCmds, ...(chunking ? [] : ["DATA"])];
      await w.write(group.map((c) => `${c}\r\n`).join(""), t.command, "MAIL");
    }
    const step = async (cmd: string, ms: number, what: string): Promise<ClientReply> => {
      if (!pipelining) await w.write(`${cmd}\r\n`, ms, what);
      return w.read(ms, what);
    };

    if (rset) {
      const r = await step("RSET", t.command, "RSET");
      if (r.code === 421) return refusedResult(envelope, r);
      if (!is2xx(r)) throw new ClientError("protocol", `RSET refused: ${r.text}`, r);
      this.needsRset = false;
    }

    const mail = await step(mailCmd, t.command, "MAIL FROM");
    if (mail.code === 421) return refusedResult(envelope, mail);
    if (!is2xx(mail)) {
      // Every recipient fails with the MAIL reply (what a DSN should quote), but the pipelined
      // replies still have to be read to stay in step.
      if (pipelining) {
        for (let i = 0; i < rcptCmds.length; i++)
          if ((await w.read(t.command, "RCPT TO")).code === 421) break;
        if (!chunking && !w.got421) await this.endUnwantedData(await w.read(t.dataInit, "DATA"));
      }
      return refusedResult(envelope, mail);
    }

    const recipients: RecipientResult[] = [];
    for (let i = 0; i < rcptCmds.length; i++) {
      const address = envelope.recipients[i]!.address;
      const r = await step(rcptCmds[i]!, t.command, "RCPT TO");
      recipients.push({ address, accepted: is2xx(r), reply: r });
      if (r.code === 421) {
        // The remote is gone: the rest share its last word, and accepted recipients did not get the
        // message (data = the 421).
        for (const rest of envelope.recipients.slice(i + 1))
          recipients.push({ address: rest.address, accepted: false, reply: r });
        return { mail, recipients, data: recipients.some((x) => x.accepted) ? r : null };
      }
    }
    const accepted = recipients.some((r) => r.accepted);

    if (chunking) {
      this.needsRset = true;
      if (!accepted) return { mail, recipients, data: null };
      const data = await this.sendBdat(source, pipelining);
      this.needsRset = !is2xx(data) && data.code !== 421; // RFC 3030 §2: RSET after a failed BDAT
      return { mail, recipients, data };
    }

    let dataInit: ClientReply | null = null;
    if (pipelining) dataInit = await w.read(t.dataInit, "DATA");
    else if (accepted) dataInit = await step("DATA", t.dataInit, "DATA");
    if (!accepted) {
      this.needsRset = true;
      if (dataInit) await this.endUnwantedData(dataInit);
      return { mail, recipients, data: null };
    }
    if (dataInit!.code !== 354) {
      this.needsRset = dataInit!.code !== 421;
      return { mail, recipients, data: dataInit };
    }
    const data = await this.sendData(source);
    // After the final dot the transaction is over either way (§4.1.1.4).
    this.needsRset = false;
    return { mail, recipients, data };
  }

  /** RFC 2920 §3.1: a DATA that got 354 although no recipient was accepted is ended with a lone dot. */
  private async endUnwantedData(dataInit: ClientReply): Promise<void> {
    if (dataInit.code !== 354) return;
    this.needsRset = true;
    await this.wire.write(".\r\n", this.t.dataBlock, "the end of data");
    await this.wire.read(this.t.dataDone, "the end of data");
  }

  /** DATA content, dot-stuffed, then the reply to the final dot. */
  private async sendData(source: MessageSource): Promise<ClientReply> {
    const w = this.wire;
    try {
      const src = source();
      if (Array.isArray(src)) {
        // in memory: encode and write it in one piece (no stream machinery per message)
        const enc = new ContentEncoder();
        const parts = (src as readonly Buffer[]).map((b) => enc.push(b));
        parts.push(enc.end());
        await w.write(Buffer.concat(parts), this.t.dataBlock, "message data");
      } else {
        await pump(src as Readable, new DotStuffer(), (chunk) => w.write(chunk, this.t.dataBlock, "message data"));
      }
    } catch (err) {
      // Never send the final dot after a failed source: the remote would deliver a truncated message.
      // A remote that replied (421, 554) and hung up mid-data gave its answer, though.
      if (err instanceof ClientError && w.unread > 0) return w.read(0, "DATA");
      throw err;
    }
    return w.read(this.t.dataDone, "the end of data");
  }

  /**
   * BDAT (RFC 3030): chunks of raw, CRLF-normalised octets, the last one marked LAST. One chunk is
   * always held back so that the LAST chunk is not empty (except for an empty message). With
   * PIPELINING up to BDAT_WINDOW chunks are in flight; the first failed chunk stops the sending.
   */
  private async sendBdat(source: MessageSource, pipelining: boolean): Promise<ClientReply> {
    const w = this.wire;
    const t = this.t;
    const size = Math.max(1, this.opts.bdatChunkSize ?? DEFAULT_CHUNK);
    const window = pipelining ? BDAT_WINDOW : 1;
    let inFlight = 0;
    let failure: ClientReply | null = null;
    let pending: Buffer[] = [];
    let pendingLength = 0;

    const sendChunk = async (chunk: Buffer, last: boolean) => {
      await w.write(
        Buffer.concat([Buffer.from(`BDAT ${chunk.length}${last ? " LAST" : ""}\r\n`, "latin1"), chunk]),
        t.dataBlock,
        "BDAT",
      );
      inFlight++;
      if (!last && inFlight >= window) {
        const r = await w.read(t.dataBlock, "BDAT");
        inFlight--;
        if (!is2xx(r)) {
          failure = r;
          throw new StopSending();
        }
      }
    };

    try {
      const src = source();
      const stream = Array.isArray(src) ? Readable.from(src as readonly Buffer[]) : (src as Readable);
      await pump(stream, crlfNormalizer(), async (piece) => {
        pending.push(piece);
        pendingLength += piece.length;
        // strictly more than a chunk: keep the tail for the LAST chunk
        if (pendingLength <= size) return;
        const all = Buffer.concat(pending);
        let off = 0;
        for (; all.length - off > size; off += size) await sendChunk(all.subarray(off, off + size), false);
        pending = [all.subarray(off)];
        pendingLength = all.length - off;
      });
      await sendChunk(Buffer.concat(pending), true);
    } catch (err) {
      if (!(err instanceof StopSending)) {
        if (err instanceof ClientError && w.unread > 0) return w.read(0, "BDAT");
        throw err;
      }
    }
    // Read what is still in flight, in order. The answer is the first failure, else the LAST's reply.
    let final: ClientReply | null = failure;
    // (after a 421 only what is already queued comes: the remote has closed)
    while (inFlight > 0 && !(w.got421 && w.unread === 0)) {
      const r = await w.read(inFlight === 1 && !failure ? t.dataDone : t.dataBlock, "BDAT");
      inFlight--;
      if (!final && (!is2xx(r) || inFlight === 0)) final = r;
      if (r.code === 421) break;
    }
    if (!final) throw new ClientError("protocol", `${w.peer} closed the connection during BDAT`);
    return final;
  }

  async quit(): Promise<void> {
    if (this.quitting) return;
    this.quitting = true;
    const w = this.wire;
    try {
      if (!w.closed && !w.error && !w.got421) {
        await w.write("QUIT\r\n", QUIT_WAIT, "QUIT");
        await w.read(Math.min(QUIT_WAIT, this.t.command), "QUIT");
      }
    } catch {
      // quit() never throws: the connection is going away regardless.
    } finally {
      w.destroy();
    }
  }

  destroy(): void {
    this.quitting = true;
    this.wire.destroy();
  }
}

function refusedResult(envelope: OutboundEnvelope, reply: ClientReply): SendResult {
  return {
    mail: reply,
    recipients: envelope.recipients.map((r) => ({ address: r.address, accepted: false, reply })),
    data: null,
  };
}

// Nothing from the caller may break a command line: no CR, LF or NUL, no angle brackets in paths.
const BAD_PATH = /[\r\n\0<>]/;
const NOTIFY = /^(?:NEVER|SUCCESS|FAILURE|DELAY)$/i;
const XTEXT_VALUE = /^[\x21-\x7e]+$/;

/** Throws RangeError for an envelope no command can carry; returns whether SMTPUTF8 is needed. */
function validateEnvelope(envelope: OutboundEnvelope): boolean {
  if (envelope.recipients.length === 0) throw new RangeError("no recipients");
  const paths = [envelope.from, ...envelope.recipients.map((r) => r.address)];
  for (const p of paths) if (BAD_PATH.test(p)) throw new RangeError(`invalid address ${JSON.stringify(p)}`);
  for (const r of envelope.recipients) {
    if (r.address === "") throw new RangeError("empty recipient address");
    for (const n of r.notify ?? [])
      if (!NOTIFY.test(n)) throw new RangeError(`invalid NOTIFY value ${JSON.stringify(n)}`);
    if (r.orcpt !== undefined && !XTEXT_VALUE.test(r.orcpt))
      throw new RangeError(`invalid ORCPT ${JSON.stringify(r.orcpt)}`);
  }
  if (!Number.isSafeInteger(envelope.size) || envelope.size < 0)
    throw new RangeError(`invalid size ${envelope.size}`);
  // A non-ASCII address needs SMTPUTF8 whatever the caller said (RFC 6531 §3.2).
  return envelope.smtputf8 || paths.some((p) => /[^\x00-\x7f]/.test(p));
}

function mailCommand(envelope: OutboundEnvelope, ext: ReadonlyMap<string, string>, utf8: boolean): string {
  let cmd = `MAIL FROM:<${envelope.from}>`;
  if (ext.has("SIZE")) cmd += ` SIZE=${envelope.size}`; // RFC 1870 §6
  // RFC 6152 §3 says to downgrade or bounce 8-bit content when 8BITMIME is missing; like Postfix
  // (smtp_never_send_ehlo aside, its default) we send it as is: nearly every receiver takes 8-bit
  // octets, and a bounce for that would be worse for the sender.
  if (envelope.eightBit && ext.has("8BITMIME")) cmd += " BODY=8BITMIME";
  if (utf8) cmd += " SMTPUTF8"; // RFC 6531 §3.4
  if (ext.has("DSN")) {
    // RFC 3461 §4.3, §4.4: only when the remote advertises DSN.
    if (envelope.ret) cmd += ` RET=${envelope.ret}`;
    if (envelope.envid !== undefined && envelope.envid !== "") cmd += ` ENVID=${xtext(envelope.envid)}`;
  }
  return cmd;
}

function rcptCommand(r: OutboundRecipient, ext: ReadonlyMap<string, string>): string {
  let cmd = `RCPT TO:<${r.address}>`;
  if (ext.has("DSN")) {
    // RFC 3461 §4.1, §4.2
    if (r.notify && r.notify.length > 0) cmd += ` NOTIFY=${r.notify.map((n) => n.toUpperCase()).join(",")}`;
    if (r.orcpt) cmd += ` ORCPT=${r.orcpt}`;
  }
  return cmd;
}

/**
 * RFC 3461 §4: xtext. Octets "!".."~" except "+" and "=" stand for themselves; every other octet
 * (of the UTF-8 form) is "+" and two upper-case hex digits.
 */
export function xtext(value: string): string {
  let out = "";
  for (const b of Buffer.from(value, "utf8")) {
    out +=
      b >= 0x21 && b <= 0x7e && b !== 0x2b && b !== 0x3d
        ? String.fromCharCode(b)
        : `+${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
