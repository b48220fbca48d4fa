// FETCH BODY[section] and BINARY[section] (RFC 9051 §6.4.5.1, §7.5.2) resolved against the stored
// MIME tree to byte ranges of the FULL message: the store's trace prefix followed by the blob.
// Tree offsets are blob offsets, so they move by prefix.length; the root header starts at 0
// (the prefix is part of it).
//
// Part numbering (RFC 9051 §6.4.5.1): the parts of a message are the children of its multipart
// body, or part 1 = the message body itself when it is not a multipart. A multipart part's
// subparts are its children; a message/rfc822 (or message/global) part's subparts are the parts
// of its encapsulated message. Anything else has no subparts. A part that does not exist gives
// an empty string (as Dovecot's imap-msgpart does). HEADER, HEADER.FIELDS[.NOT] and TEXT need
// the top level or a message/* part with a parsed message.
//
// HEADER.FIELDS is served in two steps: read the header block (bounded by the parser's header
// limit) and filter it with filterHeaderFields; a partial applies to the filtered bytes.
//
// BINARY: the leaf's range plus its Content-Transfer-Encoding; decode it while streaming with
// createDecoder (base64, quoted-printable; identity for 7bit/8bit/binary). BINARY.SIZE is the
// decoded length, which needs one pass over the part: decodedSize.

import { Transform, type TransformCallback } from "node:stream";
import { astring } from "../imap/protocol/compose.js";
import { isParsedMessage, isParsedMultipart } from "./bodystructure.js";
import type { MimeNode } from "./mime-types.js";

export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/**
 * A section-spec as parsed from the command: `1.2.HEADER.FIELDS (From To)` → part [1, 2], text
 * "HEADER.FIELDS", fields ["From", "To"]. Structurally the Section of imap/protocol/types.ts.
 */
export interface SectionSpec {
  /** part numbers (each ≥ 1); empty for the whole message */
  readonly part: readonly number[];
  readonly text?: SectionText | null | undefined;
  /** field names, for HEADER.FIELDS and HEADER.FIELDS.NOT */
  readonly fields?: readonly string[] | undefined;
}

/** `<offset.length>` of a FETCH item (the Partial of imap/protocol/types.ts). */
export interface Partial {
  readonly offset: number;
  readonly length: number;
}

/** Half-open byte range [start, end) of the full message (prefix + blob). */
export interface ByteRange {
  start: number;
  end: number;
}

export type ResolvedSection =
  /** the bytes of this range, as they are */
  | { kind: "range"; range: ByteRange }
  /** read this header block (ends with its blank line, if any) and pass it to filterHeaderFields */
  | { kind: "fields"; range: ByteRange; fields: readonly string[]; not: boolean }
  /** the part does not exist: an empty string */
  | { kind: "empty" }
  /** a spec the grammar forbids (MIME without a part number, HEADER.FIELDS without names) */
  | { kind: "invalid"; reason: string };

/** The parts of a message node: its multipart children, or [itself]. */
function partsOfMessage(msg: MimeNode): readonly MimeNode[] {
  if (isParsedMultipart(msg)) return msg.children;
  return [msg];
}

/** Subparts of a part: a multipart's children, or the parts of an encapsulated message. */
function subparts(part: MimeNode): readonly MimeNode[] {
  if (isParsedMultipart(part)) return part.children;
  if (isParsedMessage(part)) return partsOfMessage(part.message!);
  return [];
}

/** The node a part number path names, or null when it does not exist. */
export function findPart(root: MimeNode, path: readonly number[]): MimeNode | null {
  let cur: MimeNode | null = null;
  for (let i = 0; i < path.length; i++) {
    const list: readonly MimeNode[] = cur === null ? partsOfMessage(root) : subparts(cur);
    const n = path[i]!;
    if (!Number.isInteger(n) || n < 1 || n > list.length) return null;
    cur = list[n - 1]!;
  }
  return cur;
}

/** Resolves a BODY[section] spec (without the partial) for a message with this tree and prefix. */
export function resolveSection(root: MimeNode, prefixLength: number, spec: SectionSpec): ResolvedSection {
  const p = prefixLength;
  const headerOf = (n: MimeNode): ByteRange => ({
    start: n === root ? 0 : n.headerStart + p,
    end: n.headerEnd + p,
  });
  const bodyOf = (n: MimeNode): ByteRange => ({ start: n.bodyStart + p, end: n.bodyEnd + p });

  const text = spec.text ?? null;
  if (spec.part.length === 0 && text === null)
    return { kind: "range", range: { start: 0, end: root.bodyEnd + p } };
  if (text === "MIME" && spec.part.length === 0)
    return { kind: "invalid", reason: "MIME needs a part number" };
  const part = spec.part.length === 0 ? null : findPart(root, spec.part);
  if (spec.part.length > 0 && part === null) return { kind: "empty" };
  if (text === null) return { kind: "range", range: bodyOf(part!) };
  if (text === "MIME") return { kind: "range", range: headerOf(part!) };

  // HEADER, HEADER.FIELDS[.NOT], TEXT: of the message itself or of an encapsulated message
  let msg: MimeNode;
  if (part === null) msg = root;
  else if (isParsedMessage(part)) msg = part.message!;
  else return { kind: "empty" };
  switch (text) {
    case "HEADER":
      return { kind: "range", range: headerOf(msg) };
    case "TEXT":
      return { kind: "range", range: bodyOf(msg) };
    default: {
      const fields = spec.fields ?? [];
      if (fields.length === 0) return { kind: "invalid", reason: `${text} needs field names` };
      return { kind: "fields", range: headerOf(msg), fields, not: text === "HEADER.FIELDS.NOT" };
    }
  }
}

/**
 * Applies `<start.length>` to a value of `size` octets: the slice [start, end) relative to the
 * value. A start beyond the end gives an empty slice (RFC 9051 §6.4.5: an empty string).
 */
export function applyPartial(size: number, partial: Partial | null | undefined): ByteRange {
  if (!partial) return { start: 0, end: size };
  const start = Math.min(Math.max(0, partial.offset), size);
  const end = Math.min(start + Math.max(0, partial.length), size);
  return { start, end };
}

/** A range of the full message split into the part in the prefix and the part in the blob. */
export function splitRange(
  range: ByteRange,
  prefixLength: number,
): { prefix: ByteRange | null; blob: ByteRange | null } {
  const p = prefixLength;
  const prefix = range.start < p ? { start: range.start, end: Math.min(range.end, p) } : null;
  const blob = range.end > p ? { start: Math.max(range.start, p) - p, end: range.end - p } : null;
  return {
    prefix: prefix !== null && prefix.end > prefix.start ? prefix : null,
    blob: blob !== null && blob.end > blob.start ? blob : null,
  };
}

/**
 * The bytes of a full-message range as a stream of chunks: the prefix slice, then the blob range
 * read by `readBlob(start, end)` (a ranged blob read, e.g. a Readable). Nothing is buffered here.
 */
export async function* rangeSource(
  prefix: Uint8Array,
  range: ByteRange,
  readBlob: (start: number, end: number) => AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const { prefix: pr, blob } = splitRange(range, prefix.length);
  if (pr !== null) yield prefix.subarray(pr.start, pr.end);
  if (blob !== null) yield* readBlob(blob.start, blob.end);
}

/**
 * The section of a FETCH response item name, without brackets: `1.2.HEADER.FIELDS (From To)`.
 * Field names are echoed as the client wrote them (as astrings).
 */
export function formatSection(spec: SectionSpec): string {
  let s = spec.part.join(".");
  if (spec.text) s += (s.length > 0 ? "." : "") + spec.text;
  if (spec.fields && (spec.text === "HEADER.FIELDS" || spec.text === "HEADER.FIELDS.NOT")) {
    s += ` (${spec.fields.map((f) => astring(f)).join(" ")})`;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// HEADER.FIELDS filter

/**
 * Keeps (or with `not`, drops) the fields whose names match `fields`, ASCII case-insensitively
 * (RFC 9051 §6.4.5.1). A field is its first line and all continuation lines, kept byte for byte
 * with their line breaks. The blank line that ends the header is kept when the input has one.
 * A line without a colon counts as a field named by the whole line (it never matches a name);
 * so do stray continuation lines at the start. FIELDS and FIELDS.NOT thus split the header.
 */
export function filterHeaderFields(header: Uint8Array, fields: readonly string[], not: boolean): Buffer {
  const buf = Buffer.isBuffer(header) ? header : Buffer.from(header.buffer, header.byteOffset, header.length);
  const wanted = new Set(fields.map(asciiLower));
  const out: Buffer[] = [];
  // continuation lines before any field belong to no named field: only .NOT keeps them
  let keep = not;
  let pos = 0;
  while (pos < buf.length) {
    const lf = buf.indexOf(10, pos);
    const next = lf < 0 ? buf.length : lf + 1;
    const c = buf[pos]!;
    if (c === 10 || (c === 13 && buf[pos + 1] === 10)) {
      out.push(buf.subarray(pos, next)); // the blank line: end of the header
      break;
    }
    if (c !== 32 && c !== 9) {
      let end = lf < 0 ? buf.length : lf;
      const colon = buf.indexOf(58, pos);
      if (colon >= 0 && colon < end) end = colon;
      while (end > pos && (buf[end - 1] === 32 || buf[end - 1] === 9 || buf[end - 1] === 13)) end--;
      keep = wanted.has(asciiLower(buf.toString("latin1", pos, end))) !== not;
    }
    if (keep) out.push(buf.subarray(pos, next));
    pos = next;
  }
  return Buffer.concat(out);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// BINARY

export type ResolvedBinary =
  /** decode [range] with `encoding` (lower-case); literal8 when the result may hold NUL */
  | { kind: "range"; range: ByteRange; encoding: string; literal8: boolean }
  | { kind: "empty" }
  /** RFC 9051 §6.4.5: NO [UNKNOWN-CTE] */
  | { kind: "unknown-cte"; encoding: string }
  /** BINARY is only for leaf parts (RFC 9051 §6.4.5) */
  | { kind: "not-leaf" };

const IDENTITY = new Set(["7bit", "8bit", "binary"]);
const KNOWN_CTE = new Set(["7bit", "8bit", "binary", "base64", "quoted-printable"]);

/**
 * BINARY[part]. An empty part list means the whole message, sent as stored (its own encoding
 * applies to its body only). 7bit/8bit data may not hold NUL (RFC 2045 §2.7-2.8), so it goes as
 * a normal literal; decoded base64/quoted-printable and "binary" may, so they go as literal8.
 */
export function resolveBinarySection(
  root: MimeNode,
  prefixLength: number,
  part: readonly number[],
): ResolvedBinary {
  if (part.length === 0) {
    return {
      kind: "range",
      range: { start: 0, end: root.bodyEnd + prefixLength },
      encoding: "binary",
      literal8: true,
    };
  }
  const node = findPart(root, part);
  if (node === null) return { kind: "empty" };
  if (isParsedMultipart(node) || isParsedMessage(node)) return { kind: "not-leaf" };
  const encoding = node.encoding;
  if (!KNOWN_CTE.has(encoding)) return { kind: "unknown-cte", encoding };
  return {
    kind: "range",
    range: { start: node.bodyStart + prefixLength, end: node.bodyEnd + prefixLength },
    encoding,
    literal8: encoding !== "7bit" && encoding !== "8bit",
  };
}

/** Incremental decoding of a Content-Transfer-Encoding; output never depends on the chunking. */
export interface ByteDecoder {
  push(chunk: Uint8Array): Buffer;
  end(): Buffer;
}

/** A decoder for a (lower-case) transfer encoding, or null when unknown. */
export function createByteDecoder(encoding: string): ByteDecoder | null {
  if (encoding === "base64") return new Base64Decoder();
  if (encoding === "quoted-printable") return new QuotedPrintableDecoder();
  if (IDENTITY.has(encoding)) return new IdentityDecoder();
  return null;
}

/** The decoder as a stream Transform (back-pressure as any Transform), or null when unknown. */
export function createDecoder(encoding: string): Transform | null {
  const dec = createByteDecoder(encoding);
  return dec === null ? null : new DecodeStream(dec);
}

/** Decoded size of a part (BINARY.SIZE), counted over a stream of its encoded bytes. */
export async function decodedSize(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  encoding: string,
): Promise<number | null> {
  const dec = createByteDecoder(encoding);
  if (dec === null) return null;
  let n = 0;
  for await (const chunk of source) n += dec.push(chunk).length;
  return n + dec.end().length;
}

/** Decodes an in-memory value in one call (tests, small parts). */
export function decodeAll(data: Uint8Array, encoding: string): Buffer | null {
  const dec = createByteDecoder(encoding);
  if (dec === null) return null;
  const a = dec.push(data);
  const b = dec.end();
  return b.length === 0 ? a : Buffer.concat([a, b]);
}

class DecodeStream extends Transform {
  constructor(private readonly dec: ByteDecoder) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const out = this.dec.push(chunk);
    cb(null, out.length > 0 ? out : undefined);
  }

  override _flush(cb: TransformCallback): void {
    const out = this.dec.end();
    cb(null, out.length > 0 ? out : undefined);
  }
}

class IdentityDecoder implements ByteDecoder {
  push(chunk: Uint8Array): Buffer {
    return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  }

  end(): Buffer {
    return Buffer.alloc(0);
  }
}

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

/**
 * Base64 (RFC 2045 §6.8): characters outside the alphabet are skipped; "=" ends a quantum (its
 * leftover bits are dropped), so concatenated encoded blocks decode as Buffer.from does for each.
 */
export class Base64Decoder implements ByteDecoder {
  private acc = 0;
  private bits = 0;

  push(chunk: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(Math.ceil((chunk.length * 3) / 4) + 1);
    let n = 0;
    let acc = this.acc;
    let bits = this.bits;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const v = B64[c]!;
      if (v >= 0) {
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[n++] = (acc >> bits) & 0xff;
        }
      } else if (c === 61) {
        acc = 0;
        bits = 0;
      }
    }
    this.acc = acc;
    this.bits = bits;
    return out.subarray(0, n);
  }

  end(): Buffer {
    this.acc = 0;
    this.bits = 0;
    return Buffer.alloc(0);
  }
}

/** Most trailing whitespace held back while waiting for the end of a line (then sent as data). */
const MAX_HELD_WSP = 64 * 1024;

/** Quoted-printable decoder states. */
const Qp = {
  Text: 0,
  /** after "=" */
  Eq: 1,
  /** after "=" and one hex digit (in `hex`) */
  EqHex: 2,
  /** after "=" and whitespace (in `eqWsp`): a soft break if the line ends now */
  EqWsp: 3,
  /** after a CR in text */
  Cr: 4,
  /** after "=" [whitespace] CR */
  EqCr: 5,
} as const;
type Qp = (typeof Qp)[keyof typeof Qp];

/**
 * Quoted-printable (RFC 2045 §6.7): "=XX" (either hex case) is a byte; "=" + optional
 * whitespace + line break is a soft break; whitespace at the end of a line is dropped (rule 3);
 * a hard line break becomes CRLF (the canonical form RFC 9051 wants for BINARY text). Malformed
 * "=" sequences pass through literally; a lone CR is data.
 */
export class QuotedPrintableDecoder implements ByteDecoder {
  private state: Qp = Qp.Text;
  private hex = 0;
  private wsp: number[] = [];
  private eqWsp: number[] = [];

  push(chunk: Uint8Array): Buffer {
    const out = new Out(chunk.length + this.wsp.length + this.eqWsp.length + 4);
    for (let i = 0; i < chunk.length; i++) this.byte(chunk[i]!, out);
    return out.done();
  }

  end(): Buffer {
    const out = new Out(this.wsp.length + this.eqWsp.length + 4);
    switch (this.state) {
      case Qp.Eq:
        out.put(61);
        break;
      case Qp.EqHex:
        out.put(61, this.hex);
        break;
      case Qp.EqWsp: // "=" and whitespace at the very end: a soft break without its line break
        break;
      case Qp.Cr:
        out.put(13);
        break;
      case Qp.EqCr:
        break;
    }
    // whitespace at the end of the data is trailing whitespace of the last line: dropped
    this.wsp = [];
    this.eqWsp = [];
    this.state = Qp.Text;
    return out.done();
  }

  private byte(c: number, out: Out): void {
    switch (this.state) {
      case Qp.Text:
        if (c === 32 || c === 9) {
          this.wsp.push(c);
          if (this.wsp.length > MAX_HELD_WSP) this.flushWsp(out);
        } else if (c === 61) {
          this.flushWsp(out);
          this.state = Qp.Eq;
        } else if (c === 13) this.state = Qp.Cr;
        else if (c === 10) this.hardBreak(out);
        else {
          this.flushWsp(out);
          out.put(c);
        }
        return;
      case Qp.Cr:
        this.state = Qp.Text;
        if (c === 10) this.hardBreak(out);
        else {
          this.flushWsp(out);
          out.put(13);
          this.byte(c, out);
        }
        return;
      case Qp.Eq:
        if (hexVal(c) >= 0) {
          this.hex = c;
          this.state = Qp.EqHex;
        } else if (c === 10)
          this.state = Qp.Text; // soft break
        else if (c === 13) this.state = Qp.EqCr;
        else if (c === 32 || c === 9) {
          this.eqWsp.push(c);
          this.state = Qp.EqWsp;
        } else {
          out.put(61);
          this.state = Qp.Text;
          this.byte(c, out);
        }
        return;
      case Qp.EqHex: {
        this.state = Qp.Text;
        const v = hexVal(c);
        if (v >= 0) out.put((hexVal(this.hex) << 4) | v);
        else {
          out.put(61, this.hex);
          this.byte(c, out);
        }
        return;
      }
      case Qp.EqWsp:
        if (c === 32 || c === 9) {
          this.eqWsp.push(c);
          if (this.eqWsp.length > MAX_HELD_WSP) this.abandonEqWsp(out);
        } else if (c === 10) {
          this.eqWsp = [];
          this.state = Qp.Text;
        } else if (c === 13) {
          this.eqWsp = [];
          this.state = Qp.EqCr;
        } else {
          this.abandonEqWsp(out);
          this.byte(c, out);
        }
        return;
      case Qp.EqCr:
        this.state = Qp.Text;
        if (c !== 10) {
          // "=" CR without LF: not a soft break; keep the bytes
          out.put(61, 13);
          this.byte(c, out);
        }
        return;
    }
  }

  /** "=" followed by whitespace that did not end the line: the "=" is data, the space is text. */
  private abandonEqWsp(out: Out): void {
    out.put(61);
    const held = this.eqWsp;
    this.eqWsp = [];
    this.state = Qp.Text;
    for (const w of held) this.byte(w, out);
  }

  private hardBreak(out: Out): void {
    this.wsp = [];
    out.put(13, 10);
  }

  private flushWsp(out: Out): void {
    if (this.wsp.length === 0) return;
    for (const w of this.wsp) out.put(w);
    this.wsp = [];
  }
}

/** A growable output buffer for one push. */
class Out {
  private buf: Buffer;
  private n = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(16, size));
  }

  put(a: number, b = -1): void {
    if (this.n + 2 > this.buf.length) {
      const grown = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(grown, 0, 0, this.n);
      this.buf = grown;
    }
    this.buf[this.n++] = a;
    if (b >= 0) this.buf[this.n++] = b;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.n);
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
