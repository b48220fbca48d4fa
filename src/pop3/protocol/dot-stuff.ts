// The body of a RETR or TOP response (RFC 1939 §3): every line that begins with "." gets another
// "." in front, and the response ends with "." CRLF. On the way, every bare LF becomes CRLF, so the
// client receives the CRLF form whose size LIST reports (RFC 1939 §11), and a client cannot be
// fooled about where the response ends by a stored "LF . CR LF" (a "." after a bare LF is stuffed
// too). A bare CR is left as it is: it ends no line for anyone.
//
// Streaming and resumable at any byte: only the state of the current line is carried between
// chunks. The scan is one indexOf per line; a chunk that needs no change is passed through as
// the same Buffer, and one that does is copied once.
//
// TOP (RFC 1939 §7): with `bodyLines` set, output stops after the empty line that ends the header
// and that many lines of the body; `done` then tells the caller to stop reading.
import { Transform } from "node:stream";

export interface StuffOptions {
  /** TOP: the number of body lines to send after the header; undefined: the whole message */
  bodyLines?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);
const CR_BUF = Buffer.from("\r");
const DOT_BUF = Buffer.from(".");
const TERMINATOR = Buffer.from(".\r\n");
const CRLF_TERMINATOR = Buffer.from("\r\n.\r\n");
const LF_TERMINATOR = Buffer.from("\n.\r\n");

export class DotStuffer {
  /** the next byte begins a line */
  private atLineStart = true;
  /** the last byte seen was CR (its LF may come in the next chunk) */
  private lastWasCR = false;
  /** bytes of the current line seen so far (TOP only: to recognise the empty line) */
  private lineLen = 0;
  private inHeader = true;
  private linesLeft: number;
  private readonly limited: boolean;
  /** TOP has sent everything it should: further input is ignored */
  done = false;
  /** CRs inserted before bare LFs: the CRLF form is this much larger than the stored bytes */
  addedCR = 0;

  constructor(opts: StuffOptions = {}) {
    this.limited = opts.bodyLines !== undefined;
    this.linesLeft = opts.bodyLines ?? 0;
  }

  /** Stuffed output for a chunk of message bytes (possibly the chunk itself, possibly empty). */
  push(chunk: Buffer): Buffer {
    const n = chunk.length;
    if (this.done || n === 0) return EMPTY;
    let pieces: Buffer[] | null = null;
    let copyFrom = 0;
    let end = n;
    if (this.atLineStart && chunk[0] === DOT) pieces = [DOT_BUF];
    // where the current line started, relative to this chunk (negative: in an earlier chunk)
    let lineStart = -this.lineLen;
    let i = chunk.indexOf(LF);
    while (i !== -1) {
      const crBefore = i > 0 ? chunk[i - 1] === CR : this.lastWasCR;
      if (!crBefore) {
        pieces ??= [];
        pieces.push(chunk.subarray(copyFrom, i), CR_BUF);
        copyFrom = i;
        this.addedCR++;
      }
      if (this.limited && this.lineEnded(i - lineStart, crBefore)) {
        end = i + 1;
        this.done = true;
        break;
      }
      lineStart = i + 1;
      if (i + 1 < n && chunk[i + 1] === DOT) {
        pieces ??= [];
        pieces.push(chunk.subarray(copyFrom, i + 1), DOT_BUF);
        copyFrom = i + 1;
      }
      i = chunk.indexOf(LF, i + 1);
    }
    const last = chunk[end - 1]!;
    this.atLineStart = last === LF;
    this.lastWasCR = last === CR;
    this.lineLen = end - lineStart;
    if (pieces === null) return end === n ? chunk : chunk.subarray(0, end);
    pieces.push(chunk.subarray(copyFrom, end));
    return Buffer.concat(pieces);
  }

  /** TOP bookkeeping for a line of `len` bytes (its CR included) that just ended; true: stop here. */
  private lineEnded(len: number, crBefore: boolean): boolean {
    if (this.inHeader) {
      if (len === 0 || (len === 1 && crBefore)) {
        this.inHeader = false;
        return this.linesLeft === 0;
      }
      return false;
    }
    this.linesLeft--;
    return this.linesLeft <= 0;
  }

  /** The end of the response: a line end if the message lacks a final one, then "." CRLF. */
  end(): Buffer {
    if (this.done || this.atLineStart) return TERMINATOR;
    return this.lastWasCR ? LF_TERMINATOR : CRLF_TERMINATOR;
  }
}

/** The same as a Transform stream: message bytes in, stuffed response body and terminator out. */
export function dotStuffTransform(opts: StuffOptions = {}): Transform {
  const stuffer = new DotStuffer(opts);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const out = stuffer.push(chunk);
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback) {
      callback(null, stuffer.end());
    },
  });
}
