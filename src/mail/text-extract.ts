// Decoded text of text/* leaf parts for the full-text index, produced while the MIME parser
// streams: Content-Transfer-Encoding undone incrementally, charset converted to UTF-8 with a
// streaming TextDecoder, HTML tags stripped roughly. Output is capped by a per-message budget,
// so a huge text part costs no more than the budget.

import { TextDecoder } from "node:util";
import { charsetDecoder, decodeWords } from "./header.js";
import type { Envelope, MimeNode } from "./mime-types.js";

export type TextSink = (chunk: string, node: MimeNode) => void;

/** Characters still allowed for the whole message (shared by its parts). */
export interface TextBudget {
  remaining: number;
}

/** Decoded Subject of an envelope (RFC 2047), for the index. */
export function decodeSubject(env: Envelope | null): string | null {
  return env?.subject == null ? null : decodeWords(env.subject);
}

/** Whether the parser should extract text from this leaf. */
export function isTextPart(node: MimeNode): boolean {
  return node.contentType.type === "text";
}

const FLUSH_AT = 16 * 1024;

export class TextExtractor {
  private readonly cte: ByteDecoder | null;
  private readonly charset: TextDecoder;
  private readonly html: HtmlStripper | null;
  private out: string[] = [];
  private outLen = 0;
  private full = false;

  constructor(
    private readonly node: MimeNode,
    private readonly sink: TextSink,
    private readonly budget: TextBudget,
  ) {
    this.cte =
      node.encoding === "base64"
        ? new Base64Decoder()
        : node.encoding === "quoted-printable"
          ? new QpDecoder()
          : null;
    this.charset = newDecoder(node.contentType.params["charset"] ?? "");
    this.html = node.contentType.subtype === "html" ? new HtmlStripper() : null;
  }

  /** True once the budget is used up: later input is ignored. */
  get done(): boolean {
    return this.full;
  }

  /** Raw body bytes [s, e) of the part, in order. */
  write(buf: Uint8Array, s: number, e: number): void {
    if (this.full || e <= s) return;
    const bytes = this.cte ? this.cte.push(buf, s, e) : buf.subarray(s, e);
    if (bytes.length > 0) this.text(this.charset.decode(bytes, { stream: true }));
  }

  end(): void {
    if (!this.full) {
      if (this.cte) {
        const rest = this.cte.end();
        if (rest.length > 0) this.text(this.charset.decode(rest, { stream: true }));
      }
      this.text(this.charset.decode());
      if (this.html) this.emit(this.html.end());
    }
    this.flush();
  }

  private text(s: string): void {
    this.emit(this.html ? this.html.push(s) : s);
  }

  private emit(s: string): void {
    if (s.length === 0 || this.full) return;
    if (s.length >= this.budget.remaining) {
      s = s.slice(0, this.budget.remaining);
      this.full = true;
    }
    this.budget.remaining -= s.length;
    this.out.push(s);
    this.outLen += s.length;
    if (this.outLen >= FLUSH_AT) this.flush();
  }

  private flush(): void {
    if (this.outLen === 0) return;
    const chunk = this.out.length === 1 ? this.out[0]! : this.out.join("");
    this.out = [];
    this.outLen = 0;
    this.sink(chunk, this.node);
  }
}

/**
 * A streaming decoder for the part's charset. us-ascii (the default) and unknown charsets are
 * read as UTF-8: ASCII is a subset, and undeclared 8-bit text today is almost always UTF-8.
 */
function newDecoder(charset: string): TextDecoder {
  const known = charsetDecoder(charset);
  const label = known === null || known.encoding === "windows-1252" ? pickLabel(charset) : known.encoding;
  return new TextDecoder(label);
}

function pickLabel(charset: string): string {
  const c = charset.trim().toLowerCase();
  // WHATWG maps ascii and latin1 labels to windows-1252; keep that for the real Latin-1 names
  return c.startsWith("iso-8859-1") || c === "latin1" || c.startsWith("windows-1252") || c === "cp1252"
    ? "windows-1252"
    : "utf-8";
}

// ---------------------------------------------------------------------------------------------
// Content-Transfer-Encoding (RFC 2045 §6.7, §6.8), incremental

interface ByteDecoder {
  push(buf: Uint8Array, s: number, e: number): Uint8Array;
  end(): Uint8Array;
}

const B64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

/** Bit accumulator: skips characters outside the alphabet; "=" ends a quantum. */
class Base64Decoder implements ByteDecoder {
  private acc = 0;
  private bits = 0;

  push(buf: Uint8Array, s: number, e: number): Uint8Array {
    const out = Buffer.allocUnsafe(Math.ceil(((e - s) * 3) / 4) + 1);
    let n = 0;
    let acc = this.acc;
    let bits = this.bits;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      const v = B64[c]!;
      if (v >= 0) {
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[n++] = (acc >> bits) & 0xff;
        }
      } else if (c === 61) {
        // padding: drop the partial quantum so a following encoded block starts clean
        acc = 0;
        bits = 0;
      }
    }
    this.acc = acc;
    this.bits = bits;
    return out.subarray(0, n);
  }

  end(): Uint8Array {
    return new Uint8Array(0);
  }
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** "=XX" bytes and "=" CRLF soft breaks; malformed escapes pass through literally. */
class QpDecoder implements ByteDecoder {
  // 0: plain, 1: after "=", 2: after "=X", 3: after "=\r"
  private state = 0;
  private held = 0;

  push(buf: Uint8Array, s: number, e: number): Uint8Array {
    const out = Buffer.allocUnsafe(e - s + 3);
    let n = 0;
    let state = this.state;
    let held = this.held;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      if (state === 0) {
        if (c === 61) state = 1;
        else out[n++] = c;
      } else if (state === 1) {
        if (c === 10) state = 0;
        else if (c === 13) state = 3;
        else if (hexVal(c) >= 0) {
          held = c;
          state = 2;
        } else {
          out[n++] = 61;
          state = 0;
          i--; // read c again as plain text
        }
      } else if (state === 2) {
        const v = hexVal(c);
        if (v >= 0) out[n++] = (hexVal(held) << 4) | v;
        else {
          out[n++] = 61;
          out[n++] = held;
          i--;
        }
        state = 0;
      } else {
        state = 0;
        if (c !== 10) {
          out[n++] = 61;
          out[n++] = 13;
          i--;
        }
      }
    }
    this.state = state;
    this.held = held;
    return out.subarray(0, n);
  }

  end(): Uint8Array {
    const s = this.state;
    this.state = 0;
    if (s === 1) return Uint8Array.of(61);
    if (s === 2) return Uint8Array.of(61, this.held);
    if (s === 3) return Uint8Array.of(61, 13);
    return new Uint8Array(0);
  }
}

// ---------------------------------------------------------------------------------------------
// HTML → text, roughly: tags dropped (block tags become a line break), script/style/comments
// skipped, a few entities decoded. Streaming: only a partial tag or entity is carried.

const BLOCK_TAGS = new Set([
  "br",
  "p",
  "/p",
  "div",
  "/div",
  "tr",
  "/tr",
  "li",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "/h1",
  "/h2",
  "/h3",
  "/h4",
  "/h5",
  "/h6",
  "/table",
  "hr",
  "blockquote",
  "/blockquote",
]);

const ENTITIES = new Map([
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["quot", '"'],
  ["apos", "'"],
  ["nbsp", " "],
]);

export class HtmlStripper {
  // text | tag (collecting name) | attrs (rest of a tag) | comment
  private state: "text" | "tag" | "attrs" | "comment" = "text";
  private name = "";
  private skipping = ""; // "script" or "style" while inside one
  private dashes = 0; // consecutive "-" seen in a comment
  private entity: string | null = null;

  push(s: string): string {
    let out = "";
    let i = 0;
    while (i < s.length) {
      if (this.state === "text") {
        if (this.entity !== null) {
          const r = this.readEntity(s, i);
          i = r.next;
          if (r.text !== null && this.skipping === "") out += r.text;
          continue;
        }
        let j = i;
        while (j < s.length) {
          const c = s.charCodeAt(j);
          if (c === 60 || c === 38) break;
          j++;
        }
        if (this.skipping === "") out += s.slice(i, j);
        if (j >= s.length) break;
        if (s.charCodeAt(j) === 60) {
          this.state = "tag";
          this.name = "";
        } else this.entity = "";
        i = j + 1;
      } else if (this.state === "tag") {
        const c = s[i]!;
        if (c === ">" || ((c === " " || c === "\t" || c === "\r" || c === "\n") && this.name.length > 0)) {
          out += this.endTagName();
          this.state = c === ">" ? "text" : "attrs";
        } else if (this.name === "!-" && c === "-") {
          this.state = "comment";
          this.dashes = 0;
        } else if (this.name.length < 16) this.name += c.toLowerCase();
        i++;
      } else if (this.state === "attrs") {
        const gt = s.indexOf(">", i);
        if (gt < 0) break;
        this.state = "text";
        i = gt + 1;
      } else {
        const c = s[i++];
        if (c === ">" && this.dashes >= 2) this.state = "text";
        this.dashes = c === "-" ? this.dashes + 1 : 0;
      }
    }
    return out;
  }

  end(): string {
    const rest = this.entity !== null && this.skipping === "" ? `&${this.entity}` : "";
    this.entity = null;
    return rest;
  }

  /** Called once the tag name is known: tracks script/style, returns its text substitute. */
  private endTagName(): string {
    const name = this.name;
    if (name === "script" || name === "style") this.skipping = name;
    else if (name === `/${this.skipping}`) this.skipping = "";
    if (this.skipping !== "") return "";
    return BLOCK_TAGS.has(name) || BLOCK_TAGS.has(name.replace(/\/$/, "")) ? "\n" : "";
  }

  private readEntity(s: string, i: number): { next: number; text: string | null } {
    let e = this.entity!;
    while (i < s.length) {
      const c = s[i]!;
      if (c === ";") {
        this.entity = null;
        return { next: i + 1, text: decodeEntity(e) ?? `&${e};` };
      }
      if (!/[A-Za-z0-9#]/.test(c) || e.length >= 10) {
        this.entity = null;
        return { next: i, text: decodeEntity(e) ?? `&${e}` };
      }
      e += c;
      i++;
    }
    this.entity = e;
    return { next: i, text: null };
  }
}

function decodeEntity(e: string): string | null {
  if (e.startsWith("#")) {
    const n =
      e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    return Number.isInteger(n) && n > 0 && n <= 0x10ffff && (n < 0xd800 || n > 0xdfff)
      ? String.fromCodePoint(n)
      : null;
  }
  return ENTITIES.get(e.toLowerCase()) ?? null;
}
