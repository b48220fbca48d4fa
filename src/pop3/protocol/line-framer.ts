// Resumable framer for POP3 command lines and SASL response lines.
//
// Line ends: CRLF as RFC 1939 §3 says, but a bare LF is accepted as well (the CR before the LF, if
// any, is stripped), as Dovecot's POP3 server does. Unlike SMTP there is nothing to smuggle here:
// POP3 clients never send message data, every line is one command, and a client sending LF-only
// lines still gets exactly one response per line. A CR elsewhere in the line stays in the line
// (the parser rejects it).
//
// Length: RFC 2449 §4 raises the command limit to 255 octets including CRLF, which every server
// that announces CAPA must accept; longer lines are discarded as they arrive (never buffered
// beyond the limit) and reported once, when their LF arrives. The limit can be raised per line
// (SASL responses carry base64 and may be longer).

export type FrameResult =
  /** a complete line without its line end; a view of the pushed bytes */
  { readonly kind: "line"; readonly line: Buffer } | { readonly kind: "too-long" };

/** RFC 2449 §4: commands up to 255 octets including CRLF. */
export const COMMAND_LINE_LIMIT = 255;
/** SASL responses (RFC 5034 §4) are base64 of short messages; this leaves room for long passwords. */
export const SASL_LINE_LIMIT = 8192;

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);
const TOO_LONG: FrameResult = Object.freeze({ kind: "too-long" });

/**
 * Usage: `push(chunk)`, then `next()` until it returns null (more input needed). After STLS the
 * session calls `discard()`: pipelined plaintext must not be run after TLS starts (RFC 2595 §4).
 */
export class LineFramer {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** inside an over-long line: dropping bytes up to its LF */
  private discarding = false;

  /** @param limit maximum line length in octets, line end included */
  constructor(private readonly limit: number = COMMAND_LINE_LIMIT) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      // only an unfinished line (shorter than the limit) or unread pipelined lines are carried over
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  /** The next line, or null when more input is needed. */
  next(limit: number = this.limit): FrameResult | null {
    const { buf, pos } = this;
    const lf = buf.indexOf(LF, pos);
    if (lf === -1) {
      // Without its LF the line is at least (buffered + 1) octets long.
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
    const end = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
    return { kind: "line", line: buf.subarray(pos, end) };
  }

  /** Forgets every buffered byte (STLS: plaintext sent after the command is never run). */
  discard(): void {
    this.buf = EMPTY;
    this.pos = 0;
    this.discarding = false;
  }

  /** Octets buffered and not yet returned as lines. */
  get pending(): number {
    return this.buf.length - this.pos;
  }
}
