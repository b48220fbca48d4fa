// ESMTP parameters of MAIL and RCPT (RFC 5321 §4.1.2 esmtp-param), validated against the
// extensions the session advertised, plus xtext (RFC 3461 §4).

import { type Mailbox, parseMailbox } from "./address.js";
import type { Extension, ExtensionSet } from "./extensions.js";
import { REPLIES, type Reply, withText } from "./reply.js";

export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME";

export interface MailParams {
  /** Declared message size (RFC 1870). */
  readonly size?: number;
  /** BODY= (RFC 6152, RFC 3030); absent means 7BIT. */
  readonly body?: BodyType;
  /** SMTPUTF8 requested (RFC 6531 §3.4). */
  readonly smtputf8: boolean;
  /** RET= (RFC 3461 §4.3). */
  readonly ret?: "FULL" | "HDRS";
  /** ENVID=, xtext-decoded (RFC 3461 §4.4). */
  readonly envid?: string;
  /** AUTH= (RFC 4954 §5): the decoded mailbox, or null for AUTH=<>. Absent: not given. */
  readonly auth?: Mailbox | null;
}

export interface Notify {
  readonly never: boolean;
  readonly success: boolean;
  readonly failure: boolean;
  readonly delay: boolean;
}

export interface RcptParams {
  /** NOTIFY= (RFC 3461 §4.1). */
  readonly notify?: Notify;
  /** ORCPT= (RFC 3461 §4.2): addr-type as given and the decoded address. */
  readonly orcpt?: { readonly type: string; readonly address: string };
}

export type ParamsResult<T> =
  | { readonly ok: true; readonly params: T }
  | { readonly ok: false; readonly reply: Reply };

export interface RawParam {
  readonly keyword: string; // upper-cased
  readonly value: string | undefined;
}

// RFC 3461 §5.4 sizes
export const MAX_ENVID = 100;
export const MAX_ORCPT = 500;

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii under SMTPUTF8 (RFC 6531 §3.3)
const VALUE_ASCII = /^[\x21-\x3c\x3e-\x7e]+$/;
const VALUE_UTF8 = /^(?:[\x21-\x3c\x3e-\x7e]|[^\x00-\x7f])+$/u;

function bad(text: string): ParamsResult<never> {
  return { ok: false, reply: withText(REPLIES.paramSyntax, text) };
}
function unknown(keyword: string): ParamsResult<never> {
  return { ok: false, reply: withText(REPLIES.unknownParam, `Unsupported parameter ${keyword}`) };
}

/**
 * Split "KEY[=VALUE] KEY[=VALUE]…" (one or more spaces between). Null on a syntax error.
 * Non-ASCII values are accepted here; the caller decides (SMTPUTF8).
 */
export function splitParams(s: string): RawParam[] | null {
  const out: RawParam[] = [];
  if (s === "") return out;
  for (const token of s.split(" ")) {
    if (token === "") continue;
    const eq = token.indexOf("=");
    const keyword = eq === -1 ? token : token.slice(0, eq);
    if (!KEYWORD.test(keyword)) return null;
    if (eq === -1) {
      out.push({ keyword: keyword.toUpperCase(), value: undefined });
      continue;
    }
    const value = token.slice(eq + 1);
    if (!VALUE_UTF8.test(value)) return null;
    out.push({ keyword: keyword.toUpperCase(), value });
  }
  return out;
}

/**
 * MAIL FROM parameters (RFC 5321 §4.1.1.2). A parameter of an extension not in `ext` is unknown:
 * 555 5.5.4 (RFC 5321 §4.1.1.11). Malformed, duplicate or invalid values: 501 5.5.4 (RFC 3461 §5.1).
 * A recognised value this server does not offer (BODY=BINARYMIME without BINARYMIME): 504 5.5.4.
 */
export function parseMailParams(s: string, ext: ExtensionSet): ParamsResult<MailParams> {
  const raw = splitParams(s);
  if (raw === null) return bad("Syntax error in MAIL parameters");
  const seen = new Set<string>();
  // built in place: this runs for every MAIL command (no object spreads)
  const p: Mutable<MailParams> = { smtputf8: false };
  let authRaw: string | undefined;
  for (const { keyword, value } of raw) {
    const needs = MAIL_PARAM_EXTENSION.get(keyword);
    if (needs === undefined || !(ext.has(needs[0]!) || (needs.length > 1 && ext.has(needs[1]!)))) {
      return unknown(keyword);
    }
    if (seen.has(keyword)) return bad(`Duplicate ${keyword} parameter`);
    seen.add(keyword);
    if (keyword !== "SMTPUTF8" && value === undefined) return bad(`${keyword} requires a value`);
    const v = value ?? "";
    if (keyword !== "AUTH" && keyword !== "SMTPUTF8" && !VALUE_ASCII.test(v)) {
      return bad(`Invalid ${keyword} value`);
    }
    switch (keyword) {
      case "SIZE": // RFC 1870 §3: size-value ::= 1*20DIGIT
        if (!/^[0-9]{1,20}$/.test(v)) return bad("Invalid SIZE value");
        p.size = Number(v);
        break;
      case "BODY": {
        const b = v.toUpperCase();
        if (b !== "7BIT" && b !== "8BITMIME" && b !== "BINARYMIME") return bad("Invalid BODY value");
        if ((b === "8BITMIME" && !ext.has("8BITMIME")) || (b === "BINARYMIME" && !ext.has("BINARYMIME"))) {
          return { ok: false, reply: withText(REPLIES.paramNotImplemented, `BODY=${b} not supported`) };
        }
        p.body = b;
        break;
      }
      case "SMTPUTF8": // RFC 6531 §3.4: no value
        if (value !== undefined) return bad("SMTPUTF8 takes no value");
        p.smtputf8 = true;
        break;
      case "RET": {
        const r = v.toUpperCase();
        if (r !== "FULL" && r !== "HDRS") return bad("Invalid RET value");
        p.ret = r;
        break;
      }
      case "ENVID": {
        // RFC 3461 §4.4: xtext of printable ASCII, up to 100 characters
        const d = v.length <= MAX_ENVID ? xtextDecode(v) : null;
        if (d === null || !/^[\x20-\x7e]*$/.test(d)) return bad("Invalid ENVID value");
        p.envid = d;
        break;
      }
      case "AUTH":
        authRaw = v;
        break;
    }
  }
  if (authRaw !== undefined) {
    // RFC 4954 §5: the decoded xtext MUST be a <mailbox> or "<>"; UTF-8 only with SMTPUTF8
    const utf8 = p.smtputf8;
    const d = (utf8 ? VALUE_UTF8 : VALUE_ASCII).test(authRaw) ? xtextDecode(authRaw, utf8) : null;
    if (d === "<>") p.auth = null;
    else {
      const mb = d === null ? null : parseMailbox(d, utf8);
      if (mb === null) return bad("Invalid AUTH value");
      p.auth = mb;
    }
  }
  return { ok: true, params: p };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Which advertised extension (any of) enables each MAIL parameter. */
const MAIL_PARAM_EXTENSION: ReadonlyMap<string, readonly Extension[]> = new Map<string, readonly Extension[]>(
  [
    ["SIZE", ["SIZE"]],
    ["BODY", ["8BITMIME", "BINARYMIME"]],
    ["SMTPUTF8", ["SMTPUTF8"]],
    ["RET", ["DSN"]],
    ["ENVID", ["DSN"]],
    ["AUTH", ["AUTH"]],
  ],
);

/**
 * RCPT TO parameters (RFC 5321 §4.1.1.3): NOTIFY and ORCPT when DSN is advertised.
 * `utf8`: the transaction uses SMTPUTF8 (allows ORCPT=utf-8;… with raw UTF-8, RFC 6533).
 */
export function parseRcptParams(s: string, ext: ExtensionSet, utf8 = false): ParamsResult<RcptParams> {
  const raw = splitParams(s);
  if (raw === null) return bad("Syntax error in RCPT parameters");
  const seen = new Set<string>();
  const p: Mutable<RcptParams> = {};
  for (const { keyword, value } of raw) {
    if ((keyword !== "NOTIFY" && keyword !== "ORCPT") || !ext.has("DSN")) return unknown(keyword);
    if (seen.has(keyword)) return bad(`Duplicate ${keyword} parameter`);
    seen.add(keyword);
    if (value === undefined) return bad(`${keyword} requires a value`);
    if (keyword === "NOTIFY") {
      const n = parseNotify(value);
      if (n === null) return bad("Invalid NOTIFY value");
      p.notify = n;
    } else {
      const o = value.length <= MAX_ORCPT ? parseOrcpt(value, utf8) : null;
      if (o === null) return bad("Invalid ORCPT value");
      p.orcpt = o;
    }
  }
  return { ok: true, params: p };
}

/** NOTIFY = "NEVER" / 1#("SUCCESS" / "FAILURE" / "DELAY"), any case; NEVER only alone (RFC 3461 §4.1). */
export function parseNotify(v: string): Notify | null {
  const n = { never: false, success: false, failure: false, delay: false };
  const items = v.toUpperCase().split(",");
  for (const item of items) {
    if (item === "NEVER" && items.length === 1) n.never = true;
    else if (item === "SUCCESS") n.success = true;
    else if (item === "FAILURE") n.failure = true;
    else if (item === "DELAY") n.delay = true;
    else return null;
  }
  return n;
}

/**
 * ORCPT = addr-type ";" xtext (RFC 3461 §4.2); the decoded address must be printable ASCII. For
 * addr-type "utf-8" (RFC 6533 §3) the value may use \x{HEX} escapes and, under SMTPUTF8, raw UTF-8.
 */
export function parseOrcpt(v: string, utf8: boolean): { type: string; address: string } | null {
  const semi = v.indexOf(";");
  if (semi <= 0) return null;
  const type = v.slice(0, semi);
  if (!/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/.test(type)) return null; // atom
  const enc = v.slice(semi + 1);
  if (type.toLowerCase() === "utf-8") {
    const x = xtextDecode(enc, utf8);
    if (x === null) return null;
    const address = unescapeUnicode(x);
    return address === null || address === "" ? null : { type, address };
  }
  const address = xtextDecode(enc);
  if (address === null || address === "" || !/^[\x20-\x7e]+$/.test(address)) return null;
  return { type, address };
}

/** Replace RFC 6533 EmbeddedUnicodeChar "\x{HEX}" escapes; null on a malformed one. */
function unescapeUnicode(s: string): string | null {
  if (!s.includes("\\")) return s;
  let ok = true;
  const out = s.replace(/\\(?:x\{([0-9A-Fa-f]{1,6})\})?/g, (_m, hex: string | undefined) => {
    const cp = hex === undefined ? -1 : Number.parseInt(hex, 16);
    if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      ok = false;
      return "";
    }
    return String.fromCodePoint(cp);
  });
  return ok ? out : null;
}

// ---- xtext (RFC 3461 §4) ----

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode xtext: xchar (33–126 except "+" and "=") stands for itself, "+HH" for the octet 0xHH.
 * RFC 3461 asks for upper-case hex; lower case is accepted when decoding (be liberal). The octets
 * are decoded as UTF-8. With `unicode`, raw non-ASCII characters are accepted too (the "unitext"
 * of RFC 6533, only under SMTPUTF8). Null if malformed.
 */
export function xtextDecode(s: string, unicode = false): string | null {
  if (!s.includes("+")) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 33 || c === 0x3d || (c > 126 && !(unicode && c > 127))) return null;
    }
    return s;
  }
  const bytes = xtextDecodeBytes(s, unicode);
  if (bytes === null) return null;
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** Decode xtext to octets (see xtextDecode); null if malformed. */
export function xtextDecodeBytes(s: string, unicode = false): Buffer | null {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c >= 33 && c <= 126 && c !== 0x3d) {
      out.push(c);
    } else if (unicode && c > 127) {
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp))) out.push(b);
    } else {
      return null;
    }
  }
  return Buffer.from(out);
}

/** Encode a string's UTF-8 octets as xtext ("+HH" upper case for everything but xchar). */
export function xtextEncode(s: string | Uint8Array): string {
  const bytes = typeof s === "string" ? Buffer.from(s) : s;
  let out = "";
  for (const b of bytes) {
    out +=
      b >= 33 && b <= 126 && b !== 0x2b && b !== 0x3d
        ? String.fromCharCode(b)
        : `+${b < 16 ? "0" : ""}${b.toString(16).toUpperCase()}`;
  }
  return out;
}
