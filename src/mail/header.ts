// Pure helpers for MIME/RFC 5322 header sections: splitting a header block into fields,
// Content-Type / Content-Disposition with parameters (RFC 2045 §5.1, RFC 2183, RFC 2231) and
// RFC 2047 encoded-word decoding. Nothing here throws on malformed input.

import { isUtf8 } from "node:buffer";
import { TextDecoder } from "node:util";
import type { ContentDisposition, ContentType } from "./mime-types.js";

export interface HeaderField {
  /** field name as written (trailing whitespace before the colon removed, RFC 5322 §4.5.3) */
  name: string;
  /** lower-case name, for lookups */
  key: string;
  /** unfolded value (RFC 5322 §2.2.3), leading and trailing whitespace removed */
  value: string;
  /** the field exactly as written, folding kept, without the final line break */
  raw: string;
}

export interface SplitHeader {
  fields: HeaderField[];
  defects: string[];
}

/**
 * Header bytes to text: UTF-8 when the bytes are valid UTF-8 (RFC 6532 allows it), else
 * Latin-1, which keeps every byte as one code point so nothing is lost.
 */
export function decodeHeaderBytes(buf: Uint8Array): string {
  return isUtf8(buf) ? Buffer.from(buf).toString("utf8") : Buffer.from(buf).toString("latin1");
}

/** RFC 5322 §2.2.3: unfolding removes each CRLF (or bare LF) that is followed by WSP. */
export function unfold(s: string): string {
  return s.indexOf("\n") < 0 ? s : s.replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n/g, "");
}

/**
 * Splits a header block (up to and including its blank line, or without one) into fields.
 * Lines without a colon and continuation lines with nothing to continue are skipped with a
 * defect: they carry no usable field, but the header goes on (as Dovecot does).
 */
export function splitHeaderFields(block: Uint8Array): SplitHeader {
  const buf = Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.length);
  const fields: HeaderField[] = [];
  const defects: string[] = [];
  let fieldStart = -1; // start of the field being collected
  let fieldEnd = -1; // end of its last line, without the line break
  const flush = () => {
    if (fieldStart >= 0) {
      const f = makeField(buf.subarray(fieldStart, fieldEnd));
      if (f) fields.push(f);
      else defects.push("header field with an empty name");
    }
    fieldStart = -1;
  };
  let pos = 0;
  while (pos < buf.length) {
    const lf = buf.indexOf(10, pos);
    const next = lf < 0 ? buf.length : lf + 1;
    let end = lf < 0 ? buf.length : lf;
    if (end > pos && buf[end - 1] === 13) end--;
    if (end === pos && lf >= 0) break; // the blank line that ends the header
    const c = buf[pos];
    if (c === 32 || c === 9) {
      if (fieldStart >= 0) fieldEnd = end;
      else if (!isBlank(buf, pos, end)) defects.push("continuation line without a header field");
    } else {
      flush();
      const colon = buf.indexOf(58, pos);
      if (colon < 0 || colon >= end) defects.push("header line without a colon");
      else {
        fieldStart = pos;
        fieldEnd = end;
      }
    }
    pos = next;
  }
  flush();
  return { fields, defects };
}

function isBlank(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (buf[i] !== 32 && buf[i] !== 9 && buf[i] !== 13) return false;
  return true;
}

function makeField(bytes: Buffer): HeaderField | null {
  const raw = decodeHeaderBytes(bytes);
  const colon = raw.indexOf(":");
  const name = raw.slice(0, colon).replace(/[ \t]+$/, "");
  if (name.length === 0) return null;
  const value = trimWsp(unfold(raw.slice(colon + 1)));
  return { name, key: name.toLowerCase(), value, raw };
}

/** Removes leading and trailing SP/HTAB only (String.trim would also eat NBSP and others). */
export function trimWsp(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** First field with this (lower-case) name, or undefined. */
export function firstField(fields: readonly HeaderField[], key: string): HeaderField | undefined {
  for (const f of fields) if (f.key === key) return f;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Structured values: token, quoted-string and comments (RFC 5322 §3.2, RFC 2045 §5.1)

/** A cursor over a structured header value. */
class Scanner {
  pos = 0;
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  /** Skips whitespace and (nested) comments: CFWS. */
  skipCfws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 13 || c === 10) this.pos++;
      else if (c === 40) this.skipComment();
      else break;
    }
  }

  /** At "(": skips a comment with nesting and quoted-pairs; an unclosed one ends the value. */
  skipComment(): void {
    const s = this.s;
    let depth = 0;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos++);
      if (c === 92) this.pos++;
      else if (c === 40) depth++;
      else if (c === 41 && --depth === 0) return;
    }
  }

  /** At '"': the unescaped content; an unterminated string runs to the end. */
  quoted(): string {
    const s = this.s;
    this.pos++;
    let out = "";
    let from = this.pos;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 34) {
        out += s.slice(from, this.pos);
        this.pos++;
        return out;
      }
      if (c === 92 && this.pos + 1 < s.length) {
        out += s.slice(from, this.pos);
        from = this.pos + 1;
        this.pos += 2;
      } else this.pos++;
    }
    return out + s.slice(from);
  }

  /** A run of characters up to one of `stop` (char codes), whitespace, "(" or '"'. */
  token(stop: string): string {
    const s = this.s;
    const from = this.pos;
    while (this.pos < s.length) {
      const ch = s[this.pos]!;
      if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n" || ch === "(" || ch === '"') break;
      if (stop.includes(ch)) break;
      this.pos++;
    }
    return s.slice(from, this.pos);
  }

  peek(): string {
    return this.s[this.pos] ?? "";
  }

  /** Garbage tolerance: skips to the next ";" outside quotes and comments. */
  skipToSemicolon(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 59) return;
      if (c === 34) this.quoted();
      else if (c === 40) this.skipComment();
      else this.pos++;
    }
  }
}

// Characters that end a type, subtype or parameter name (RFC 2045 tspecials).
const TYPE_STOP = '()<>@,;:\\"/[]?=';

/** `type "/" subtype *(";" parameter)`; null when there is no usable type/subtype. */
export function parseContentType(value: string): ContentType | null {
  const sc = new Scanner(value);
  sc.skipCfws();
  const type = sc.token(TYPE_STOP).toLowerCase();
  sc.skipCfws();
  if (type.length === 0 || sc.peek() !== "/") return null;
  sc.pos++;
  sc.skipCfws();
  const subtype = sc.token(TYPE_STOP).toLowerCase();
  if (subtype.length === 0) return null;
  return { type, subtype, params: parseParams(sc) };
}

/** `disposition-type *(";" parameter)` (RFC 2183); null when the type is missing. */
export function parseContentDisposition(value: string): ContentDisposition | null {
  const sc = new Scanner(value);
  sc.skipCfws();
  const type = sc.token(TYPE_STOP).toLowerCase();
  if (type.length === 0) return null;
  return { type, params: parseParams(sc) };
}

/** Parses `;`-separated parameters starting anywhere in a value; exported for other fields. */
export function parseParameters(value: string): Record<string, string> {
  const sc = new Scanner(value);
  sc.skipToSemicolon();
  return parseParams(sc);
}

interface RawParam {
  name: string;
  value: string;
}

function parseParams(sc: Scanner): Record<string, string> {
  const raw: RawParam[] = [];
  for (;;) {
    sc.skipToSemicolon();
    if (sc.done) break;
    sc.pos++; // ";"
    sc.skipCfws();
    const name = sc.token(TYPE_STOP).toLowerCase();
    sc.skipCfws();
    if (name.length === 0 || sc.peek() !== "=") continue;
    sc.pos++;
    sc.skipCfws();
    // Unquoted values are read leniently (up to ";" or whitespace): real mail carries "=" and
    // "/" unquoted, e.g. boundary=----=_Part_1 or name=a/b.
    const v = sc.peek() === '"' ? sc.quoted() : sc.token(";");
    raw.push({ name, value: v });
  }
  return assembleParams(raw);
}

/**
 * RFC 2231 §3-§4: `name*=charset'lang'%XX`, `name*0=`, `name*1*=` … are joined in index order
 * (stopping at the first missing index) and decoded to UTF-8. An RFC 2231 form wins over a
 * plain `name=` for the same name; otherwise the first occurrence wins.
 */
function assembleParams(raw: RawParam[]): Record<string, string> {
  // a Map, so that a parameter named "__proto__" is just a name
  const out = new Map<string, string>();
  const ext = new Map<string, Map<number, { value: string; encoded: boolean }>>();
  for (const { name, value } of raw) {
    if (name.indexOf("*") < 0) {
      if (!out.has(name)) out.set(name, value);
      continue;
    }
    const m = /^(.*?)(?:\*(\d{1,4}))?(\*)?$/.exec(name)!;
    const base = m[1]!;
    if (m[2] === undefined && m[3] === undefined) {
      if (!out.has(base)) out.set(base, value);
      continue;
    }
    if (base.length === 0) continue;
    let segs = ext.get(base);
    if (!segs) {
      segs = new Map();
      ext.set(base, segs);
    }
    const idx = m[2] === undefined ? 0 : Number(m[2]);
    if (!segs.has(idx)) segs.set(idx, { value, encoded: m[3] !== undefined });
  }
  for (const [base, segs] of ext) {
    let charset = "";
    const parts: Buffer[] = [];
    for (let i = 0; segs.has(i); i++) {
      const seg = segs.get(i)!;
      let v = seg.value;
      if (i === 0 && seg.encoded) {
        // charset'language'value; a first segment without the two quotes has neither
        const q1 = v.indexOf("'");
        const q2 = q1 < 0 ? -1 : v.indexOf("'", q1 + 1);
        if (q2 >= 0) {
          charset = v.slice(0, q1);
          v = v.slice(q2 + 1);
        }
      }
      parts.push(seg.encoded ? percentDecode(v) : Buffer.from(v, "utf8"));
    }
    if (parts.length === 0) continue;
    const bytes = Buffer.concat(parts);
    out.set(base, decodeCharset(bytes, charset) ?? fallbackDecode(bytes));
  }
  return Object.fromEntries(out); // own data properties, also for "__proto__"
}

function percentDecode(s: string): Buffer {
  const src = Buffer.from(s, "utf8");
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 37 && i + 2 < src.length && isHex(src[i + 1]!) && isHex(src[i + 2]!)) {
      out[n++] = (hexVal(src[i + 1]!) << 4) | hexVal(src[i + 2]!);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

// ---------------------------------------------------------------------------------------------
// Charsets

const decoders = new Map<string, TextDecoder>();

/**
 * A TextDecoder for a MIME charset name (WHATWG labels, full ICU), or null when unknown.
 * An RFC 2231 §5 language suffix ("utf-8*en") is ignored. Only known labels are cached, so
 * hostile input cannot grow the cache.
 */
export function charsetDecoder(charset: string): TextDecoder | null {
  let label = charset.trim().toLowerCase();
  const star = label.indexOf("*");
  if (star >= 0) label = label.slice(0, star);
  if (label.length === 0 || label.length > 40) return null;
  let d = decoders.get(label);
  if (d) return d;
  try {
    d = new TextDecoder(label);
  } catch {
    return null; // RangeError: not a label the encoding standard knows (utf-7, x-unknown)
  }
  decoders.set(label, d);
  return d;
}

/** Bytes in `charset` to a string; null when the charset is unknown. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  if (charset.length === 0) return null;
  const d = charsetDecoder(charset);
  // Stream mode on purpose: Node 20's one-shot windows-1252 (also "latin1", "us-ascii")
  // decode takes a Latin-1 fast path and maps 0x80-0x9f wrongly; the final decode() flushes
  // and resets the shared decoder.
  return d ? d.decode(bytes, { stream: true }) + d.decode() : null;
}

/** Without a (known) charset: UTF-8 when valid, else Latin-1. */
export function fallbackDecode(bytes: Uint8Array): string {
  return decodeHeaderBytes(bytes);
}

// ---------------------------------------------------------------------------------------------
// RFC 2047 encoded-words

// Lenient about spaces inside the text (broken Q words are common); "?" ends the text.
const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?]*)\?=/g;

/**
 * Decodes RFC 2047 encoded-words. Consecutive words in the same charset, separated only by
 * linear whitespace, are joined as bytes before charset decoding, so a multi-byte character
 * split across words survives. Whitespace between two decoded words is dropped (§6.2). Words in
 * an unknown charset are left exactly as written, with the whitespace around them.
 */
export function decodeWords(s: string): string {
  if (s.indexOf("=?") < 0) return s;
  // runs of adjacent words in one charset: [start, end) in s, and their bytes
  const runs: { start: number; end: number; charset: string; bytes: Buffer[] }[] = [];
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(s); m !== null; m = ENCODED_WORD.exec(s)) {
    const charset = m[1]!.toLowerCase().replace(/\*.*$/, "");
    const bytes = m[2] === "B" || m[2] === "b" ? decodeB(m[3]!) : decodeQ(m[3]!);
    const end = m.index + m[0].length;
    const prev = runs[runs.length - 1];
    if (prev && prev.charset === charset && isLwsp(s, prev.end, m.index)) {
      prev.bytes.push(bytes);
      prev.end = end;
    } else runs.push({ start: m.index, end, charset, bytes: [bytes] });
  }
  let out = "";
  let last = 0;
  let prevDecoded = false;
  for (const run of runs) {
    const text = decodeCharset(Buffer.concat(run.bytes), run.charset);
    if (!(prevDecoded && text !== null && isLwsp(s, last, run.start))) out += s.slice(last, run.start);
    out += text ?? s.slice(run.start, run.end);
    prevDecoded = text !== null;
    last = run.end;
  }
  return out + s.slice(last);
}

function isLwsp(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return false;
  }
  return true;
}

function decodeB(text: string): Buffer {
  return Buffer.from(text.replace(/[^A-Za-z0-9+/]/g, ""), "base64");
}

/** RFC 2047 §4.2: "_" is a space, "=XX" a byte; anything else stands for itself. */
function decodeQ(text: string): Buffer {
  const src = Buffer.from(text, "utf8");
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 95) out[n++] = 32;
    else if (c === 61 && i + 2 < src.length && isHex(src[i + 1]!) && isHex(src[i + 2]!)) {
      out[n++] = (hexVal(src[i + 1]!) << 4) | hexVal(src[i + 2]!);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}
