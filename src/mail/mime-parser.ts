// Streaming, resumable MIME parser (RFC 2045, RFC 2046, RFC 5322). Bytes go in with push()
// in chunks of any size (one byte at a time works); end() returns the tree with byte offsets.
// The result does not depend on how the input was chunked.
//
// Memory is bounded, whatever the message size: the parser keeps one incomplete line of at
// most PEEK_MAX bytes (enough to recognise a delimiter line; longer lines are streamed through
// and can never be delimiters), the header of the part being read (at most maxHeaderBytes; the
// rest of an oversized header is skipped with a defect), the open parts (at most maxDepth) and
// the finished tree (at most maxParts nodes). Bodies are never stored.
//
// Offsets (all absolute, half-open [start, end)):
// - headerStart..headerEnd is the part's header including the empty line that ends it, so
//   IMAP BODY[n.MIME] = [headerStart, headerEnd) and BODY[n] = [bodyStart, bodyEnd);
//   headerEnd === bodyStart always. For a message (the root or message/rfc822 content)
//   BODY[HEADER] is the same header range and BODY[TEXT] its body.
// - A child of a multipart ends before the line break that precedes the next delimiter line:
//   RFC 2046 §5.1.1 makes that CRLF part of the delimiter. A part whose content is empty (or
//   a delimiter right at its start) gets bodyEnd === bodyStart, never less.
// - A header that ends without an empty line (at EOF or at an enclosing delimiter) ends there,
//   and its body is empty.
// - The root ends at the total size; the encapsulated message of a message/rfc822 part spans
//   exactly that part's body.
//
// bodyLines: the number of LF bytes in [bodyStart, bodyEnd). An unterminated last line adds
// nothing. This is what Dovecot reports in BODYSTRUCTURE (message-parser.c counts "\n" in the
// body blocks, which exclude the CRLF before a boundary), so a one-line text part "hi" directly
// followed by its delimiter counts 0 lines, and "hi\r\n\r\n--b" counts 1.
//
// Lines end at LF; a CR right before it belongs to the line break (CRLF or bare LF both work,
// for stored messages with LF endings). A lone CR is data.
//
// Delimiter lines (RFC 2046 §5.1.1): "--" boundary, or "--" boundary "--" for the close
// delimiter, then only transport padding (SP, HTAB; a stray CR is tolerated) up to the line
// break. Every open multipart's boundary is checked, innermost first, so the boundary of an
// outer multipart ends all inner parts. Lines longer than PEEK_MAX are never delimiters.
//
// Structure that is not parsed, by design: a multipart without a (usable) boundary parameter
// becomes text/plain (the RFC 2045 §5.2 default for an invalid Content-Type), with a defect.
// A multipart or message/rfc822 part beyond maxDepth, or met when maxParts is reached, stays
// an opaque leaf with its declared type: children = [] or message = null, plus a defect (as
// Dovecot's "overflow" parts). So does message/* whose Content-Transfer-Encoding is not
// 7bit/8bit/binary (its bytes are encoded; RFC 2046 §5.2.1 forbids that for rfc822, RFC 6532
// allows it for message/global). Consumers (BODYSTRUCTURE) must serve such nodes as basic
// bodies. Once maxParts is reached inside a multipart, its further delimiters are ignored and
// the rest of it belongs to no child.

import { buildEnvelope, emptyEnvelope } from "./envelope.js";
import { type HeaderField, parseContentDisposition, parseContentType, splitHeaderFields } from "./header.js";
import {
  type ContentType,
  DEFAULT_MIME_LIMITS,
  type Envelope,
  type MimeLimits,
  type MimeNode,
} from "./mime-types.js";
import { decodeSubject, isTextPart, type TextBudget, TextExtractor, type TextSink } from "./text-extract.js";

export interface MimeParserOptions {
  limits?: Partial<MimeLimits>;
  /** receives decoded text of text/* leaf parts (see text-extract.ts) */
  onText?: TextSink;
  /** most characters delivered to onText for the whole message; default 1 MiB */
  textLimit?: number;
}

export interface MimeParseResult {
  root: MimeNode;
  /** ENVELOPE of the message (the same object as root.envelope) */
  envelope: Envelope;
  /** total bytes parsed */
  size: number;
  /** every defect of every part, prefixed with the part ("root", "part 1.2") */
  defects: string[];
  /** the Subject decoded (RFC 2047), for the full-text index; null when absent */
  subject: string | null;
}

/** Longest line (including its line break) that can still be a delimiter line. */
const PEEK_MAX = 1024;
/** Longer boundary parameters are treated as missing (RFC 2046 allows 70 characters). */
const MAX_BOUNDARY = 200;
const DEFAULT_TEXT_LIMIT = 1024 * 1024;

const CRLF = Buffer.from("\r\n");
const LF = Buffer.from("\n");
const CR = Buffer.from("\r");
const EMPTY = Buffer.alloc(0);

/** What the lines of a part currently are. */
const Phase = { Header: 0, Leaf: 1, Multipart: 2, Message: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Progress of a multipart through its body; Overflow: maxParts reached, only the close
 *  delimiter still counts. */
const Mp = { Preamble: 0, Child: 1, Epilogue: 2, Overflow: 3 } as const;
type Mp = (typeof Mp)[keyof typeof Mp];

interface Frame {
  node: MimeNode;
  depth: number;
  /** IMAP-style part number, "" for the root; used in defect messages */
  section: string;
  phase: Phase;
  /** content type applied when the header has none (message/rfc822 in a digest) */
  defaultDigest: boolean;
  /** root or encapsulated message: gets an ENVELOPE */
  messageRoot: boolean;
  /** the message/rfc822 part that encapsulates this message root */
  container: Frame | null;
  // multipart state
  boundary: Buffer | null;
  mp: Mp;
  digest: boolean;
  /** LFs before bodyStart */
  startLine: number;
  // leaf state
  text: TextExtractor | null;
  /** line break after the last body line, not yet given to `text` (it may belong to a delimiter) */
  pendingEol: number;
}

export class MimeParser {
  private readonly limits: MimeLimits;
  private readonly onText: TextSink | undefined;
  private readonly budget: TextBudget;
  private readonly root: MimeNode;
  private readonly frames: Frame[] = [];
  private readonly defects: string[] = [];

  // An incomplete line of at most PEEK_MAX bytes, copied (the caller may reuse its buffers)
  // into one fixed buffer, so even byte-by-byte input costs no allocation per byte.
  private carry: Buffer = EMPTY;
  private carryLen = 0;
  private longLine = false; // inside a line longer than PEEK_MAX
  private heldCR = false; // a long line's last CR, held back until we know if LF follows
  private lineStart = 0; // absolute offset of the current line
  private lines = 0; // LFs before lineStart
  private prevEol = 0; // length of the line break before lineStart
  private total = 0;
  private partCount = 1;
  private activeBoundaries = 0;

  private hdr: Buffer = EMPTY; // the current part's header, grown on demand
  private hdrLen = 0;
  private hdrOverflow = false;

  private failed = false;
  private result: MimeParseResult | null = null;

  constructor(opts: MimeParserOptions = {}) {
    this.limits = { ...DEFAULT_MIME_LIMITS, ...opts.limits };
    this.onText = opts.onText;
    this.budget = { remaining: opts.textLimit ?? DEFAULT_TEXT_LIMIT };
    this.root = newNode(0);
    this.frames.push(newFrame(this.root, 0, "", false, true, null));
  }

  /** Bytes of input the parser holds right now (incomplete line + current header). */
  get buffered(): number {
    return this.carryLen + this.hdrLen;
  }

  push(chunk: Uint8Array): void {
    if (this.result !== null || chunk.length === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (!this.failed) {
      try {
        this.consume(buf, this.total);
      } catch (err) {
        this.fail(err);
      }
    }
    this.total += buf.length;
  }

  end(): MimeParseResult {
    if (this.result !== null) return this.result;
    if (!this.failed) {
      try {
        if (this.carryLen > 0) {
          const len = this.carryLen;
          this.carryLen = 0;
          this.line(this.carry, 0, len, true, false);
        } else if (this.longLine) {
          this.longPiece(EMPTY, 0, 0, true);
          this.lineEnd(0, this.total);
        }
        while (this.frames.length > 0) this.closeFrame(this.frames.pop()!, this.total, false);
      } catch (err) {
        this.fail(err);
      }
    }
    if (this.failed) this.salvage();
    const envelope = this.root.envelope ?? emptyEnvelope();
    this.root.envelope = envelope;
    this.result = {
      root: this.root,
      envelope,
      size: this.total,
      defects: this.defects,
      subject: decodeSubject(envelope),
    };
    return this.result;
  }

  // -------------------------------------------------------------------------------------------
  // Line splitting

  private consume(buf: Buffer, base: number): void {
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      if (this.longLine) {
        const lf = buf.indexOf(10, pos);
        if (lf < 0) {
          this.longPiece(buf, pos, n, false);
          return;
        }
        if (lf > pos) this.longPiece(buf, pos, lf, false);
        const eol = this.heldCR ? 2 : 1;
        this.heldCR = false;
        this.longLine = false;
        this.lineEnd(eol, base + lf + 1);
        pos = lf + 1;
        continue;
      }
      if (this.carryLen > 0) {
        const lf = buf.indexOf(10, pos);
        const take = (lf < 0 ? n : lf + 1) - pos;
        const len = this.carryLen;
        if (len + take <= PEEK_MAX) {
          buf.copy(this.carry, len, pos, pos + take);
          if (lf < 0) {
            this.carryLen = len + take;
            return;
          }
          this.carryLen = 0;
          this.line(this.carry, 0, len + take - 1, true, true);
          pos = lf + 1;
        } else {
          // too long to be a delimiter line: stream it, starting with what was carried
          this.carryLen = 0;
          this.longLine = true;
          this.longPiece(this.carry, 0, len, false);
        }
        continue;
      }
      // Fast path: where lines need no handling (a leaf without text extraction, a
      // preamble or epilogue), only count them and stop at lines that may be delimiters.
      const top = this.frames[this.frames.length - 1];
      if (top !== undefined && top.text === null && top.phase !== Phase.Header) {
        const watch = this.activeBoundaries > 0;
        for (;;) {
          const lf = buf.indexOf(10, pos);
          if (lf < 0) break;
          if (watch && buf[pos] === 45 && buf[pos + 1] === 45 && lf + 1 - pos <= PEEK_MAX) break;
          this.prevEol = lf > pos && buf[lf - 1] === 13 ? 2 : 1;
          this.lines++;
          this.lineStart += lf + 1 - pos;
          pos = lf + 1;
        }
        if (pos >= n) return;
      }
      const lf = buf.indexOf(10, pos);
      if (lf < 0) {
        if (n - pos <= PEEK_MAX) {
          if (this.carry.length === 0) this.carry = Buffer.allocUnsafe(PEEK_MAX);
          this.carryLen = buf.copy(this.carry, 0, pos, n);
        } else {
          this.longLine = true;
          this.longPiece(buf, pos, n, false);
        }
        return;
      }
      this.line(buf, pos, lf, lf + 1 - pos <= PEEK_MAX, true);
      pos = lf + 1;
    }
  }

  /**
   * One complete line: bytes [s, lf) and its line break at lf (hasLf), or [s, lf) at EOF.
   * `eligible` lines are short enough to be delimiter lines.
   */
  private line(buf: Buffer, s: number, lf: number, eligible: boolean, hasLf: boolean): void {
    let e = lf;
    let eol = 0;
    if (hasLf) {
      eol = 1;
      if (e > s && buf[e - 1] === 13) {
        e--;
        eol = 2;
      }
    }
    const next = this.lineStart + (e - s) + eol;
    if (eligible && this.activeBoundaries > 0 && e - s >= 2 && buf[s] === 45 && buf[s + 1] === 45) {
      if (this.delimiterLine(buf, s + 2, e, next)) {
        this.advance(next, eol);
        return;
      }
    }
    const f = this.frames[this.frames.length - 1]!;
    if (f.phase === Phase.Header) {
      if (e === s && eol > 0) {
        this.hdrAppend(eol === 2 ? CRLF : LF, 0, eol);
        this.advance(next, eol);
        this.endHeader(f, next, true);
        return;
      }
      this.hdrAppend(buf, s, e);
      if (eol > 0) this.hdrAppend(eol === 2 ? CRLF : LF, 0, eol);
    } else if (f.phase === Phase.Leaf && f.text !== null) {
      this.textWrite(f, buf, s, e);
      f.pendingEol = eol;
    }
    this.advance(next, eol);
  }

  /** Part of a line too long to be a delimiter; a trailing CR waits for the next byte. */
  private longPiece(buf: Buffer, s: number, e: number, atEof: boolean): void {
    if (this.heldCR) {
      this.heldCR = false;
      this.content(CR, 0, 1);
    }
    if (!atEof && e > s && buf[e - 1] === 13) {
      this.heldCR = true;
      e--;
    }
    if (e > s) this.content(buf, s, e);
  }

  /** Line content (never a line break) of the current line, for the innermost part. */
  private content(buf: Buffer, s: number, e: number): void {
    const f = this.frames[this.frames.length - 1]!;
    if (f.phase === Phase.Header) this.hdrAppend(buf, s, e);
    else if (f.phase === Phase.Leaf && f.text !== null) this.textWrite(f, buf, s, e);
  }

  /** End of a long line: its line break (eol bytes, 0 at EOF) ends at absolute `next`. */
  private lineEnd(eol: number, next: number): void {
    const f = this.frames[this.frames.length - 1]!;
    if (f.phase === Phase.Header) {
      if (eol > 0) this.hdrAppend(eol === 2 ? CRLF : LF, 0, eol);
    } else if (f.phase === Phase.Leaf && f.text !== null) f.pendingEol = eol;
    this.advance(next, eol);
  }

  private advance(next: number, eol: number): void {
    this.lineStart = next;
    this.prevEol = eol;
    if (eol > 0) this.lines++;
  }

  private textWrite(f: Frame, buf: Buffer, s: number, e: number): void {
    const text = f.text!;
    if (f.pendingEol > 0) {
      text.write(f.pendingEol === 2 ? CRLF : LF, 0, f.pendingEol);
      f.pendingEol = 0;
    }
    text.write(buf, s, e);
    if (text.done) {
      // budget used up: drop the extractor so the rest of the part takes the fast path
      text.end();
      f.text = null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Boundaries

  /** Checks [s, e) (after the leading "--") against the open boundaries; acts on a match. */
  private delimiterLine(buf: Buffer, s: number, e: number, next: number): boolean {
    const frames = this.frames;
    for (let k = frames.length - 1; k >= 0; k--) {
      const f = frames[k]!;
      const b = f.boundary;
      if (b === null || f.mp === Mp.Epilogue || e - s < b.length) continue;
      if (buf.compare(b, 0, b.length, s, s + b.length) !== 0) continue;
      let r = s + b.length;
      let close = false;
      if (e - r >= 2 && buf[r] === 45 && buf[r + 1] === 45) {
        close = true;
        r += 2;
      }
      while (r < e && (buf[r] === 32 || buf[r] === 9 || buf[r] === 13)) r++;
      if (r < e) continue;
      this.delimiter(k, close, next);
      return true;
    }
    return false;
  }

  private delimiter(k: number, close: boolean, next: number): void {
    // the line break before the delimiter line belongs to the delimiter (RFC 2046 §5.1.1)
    const end = this.lineStart - this.prevEol;
    while (this.frames.length - 1 > k) this.closeFrame(this.frames.pop()!, end, true);
    const m = this.frames[k]!;
    if (close) {
      m.mp = Mp.Epilogue;
      this.activeBoundaries--;
      return;
    }
    if (m.mp === Mp.Overflow) return;
    if (this.partCount >= this.limits.maxParts) {
      m.mp = Mp.Overflow;
      this.defect(m, `more than ${this.limits.maxParts} parts: the rest of this multipart is not parsed`);
      return;
    }
    m.mp = Mp.Child;
    this.partCount++;
    const node = newNode(next);
    m.node.children.push(node);
    const section = m.section === "" ? `${m.node.children.length}` : `${m.section}.${m.node.children.length}`;
    this.frames.push(newFrame(node, m.depth + 1, section, m.digest, false, null));
  }

  // -------------------------------------------------------------------------------------------
  // Headers and parts

  private hdrAppend(buf: Buffer, s: number, e: number): void {
    if (this.hdrOverflow) return;
    const room = this.limits.maxHeaderBytes - this.hdrLen;
    if (e - s > room) {
      e = s + Math.max(0, room);
      this.hdrOverflow = true;
      this.defect(
        this.frames[this.frames.length - 1]!,
        `header longer than ${this.limits.maxHeaderBytes} bytes: the rest is skipped`,
      );
    }
    if (e > s) {
      const need = this.hdrLen + e - s;
      if (need > this.hdr.length) {
        const grown = Buffer.allocUnsafe(
          Math.min(Math.max(need, this.hdr.length * 2, 1024), this.limits.maxHeaderBytes),
        );
        this.hdr.copy(grown, 0, 0, this.hdrLen);
        this.hdr = grown;
      }
      buf.copy(this.hdr, this.hdrLen, s, e);
      this.hdrLen = need;
    }
  }

  /** The header of `f` ends at `pos`; decides what its body is. */
  private endHeader(f: Frame, pos: number, hasBody: boolean): void {
    const node = f.node;
    node.headerEnd = node.bodyStart = node.bodyEnd = pos;
    f.startLine = this.lines;
    const block = this.hdr.subarray(0, this.hdrLen); // fields are decoded to strings: safe to reuse
    this.hdrLen = 0;
    this.hdrOverflow = false;
    const { fields, defects } = splitHeaderFields(block);
    if (this.hdr.length > 64 * 1024) this.hdr = EMPTY; // do not keep a huge buffer for the rest
    for (const d of defects) this.defect(f, d);
    this.applyContentHeaders(f, fields);
    if (f.messageRoot) {
      node.envelope = buildEnvelope(fields);
      // The rfc822 part carries the envelope of what it encapsulates, unless it is a message
      // root itself (the root being message/rfc822): then it keeps its own.
      if (f.container !== null && !f.container.messageRoot) f.container.node.envelope = node.envelope;
    }

    const ct = node.contentType;
    if (ct.type === "multipart") {
      const boundary = ct.params["boundary"] ?? "";
      if (boundary.length === 0 || boundary.length > MAX_BOUNDARY) {
        this.defect(f, `${ct.type}/${ct.subtype} without a usable boundary parameter: treated as text/plain`);
        node.contentType = defaultText();
        node.contentTypeDefaulted = true;
      } else if (f.depth >= this.limits.maxDepth) {
        this.defect(f, `nested deeper than ${this.limits.maxDepth}: not parsed`);
      } else if (this.partCount >= this.limits.maxParts) {
        this.defect(f, `more than ${this.limits.maxParts} parts: not parsed`);
      } else {
        f.phase = Phase.Multipart;
        f.digest = ct.subtype === "digest";
        if (hasBody) {
          f.boundary = Buffer.from(boundary, "utf8");
          f.mp = Mp.Preamble;
          this.activeBoundaries++;
        } else f.mp = Mp.Epilogue;
        return;
      }
    } else if (ct.type === "message" && (ct.subtype === "rfc822" || ct.subtype === "global")) {
      if (node.encoding !== "7bit" && node.encoding !== "8bit" && node.encoding !== "binary") {
        // RFC 6532 §3.5 allows an encoded message/global; for rfc822 it is a defect
        if (ct.subtype === "rfc822")
          this.defect(f, `message/rfc822 with ${node.encoding} encoding: not parsed`);
      } else if (f.depth >= this.limits.maxDepth) {
        this.defect(f, `nested deeper than ${this.limits.maxDepth}: not parsed`);
      } else if (this.partCount >= this.limits.maxParts) {
        this.defect(f, `more than ${this.limits.maxParts} parts: not parsed`);
      } else {
        f.phase = Phase.Message;
        this.partCount++;
        const inner = newNode(pos);
        node.message = inner;
        this.frames.push(newFrame(inner, f.depth + 1, f.section, false, true, f));
        return;
      }
    }
    f.phase = Phase.Leaf;
    if (this.onText !== undefined && hasBody && isTextPart(node) && this.budget.remaining > 0) {
      f.text = new TextExtractor(node, this.onText, this.budget);
    }
  }

  private applyContentHeaders(f: Frame, fields: HeaderField[]): void {
    const node = f.node;
    let ct: ContentType | null = null;
    let seenType = false;
    let encoding: string | null = null;
    for (const h of fields) {
      if (!h.key.startsWith("content-")) continue;
      switch (h.key) {
        case "content-type":
          if (!seenType) {
            seenType = true;
            ct = parseContentType(h.value);
          }
          break;
        case "content-transfer-encoding":
          encoding ??= (/^[^\s;(]*/.exec(h.value)?.[0] ?? "").toLowerCase();
          break;
        case "content-disposition":
          node.disposition ??= parseContentDisposition(h.value);
          break;
        case "content-id":
          node.contentId ??= h.value;
          break;
        case "content-description":
          node.description ??= h.value;
          break;
        case "content-language":
          node.language ??= parseLanguage(h.value);
          break;
        case "content-location":
          node.location ??= h.value;
          break;
        case "content-md5":
          node.md5 ??= h.value;
          break;
      }
    }
    if (seenType && ct === null) this.defect(f, "unparsable Content-Type: default applied");
    if (ct !== null) {
      node.contentType = ct;
      node.contentTypeDefaulted = false;
    } else {
      // RFC 2045 §5.2; RFC 2046 §5.1.5 for the digest default
      node.contentType = f.defaultDigest ? { type: "message", subtype: "rfc822", params: {} } : defaultText();
      node.contentTypeDefaulted = true;
    }
    node.encoding = encoding !== null && encoding.length > 0 ? encoding : "7bit";
  }

  /** Ends `f` (already popped) at absolute `end`; `viaDelimiter` when a delimiter line ends it. */
  private closeFrame(f: Frame, end: number, viaDelimiter: boolean): void {
    const node = f.node;
    if (f.phase === Phase.Header) {
      const hEnd = Math.max(node.headerStart, end);
      if (hEnd > node.headerStart) this.defect(f, "header not ended by an empty line");
      this.endHeader(f, hEnd, false);
      // an encapsulated message opened by this header is empty and ends here too
      if ((f.phase as Phase) === Phase.Message) this.closeFrame(this.frames.pop()!, hEnd, false);
    }
    const bodyEnd = Math.max(node.bodyStart, end);
    node.bodyEnd = bodyEnd;
    node.bodyLines =
      bodyEnd === node.bodyStart ? 0 : this.lines - (viaDelimiter && this.prevEol > 0 ? 1 : 0) - f.startLine;
    if (f.text !== null) {
      // at EOF the last line break is body; before a delimiter it is not
      if (!viaDelimiter && f.pendingEol > 0) f.text.write(f.pendingEol === 2 ? CRLF : LF, 0, f.pendingEol);
      f.text.end();
      f.text = null;
    }
    if (f.phase === Phase.Multipart) {
      if (f.mp !== Mp.Epilogue) {
        this.activeBoundaries--;
        this.defect(f, "missing close delimiter");
      }
      if (node.children.length === 0) this.defect(f, "multipart without body parts");
    }
  }

  private defect(f: Frame, msg: string): void {
    f.node.defects ??= [];
    const list = f.node.defects;
    if (list.includes(msg)) return;
    list.push(msg);
    this.defects.push(`${f.section === "" ? "root" : `part ${f.section}`}: ${msg}`);
  }

  /** A bug must not lose a delivery: record it and keep only the byte count from here on. */
  private fail(err: unknown): void {
    this.failed = true;
    this.defects.push(`internal parser error: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** After an internal error: end every open part at EOF without further parsing. */
  private salvage(): void {
    for (const f of this.frames) {
      const n = f.node;
      if (n.headerEnd < n.headerStart) n.headerEnd = n.headerStart;
      n.bodyStart = Math.max(n.bodyStart, n.headerEnd);
      n.headerEnd = n.bodyStart;
      n.bodyEnd = Math.max(this.total, n.bodyStart);
    }
    this.frames.length = 0;
  }
}

/** Parses a whole message held in memory. */
export function parseMime(buf: Uint8Array, opts?: MimeParserOptions): MimeParseResult {
  const p = new MimeParser(opts);
  p.push(buf);
  return p.end();
}

function defaultText(): ContentType {
  return { type: "text", subtype: "plain", params: { charset: "us-ascii" } };
}

function newNode(start: number): MimeNode {
  return {
    headerStart: start,
    headerEnd: start,
    bodyStart: start,
    bodyEnd: start,
    bodyLines: 0,
    contentType: defaultText(),
    contentTypeDefaulted: true,
    disposition: null,
    encoding: "7bit",
    contentId: null,
    description: null,
    language: null,
    location: null,
    md5: null,
    children: [],
    message: null,
    envelope: null,
  };
}

function newFrame(
  node: MimeNode,
  depth: number,
  section: string,
  defaultDigest: boolean,
  messageRoot: boolean,
  container: Frame | null,
): Frame {
  return {
    node,
    depth,
    section,
    phase: Phase.Header,
    defaultDigest,
    messageRoot,
    container,
    boundary: null,
    mp: Mp.Preamble,
    digest: false,
    startLine: 0,
    text: null,
    pendingEol: 0,
  };
}

/** Content-Language (RFC 3282): comma-separated tags, comments dropped. */
function parseLanguage(value: string): string[] | null {
  const tags = value
    .replace(/\([^)]*\)/g, " ")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return tags.length > 0 ? tags : null;
}
