// Resumable framer for IMAP commands: lines and the literals inside them (RFC 9051 §2.2, §4.3,
// §7.5; LITERAL+/LITERAL- RFC 7888; literal8 RFC 3516). Pure: bytes in, events out.
//
// Usage: push(chunk), then call next() until it returns "need-more". Events:
//   request              a complete command: tag, name, and the Frame for parseCommand.
//   continuation-needed  a synchronizing literal {n} was announced and is acceptable: send
//                        "+ Ready" (or call reject() instead, after answering the command with a
//                        tagged BAD/NO: the client then abandons it and sends nothing more for it).
//   literal-start        a literal of a streamed command (APPEND message data) begins. `head` is
//                        the command up to and including this literal and parses as a complete
//                        APPEND, so the session can check the mailbox, flags and size first. If
//                        `sync`, send "+" — or reject() instead, as above. Then come literal-chunk
//                        events (views of the pushed chunks, in order, summing to `size`; the
//                        receiver never keeps them) and one literal-end. A 50 MB APPEND never sits in
//                        memory here. Back-pressure: stop calling next() while the sink is busy;
//                        the receiver holds nothing but what was pushed.
//   error                the command was refused while framing (line or literal too long, …):
//                        answer `tag BAD|NO [code] text` (tag null: untagged). fatal: answer
//                        "* BYE" and close; the receiver then ignores all input.
//
// Line ends: CRLF; a bare LF is accepted as a line end too (as Dovecot does — clients that send
// bare LF would otherwise hang waiting for an answer to a line the server never sees end). A CR
// elsewhere stays in the line and fails the parser. Empty lines between commands are ignored.
//
// Refused literals (RFC 7888 §4, RFC 9051 §7.5): a synchronizing literal is refused without "+",
// so its bytes never come. The bytes of a non-synchronizing literal are already on their way: they
// and the rest of the command (and any further non-synchronizing literals in it) are read and
// dropped without buffering, up to maxDiscard octets; beyond that the error is fatal.

import { isAtomChar, readTag, upperAscii } from "./tokenizer.js";
import type { Frame, Literal } from "./types.js";

export interface ReceiverLimits {
  /** Octets of command text, all lines of one command without CRLF, literals excluded. */
  readonly maxLine: number;
  /** Octets of one literal kept in memory (every literal that is not streamed). */
  readonly maxLiteral: number;
  /** Octets held for one command: its text plus its in-memory literals. */
  readonly maxCommand: number;
  /** Octets of one streamed literal (APPEND message: the APPENDLIMIT). */
  readonly maxStreamedLiteral: number;
  /** Literals in one command (each streamed one produces a `head` copy of the command so far). */
  readonly maxLiterals: number;
  /** Octets of a refused command read and dropped before the error becomes fatal. */
  readonly maxDiscard: number;
  /** LITERAL- is advertised: non-synchronizing literals over 4096 octets are refused (RFC 7888 §5). */
  readonly literalMinus: boolean;
  /**
   * Commands whose literals stream instead of being held, except a literal that is the first
   * argument (the mailbox name of APPEND).
   */
  readonly streamed: ReadonlySet<string>;
}

export const DEFAULT_LIMITS: ReceiverLimits = Object.freeze({
  maxLine: 64 * 1024,
  maxLiteral: 64 * 1024,
  maxCommand: 1024 * 1024,
  maxStreamedLiteral: 50 * 1024 * 1024,
  maxLiterals: 1000,
  maxDiscard: 64 * 1024 * 1024,
  literalMinus: false,
  streamed: new Set(["APPEND"]),
});

/** RFC 7888 §5 */
export const LITERAL_MINUS_MAX = 4096;

export interface RequestEvent extends Frame {
  readonly kind: "request";
  /** null when the line does not start with a valid tag (parseCommand then answers "* BAD") */
  readonly tag: string | null;
  /** the command word, upper-cased ("UID" for UID commands); "" if none */
  readonly name: string;
}

export interface ErrorEvent {
  readonly kind: "error";
  readonly tag: string | null;
  readonly status: "BAD" | "NO";
  /** response code to send with it, e.g. "TOOBIG" */
  readonly code?: string;
  readonly text: string;
  readonly fatal: boolean;
}

export type ReceiverEvent =
  | RequestEvent
  | { readonly kind: "need-more" }
  | {
      readonly kind: "continuation-needed";
      readonly tag: string | null;
      readonly name: string;
      readonly size: number;
    }
  | {
      readonly kind: "literal-start";
      readonly tag: string | null;
      readonly name: string;
      readonly size: number;
      readonly sync: boolean;
      readonly binary: boolean;
      readonly head: Frame;
    }
  | { readonly kind: "literal-chunk"; readonly data: Buffer }
  /** nul: the literal held a NUL octet (allowed only in literal8, RFC 9051 §4.3) */
  | { readonly kind: "literal-end"; readonly nul: boolean }
  | ErrorEvent;

export type LineEvent =
  | { readonly kind: "line"; readonly line: Buffer }
  | { readonly kind: "need-more" }
  | ErrorEvent;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const EMPTY = Buffer.alloc(0);
const NEED_MORE = Object.freeze({ kind: "need-more" as const });
/** Bytes of a dropped line kept to spot a literal announcement at its end. */
const TAIL = 64;

const LINE = 0;
const INLINE = 1;
const STREAM = 2;
const SKIP = 3;
const DEAD = 4;
type Mode = typeof LINE | typeof INLINE | typeof STREAM | typeof SKIP | typeof DEAD;

interface Announcement {
  /** offset of "{" (or "~") in the line */
  readonly start: number;
  /** Infinity when the number does not fit a safe integer */
  readonly size: number;
  readonly sync: boolean;
  readonly binary: boolean;
}

/**
 * A literal announcement at the very end of a line (CRLF removed): "{n}", "{n+}", "~{n}", "~{n+}".
 * `truncated`: the line's start was cut off (a dropped line's tail); digits reaching the cut are
 * "ambiguous".
 */
export function literalAnnouncement(b: Uint8Array, truncated = false): Announcement | "ambiguous" | null {
  let i = b.length - 1;
  if (i < 2 || b[i] !== 0x7d) return null;
  i--;
  let sync = true;
  if (b[i] === 0x2b) {
    sync = false;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && b[i]! >= 0x30 && b[i]! <= 0x39) i--;
  if (i + 1 === digitsEnd) return null;
  if (i < 0) return truncated ? "ambiguous" : null;
  if (b[i] !== 0x7b) return null;
  let size = 0;
  for (let k = i + 1; k < digitsEnd; k++) {
    size = size * 10 + (b[k]! - 0x30);
    if (size > Number.MAX_SAFE_INTEGER) {
      size = Number.POSITIVE_INFINITY;
      break;
    }
  }
  const binary = i > 0 && b[i - 1] === 0x7e;
  return { start: binary ? i - 1 : i, size, sync, binary };
}

/** The last TAIL octets of `prev` followed by `piece`. */
function tailOf(prev: Buffer, piece: Buffer): Buffer {
  if (piece.length >= TAIL) return piece.subarray(piece.length - TAIL);
  const keep = Math.min(prev.length, TAIL - piece.length);
  return Buffer.concat([prev.subarray(prev.length - keep), piece]);
}

export class ImapReceiver {
  private limits: ReceiverLimits;
  private queue: Buffer[] = [];
  private qpos = 0;
  private mode: Mode = LINE;
  private pending: ErrorEvent | null = null;

  // the command being framed
  private lines: Buffer[] = [];
  private literals: Literal[] = [];
  private textLen = 0;
  private held = 0;
  private tag: string | null = null;
  private name = "";
  /** the current line so far (no LF seen yet) */
  private parts: Buffer[] = [];
  private partLen = 0;

  // the literal being read
  private litLeft = 0;
  private litSize = 0;
  private litBinary = false;
  private litParts: Buffer[] = [];
  private nul = false;
  /** the last event asked for "+"; cleared by the next call to next() */
  private awaitingPlus = false;

  // dropping a refused command
  private skipLeft = 0;
  private skipped = 0;
  private skipLine = 0;
  private tail: Buffer = EMPTY;
  private skipTag: string | null = null;

  constructor(limits: Partial<ReceiverLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Change limits (e.g. APPENDLIMIT after login, LITERAL- vs LITERAL+); applies from the next literal. */
  configure(limits: Partial<ReceiverLimits>): void {
    this.limits = { ...this.limits, ...limits };
  }

  push(chunk: Buffer): void {
    if (this.mode === DEAD || chunk.length === 0) return;
    this.queue.push(chunk);
  }

  /** Octets held for the command in progress (its text and in-memory literals), not counting unread input. */
  get holding(): number {
    let lit = 0;
    for (const p of this.litParts) lit += p.length;
    return this.held + this.partLen + lit;
  }

  /** Octets pushed and not yet looked at. */
  get unread(): number {
    let n = -this.qpos;
    for (const c of this.queue) n += c.length;
    return Math.max(0, n);
  }

  /** True between commands (nothing of a command received yet). */
  get idle(): boolean {
    return this.mode === LINE && this.lines.length === 0 && this.partLen === 0;
  }

  /**
   * Drop every unread octet and any command in progress (after STARTTLS, RFC 9051 §6.2.1: bytes
   * sent before the TLS handshake must not be used). Returns how many octets were dropped.
   */
  discardBuffered(): number {
    const n = this.unread + this.partLen;
    this.queue = [];
    this.qpos = 0;
    this.resetCommand();
    this.pending = null;
    if (this.mode !== DEAD) this.mode = LINE;
    return n;
  }

  /**
   * Abandon the command in progress. Right after "continuation-needed" or a synchronizing
   * "literal-start" (before calling next() again), call it instead of sending "+": the client sends
   * nothing more for the command. Otherwise (non-synchronizing literal, or mid-literal) the rest of
   * the command is read and dropped.
   */
  reject(): void {
    if (this.mode === INLINE || this.mode === STREAM) {
      if (this.awaitingPlus) {
        this.awaitingPlus = false;
        this.resetCommand();
        this.mode = LINE;
        return;
      }
      const left = this.litLeft;
      const tag = this.tag;
      this.resetCommand();
      this.startSkip(left, tag, EMPTY, 0);
    } else if (this.mode === LINE && this.lines.length > 0) {
      const tag = this.tag;
      const tail = this.parts.length ? Buffer.concat(this.parts).subarray(-TAIL) : EMPTY;
      const len = this.partLen;
      this.resetCommand();
      this.startSkip(0, tag, tail, len);
    }
  }

  /** The next event; "need-more" when every pushed octet has been used. */
  next(): ReceiverEvent {
    this.awaitingPlus = false;
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    for (;;) {
      let ev: ReceiverEvent | null;
      switch (this.mode) {
        case LINE:
          ev = this.lineStep();
          break;
        case INLINE:
          ev = this.inlineStep();
          break;
        case STREAM:
          return this.streamStep();
        case SKIP:
          ev = this.skipStep();
          break;
        default:
          return NEED_MORE;
      }
      if (ev) return ev;
    }
  }

  /**
   * The next raw line, for the lines that are not commands: "DONE" during IDLE (see
   * parseIdleDone) and SASL responses during AUTHENTICATE. Only between commands.
   */
  nextLine(): LineEvent {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    for (;;) {
      if (this.mode === DEAD) return NEED_MORE;
      if (this.mode === SKIP) {
        const ev = this.skipStep();
        if (ev?.kind === "need-more") return NEED_MORE;
        if (ev?.kind === "error") return ev;
        continue;
      }
      if (this.mode !== LINE || this.lines.length > 0) throw new Error("nextLine() inside a command");
      const chunk = this.head();
      if (!chunk) return NEED_MORE;
      const lf = chunk.indexOf(LF, this.qpos);
      if (lf === -1) {
        this.addPart(chunk.subarray(this.qpos));
        this.qpos = chunk.length;
        if (this.partLen > this.limits.maxLine + 1) return this.lineTooLong();
        continue;
      }
      const line = this.finishLine(chunk, lf);
      if (line.length > this.limits.maxLine) return this.refuseLongLine(line, null);
      return { kind: "line", line };
    }
  }

  // ------------------------------------------------------------ steps

  private head(): Buffer | null {
    while (this.queue.length > 0) {
      const c = this.queue[0]!;
      if (this.qpos < c.length) return c;
      this.queue.shift();
      this.qpos = 0;
    }
    return null;
  }

  private addPart(piece: Buffer): void {
    if (piece.length === 0) return;
    this.parts.push(piece);
    this.partLen += piece.length;
  }

  /** The line ending at `lf` in `chunk` (with the parts before it), CR LF removed. */
  private finishLine(chunk: Buffer, lf: number): Buffer {
    const start = this.qpos;
    this.qpos = lf + 1;
    if (this.parts.length === 0)
      return chunk.subarray(start, lf > start && chunk[lf - 1] === CR ? lf - 1 : lf);
    this.parts.push(chunk.subarray(start, lf));
    const line = Buffer.concat(this.parts, this.partLen + lf - start);
    this.parts = [];
    this.partLen = 0;
    return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
  }

  private lineStep(): ReceiverEvent | null {
    const chunk = this.head();
    if (!chunk) return NEED_MORE;
    const lf = chunk.indexOf(LF, this.qpos);
    if (lf === -1) {
      this.addPart(chunk.subarray(this.qpos));
      this.qpos = chunk.length;
      // +1: room for the CR of a CRLF split from its LF
      if (this.textLen + this.partLen > this.limits.maxLine + 1) return this.lineTooLong();
      return null;
    }
    const line = this.finishLine(chunk, lf);
    const first = this.lines.length === 0;
    if (first && line.length === 0) return null;
    let nameEnd = -1;
    if (first) {
      const t = readTag(line);
      const tagEnd = t ? t.end : 0;
      this.tag = t && (tagEnd === line.length || line[tagEnd] === SP) ? t.tag : null;
      if (line[tagEnd] === SP) {
        let p = tagEnd + 1;
        while (p < line.length && isAtomChar(line[p]!)) p++;
        this.name = upperAscii(line, tagEnd + 1, p);
        nameEnd = p;
      }
    }
    if (this.textLen + line.length > this.limits.maxLine) return this.refuseLongLine(line, this.tag);
    const ann = literalAnnouncement(line);
    if (ann === null || ann === "ambiguous") {
      this.lines.push(line);
      const ev: RequestEvent = {
        kind: "request",
        tag: this.tag,
        name: this.name,
        lines: this.lines,
        literals: this.literals,
      };
      this.resetCommand();
      return ev;
    }
    this.textLen += line.length;
    this.held += line.length;
    this.lines.push(line.subarray(0, ann.start));
    const firstArg = first && nameEnd !== -1 && line[nameEnd] === SP && ann.start === nameEnd + 1;
    return this.startLiteral(ann, firstArg);
  }

  private startLiteral(ann: Announcement, firstArg: boolean): ReceiverEvent | null {
    const { size, sync, binary } = ann;
    const L = this.limits;
    const streamed = L.streamed.has(this.name) && !(firstArg && this.literals.length === 0);
    // no "+" for what cannot be a command (parseCommand would answer "* BAD" anyway)
    if (this.tag === null) return this.refuseLiteral(ann, "invalid tag");
    if (this.literals.length >= L.maxLiterals)
      return this.refuseLiteral(ann, "too many literals in one command");
    if (!sync && L.literalMinus && size > LITERAL_MINUS_MAX) {
      return this.refuseLiteral(ann, "non-synchronizing literal over 4096 octets (LITERAL-)", "TOOBIG");
    }
    if (streamed ? size > L.maxStreamedLiteral : size > L.maxLiteral || this.held + size > L.maxCommand) {
      const text = streamed ? `message larger than ${L.maxStreamedLiteral} octets` : "literal too big";
      // APPENDLIMIT (RFC 7889 §4): NO [TOOBIG]; RFC 7888 §5: BAD [TOOBIG] once the bytes are coming
      return this.refuseLiteral(ann, text, "TOOBIG", streamed && sync ? "NO" : "BAD");
    }
    this.litLeft = size;
    this.litSize = size;
    this.litBinary = binary;
    if (streamed) {
      this.mode = STREAM;
      this.nul = false;
      this.literals.push({ kind: "streamed", size, binary });
      const head: Frame = { lines: [...this.lines, EMPTY], literals: [...this.literals] };
      this.awaitingPlus = sync;
      return { kind: "literal-start", tag: this.tag, name: this.name, size, sync, binary, head };
    }
    this.mode = INLINE;
    this.litParts = [];
    if (!sync) return null;
    this.awaitingPlus = true;
    return { kind: "continuation-needed", tag: this.tag, name: this.name, size };
  }

  private inlineStep(): ReceiverEvent | null {
    while (this.litLeft > 0) {
      const chunk = this.head();
      if (!chunk) return NEED_MORE;
      const n = Math.min(this.litLeft, chunk.length - this.qpos);
      this.litParts.push(chunk.subarray(this.qpos, this.qpos + n));
      this.qpos += n;
      this.litLeft -= n;
    }
    const parts = this.litParts;
    const data =
      parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.litSize);
    this.literals.push({ kind: "inline", data, binary: this.litBinary });
    this.held += this.litSize;
    this.litParts = [];
    this.mode = LINE;
    return null;
  }

  private streamStep(): ReceiverEvent {
    if (this.litLeft === 0) {
      this.mode = LINE;
      return { kind: "literal-end", nul: this.nul };
    }
    const chunk = this.head();
    if (!chunk) return NEED_MORE;
    const n = Math.min(this.litLeft, chunk.length - this.qpos);
    const data = chunk.subarray(this.qpos, this.qpos + n);
    this.qpos += n;
    this.litLeft -= n;
    if (!this.nul && data.indexOf(0) !== -1) this.nul = true;
    return { kind: "literal-chunk", data };
  }

  private skipStep(): ReceiverEvent | null {
    const chunk = this.head();
    if (!chunk) return NEED_MORE;
    if (this.skipLeft > 0) {
      const n = Math.min(this.skipLeft, chunk.length - this.qpos);
      this.qpos += n;
      this.skipLeft -= n;
      this.skipped += n;
      return null;
    }
    const lf = chunk.indexOf(LF, this.qpos);
    const piece = chunk.subarray(this.qpos, lf === -1 ? chunk.length : lf);
    this.skipped += piece.length;
    this.skipLine += piece.length;
    this.tail = tailOf(this.tail, piece);
    if (lf === -1) {
      this.qpos = chunk.length;
      return this.skipped > this.limits.maxDiscard ? this.die("command too long") : null;
    }
    this.qpos = lf + 1;
    let t = this.tail;
    if (t.length > 0 && t[t.length - 1] === CR) t = t.subarray(0, t.length - 1);
    const truncated = this.skipLine > this.tail.length;
    this.tail = EMPTY;
    this.skipLine = 0;
    const ann = literalAnnouncement(t, truncated);
    if (ann === "ambiguous") return this.die("unreadable literal announcement in a dropped command");
    if (ann && !ann.sync) {
      if (this.skipped + ann.size > this.limits.maxDiscard) return this.die("literal too big", "TOOBIG");
      this.skipLeft = ann.size;
      return null;
    }
    // The dropped command ends here. A synchronizing literal gets no "+", so its bytes never come.
    this.mode = LINE;
    this.skipped = 0;
    this.skipTag = null;
    return null;
  }

  // ------------------------------------------------------------ refusals

  /** No LF yet and already too long: report now, drop the rest of the command as it arrives. */
  private lineTooLong(): ErrorEvent {
    const tag = this.lines.length > 0 ? this.tag : this.tagOfParts();
    const len = this.partLen;
    const tail = tailOf(
      EMPTY,
      this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts).subarray(-TAIL),
    );
    this.resetCommand();
    this.startSkip(0, tag, tail, len);
    return this.pendingOr({ kind: "error", tag, status: "BAD", text: "command line too long", fatal: false });
  }

  /** A complete line over the limit: the command is refused; a literal it announces is dropped. */
  private refuseLongLine(line: Buffer, tag: string | null): ErrorEvent {
    this.resetCommand();
    const ev: ErrorEvent = { kind: "error", tag, status: "BAD", text: "command line too long", fatal: false };
    const ann = literalAnnouncement(line);
    if (ann && ann !== "ambiguous" && !ann.sync) {
      this.startSkip(ann.size, tag, EMPTY, 0);
      return this.pendingOr(ev);
    }
    this.mode = LINE;
    return ev;
  }

  /** Refuse the literal just announced (and so its command). */
  private refuseLiteral(
    ann: Announcement,
    text: string,
    code?: string,
    status: "BAD" | "NO" = "BAD",
  ): ErrorEvent {
    const tag = this.tag;
    this.resetCommand();
    const ev: ErrorEvent = code
      ? { kind: "error", tag, status, code, text, fatal: false }
      : { kind: "error", tag, status, text, fatal: false };
    if (ann.sync) {
      this.mode = LINE;
      return ev;
    }
    this.startSkip(ann.size, tag, EMPTY, 0);
    return this.pendingOr(ev);
  }

  /** Enter SKIP: `bytes` literal octets first, then the rest of the command. */
  private startSkip(bytes: number, tag: string | null, tail: Buffer, lineLen: number): void {
    this.mode = SKIP;
    this.skipLeft = bytes;
    this.skipped = lineLen;
    this.skipLine = lineLen;
    this.tail = tail;
    this.skipTag = tag;
    if (bytes > this.limits.maxDiscard) this.pending = this.die("literal too big", "TOOBIG");
  }

  /** If startSkip already found the refusal fatal, that wins over `ev`. */
  private pendingOr(ev: ErrorEvent): ErrorEvent {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    return ev;
  }

  private die(text: string, code?: string): ErrorEvent {
    const tag = this.skipTag;
    this.mode = DEAD;
    this.queue = [];
    this.qpos = 0;
    this.resetCommand();
    return code
      ? { kind: "error", tag, status: "BAD", code, text, fatal: true }
      : { kind: "error", tag, status: "BAD", text, fatal: true };
  }

  private tagOfParts(): string | null {
    let first = this.parts[0] ?? EMPTY;
    if (first.length < 256 && this.parts.length > 1) first = Buffer.concat(this.parts).subarray(0, 256);
    const t = readTag(first);
    return t && t.end < first.length && first[t.end] === SP ? t.tag : null;
  }

  private resetCommand(): void {
    this.lines = [];
    this.literals = [];
    this.textLen = 0;
    this.held = 0;
    this.tag = null;
    this.name = "";
    this.parts = [];
    this.partLen = 0;
    this.litParts = [];
    this.litLeft = 0;
  }
}
