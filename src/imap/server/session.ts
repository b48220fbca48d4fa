// One IMAP connection (RFC 9051 §3 states: not authenticated → authenticated → selected → logout).
// The pure receiver frames commands and literals; this class runs them one at a time, in order,
// streams APPEND literals into a spool, carries AUTHENTICATE and IDLE exchanges, and tells the
// client about changes to its selected mailbox at the moments RFC 9051 §7 allows.
import type { LoginAttempt } from "../../auth/login-attempt.js";
import type { SaslMechanism } from "../../auth/sasl/types.js";
import type { MessageSpool } from "../../delivery/spool.js";
import type { Log } from "../../log/logger.js";
import type { IngestResult, ProtocolSession, SessionIO } from "../../net/session-runner.js";
import type { Account } from "../../store/types.js";
import { bye, taggedBad, taggedNo, untagged, untaggedBad } from "../protocol/compose.js";
import { parseCommand } from "../protocol/parse-command.js";
import { DEFAULT_LIMITS, ImapReceiver, type ReceiverEvent } from "../protocol/receiver.js";
import type { Command, Frame } from "../protocol/types.js";
import { capabilities } from "./capabilities.js";
import { beginAppendLiteral, finishAppendLiteral } from "./commands/append.js";
import { continueAuthenticate } from "./commands/auth.js";
import { dispatch } from "./commands/index.js";
import { endIdle } from "./commands/idle.js";
import type { ImapDeps } from "./context.js";
import type { SelectedMailbox } from "./selected-mailbox.js";

export type ImapState = "not-authenticated" | "authenticated" | "selected" | "logout";

/** A message of a (MULTI)APPEND whose literal has been spooled. */
export interface SpooledAppend {
  spool: MessageSpool;
  size: number;
}

export interface AppendInProgress {
  tag: string;
  mailboxId: number;
  /** spools of the literals received so far, in order */
  spooled: SpooledAppend[];
  current: MessageSpool | null;
  failed: { text: string; code?: string } | null;
}

/** The client must send this many bad commands in a row… no: in a session, before "* BYE". */
const MAX_BAD_COMMANDS = 20;

export class ImapSession implements ProtocolSession {
  readonly log: Log;
  state: ImapState = "not-authenticated";
  account: Account | null = null;
  selected: SelectedMailbox | null = null;
  /** ENABLEd extensions (RFC 5161), upper-case */
  readonly enabled = new Set<string>();
  /** UIDs saved by SEARCH RETURN (SAVE) (RFC 5182) */
  savedSearch: number[] = [];
  mode: "command" | "idle" | "authenticate" = "command";
  idleTag: string | null = null;
  idleUnsubscribe: (() => void) | null = null;
  auth: { tag: string; mechanism: SaslMechanism; attempt: LoginAttempt } | null = null;
  append: AppendInProgress | null = null;

  readonly receiver: ImapReceiver;
  private out: string[] = [];
  private badCommands = 0;
  private closing = false;
  /** a command is running: shutdown waits for it to finish before saying BYE */
  private busy = false;
  private shutdownRequested = false;

  constructor(
    readonly io: SessionIO,
    readonly deps: ImapDeps,
  ) {
    this.log = io.log;
    this.receiver = new ImapReceiver({
      ...DEFAULT_LIMITS,
      maxStreamedLiteral: deps.config.limits.message_size,
    });
  }

  // ---- what commands need ----

  /** UTF-8 mailbox names and strings (IMAP4rev2 or UTF8=ACCEPT enabled, RFC 9051 §6.3.1). */
  get utf8(): boolean {
    return this.enabled.has("IMAP4REV2") || this.enabled.has("UTF8=ACCEPT");
  }

  get rev2(): boolean {
    return this.enabled.has("IMAP4REV2");
  }

  get condstore(): boolean {
    return this.enabled.has("CONDSTORE") || this.enabled.has("QRESYNC");
  }

  get qresync(): boolean {
    return this.enabled.has("QRESYNC");
  }

  /** Queues response text (CRLF included); sent at the end of the input or by flush(). */
  send(text: string): void {
    this.out.push(text);
  }

  untagged(data: string): void {
    this.out.push(untagged(data));
  }

  flush(): void {
    if (this.out.length === 0) return;
    this.io.write(this.out.length === 1 ? this.out[0]! : this.out.join(""));
    this.out = [];
  }

  /** Writes straight to the socket with back-pressure (FETCH bodies); pending text goes first. */
  async write(buf: Buffer): Promise<void> {
    this.flush();
    this.io.write(buf);
    await this.io.drain();
  }

  /** Sends pending changes of the selected mailbox (RFC 9051 §7: allowExpunge false during
   *  FETCH, STORE and SEARCH by sequence number, so numbers don't shift under the client). */
  async announce(allowExpunge: boolean): Promise<void> {
    const sel = this.selected;
    if (!sel) return;
    await sel.poll();
    for (const line of sel.announce({
      allowExpunge,
      qresync: this.qresync,
      condstore: this.condstore,
      rev1: !this.rev2,
    })) {
      this.untagged(line);
    }
  }

  /** A syntax or state error: tagged BAD, and "* BYE" after too many. */
  bad(tag: string | null, text: string, code?: string): void {
    this.send(tag === null ? untaggedBad(text, code) : taggedBad(tag, text, code));
    this.badCommands++;
    if (this.badCommands >= MAX_BAD_COMMANDS) {
      this.send(bye("Too many invalid commands"));
      this.closing = true;
    }
  }

  no(tag: string, text: string, code?: string): void {
    this.send(taggedNo(tag, text, code));
  }

  capabilityList(): string[] {
    return capabilities(this);
  }

  /** Ends the session after the pending output (LOGOUT, fatal errors, shutdown). */
  close(): void {
    this.closing = true;
  }

  // ---- ProtocolSession ----

  greeting(): void {
    if (this.deps.isShuttingDown()) {
      this.io.write(bye("Server shutting down"));
      this.io.end();
      this.closing = true;
      return;
    }
    this.io.write(
      untagged(
        `OK [CAPABILITY ${this.capabilityList().join(" ")}] ${this.deps.config.hostname} Postamt ready`,
      ),
    );
  }

  async ingest(chunk: Buffer): Promise<IngestResult> {
    if (this.closing) return "close";
    this.receiver.push(chunk);
    this.busy = true;
    let result: IngestResult;
    try {
      result = await this.drain();
    } finally {
      this.busy = false;
    }
    if (this.shutdownRequested) {
      this.send(bye("Server shutting down, try again later"));
      this.closing = true;
    }
    this.flush();
    // Back-pressure: read the next command only once the client has taken our responses.
    await this.io.drain();
    if (this.closing || result === "close") {
      this.state = "logout";
      this.cleanup();
      this.io.end();
      return "close";
    }
    return result;
  }

  onTlsStarted(): void {
    // RFC 9051 §6.2.1: nothing sent before the handshake counts; the receiver was emptied already.
  }

  onIdleTimeout(): void {
    this.io.write(bye("Autologout; idle for too long"));
    this.cleanup();
  }

  onShutdown(): void {
    // A command in progress finishes first (ingest says goodbye after it); otherwise leave now.
    if (this.busy) {
      this.shutdownRequested = true;
      return;
    }
    this.io.write(bye("Server shutting down, try again later"));
    this.closing = true;
    this.cleanup();
    this.io.end();
  }

  onClose(): void {
    this.cleanup();
  }

  private cleanup(): void {
    this.idleUnsubscribe?.();
    this.idleUnsubscribe = null;
    const append = this.append;
    this.append = null;
    if (append) {
      for (const s of append.spooled) void s.spool.abort().catch(() => undefined);
      if (append.current) void append.current.abort().catch(() => undefined);
    }
  }

  // ---- the read loop ----

  private async drain(): Promise<IngestResult> {
    for (;;) {
      if (this.closing) return "close";
      if (this.mode === "idle") {
        const ev = this.receiver.nextLine();
        if (ev.kind === "need-more") return "continue";
        if (ev.kind === "error") {
          this.bad(null, ev.text);
          continue;
        }
        await endIdle(this, ev.line);
        continue;
      }
      if (this.mode === "authenticate") {
        const ev = this.receiver.nextLine();
        if (ev.kind === "need-more") return "continue";
        if (ev.kind === "error") {
          this.auth = null;
          this.mode = "command";
          this.bad(ev.tag, ev.text);
          continue;
        }
        await continueAuthenticate(this, ev.line);
        continue;
      }
      const ev = this.receiver.next();
      const r = await this.handle(ev);
      if (r === "need-more") return "continue";
      if (r === "starttls") return "starttls";
    }
  }

  private async handle(ev: ReceiverEvent): Promise<"need-more" | "continue" | "starttls"> {
    switch (ev.kind) {
      case "need-more":
        return "need-more";
      case "continuation-needed":
        this.send("+ Ready for literal data\r\n");
        this.flush();
        return "continue";
      case "literal-start":
        await beginAppendLiteral(this, ev);
        this.flush();
        return "continue";
      case "literal-chunk": {
        const cur = this.append?.current;
        if (cur && !this.append?.failed) {
          try {
            await cur.write(ev.data);
          } catch (err) {
            this.append!.failed = { text: "The message could not be stored", code: "SERVERBUG" };
            this.log.error("internal.error", "APPEND spool write failed", { err });
          }
        }
        return "continue";
      }
      case "literal-end":
        await finishAppendLiteral(this, ev.nul);
        return "continue";
      case "error":
        if (ev.fatal) {
          this.send(bye(ev.text));
          this.closing = true;
          return "continue";
        }
        if (ev.status === "NO" && ev.tag !== null) this.no(ev.tag, ev.text, ev.code);
        else this.bad(ev.tag, ev.text, ev.code);
        this.abandonAppend();
        return "continue";
      case "request":
        return this.runRequest(ev);
    }
  }

  private async runRequest(frame: Frame & { tag: string | null }): Promise<"continue" | "starttls"> {
    const parsed = parseCommand(frame, { utf8: this.utf8 });
    if (!parsed.ok) {
      if (parsed.status === "NO" && parsed.tag !== null) this.no(parsed.tag, parsed.text, parsed.code);
      else this.bad(parsed.tag, parsed.text, parsed.code);
      this.abandonAppend();
      return "continue";
    }
    const cmd: Command = parsed.command;
    try {
      const r = await dispatch(this, cmd);
      return r === "starttls" ? "starttls" : "continue";
    } catch (err) {
      this.log.error("internal.error", `${cmd.name} failed unexpectedly`, { err, tag: cmd.tag });
      this.abandonAppend();
      this.no(cmd.tag, "Internal error; the command was not completed", "SERVERBUG");
      return "continue";
    }
  }

  /** Drops spooled APPEND literals when the command as a whole fails. */
  abandonAppend(): void {
    const a = this.append;
    if (!a) return;
    this.append = null;
    for (const s of a.spooled) void s.spool.abort().catch(() => undefined);
    if (a.current) void a.current.abort().catch(() => undefined);
  }
}
