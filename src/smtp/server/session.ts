// One SMTP conversation (RFC 5321 §4.1.4 command order, §4.3.2 replies): the state machine between
// the pure protocol layer (smtp/protocol) and the command handlers (commands/*.ts). The session reads
// bytes in one of four modes (command lines, an AUTH exchange, DATA, BDAT chunks), batches replies
// until the client's pipelined input is used up (RFC 2920 §3.1), and enforces the per-session limits.
import type { Account } from "../../store/types.js";
import type { Log } from "../../log/logger.js";
import type { IngestResult, ProtocolSession, SessionIO } from "../../net/session-runner.js";
import type { MessageSpool } from "../../delivery/spool.js";
import type { AcceptedRecipient } from "../../delivery/types.js";
import type { SaslMechanism } from "../../auth/sasl/types.js";
import type { LoginAttempt } from "../../auth/login-attempt.js";
import type { BdatReceiver } from "../protocol/bdat-receiver.js";
import { type Command, parseCommand } from "../protocol/command-parser.js";
import type { DataReceiver } from "../protocol/data-receiver.js";
import { type Capabilities, advertisedExtensions } from "../protocol/ehlo.js";
import { type ExtensionSet, SASL_LINE_LIMIT, commandLineLimit } from "../protocol/extensions.js";
import { LineReader } from "../protocol/line-reader.js";
import type { Mailbox } from "../protocol/address.js";
import type { MailParams } from "../protocol/params.js";
import { REPLIES, type Reply, formatReply, withText } from "../protocol/reply.js";
import { listMechanisms } from "../../auth/sasl/registry.js";
import { handleCommand } from "./commands/index.js";
import { continueAuth } from "./commands/auth.js";
import { finishBdatChunk } from "./commands/bdat.js";
import { finishData } from "./commands/data.js";
import type { SmtpDeps, SmtpRole } from "./context.js";
import type { ClientChecks } from "../../policy/inbound.js";
import type { SpfOutcome } from "../../security/inbound-auth.js";

export interface Transaction {
  from: Mailbox | null;
  params: MailParams;
  recipients: AcceptedRecipient[];
  /** RCPT commands accepted (a recipient can expand to several AcceptedRecipients) */
  rcptCount: number;
  spool: MessageSpool | null;
  /** "data" or "bdat" once content started; BDAT and DATA cannot be mixed (RFC 3030 §2) */
  bodyMode: "data" | "bdat" | null;
  /** a BDAT chunk failed: the rest of the BDAT sequence is refused until RSET (RFC 3030 §2) */
  bdatFailed: boolean;
  /** writing the spool failed (disk full…): the rest is drained and the error answered at the end */
  spoolError?: unknown;
  /** SPF of the sender, started at MAIL FROM on the MX listener */
  spf: Promise<SpfOutcome> | null;
  /** SPF of the HELO name, started with it */
  heloSpf?: Promise<SpfOutcome> | null;
}

export interface AuthExchange {
  mechanism: SaslMechanism;
  attempt: LoginAttempt;
}

type Mode = "pregreet" | "command" | "auth" | "data" | "bdat" | "closed";

export class SmtpSession implements ProtocolSession {
  readonly log: Log;
  mode: Mode = "command";
  /** EHLO/HELO name; null before it */
  helo: string | null = null;
  esmtp = false;
  extensions: ExtensionSet = new Set();
  account: Account | null = null;
  txn: Transaction | null = null;
  auth: AuthExchange | null = null;
  data: DataReceiver | null = null;
  bdat: BdatReceiver | null = null;
  bdatLast = false;
  /** the reply owed for the BDAT chunk being drained, when the chunk is refused */
  bdatRefusal: Reply | null = null;
  /** transactions completed in this session, for ids */
  txnCount = 0;
  /** lookups about the client (MX listener only), started at the greeting */
  client: ClientChecks | null = null;

  private readonly reader = new LineReader();
  private out: string[] = [];
  private badCommands = 0;
  private junkCommands = 0;
  private commandStartedAt: number | null = null;
  dataStartedAt = 0;
  private shutdownRequested = false;
  private closing = false;
  private greetTimer: NodeJS.Timeout | null = null;
  private first = true;

  constructor(
    readonly io: SessionIO,
    readonly deps: SmtpDeps,
    readonly role: SmtpRole,
  ) {
    this.log = io.log;
  }

  // ---- ProtocolSession ----

  greeting(): void {
    if (this.role === "smtp") this.client = this.deps.policy.startClient(this.io.remoteAddress);
    const pause = this.role === "smtp" ? this.deps.config.smtp.greet_pause : 0;
    if (pause > 0) {
      // Postscreen-style pregreet test: a client that talks before our banner is not a real MTA.
      this.mode = "pregreet";
      this.greetTimer = setTimeout(() => {
        this.greetTimer = null;
        if (this.mode !== "pregreet") return;
        this.mode = "command";
        this.sendBanner();
      }, pause * 1000);
      return;
    }
    this.sendBanner();
  }

  private sendBanner(): void {
    if (this.deps.isShuttingDown()) {
      this.io.write(
        formatReply(withText(REPLIES.shuttingDown, `${this.deps.config.hostname} Service shutting down`)),
      );
      this.io.end();
      this.mode = "closed";
      return;
    }
    this.io.write(`220 ${this.deps.config.hostname} ESMTP Postamt\r\n`);
  }

  async ingest(chunk: Buffer): Promise<IngestResult> {
    if (this.mode === "closed") return "close";
    if (this.mode === "pregreet") {
      this.log.warn("session.error", "client talked before the greeting; refused", {
        remote: this.io.remoteAddress,
      });
      this.reject("pregreet");
      this.io.write("554 5.7.1 Protocol error: talking before the greeting\r\n");
      return this.close();
    }
    if (this.first) {
      this.first = false;
      const wrong = wrongProtocol(chunk);
      if (wrong) {
        this.io.write(formatReply(withText(REPLIES.syntaxError, wrong)));
        return this.close();
      }
    }
    const result = await this.consume(chunk);
    this.flush();
    if (result === "close") {
      this.mode = "closed";
      this.io.end();
    }
    return result;
  }

  onTlsStarted(): void {
    // RFC 3207 §4.2: discard all knowledge from the client, including the EHLO argument.
    this.helo = null;
    this.esmtp = false;
    this.extensions = new Set();
    this.txn = null;
    this.commandStartedAt = null;
  }

  onIdleTimeout(): void {
    this.io.write(
      formatReply(withText(REPLIES.timeout, `${this.deps.config.hostname} Error: timeout exceeded`)),
    );
    this.abortTransaction();
  }

  onShutdown(): void {
    this.shutdownRequested = true;
    // In the middle of receiving a message: let it finish (the runner's grace period bounds this).
    if (this.mode === "data" || this.mode === "bdat" || this.txn?.spool) return;
    this.goodbyeForShutdown();
  }

  onClose(): void {
    if (this.greetTimer) clearTimeout(this.greetTimer);
    this.abortTransaction();
    this.mode = "closed";
  }

  // ---- reading ----

  private async consume(chunk: Buffer): Promise<IngestResult> {
    let pending: Buffer | null = chunk;
    while (pending !== null || this.mode === "command" || this.mode === "auth") {
      if (this.mode === "data" || this.mode === "bdat") {
        if (pending === null) return "continue";
        const rest: Buffer | null =
          this.mode === "data" ? await this.pushData(pending) : await this.pushBdat(pending);
        if (this.closing) return "close";
        pending = rest;
        continue;
      }
      if (this.mode !== "command" && this.mode !== "auth") return this.closing ? "close" : "continue";
      if (pending !== null) {
        if (this.commandStartedAt === null) this.commandStartedAt = Date.now();
        this.reader.push(pending);
        pending = null;
      }
      if (this.deadlinePassed(this.commandStartedAt, this.deps.config.timeouts.smtp_command)) {
        this.reply(
          withText(REPLIES.timeout, `${this.deps.config.hostname} Error: command deadline exceeded`),
        );
        return "close";
      }
      const limit = this.mode === "auth" ? SASL_LINE_LIMIT : commandLineLimit(this.extensions);
      const item = this.reader.next(limit);
      if (item === null) {
        if (this.reader.pending === 0) this.commandStartedAt = null;
        return this.closing ? "close" : "continue";
      }
      this.commandStartedAt = this.reader.pending > 0 ? Date.now() : null;
      let result: IngestResult | "data";
      if (item.kind !== "line") {
        const reply =
          item.kind === "too-long"
            ? this.mode === "auth"
              ? REPLIES.authLineTooLong
              : REPLIES.lineTooLong
            : item.kind === "bare-lf"
              ? REPLIES.bareLfCommand
              : REPLIES.bareCrCommand;
        if (this.mode === "auth") this.auth = null;
        this.mode = "command";
        result = this.error(reply);
      } else if (this.mode === "auth") {
        result = await continueAuth(this, item.line);
      } else {
        result = await this.command(item.line);
      }
      if (result === "close" || this.closing) return "close";
      if (result === "starttls") {
        // RFC 3207 §4.2: whatever the client pipelined after STARTTLS is thrown away.
        this.reader.takeRemainder();
        this.flush();
        return "starttls";
      }
      if (result === "data") {
        // Bytes after the DATA/BDAT line already belong to the message.
        const rest = this.reader.takeRemainder();
        pending = rest.length > 0 ? rest : null;
        // The handler switched the mode (TypeScript cannot see that through the call).
        const mode = this.mode as Mode;
        if (mode === "data" || mode === "bdat") this.flush();
      }
    }
    return "continue";
  }

  private async command(line: Buffer): Promise<IngestResult | "data"> {
    const parsed = parseCommand(line, {
      extensions: this.extensions,
      utf8: this.txn?.params.smtputf8 ?? false,
    });
    if (!parsed.ok) {
      if (isHttpVerb(parsed.verb) && this.helo === null) {
        this.reply(withText(REPLIES.syntaxError, "This is an SMTP server, not a web server"));
        return "close";
      }
      return this.error(parsed.reply);
    }
    return handleCommand(this, parsed.command as Command);
  }

  private async pushData(buf: Buffer): Promise<Buffer | null> {
    if (this.deadlinePassed(this.dataStartedAt, this.deps.config.timeouts.smtp_data)) {
      this.reply(withText(REPLIES.timeout, `${this.deps.config.hostname} Error: DATA deadline exceeded`));
      this.abortTransaction();
      this.closing = true;
      return null;
    }
    const r = this.data!.push(buf);
    await this.spoolChunks(r.chunks);
    if (!r.done) return null;
    this.data = null;
    this.mode = "command";
    await finishData(this, r.verdict);
    this.afterTransaction();
    return r.remainder.length > 0 ? r.remainder : null;
  }

  private async pushBdat(buf: Buffer): Promise<Buffer | null> {
    if (this.deadlinePassed(this.dataStartedAt, this.deps.config.timeouts.smtp_data)) {
      this.reply(withText(REPLIES.timeout, `${this.deps.config.hostname} Error: BDAT deadline exceeded`));
      this.abortTransaction();
      this.closing = true;
      return null;
    }
    const r = this.bdat!.push(buf);
    if (!this.txn?.bdatFailed && !this.bdatRefusal) await this.spoolChunks(r.chunks);
    if (!r.done) return null;
    this.mode = "command";
    await finishBdatChunk(this);
    this.afterTransaction();
    return r.remainder.length > 0 ? r.remainder : null;
  }

  /** Writes content to the spool; a write error is remembered and answered at the end of the data. */
  private async spoolChunks(chunks: Buffer[]): Promise<void> {
    const txn = this.txn;
    if (!txn?.spool || txn.spoolError) return;
    try {
      for (const c of chunks) await txn.spool.write(c);
    } catch (err) {
      txn.spoolError = err;
    }
  }

  /** After a message was answered: a pending shutdown now says goodbye. */
  private afterTransaction(): void {
    if (this.shutdownRequested && !this.txn?.spool && this.mode === "command") this.goodbyeForShutdown();
  }

  private goodbyeForShutdown(): void {
    if (this.closing) return;
    this.reply(withText(REPLIES.shuttingDown, `${this.deps.config.hostname} Service shutting down`));
    this.flush();
    this.closing = true;
    this.mode = "closed";
    this.io.end();
  }

  private deadlinePassed(since: number | null, seconds: number): boolean {
    return since !== null && Date.now() - since > seconds * 1000;
  }

  // ---- replies and counters ----

  reply(reply: Reply): void {
    this.out.push(formatReply(reply));
  }

  /** Sends the batched replies now (before waiting for the client, e.g. 354, 334, 220 TLS). */
  flush(): void {
    if (this.out.length === 0) return;
    this.io.write(this.out.length === 1 ? this.out[0]! : this.out.join(""));
    this.out = [];
  }

  /** A protocol error: reply, count, and close after too many (RFC 5321 §4.3.2 permits 421). */
  error(reply: Reply): IngestResult {
    this.reply(reply);
    this.badCommands++;
    if (this.badCommands >= this.deps.config.limits.bad_commands) {
      this.log.warn("session.error", `closing after ${this.badCommands} protocol errors`, {
        remote: this.io.remoteAddress,
      });
      this.reply(withText(REPLIES.tooManyErrors, `${this.deps.config.hostname} Error: too many errors`));
      return this.close();
    }
    return "continue";
  }

  /** NOOP, RSET, VRFY, HELP…: commands that move no mail, bounded per session. */
  junk(): IngestResult | null {
    this.junkCommands++;
    if (this.junkCommands > this.deps.config.limits.junk_commands) {
      this.reply(withText(REPLIES.tooManyErrors, `${this.deps.config.hostname} Error: too many commands`));
      return this.close();
    }
    return null;
  }

  close(): IngestResult {
    this.closing = true;
    this.abortTransaction();
    return "close";
  }

  reject(reason: string): void {
    this.deps.metrics.messagesRejected.inc({ listener: this.role, reason });
  }

  // ---- state helpers for command handlers ----

  capabilities(): Capabilities {
    const secure = this.io.secure;
    const authAllowed = this.role !== "smtp" && (secure || this.io.loopback) && this.account === null;
    return {
      hostname: this.deps.config.hostname,
      greeting: `Hello ${this.helo ?? ""} [${this.io.remoteAddress}]`.replace("Hello  ", "Hello "),
      pipelining: true,
      size: this.deps.config.limits.message_size,
      starttls: !secure,
      auth: authAllowed ? listMechanisms({ secure: true }) : [],
      enhancedStatusCodes: true,
      eightBitMime: true,
      dsn: true,
      smtputf8: true,
      chunking: true,
    };
  }

  setGreeted(name: string, esmtp: boolean): void {
    this.helo = name;
    this.esmtp = esmtp;
    this.extensions = esmtp ? advertisedExtensions(this.capabilities()) : new Set();
    this.abortTransaction();
  }

  /** Ends the current transaction (RSET, EHLO, errors), dropping any spooled content. */
  abortTransaction(): void {
    const spool = this.txn?.spool;
    if (spool)
      spool
        .abort()
        .catch((err: unknown) => this.log.warn("internal.error", "could not drop a spool file", { err }));
    this.txn = null;
    this.data = null;
    this.bdat = null;
    if (this.mode === "data" || this.mode === "bdat") this.mode = "command";
  }

  /** The WITH protocol name for Received (RFC 3848, RFC 6531 §4.3). */
  withProtocol():
    | "SMTP"
    | "ESMTP"
    | "ESMTPS"
    | "ESMTPA"
    | "ESMTPSA"
    | "UTF8SMTP"
    | "UTF8SMTPS"
    | "UTF8SMTPA"
    | "UTF8SMTPSA" {
    if (!this.esmtp) return "SMTP";
    const base = this.txn?.params.smtputf8 ? "UTF8SMTP" : "ESMTP";
    const suffix = (this.io.secure ? "S" : "") + (this.account ? "A" : "");
    return `${base}${suffix}` as ReturnType<SmtpSession["withProtocol"]>;
  }

  nextTransactionId(): string {
    this.txnCount++;
    return `${this.io.sid}.${this.txnCount}`;
  }

  get shuttingDown(): boolean {
    return this.shutdownRequested;
  }
}

/** A TLS ClientHello or an HTTP request on the plaintext SMTP port: say so and close. */
function wrongProtocol(chunk: Buffer): string | null {
  if (chunk[0] === 0x16 && chunk[1] === 0x03)
    return "TLS handshake on a plaintext port: use STARTTLS, or the implicit-TLS port 465";
  return null;
}

function isHttpVerb(verb: string): boolean {
  return (
    verb === "GET" ||
    verb === "POST" ||
    verb === "HEAD" ||
    verb === "PUT" ||
    verb === "CONNECT" ||
    verb === "OPTIONS"
  );
}
