// IMAP response encoding (RFC 9051 §4, §7, §9). PURE: every function returns text for the wire
// (a JS string the session encodes as UTF-8), except FetchResponseWriter, which streams a FETCH
// response with literals of any size through an async sink with back-pressure.
//
// Strings: a quoted string when possible, a literal `{n}\r\n…` when the value has CR, LF, 8-bit
// characters (unless the session allows UTF-8: IMAP4rev2 / UTF8=ACCEPT, RFC 9051 QUOTED-CHAR
// includes UTF8-2..4) or is long. NUL may appear in no string or literal (CHAR8 is %x01-ff): in
// strings it becomes U+FFFD, in streamed literals 0x80 (as Dovecot); BINARY data that may hold
// NUL goes as literal8.

import { encodeMutf7 } from "./mutf7.js";

export interface StringOptions {
  /** the session accepts UTF-8 in quoted strings (IMAP4rev2 enabled, or UTF8=ACCEPT) */
  utf8?: boolean;
}

/** Longer values go as literals: a quoted string must be scanned by the client to find its end. */
const QUOTED_MAX = 4096;

const CRLF = "\r\n";

/** `"…"` with `\` and `"` escaped; the caller guarantees the value is quotable. */
export function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, "\\$&")}"`;
}

/** `{n}\r\n…`: n counts UTF-8 octets. */
export function literal(s: string): string {
  return `{${Buffer.byteLength(s, "utf8")}}${CRLF}${s}`;
}

/** Whether `s` can be sent as a quoted string (RFC 9051 §9 quoted / QUOTED-CHAR). */
export function isQuotable(s: string, utf8 = false): boolean {
  if (s.length > QUOTED_MAX) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13 || (c >= 0x80 && !utf8)) return false;
  }
  return true;
}

/** string = quoted / literal. One pass decides; most values need neither escapes nor a literal. */
export function string(s: string, opts: StringOptions = {}): string {
  if (s.length <= QUOTED_MAX) {
    const utf8 = opts.utf8 === true;
    let escapes = false;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20) {
        if (c === 0 || c === 10 || c === 13) break;
      } else if (c >= 0x80) {
        if (!utf8) break;
      } else if (c === 0x22 || c === 0x5c) escapes = true;
    }
    if (i === s.length) return escapes ? quoted(s) : `"${s}"`;
  }
  if (s.indexOf("\0") >= 0) s = s.replace(/\0/g, "\ufffd");
  return literal(s);
}

/** nstring = string / NIL. */
export function nstring(s: string | null | undefined, opts: StringOptions = {}): string {
  return s === null || s === undefined ? "NIL" : string(s, opts);
}

// ATOM-CHAR = any CHAR except atom-specials: ( ) { SP CTL % * " \ ]. ASTRING-CHAR adds "]".
const ATOM = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) ATOM[c] = 1;
for (const ch of '(){%*"\\') ATOM[ch.charCodeAt(0)] = 0;
// 2: allowed in an astring atom only
ATOM[0x5d] = 2;

function atomLike(s: string, allowBracket: boolean): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const k = c < 128 ? ATOM[c]! : 0;
    if (k === 0 || (k === 2 && !allowBracket)) return false;
  }
  return true;
}

/** atom = 1*ATOM-CHAR */
export function isAtom(s: string): boolean {
  return atomLike(s, false);
}

/**
 * astring = 1*ASTRING-CHAR / string. "NIL" in any case is quoted: as an atom it would read as
 * nil in an nstring position, and some clients read it so everywhere.
 */
export function astring(s: string, opts: StringOptions = {}): string {
  return atomLike(s, true) && !(s.length === 3 && s.toUpperCase() === "NIL") ? s : string(s, opts);
}

/** An atom as is; throws for a value that is not one (a bug in the caller, not client input). */
export function atom(s: string): string {
  if (!isAtom(s)) throw new RangeError(`not an IMAP atom: ${JSON.stringify(s)}`);
  return s;
}

/** "(" a SP b … ")" from already encoded items. */
export function list(items: readonly string[]): string {
  return `(${items.join(" ")})`;
}

/** flag-list: system flags keep their backslash; keywords are atoms (the store validates them). */
export function flagList(flags: readonly string[]): string {
  return `(${flags.join(" ")})`;
}

/**
 * A mailbox name (RFC 9051 §5.1, mailbox = "INBOX" / astring). rev1 clients get modified UTF-7
 * (RFC 3501 §5.1.3); UTF-8 sessions get the name as is. INBOX in any case is sent as INBOX.
 */
export function mailboxName(name: string, opts: StringOptions = {}): string {
  if (name.length === 5 && name.toUpperCase() === "INBOX") return "INBOX";
  const utf8 = opts.utf8 === true;
  return astring(utf8 ? name : encodeMutf7(name), { utf8 });
}

/** A sequence or UID set from numbers, in their order: ascending runs become `a:b` (RFC 9051 §9). */
export function sequenceSet(nums: readonly number[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < nums.length) {
    const start = nums[i]!;
    let end = start;
    while (i + 1 < nums.length && nums[i + 1] === end + 1) end = nums[++i]!;
    out.push(end === start ? String(start) : `${start}:${end}`);
    i++;
  }
  return out.join(",");
}

// ---------------------------------------------------------------------------------------------
// Response codes (RFC 9051 §7.1, resp-text-code), rendered without the brackets

type Num = number | bigint;

export type SimpleCode =
  | "ALERT"
  | "PARSE"
  | "READ-ONLY"
  | "READ-WRITE"
  | "TRYCREATE"
  | "UIDNOTSTICKY"
  | "UNAVAILABLE"
  | "AUTHENTICATIONFAILED"
  | "AUTHORIZATIONFAILED"
  | "EXPIRED"
  | "PRIVACYREQUIRED"
  | "CONTACTADMIN"
  | "NOPERM"
  | "INUSE"
  | "EXPUNGEISSUED"
  | "CORRUPTION"
  | "SERVERBUG"
  | "CLIENTBUG"
  | "CANNOT"
  | "LIMIT"
  | "OVERQUOTA"
  | "ALREADYEXISTS"
  | "NONEXISTENT"
  | "NOTSAVED"
  | "HASCHILDREN"
  | "CLOSED"
  | "UNKNOWN-CTE"
  | "TOOBIG" // RFC 4469 / RFC 7889 (APPENDLIMIT)
  | "NOMODSEQ" // RFC 7162 §3.1.2.2
  | "COMPRESSIONACTIVE"; // RFC 4978

export const Code = {
  simple: (name: SimpleCode): string => name,
  uidNext: (n: Num): string => `UIDNEXT ${n}`,
  uidValidity: (n: Num): string => `UIDVALIDITY ${n}`,
  /** RFC 3501 only (removed in rev2, still sent to rev1 clients) */
  unseen: (n: Num): string => `UNSEEN ${n}`,
  /** RFC 7162 §3.1.2.1 */
  highestModseq: (n: Num): string => `HIGHESTMODSEQ ${n}`,
  /** RFC 7162 §3.1.3: the UIDs (or sequence numbers) that failed a conditional STORE */
  modified: (set: string): string => `MODIFIED ${set}`,
  capability: (caps: readonly string[]): string => `CAPABILITY ${caps.join(" ")}`,
  permanentFlags: (flags: readonly string[]): string => `PERMANENTFLAGS (${flags.join(" ")})`,
  badCharset: (charsets: readonly string[] = []): string =>
    charsets.length === 0 ? "BADCHARSET" : `BADCHARSET (${charsets.map((c) => astring(c)).join(" ")})`,
  /** RFC 4315 / RFC 9051 resp-code-apnd; `uids` is a set string (see sequenceSet) */
  appendUid: (uidValidity: Num, uids: string): string => `APPENDUID ${uidValidity} ${uids}`,
  /** RFC 4315 / RFC 9051 resp-code-copy; source and destination sets correspond in order */
  copyUid: (uidValidity: Num, source: string, dest: string): string =>
    `COPYUID ${uidValidity} ${source} ${dest}`,
  /** RFC 8474 */
  mailboxId: (id: string): string => `MAILBOXID (${id})`,
  /** RFC 7889: the largest APPEND this server accepts */
  appendLimit: (n: Num): string => `APPENDLIMIT ${n}`,
  /** any other code: an atom with optional text (no "]", CR or LF) */
  other: (name: string, text?: string): string =>
    text === undefined || text === "" ? atom(name) : `${atom(name)} ${text.replace(/[\]\r\n]/g, " ")}`,
} as const;

/** resp-text: optional [code] and text; CR/LF/NUL become spaces, empty text becomes "done". */
function respText(text: string, code?: string): string {
  let t = text.replace(/[\r\n\0]/g, " ");
  // RFC 3501 requires text after the code; RFC 9051 makes it optional. Always send some.
  if (t.length === 0) t = "done";
  return code === undefined ? t : `[${code}] ${t}`;
}

export function taggedOk(tag: string, text: string, code?: string): string {
  return `${tag} OK ${respText(text, code)}${CRLF}`;
}

export function taggedNo(tag: string, text: string, code?: string): string {
  return `${tag} NO ${respText(text, code)}${CRLF}`;
}

export function taggedBad(tag: string, text: string, code?: string): string {
  return `${tag} BAD ${respText(text, code)}${CRLF}`;
}

/** `* <data>\r\n`, e.g. untagged("5 EXISTS"), untagged(`CAPABILITY IMAP4rev2`). */
export function untagged(data: string): string {
  return `* ${data}${CRLF}`;
}

export function untaggedOk(text: string, code?: string): string {
  return `* OK ${respText(text, code)}${CRLF}`;
}

export function untaggedNo(text: string, code?: string): string {
  return `* NO ${respText(text, code)}${CRLF}`;
}

export function untaggedBad(text: string, code?: string): string {
  return `* BAD ${respText(text, code)}${CRLF}`;
}

export function bye(text: string, code?: string): string {
  return `* BYE ${respText(text, code)}${CRLF}`;
}

/** Command continuation request (RFC 9051 §7.6); `data` may be base64 for AUTHENTICATE. */
export function continuation(data = ""): string {
  return `+ ${data.replace(/[\r\n]/g, " ")}${CRLF}`;
}

/** `* LIST (attrs) "/" name` (RFC 9051 §7.3.1); delimiter null is sent as NIL. */
export function listLine(
  attrs: readonly string[],
  delimiter: string | null,
  name: string,
  opts: StringOptions & { verb?: "LIST" | "LSUB" } = {},
): string {
  const delim = delimiter === null ? "NIL" : quoted(delimiter);
  return untagged(`${opts.verb ?? "LIST"} (${attrs.join(" ")}) ${delim} ${mailboxName(name, opts)}`);
}

// ---------------------------------------------------------------------------------------------
// Dates

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/**
 * date-time (RFC 9051 §9), quotes included: `"17-Jul-1996 02:44:25 -0700"`. The day is padded
 * with a space (date-day-fixed). `offsetMinutes` is the zone east of UTC; default: local time.
 */
export function dateTime(d: Date, offsetMinutes: number = -d.getTimezoneOffset()): string {
  const off = Math.trunc(offsetMinutes);
  const t = new Date(d.getTime() + off * 60_000);
  const day = t.getUTCDate();
  const abs = Math.abs(off);
  const zone = `${off < 0 ? "-" : "+"}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
  return (
    `"${day < 10 ? ` ${day}` : day}-${MONTHS[t.getUTCMonth()]}-${String(t.getUTCFullYear()).padStart(4, "0")} ` +
    `${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())} ${zone}"`
  );
}

// ---------------------------------------------------------------------------------------------
// FETCH responses

/** Where response bytes go; a returned promise means "wait before writing more" (back-pressure). */
export interface ByteSink {
  write(chunk: Buffer): void | Promise<void>;
}

/** The streamed section did not deliver exactly the announced size: the connection must close. */
export class FetchFramingError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`literal announced ${expected} octets but the source gave ${actual}`);
    this.name = "FetchFramingError";
  }
}

export interface LiteralOptions {
  /** send `~{n}` (RFC 3516 / RFC 9051 literal8): for BINARY data that may contain NUL */
  literal8?: boolean;
}

/**
 * Builds `* n FETCH (ITEM value ITEM value …)\r\n`. Small items are collected and written
 * together; a section body is announced as a literal and piped from its source chunk by chunk,
 * awaiting the sink, so memory stays at one chunk whatever the section size.
 *
 *   const w = new FetchResponseWriter(sink, 7);
 *   w.item("UID", "42").item("FLAGS", flagList(flags));
 *   await w.literalStream("BODY[1]", size, blobRange);
 *   await w.end();
 */
export class FetchResponseWriter {
  private pending: Buffer[] = [];
  private items = 0;
  private done = false;

  constructor(
    private readonly sink: ByteSink,
    seq: number,
  ) {
    this.pending.push(Buffer.from(`* ${seq} FETCH (`, "latin1"));
  }

  /** A data item with its already encoded value, e.g. item("RFC822.SIZE", "4286"). */
  item(name: string, value: string): this {
    this.text(`${this.items++ > 0 ? " " : ""}${name} ${value}`);
    return this;
  }

  /**
   * A data item whose value is in memory as bytes (e.g. a HEADER.FIELDS subset): a literal. The
   * bytes are kept by reference until the next write: do not reuse the buffer before then.
   */
  bytes(name: string, value: Uint8Array, opts: LiteralOptions = {}): this {
    this.text(`${this.items++ > 0 ? " " : ""}${name} ${literalHead(value.length, opts)}`);
    if (value.length > 0) this.pending.push(literalBytes(value, opts));
    return this;
  }

  /**
   * A data item whose value is `size` octets read from `source` (e.g. a ranged blob read). The
   * pending text and the literal head are written first; then each chunk is written and awaited.
   * Extra bytes from the source are cut off (and the source released); too few throw
   * FetchFramingError after what was available has been written.
   */
  async literalStream(
    name: string,
    size: number,
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: LiteralOptions = {},
  ): Promise<void> {
    this.text(`${this.items++ > 0 ? " " : ""}${name} ${literalHead(size, opts)}`);
    await this.flush();
    let sent = 0;
    if (size > 0) {
      for await (const chunk of source) {
        if (chunk.length === 0) continue;
        const room = size - sent;
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk;
        sent += piece.length;
        const r = this.sink.write(literalBytes(piece, opts));
        if (r !== undefined) await r;
        if (sent >= size) break; // leaves the loop: the iterator's return() releases the source
      }
    }
    if (sent !== size) throw new FetchFramingError(size, sent);
  }

  /** Writes what is left and the closing `)\r\n`. */
  async end(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending.push(Buffer.from(`)${CRLF}`, "latin1"));
    await this.flush();
  }

  private text(s: string): void {
    if (this.done) throw new Error("FETCH response already ended");
    this.pending.push(Buffer.from(s, "utf8"));
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    const r = this.sink.write(buf);
    if (r !== undefined) await r;
  }
}

/**
 * Bytes for a literal: a `{n}` literal may not hold NUL (RFC 9051 CHAR8), so NUL becomes 0x80 in
 * a copy (as Dovecot does); the size stays. literal8 data goes as is.
 */
function literalBytes(chunk: Uint8Array, opts: LiteralOptions): Buffer {
  const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  if (opts.literal8 === true || buf.indexOf(0) < 0) return buf;
  const copy = Buffer.from(buf);
  for (let i = copy.indexOf(0); i >= 0; i = copy.indexOf(0, i + 1)) copy[i] = 0x80;
  return copy;
}

/** `{n}\r\n`, `~{n}\r\n`, or `""` for an empty non-binary value. */
function literalHead(size: number, opts: LiteralOptions): string {
  if (opts.literal8 === true) return `~{${size}}${CRLF}`;
  return size === 0 ? '""' : `{${size}}${CRLF}`;
}

/** MODSEQ fetch item value (RFC 7162 §3.1.4.1): `(n)`. */
export function modseqValue(modseq: Num): string {
  return `(${modseq})`;
}

/**
 * The name a FETCH response uses for a partial section: `BODY[1]<0>` (RFC 9051 §7.5.2); the
 * origin is the requested start, even when it lies beyond the end (the value is then empty).
 */
export function withOrigin(name: string, origin: number | null | undefined): string {
  return origin === null || origin === undefined ? name : `${name}<${origin}>`;
}
