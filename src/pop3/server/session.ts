// One POP3 connection (RFC 1939 §3: AUTHORIZATION → TRANSACTION → UPDATE). The pure framer and
// parser turn bytes into commands; this class runs them one at a time and in order, batches the
// responses of pipelined commands (RFC 2449 §6.6) into as few writes as possible, carries AUTH
// exchanges, and holds the maildrop lock while in TRANSACTION.
//
// A dropped connection, an idle timeout and a server shutdown never reach the UPDATE state: only
// QUIT deletes anything (RFC 1939 §6).
import type { LoginAttempt } from "../../auth/login-attempt.js";
import type { SaslMechanism } from "../../auth/sasl/types.js";
import type { Log } from "../../log/logger.js";
import type { IngestResult, ProtocolSession, SessionIO } from "../../net/session-runner.js";
import type { Account } from "../../store/types.js";
import { COMMAND_LINE_LIMIT, LineFramer, SASL_LINE_LIMIT } from "../protocol/line-framer.js";
import { parseCommand } from "../protocol/parse-command.js";
import { type RespCode, err, ok } from "../protocol/response.js";
import { continueAuth } from "./auth.js";
import type { Pop3Deps } from "./context.js";
import { dispatch } from "./dispatch.js";
import type { Maildrop, MaildropEntry } from "./maildrop.js";

export type Pop3State = "authorization" | "transaction" | "update";

/** Responses are collected up to this size before a write (pipelined commands, small messages). */
const FLUSH_BYTES = 64 * 1024;

export class Pop3Session implements ProtocolSession {
  readonly log: Log;
  state: Pop3State = "authorization";
  /** the name of a USER command waiting for its PASS */
  user: string | null = null;
  account: Account | null = null;
  maildrop: Maildrop | null = null;
  /** an AUTH exchange waiting for the client's next line */
  auth: { mechanism: SaslMechanism; attempt: LoginAttempt } | null = null;
  readonly framer = new LineFramer(COMMAND_LINE_LIMIT);

  private out: Buffer[] = [];
  private outBytes = 0;
  private badCommands = 0;
  private closing = false;
  /** a command is running: shutdown waits for it to finish */
  private busy = false;
  private shutdownRequested = false;
  private cleanedUp = false;

  constructor(
    readonly io: SessionIO,
    readonly deps: Pop3Deps,
  ) {
    this.log = io.log;
  }

  // ---- what commands use ----

  /** Plaintext passwords (USER/PASS, AUTH PLAIN/LOGIN) only over TLS or from loopback (DESIGN.md §2). */
  get plaintextAllowed(): boolean {
    return this.io.secure || this.io.loopback;
  }

  /** Queues a response (CRLF included); written at the end of the client's input or when large. */
  reply(text: string): void {
    this.queue(Buffer.from(text, "utf8"));
  }

  /** Queues message bytes, writing with back-pressure once enough has collected. */
  async data(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    if (buf.length >= FLUSH_BYTES / 2) {
      // a big chunk goes out as it is, without copying it into the batch
      this.flush();
      this.io.write(buf);
      await this.io.drain();
      return;
    }
    this.queue(buf);
    if (this.outBytes >= FLUSH_BYTES) {
      this.flush();
      await this.io.drain();
    }
  }

  private queue(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
  }

  flush(): void {
    if (this.out.length === 0) return;
    this.io.write(this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes));
    this.out = [];
    this.outBytes = 0;
  }

  /** A command the client should not have sent: -ERR, and the connection ends after too many. */
  bad(text: string, code?: RespCode): void {
    this.badCommands++;
    if (this.badCommands >= this.deps.config.limits.bad_commands) {
      this.reply(err(`${text}; too many bad commands, closing the connection`, code));
      this.closing = true;
      return;
    }
    this.reply(err(text, code));
  }

  /**
   * The entry for message number n, or null after answering why there is none: no such number,
   * marked by DELE, or expunged by another session (reported as deleted, numbers never shift).
   */
  message(n: number): MaildropEntry | null {
    const r = this.maildrop!.lookup(n);
    switch (r.kind) {
      case "ok":
        return r.entry;
      case "no-such-message":
        this.reply(err(`There is no message ${n}`));
        return null;
      case "deleted":
        this.reply(err(`Message ${n} is already deleted`));
        return null;
      case "gone":
        this.reply(err(`Message ${n} was deleted by another session`));
        return null;
    }
  }

  /** Ends the session once the pending output is written (QUIT, a response that cannot finish). */
  close(): void {
    this.closing = true;
  }

  // ---- ProtocolSession ----

  greeting(): void {
    if (this.deps.isShuttingDown()) {
      this.io.write(err("Server shutting down, try again later", "SYS/TEMP"));
      this.closing = true;
      this.io.end();
      return;
    }
    // No "<timestamp>": APOP is not offered (RFC 1939 §7; the stored secret is a scrypt hash).
    this.io.write(ok(`${this.deps.config.hostname} Postamt POP3 server ready`));
  }

  async ingest(chunk: Buffer): Promise<IngestResult> {
    if (this.closing) return "close";
    this.framer.push(chunk);
    this.busy = true;
    let result: IngestResult;
    try {
      result = await this.drain();
    } finally {
      this.busy = false;
    }
    if (this.shutdownRequested && !this.closing) {
      this.reply(err("Server shutting down, try again later", "SYS/TEMP"));
      this.closing = true;
    }
    this.flush();
    if (this.closing || result === "close") {
      this.cleanup();
      this.io.end();
      return "close";
    }
    return result;
  }

  onTlsStarted(): void {
    // RFC 2595 §4: the session stays in AUTHORIZATION; nothing sent before the handshake counts
    // (the framer was emptied when STLS was answered).
    this.user = null;
  }

  onIdleTimeout(): void {
    // RFC 1939 §3: an autologout timer of at least 10 minutes; the session ends without UPDATE.
    this.flush();
    this.io.write(err("Autologout; idle for too long"));
    this.cleanup();
  }

  onShutdown(): void {
    if (this.busy) {
      this.shutdownRequested = true;
      return;
    }
    this.io.write(err("Server shutting down, try again later", "SYS/TEMP"));
    this.closing = true;
    this.cleanup();
    this.io.end();
  }

  onClose(): void {
    this.cleanup();
  }

  /** Leaves TRANSACTION without UPDATE (or after it): releases the maildrop and its lock. */
  cleanup(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    this.auth = null;
    this.maildrop?.close();
    this.maildrop = null;
    if (this.account) this.deps.locks.release(this.account.id, this.io.sid);
  }

  // ---- the read loop ----

  private async drain(): Promise<IngestResult> {
    for (;;) {
      if (this.closing || this.io.closed) return "close";
      const r = this.framer.next(this.auth ? SASL_LINE_LIMIT : COMMAND_LINE_LIMIT);
      if (r === null) return "continue";
      if (r.kind === "too-long") {
        if (this.auth) {
          this.auth = null;
          this.bad("AUTH response line too long; authentication cancelled");
        } else {
          this.bad(`Command line too long (at most ${COMMAND_LINE_LIMIT} octets)`);
        }
        continue;
      }
      if (this.auth) {
        await this.guard(() => continueAuth(this, r.line));
        continue;
      }
      const parsed = parseCommand(r.line);
      if (!parsed.ok) {
        this.bad(parsed.text);
        continue;
      }
      const result = await this.guard(() => dispatch(this, parsed.command));
      if (result === "starttls") return "starttls";
    }
  }

  /** Runs a handler; an unexpected failure is logged and answered with a temporary error. */
  private async guard<T>(fn: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      this.log.error("internal.error", "POP3 command failed unexpectedly", { err: e });
      this.auth = null;
      this.reply(err("Internal error; try again later", "SYS/TEMP"));
      return undefined;
    }
  }
}
