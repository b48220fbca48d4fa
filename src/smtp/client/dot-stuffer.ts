// Message content on its way out. For DATA: every line that starts with "." gets one more "."
// (RFC 5321 §4.5.2), and the content ends with CRLF "." CRLF. For BDAT: no stuffing and no terminator
// (RFC 3030 §2 counts octets). Both turn bare LF and bare CR into CRLF — anything else lets a bare LF
// "." bare LF look like an end of data to some receiver (SMTP smuggling) — and make a message that does
// not end in CRLF end in CRLF, so DATA and BDAT deliver the same octets.
import { Transform, type TransformCallback } from "node:stream";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export interface OutboundContentOptions {
  /** double leading dots (default true) */
  dotStuff?: boolean;
  /** end with "." CRLF (default true) */
  terminate?: boolean;
}

/** The resumable core: feed chunks, get output; `end()` gives the tail. Split anywhere, same bytes. */
export class ContentEncoder {
  private atLineStart = true;
  private pendingCr = false;
  private readonly dotStuff: boolean;
  private readonly terminate: boolean;

  constructor(opts: OutboundContentOptions = {}) {
    this.dotStuff = opts.dotStuff ?? true;
    this.terminate = opts.terminate ?? true;
  }

  push(chunk: Uint8Array): Buffer {
    // Worst case every input octet becomes two ("\n" → CRLF, "." → ".."), plus a held-back CR.
    const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let o = 0;
    let i = 0;
    // Fast path for the usual content, whole CRLF lines: found and copied natively, a line at a time.
    // Anything else (a bare CR or LF, a CR held from the previous chunk) goes to the octet loop.
    if (!this.pendingCr) {
      while (i < buf.length) {
        const lf = buf.indexOf(LF, i);
        if (lf <= i || buf.indexOf(CR, i) !== lf - 1) break;
        if (this.atLineStart && this.dotStuff && buf[i] === DOT) out[o++] = DOT;
        o += buf.copy(out, o, i, lf + 1);
        this.atLineStart = true;
        i = lf + 1;
      }
    }
    return out.subarray(0, this.octets(buf, i, out, o));
  }

  /** the octet-by-octet encoder for chunk[from…]; returns the new output length */
  private octets(chunk: Uint8Array, from: number, out: Buffer, o: number): number {
    for (let i = from; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.pendingCr) {
        this.pendingCr = false;
        out[o++] = CR;
        out[o++] = LF;
        this.atLineStart = true;
        if (b === LF) continue; // CRLF: already written
        // bare CR: written as CRLF, now handle b as the first octet of the next line
      }
      if (b === CR) {
        // Held back: whether it is CRLF or a bare CR shows only with the next octet.
        this.pendingCr = true;
      } else if (b === LF) {
        out[o++] = CR;
        out[o++] = LF;
        this.atLineStart = true;
      } else {
        if (this.atLineStart && b === DOT && this.dotStuff) out[o++] = DOT;
        out[o++] = b;
        this.atLineStart = false;
      }
    }
    return o;
  }

  end(): Buffer {
    const parts: string[] = [];
    if (this.pendingCr || !this.atLineStart) parts.push("\r\n");
    this.pendingCr = false;
    this.atLineStart = true;
    // An empty message is just ".\r\n": the CRLF ending the DATA line is the first CRLF (§4.1.1.4).
    if (this.terminate) parts.push(".\r\n");
    return Buffer.from(parts.join(""), "latin1");
  }
}

/** One-shot form of ContentEncoder. */
export function encodeContent(input: Uint8Array, opts?: OutboundContentOptions): Buffer {
  const e = new ContentEncoder(opts);
  return Buffer.concat([e.push(input), e.end()]);
}

/** DATA content: dot-stuffed, CRLF-normalised, ending in CRLF "." CRLF. */
export class DotStuffer extends Transform {
  private readonly enc: ContentEncoder;

  constructor(opts: OutboundContentOptions = {}) {
    super();
    this.enc = new ContentEncoder(opts);
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    const out = this.enc.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
    if (out.length > 0) this.push(out);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    const tail = this.enc.end();
    if (tail.length > 0) this.push(tail);
    cb();
  }
}

/** BDAT content: CRLF-normalised only. */
export function crlfNormalizer(): DotStuffer {
  return new DotStuffer({ dotStuff: false, terminate: false });
}
