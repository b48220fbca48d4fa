// Character classes and the argument reader of RFC 9051 §9 (atoms, quoted strings, literals,
// numbers, sequence sets, lists) over a framed command. The reader scans Buffers by index; values
// are Buffer views until a caller decodes them. Errors are thrown as ParseError and turned into a
// tagged BAD by parseCommand.

import { isUtf8 } from "node:buffer";
import { scanSequenceSet } from "./sequence-set.js";
import type { Frame, Literal, SequenceSet } from "./types.js";

// ---------------------------------------------------------------- character classes

const ATOM = 1;
const ASTRING = 2;
const TAG = 4;
const LIST = 8;
const DIGIT = 16;
/** tagged-label-char / fetch-att name characters: ALPHA DIGIT "-" "_" "." ":" */
const LABEL = 32;
/** RFC 5322 ftext: printable US-ASCII except ":" (header field names) */
const FTEXT = 64;

/** One flag byte per octet value. */
export const CHAR = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) {
  // atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]"
  if (!'(){%*"\\]'.includes(String.fromCharCode(c)))
    CHAR[c]! |= ATOM | ASTRING | LIST | (c === 0x2b ? 0 : TAG);
}
CHAR[0x5d]! |= ASTRING | TAG | LIST; // "]" (resp-specials) is an ASTRING-CHAR
CHAR[0x25]! |= LIST; // "%"
CHAR[0x2a]! |= LIST; // "*"
// Leniency: 8-bit octets in astring atoms and LIST patterns (clients send unquoted UTF-8 names);
// they are validated when decoded (UTF-8 or modified UTF-7). Atoms proper stay 7-bit.
for (let c = 0x80; c <= 0xff; c++) CHAR[c]! |= ASTRING | LIST;
for (let c = 0x30; c <= 0x39; c++) CHAR[c]! |= DIGIT | LABEL;
for (let c = 0x41; c <= 0x5a; c++) {
  CHAR[c]! |= LABEL;
  CHAR[c + 0x20]! |= LABEL;
}
for (const c of "-_.:") CHAR[c.charCodeAt(0)]! |= LABEL;
for (let c = 0x21; c <= 0x7e; c++) if (c !== 0x3a) CHAR[c]! |= FTEXT;

export const isAtomChar = (c: number): boolean => (CHAR[c]! & ATOM) !== 0;
export const isTagChar = (c: number): boolean => (CHAR[c]! & TAG) !== 0;

/** Is the whole string 1*ASTRING-CHAR, 7-bit (sendable as an atom in an astring position)? */
export function isAstringAtom(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || (CHAR[c]! & ASTRING) === 0) return false;
  }
  return true;
}

function isFtext(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((CHAR[b[i]!]! & FTEXT) === 0) return false;
  return true;
}

/** Is the whole string an atom (7-bit ATOM-CHARs, at least one)? */
export function isAtom(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || !isAtomChar(c)) return false;
  }
  return true;
}

/**
 * buf[start, end) as a Latin-1 string. Short runs (tags, atoms, keywords) are built directly:
 * measurably faster than Buffer#toString, which allocates a view per call.
 */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  if (end - start > 32)
    return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1");
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** Like latin1(), with a–z upper-cased (case-insensitive grammar words, RFC 9051 §9 note 1). */
export function upperAscii(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    s += String.fromCharCode(c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
  }
  return s;
}

// ---------------------------------------------------------------- grammar words

/**
 * The words of the grammar, recognised without building a string: keyword() and label() return
 * these very (interned) strings, so the hot path of a command allocates no string per keyword.
 */
const WORDS = [
  // commands (RFC 9051 §6, RFC 3501, extensions)
  "CAPABILITY NOOP LOGOUT STARTTLS AUTHENTICATE LOGIN ENABLE SELECT EXAMINE CREATE DELETE RENAME",
  "SUBSCRIBE UNSUBSCRIBE LIST LSUB NAMESPACE STATUS APPEND IDLE CHECK CLOSE UNSELECT EXPUNGE SEARCH",
  "FETCH STORE COPY MOVE UID SORT THREAD ID GETQUOTA GETQUOTAROOT SETQUOTA",
  // fetch items, sections, modifiers
  "ALL FAST FULL ENVELOPE FLAGS INTERNALDATE RFC822.SIZE MODSEQ BODYSTRUCTURE BODY BODY.PEEK BINARY",
  "BINARY.PEEK BINARY.SIZE RFC822 RFC822.HEADER RFC822.TEXT HEADER HEADER.FIELDS HEADER.FIELDS.NOT",
  "TEXT MIME CHANGEDSINCE VANISHED UNCHANGEDSINCE FLAGS.SILENT",
  // search
  "ANSWERED BCC BEFORE CC DELETED DRAFT FLAGGED FROM KEYWORD LARGER NEW NOT OLD ON OR RECENT SEEN",
  "SENTBEFORE SENTON SENTSINCE SINCE SMALLER SUBJECT TO UNANSWERED UNDELETED UNDRAFT UNFLAGGED",
  "UNKEYWORD UNSEEN OLDER YOUNGER CHARSET RETURN MIN MAX COUNT SAVE PRIV SHARED",
  // sort, thread, status, select, list, create, append, misc
  "REVERSE ARRIVAL DATE SIZE DISPLAYFROM DISPLAYTO ORDEREDSUBJECT REFERENCES REFS MESSAGES UIDNEXT",
  "UIDVALIDITY HIGHESTMODSEQ APPENDLIMIT CONDSTORE QRESYNC SUBSCRIBED REMOTE RECURSIVEMATCH",
  "SPECIAL-USE CHILDREN USE UTF8 NIL IMAP4REV2 UTF8=ACCEPT UTF8=ONLY PLAIN XOAUTH2 OAUTHBEARER",
  "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 EXTERNAL STORAGE MESSAGE MAILBOX ANSWERED JUNK ALL ARCHIVE",
  "DRAFTS SENT TRASH",
]
  .join(" ")
  .split(" ");

const WORD_TABLE = new Map<number, string[]>();

function hashUpper(b: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    h = Math.imul(h ^ (c >= 0x61 && c <= 0x7a ? c - 0x20 : c), 0x01000193);
  }
  return h >>> 0;
}

for (const w of new Set(WORDS)) {
  const b = Buffer.from(w, "latin1");
  const h = hashUpper(b, 0, b.length);
  const bucket = WORD_TABLE.get(h);
  if (bucket) bucket.push(w);
  else WORD_TABLE.set(h, [w]);
}

/** The grammar word b[start, end) spells (case-insensitively), or undefined. */
function knownWord(b: Uint8Array, start: number, end: number): string | undefined {
  const bucket = WORD_TABLE.get(hashUpper(b, start, end));
  if (!bucket) return undefined;
  outer: for (const w of bucket) {
    if (w.length !== end - start) continue;
    for (let i = 0; i < w.length; i++) {
      const c = b[start + i]!;
      if ((c >= 0x61 && c <= 0x7a ? c - 0x20 : c) !== w.charCodeAt(i)) continue outer;
    }
    return w;
  }
  return undefined;
}

/** tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9); null if the line does not start with one. */
export function readTag(line: Uint8Array): { tag: string; end: number } | null {
  let p = 0;
  while (p < line.length && line[p]! < 0x80 && isTagChar(line[p]!)) p++;
  if (p === 0) return null;
  return { tag: latin1(line, 0, p), end: p };
}

// ---------------------------------------------------------------- errors and helpers

export class ParseError extends Error {
  constructor(
    message: string,
    readonly status: "BAD" | "NO" = "BAD",
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Decode UTF-8, or throw with `what` named. */
export function utf8(bytes: Buffer, what: string): string {
  if (!isUtf8(bytes)) throw new ParseError(`${what} is not valid UTF-8`);
  return bytes.toString("utf8");
}

const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LPAREN = 0x28;
const RPAREN = 0x29;

/** Largest value a number64 keeps exactly; larger ones (up to 2^63−1) are clamped to it. */
export const MAX_NUMBER64 = Number.MAX_SAFE_INTEGER;
const MAX_INT63 = 9223372036854775807n;

/** peek() at the end of the command */
export const EOL = -1;
/** peek() where a literal is next */
export const LIT = -2;

export interface Mark {
  readonly line: number;
  readonly pos: number;
}

/** A cursor over a Frame's lines and literals. */
export class Reader {
  private line = 0;
  private buf: Buffer;
  pos = 0;

  constructor(private readonly frame: Frame) {
    this.buf = frame.lines[0]!;
  }

  peek(): number {
    if (this.pos < this.buf.length) return this.buf[this.pos]!;
    return this.line < this.frame.literals.length ? LIT : EOL;
  }

  atEnd(): boolean {
    return this.peek() === EOL;
  }

  mark(): Mark {
    return { line: this.line, pos: this.pos };
  }

  reset(m: Mark): void {
    this.line = m.line;
    this.buf = this.frame.lines[m.line]!;
    this.pos = m.pos;
  }

  /** Consume `c` if it is next. */
  eat(c: number): boolean {
    if (this.pos < this.buf.length && this.buf[this.pos] === c) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Exactly one SP (RFC 9051 §9: never other white space, never two). */
  sp(what?: string): void {
    if (!this.eat(SP)) throw new ParseError(what ? `expected a space ${what}` : "expected a space");
  }

  expect(c: number, what: string): void {
    if (!this.eat(c)) throw new ParseError(`expected ${what}`);
  }

  /** The end of the run of octets of class `cls` starting at the cursor (the cursor does not move). */
  private scan(cls: number): number {
    const { buf } = this;
    let p = this.pos;
    while (p < buf.length && (CHAR[buf[p]!]! & cls) !== 0) p++;
    return p;
  }

  /** The next run of octets of class `cls` (maybe empty), as a view. */
  private run(cls: number): Buffer {
    const start = this.pos;
    this.pos = this.scan(cls);
    return this.buf.subarray(start, this.pos);
  }

  /** 1*ATOM-CHAR as a string (7-bit). */
  atom(what = "an atom"): string {
    const start = this.pos;
    const end = this.scan(ATOM);
    if (end === start) throw new ParseError(`expected ${what}`);
    this.pos = end;
    return latin1(this.buf, start, end);
  }

  /** An atom, upper-cased: command names, keywords of the grammar. */
  keyword(what: string): string {
    const start = this.pos;
    const end = this.scan(ATOM);
    if (end === start) throw new ParseError(`expected ${what}`);
    this.pos = end;
    return knownWord(this.buf, start, end) ?? upperAscii(this.buf, start, end);
  }

  /** Consume `word` (upper-case) if the next atom is exactly it (case-insensitively); no allocation. */
  eatKeyword(word: string): boolean {
    const { buf, pos } = this;
    const end = this.scan(ATOM);
    if (end - pos !== word.length) return false;
    for (let i = 0; i < word.length; i++) {
      const c = buf[pos + i]!;
      if ((c >= 0x61 && c <= 0x7a ? c - 0x20 : c) !== word.charCodeAt(i)) return false;
    }
    this.pos = end;
    return true;
  }

  /** A run of label characters (letters, digits, "-_.:"), upper-cased; "" if none. */
  label(): string {
    const start = this.pos;
    const end = this.scan(LABEL);
    this.pos = end;
    return knownWord(this.buf, start, end) ?? upperAscii(this.buf, start, end);
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astring(what = "a string"): Buffer {
    const c = this.peek();
    if (c === DQUOTE || c === LIT) return this.string(what);
    const b = this.run(ASTRING);
    if (b.length === 0) throw new ParseError(`expected ${what}`);
    return b;
  }

  /**
   * A header field name (header-fld-name = astring) that is a valid RFC 5322 field-name
   * (1*ftext); returned as sent.
   */
  fieldName(what: string): string {
    const c = this.peek();
    if (c === DQUOTE || c === LIT) {
      const bytes = this.string(what);
      if (bytes.length === 0 || !isFtext(bytes, 0, bytes.length)) throw new ParseError(`invalid ${what}`);
      return latin1(bytes, 0, bytes.length);
    }
    const start = this.pos;
    const end = this.scan(ASTRING);
    if (end === start) throw new ParseError(`expected ${what}`);
    if (!isFtext(this.buf, start, end)) throw new ParseError(`invalid ${what}`);
    this.pos = end;
    return latin1(this.buf, start, end);
  }

  /** list-mailbox = 1*list-char / string (RFC 9051 §9, LIST patterns). */
  listMailbox(what = "a mailbox pattern"): Buffer {
    const c = this.peek();
    if (c === DQUOTE || c === LIT) return this.string(what);
    const b = this.run(LIST);
    if (b.length === 0) throw new ParseError(`expected ${what}`);
    return b;
  }

  /** string = quoted / literal (literal8 and streamed literals are refused here). */
  string(what = "a string"): Buffer {
    const c = this.peek();
    if (c === DQUOTE) return this.quoted();
    if (c === LIT) {
      const lit = this.literal();
      if (lit.kind !== "inline") throw new ParseError(`literal not allowed for ${what}`);
      if (lit.binary) throw new ParseError(`literal8 not allowed for ${what}`);
      if (lit.data.indexOf(0) !== -1) throw new ParseError(`NUL in literal for ${what}`);
      return lit.data;
    }
    throw new ParseError(`expected ${what}`);
  }

  /** nstring = string / "NIL"; null for NIL. */
  nstring(what = "a string or NIL"): Buffer | null {
    if (this.peek() !== DQUOTE && this.peek() !== LIT) {
      if (this.eatKeyword("NIL")) return null;
      throw new ParseError(`expected ${what}`);
    }
    return this.string(what);
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE, escapes \" and \\ only (RFC 9051 §4.3). */
  quoted(): Buffer {
    const { buf } = this;
    if (buf[this.pos] !== DQUOTE) throw new ParseError("expected a quoted string");
    const start = this.pos + 1;
    let p = start;
    let escaped = false;
    for (;;) {
      if (p >= buf.length) throw new ParseError("unterminated quoted string");
      const c = buf[p]!;
      if (c === DQUOTE) break;
      if (c === 0) throw new ParseError("NUL in quoted string");
      if (c === BACKSLASH) {
        const e = buf[p + 1];
        if (e !== DQUOTE && e !== BACKSLASH)
          throw new ParseError('invalid escape in quoted string (only \\" and \\\\)');
        escaped = true;
        p += 2;
        continue;
      }
      p++;
    }
    this.pos = p + 1;
    if (!escaped) return buf.subarray(start, p);
    const out = Buffer.allocUnsafe(p - start);
    let o = 0;
    for (let i = start; i < p; i++) {
      const c = buf[i]!;
      if (c === BACKSLASH) i++;
      out[o++] = buf[i]!;
    }
    return out.subarray(0, o);
  }

  /** The literal at the cursor (any kind); the caller checks that it may be there. */
  literal(): Literal {
    if (this.peek() !== LIT) throw new ParseError("expected a literal");
    const lit = this.frame.literals[this.line]!;
    this.line++;
    this.buf = this.frame.lines[this.line]!;
    this.pos = 0;
    return lit;
  }

  /** number = 1*DIGIT, 32-bit (RFC 9051 §9). */
  number(what = "a number"): number {
    const { buf } = this;
    const start = this.pos;
    let v = 0;
    let p = start;
    while (p < buf.length && buf[p]! >= 0x30 && buf[p]! <= 0x39) {
      v = v * 10 + buf[p]! - 0x30;
      if (v > 4294967295) throw new ParseError(`${what} out of range`);
      p++;
    }
    if (p === start) throw new ParseError(`expected ${what}`);
    this.pos = p;
    return v;
  }

  /** nz-number: 1–4294967295. */
  nzNumber(what = "a non-zero number"): number {
    const v = this.number(what);
    if (v === 0) throw new ParseError(`${what} must not be 0`);
    return v;
  }

  /**
   * number64 (0 ≤ n < 2^63). Values above 2^53−1 are clamped to MAX_NUMBER64: every size,
   * offset and mod-sequence the server compares them with is smaller, so results do not change.
   */
  number64(what = "a number"): number {
    const start = this.pos;
    const end = this.scan(DIGIT);
    if (end === start) throw new ParseError(`expected ${what}`);
    this.pos = end;
    const d = latin1(this.buf, start, end);
    if (d.length <= 15) return Number(d);
    const s = d.replace(/^0+(?=\d)/, "");
    if (s.length > 19 || BigInt(s) > MAX_INT63) throw new ParseError(`${what} out of range`);
    return Math.min(Number(s), MAX_NUMBER64);
  }

  nzNumber64(what = "a non-zero number"): number {
    const v = this.number64(what);
    if (v === 0) throw new ParseError(`${what} must not be 0`);
    return v;
  }

  /** sequence-set (with "$"). */
  sequenceSet(what = "a sequence set"): SequenceSet {
    const r = scanSequenceSet(this.buf, this.pos, this.buf.length);
    if ("error" in r) throw new ParseError(`${what}: ${r.error}`);
    this.pos = r.next;
    return r.set;
  }

  /** True if a sequence-set can start here (digit, "*" or "$"). */
  atSequenceSet(): boolean {
    const c = this.peek();
    return (c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24;
  }

  /**
   * "(" [item *(SP item)] ")"; `nonEmpty` refuses "()". The items are what `item` returns.
   */
  list<T>(item: () => T, what: string, nonEmpty = false): T[] {
    if (!this.eat(LPAREN)) throw new ParseError(`expected "(" to start ${what}`);
    const out: T[] = [];
    if (this.eat(RPAREN)) {
      if (nonEmpty) throw new ParseError(`empty ${what}`);
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.eat(RPAREN)) return out;
      if (!this.eat(SP)) throw new ParseError(`expected a space or ")" in ${what}`);
    }
  }

  /** Require the end of the command. */
  end(): void {
    const c = this.peek();
    if (c === EOL) return;
    if (c === LIT) throw new ParseError("unexpected literal after the arguments");
    throw new ParseError(
      c === SP ? "unexpected space after the arguments" : "unexpected characters after the arguments",
    );
  }

  /** A short printable excerpt of what follows (for messages). */
  excerpt(max = 20): string {
    const b = this.buf.subarray(this.pos, this.pos + max);
    return b.toString("latin1").replace(/[^\x21-\x7e ]/g, "?");
  }
}
