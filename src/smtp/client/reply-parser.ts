// Incremental parser for SMTP server replies (RFC 5321 §4.2): bytes in, complete replies out,
// resumable at any byte. A multi-line reply is "250-text" lines ended by one "250 text" (or bare
// "250") line; every line must carry the same code. Enhanced status codes (RFC 2034 §4, RFC 3463 §2)
// are taken from the first line and stripped from every line that repeats them.
//
// Leniency, as Postfix's client: a bare LF ends a line too (the CR before it is dropped). Lines up to
// `maxLineLength` octets are tolerated although §4.5.3.1.5 caps replies at 512; anything longer, a
// line that is not "ddd", "ddd " or "ddd-", a NUL, mixed codes or too many lines is a protocol error,
// after which the parser stays failed (the byte stream is no longer trustworthy).
import type { ClientReply } from "./types.js";

export interface ReplyParserOptions {
  /** longest line accepted, octets including the line end (default 4096) */
  maxLineLength?: number;
  /** most lines in one reply (default 100; EHLO replies are the long ones) */
  maxLines?: number;
}

export class ReplyParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplyParseError";
  }
}

const LF = 0x0a;
const CR = 0x0d;
// RFC 5321 §4.2: first digit 2..5 (1yz is unused in SMTP), second 0..5, third any digit.
const LINE = /^([2-5][0-5][0-9])(?:([ -])(.*))?$/s;
// RFC 3463 §2: class "." subject "." detail; subject and detail are 1-3 digits.
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;

export class ReplyParser {
  private readonly maxLineLength: number;
  private readonly maxLines: number;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** raw line texts (code and separator included) of the reply being assembled */
  private current: string[] = [];
  private code = 0;
  private failed: ReplyParseError | null = null;

  constructor(opts: ReplyParserOptions = {}) {
    this.maxLineLength = opts.maxLineLength ?? 4096;
    this.maxLines = opts.maxLines ?? 100;
  }

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk;
    this.pos = 0;
  }

  /** The next complete reply, or null until more bytes arrive. Throws ReplyParseError (and keeps throwing). */
  next(): ClientReply | null {
    if (this.failed) throw this.failed;
    for (;;) {
      const lf = this.buf.indexOf(LF, this.pos);
      if (lf < 0) {
        // A line at least this long can only end over the limit: fail now rather than buffer more.
        if (this.buf.length - this.pos >= this.maxLineLength) return this.fail("reply line too long");
        return null;
      }
      if (lf + 1 - this.pos > this.maxLineLength) return this.fail("reply line too long");
      let end = lf;
      if (end > this.pos && this.buf[end - 1] === CR) end--;
      const raw = this.buf.subarray(this.pos, end);
      this.pos = lf + 1;
      if (raw.includes(0)) return this.fail("NUL in reply");
      const line = raw.toString("utf8");
      const m = LINE.exec(line);
      if (!m) return this.fail(`not an SMTP reply line: ${JSON.stringify(line.slice(0, 80))}`);
      const code = Number(m[1]);
      if (this.current.length > 0 && code !== this.code)
        return this.fail(`reply code changed from ${this.code} to ${code} within a multi-line reply`);
      this.code = code;
      this.current.push(line);
      if (m[2] === "-") {
        if (this.current.length >= this.maxLines)
          return this.fail(`reply has more than ${this.maxLines} lines`);
        continue;
      }
      const reply = buildReply(code, this.current);
      this.current = [];
      if (this.pos >= this.buf.length) {
        this.buf = Buffer.alloc(0);
        this.pos = 0;
      }
      return reply;
    }
  }

  /** Octets received and not yet part of a returned reply (after STARTTLS's 220 this must be 0). */
  get buffered(): number {
    return this.buf.length - this.pos + this.current.reduce((n, l) => n + Buffer.byteLength(l) + 2, 0);
  }

  /** Forget buffered bytes (the plaintext left over when a connection switches to TLS). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.current = [];
  }

  private fail(message: string): never {
    this.failed = new ReplyParseError(message);
    throw this.failed;
  }
}

function buildReply(code: number, raw: string[]): ClientReply {
  const texts = raw.map((l) => l.slice(4));
  const em = ENHANCED.exec(texts[0]!);
  // RFC 2034 §4: the class must match the reply's first digit; otherwise it is just text.
  const enhanced = em && Number(em[1]) === Math.floor(code / 100) ? em[0] : null;
  const lines = enhanced
    ? texts.map((t) =>
        t === enhanced ? "" : t.startsWith(`${enhanced} `) ? t.slice(enhanced.length + 1) : t,
      )
    : texts;
  return { code, enhanced, lines, text: raw.join(" / ") };
}

/** Parses a complete byte string into replies (tests, tools). Throws ReplyParseError. */
export function parseReplies(input: Buffer | string, opts?: ReplyParserOptions): ClientReply[] {
  const p = new ReplyParser(opts);
  p.push(typeof input === "string" ? Buffer.from(input, "utf8") : input);
  const out: ClientReply[] = [];
  for (let r = p.next(); r; r = p.next()) out.push(r);
  if (p.buffered > 0) throw new ReplyParseError("incomplete reply at end of input");
  return out;
}
