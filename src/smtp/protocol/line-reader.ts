// Resumable framer for SMTP command lines (and SASL response lines).
//
// Only CRLF ends a line (RFC 5321 §2.3.8). A line whose LF is not preceded by CR, or that holds a
// CR not followed by LF, is reported as "bare-lf" / "bare-cr" and consumed through its LF: the
// reader resynchronises at every LF, so a client sending bare LFs gets exactly one reply per line
// and the session never disagrees with it about where a command ends (SMTP smuggling defence).
// Over-long lines are discarded as they arrive (never buffered beyond the limit) and reported
// once, when their LF arrives.

import { COMMAND_LINE_LIMIT } from "./extensions.js";

export type LineResult =
  /** A complete line; `line` excludes the CRLF and is a view of the pushed bytes. */
  | { readonly kind: "line"; readonly line: Buffer }
  | { readonly kind: "bare-lf" }
  | { readonly kind: "bare-cr" }
  | { readonly kind: "too-long" };

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const BARE_LF: LineResult = Object.freeze({ kind: "bare-lf" });
const BARE_CR: LineResult = Object.freeze({ kind: "bare-cr" });
const TOO_LONG: LineResult = Object.freeze({ kind: "too-long" });

/**
 * Usage: `push(chunk)`, then call `next()` until it returns null (more input needed). Between
 * lines the session may `takeRemainder()` to hand the unconsumed bytes to a DATA/BDAT receiver,
 * or to discard them after STARTTLS (RFC 3207 §4.2).
 */
export class LineReader {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Inside an over-long line: dropping bytes up to its LF. */
  private discarding = false;

  /** @param limit default maximum line length in octets including CRLF. */
  constructor(private readonly limit: number = COMMAND_LINE_LIMIT) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      // only an unfinished line (< limit octets) or unread pipelined lines are carried over
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  /**
   * The next line, or null when more input is needed.
   * @param limit maximum length including CRLF for this line (e.g. SASL_LINE_LIMIT during AUTH).
   */
  next(limit: number = this.limit): LineResult | null {
    const { buf, pos } = this;
    const lf = buf.indexOf(LF, pos);
    if (lf === -1) {
      // Without its LF the line is already at least (buffered + 1) octets long.
      if (this.discarding || buf.length - pos >= limit) {
        this.discarding = true;
        this.buf = EMPTY;
        this.pos = 0;
      }
      return null;
    }
    this.pos = lf + 1;
    if (this.discarding || lf + 1 - pos > limit) {
      this.discarding = false;
      return TOO_LONG;
    }
    const cr = buf.subarray(pos, lf).indexOf(CR);
    if (cr !== -1 && pos + cr < lf - 1) return BARE_CR; // a CR not followed by LF
    if (cr === -1) return BARE_LF;
    return { kind: "line", line: buf.subarray(pos, lf - 1) };
  }

  /** Hand back (and forget) every buffered byte not yet returned as a line. */
  takeRemainder(): Buffer {
    const rest = this.discarding ? EMPTY : this.buf.subarray(this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    this.discarding = false;
    return rest;
  }

  /** Octets buffered and not yet returned. */
  get pending(): number {
    return this.buf.length - this.pos;
  }
}
