// The DATA receiver (RFC 5321 §4.1.1.4, §4.5.2): streams un-stuffed message content and ends
// only at CRLF "." CRLF. Resumable at any byte; never accumulates the message.
//
// Only CRLF makes a line start: "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r\n.\r" do not end the
// data (SMTP smuggling defence). Bare CR / LF, size, long lines and 8-bit octets are recorded and
// reported in the verdict after the terminator: the session answers then, never mid-stream.

import { isAscii } from "node:buffer";
import { REPLIES, type Reply } from "./reply.js";

export interface DataReceiverOptions {
  /** Largest message (un-stuffed octets) to pass on; beyond it content is drained. Default: none. */
  readonly maxSize?: number;
}

export interface DataVerdict {
  /** Un-stuffed message size in octets (counted in full even when too big). */
  readonly size: number;
  /** size > maxSize: answer 552 5.3.4 (RFC 5321 §4.5.3.1.10, RFC 1870). */
  readonly tooBig: boolean;
  /** Offset in the data stream (octets after the DATA line) of the first bare LF, or null. */
  readonly bareLf: number | null;
  /** Offset of the first CR not followed by LF, or null. */
  readonly bareCr: number | null;
  /** Longest line in octets including its line ending, not counting a stuffing dot. */
  readonly maxLineLength: number;
  /** Some line exceeds 1000 octets (RFC 5321 §4.5.3.1.6); the session decides (Postfix accepts). */
  readonly longLines: boolean;
  /** Octets ≥ 0x80 seen in the content (not allowed with BODY=7BIT, RFC 6152). */
  readonly eightBit: boolean;
  /** Octets consumed from the stream including the terminating ".\r\n". */
  readonly received: number;
}

export type DataPushResult =
  /** chunks: content in order; views of the pushed buffer (or tiny fresh buffers). */
  | { readonly done: false; readonly chunks: Buffer[] }
  /** remainder: bytes after the terminator (pipelined commands, RFC 2920). */
  | {
      readonly done: true;
      readonly chunks: Buffer[];
      readonly verdict: DataVerdict;
      readonly remainder: Buffer;
    };

/** RFC 5321 §4.5.3.1.6: text line limit including CRLF. */
export const MAX_TEXT_LINE = 1000;

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

// States (numbers rather than an enum: this switch is the ingest hot loop)
/** At the start of a line (after CRLF, or at the beginning of the data). */
const LINE_START = 0;
/** Inside a line. */
const MID = 1;
/** After a CR inside a line (already passed on as content). */
const AFTER_CR = 2;
/** After a "." at line start (dropped: either stuffing or the terminator). */
const AFTER_DOT = 3;
/** After "." CR at line start (CR held back until we see whether LF follows). */
const AFTER_DOT_CR = 4;

export class DataReceiver {
  private state = LINE_START;
  private readonly maxSize: number;
  private size = 0;
  private offset = 0; // stream offset of the current chunk's first byte
  private lineLen = 0;
  private maxLine = 0;
  private crPos = 0; // stream offset of the CR in state AFTER_CR / AFTER_DOT_CR
  private bareLf: number | null = null;
  private bareCr: number | null = null;
  private eightBit = false;
  private verdict: DataVerdict | null = null;

  constructor(opts: DataReceiverOptions = {}) {
    this.maxSize = opts.maxSize ?? Number.POSITIVE_INFINITY;
  }

  /** True once the terminator has been seen. */
  get done(): boolean {
    return this.verdict !== null;
  }

  /** Feed bytes. After the terminator every further byte is returned as remainder. Never throws. */
  push(chunk: Buffer): DataPushResult {
    if (this.verdict !== null) return { done: true, chunks: [], verdict: this.verdict, remainder: chunk };
    const out: Buffer[] = [];
    const n = chunk.length;
    const checkAscii = !this.eightBit && !isAscii(chunk);
    let i = 0;
    let seg = 0; // start of content not yet passed on
    let nextCr = -1;
    let nextLf = -1;
    while (i < n) {
      switch (this.state) {
        case LINE_START:
          if (chunk[i] === DOT) {
            this.emit(chunk, seg, i, out, checkAscii);
            i++;
            seg = i;
            this.state = AFTER_DOT;
            break;
          }
          this.state = MID;
          break;
        case MID: {
          // Jump to the next CR or LF; each index is searched again only once passed, so a
          // chunk is scanned about twice however its lines look.
          if (nextCr < i) {
            nextCr = chunk.indexOf(CR, i);
            if (nextCr === -1) nextCr = n;
          }
          if (nextLf < i) {
            nextLf = chunk.indexOf(LF, i);
            if (nextLf === -1) nextLf = n;
          }
          const j = Math.min(nextCr, nextLf);
          this.lineLen += j - i + (j < n ? 1 : 0);
          if (j === n) {
            i = n;
          } else if (j === nextLf) {
            // an LF inside a line: not preceded by CR (that case is state AFTER_CR)
            if (this.bareLf === null) this.bareLf = this.offset + j;
            this.endLine();
            i = j + 1;
          } else {
            this.crPos = this.offset + j;
            i = j + 1;
            this.state = AFTER_CR;
          }
          break;
        }
        case AFTER_CR:
          if (chunk[i] === LF) {
            this.lineLen++;
            this.endLine();
            i++;
            this.state = LINE_START;
          } else {
            if (this.bareCr === null) this.bareCr = this.crPos;
            this.state = MID;
          }
          break;
        case AFTER_DOT:
          if (chunk[i] === CR) {
            this.crPos = this.offset + i;
            i++;
            seg = i;
            this.state = AFTER_DOT_CR;
          } else {
            this.state = MID; // §4.5.2: the leading dot of a stuffed line is deleted
          }
          break;
        case AFTER_DOT_CR:
          if (chunk[i] === LF) {
            // CRLF "." CRLF: the first CRLF belongs to the message (§4.1.1.4)
            const verdict = this.finish(this.offset + i + 1);
            return { done: true, chunks: out, verdict, remainder: chunk.subarray(i + 1) };
          }
          // "." CR not followed by LF: the dot was stuffing, the CR is a bare CR of the content
          if (this.bareCr === null) this.bareCr = this.crPos;
          this.emit(Buffer.from([CR]), 0, 1, out, false);
          this.lineLen++;
          seg = i;
          this.state = MID;
          break;
      }
    }
    this.emit(chunk, seg, n, out, checkAscii);
    this.offset += n;
    return { done: false, chunks: out };
  }

  private endLine(): void {
    if (this.lineLen > this.maxLine) this.maxLine = this.lineLen;
    this.lineLen = 0;
  }

  /** Pass on chunk[a, b) while within maxSize; count it either way. */
  private emit(chunk: Buffer, a: number, b: number, out: Buffer[], checkAscii: boolean): void {
    const len = b - a;
    if (len <= 0) return;
    if (checkAscii && !this.eightBit && !isAscii(chunk.subarray(a, b))) this.eightBit = true;
    const room = this.maxSize - this.size;
    if (room >= len) out.push(a === 0 && b === chunk.length ? chunk : chunk.subarray(a, b));
    else if (room > 0) out.push(chunk.subarray(a, a + room));
    this.size += len;
  }

  private finish(received: number): DataVerdict {
    this.verdict = Object.freeze({
      size: this.size,
      tooBig: this.size > this.maxSize,
      bareLf: this.bareLf,
      bareCr: this.bareCr,
      maxLineLength: this.maxLine,
      longLines: this.maxLine > MAX_TEXT_LINE,
      eightBit: this.eightBit,
      received,
    });
    return this.verdict;
  }
}

/**
 * The rejection the verdict calls for, or null to go on with the message. Bare CR/LF first (550
 * 5.5.2, as Postfix's smtpd_forbid_bare_newline: the message is ambiguous, and a smuggling
 * attempt should be logged as such), then size (552 5.3.4). Long lines and 8-bit content are left
 * to the session's policy.
 */
export function dataVerdictReply(v: DataVerdict): Reply | null {
  if (v.bareLf !== null || v.bareCr !== null) return REPLIES.bareNewlineData;
  if (v.tooBig) return REPLIES.sizeExceeded;
  return null;
}
