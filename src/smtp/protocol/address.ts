// SMTP paths and mailboxes (RFC 5321 §4.1.2, §4.1.3), internationalised per RFC 6531 §3.3.

import { domainToASCII } from "node:url";

export interface Mailbox {
  /** Local part with quoting removed (quoted-pairs resolved). */
  readonly local: string;
  /** Domain as written, or an address literal with brackets; "" only for RCPT TO:<postmaster>. */
  readonly domain: string;
  /** Canonical "local@domain" with the minimum quoting (RFC 5321 §4.1.2). */
  readonly address: string;
  /** Contains non-ASCII characters (needs SMTPUTF8, RFC 6531). */
  readonly utf8: boolean;
}

export interface PathOptions {
  /** UTF-8 allowed in local part and domain (SMTPUTF8 transaction, RFC 6531 §3.3). */
  readonly utf8: boolean;
  /** "<>" accepted (reverse-path, RFC 5321 §4.1.1.2). */
  readonly allowNull?: boolean;
  /** "<postmaster>" without domain accepted (forward-path, RFC 5321 §4.1.1.3, §4.5.1). */
  readonly allowPostmaster?: boolean;
}

export type PathResult =
  | { readonly ok: true; readonly mailbox: Mailbox | null; readonly end: number }
  | { readonly ok: false; readonly error: "syntax" | "too-long" | "non-ascii"; readonly end: number };

// RFC 5321 §4.5.3.1
export const MAX_LOCAL_PART = 64;
export const MAX_DOMAIN = 255;
export const MAX_PATH = 256;

// atext (RFC 5322 §3.2.3) as a lookup table over ASCII
const ATEXT = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~") {
  ATEXT[c.charCodeAt(0)] = 1;
}

const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const LDH_LABEL_UNDERSCORE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const NON_ASCII = /[^\x00-\x7f]/;

function octets(s: string): number {
  return NON_ASCII.test(s) ? Buffer.byteLength(s) : s.length;
}

/**
 * Parse a Path starting at s[start] === "<" (RFC 5321 §4.1.2). Source routes are accepted and
 * dropped (§4.1.2 "MUST BE accepted ... SHOULD be ignored", Appendix C). `end` is the index after ">".
 */
export function parsePath(s: string, start: number, opts: PathOptions): PathResult {
  const end = findPathEnd(s, start);
  if (end === -1) return { ok: false, error: "syntax", end: s.length };
  const after = end + 1;
  let inner = s.slice(start + 1, end);
  if (inner === "") {
    return opts.allowNull
      ? { ok: true, mailbox: null, end: after }
      : { ok: false, error: "syntax", end: after };
  }
  if (octets(s.slice(start, after)) > MAX_PATH) return { ok: false, error: "too-long", end: after };
  if (inner.charCodeAt(0) === 0x40 /* @ */) {
    const colon = inner.indexOf(":");
    if (colon === -1) return { ok: false, error: "syntax", end: after };
    const route = inner.slice(0, colon);
    for (const hop of route.split(",")) {
      if (hop[0] !== "@" || !isDomain(hop.slice(1), true)) return { ok: false, error: "syntax", end: after };
    }
    if (!opts.utf8 && NON_ASCII.test(route)) return { ok: false, error: "non-ascii", end: after };
    inner = inner.slice(colon + 1);
  }
  const mb = parseMailboxUtf8(inner, opts.allowPostmaster === true);
  if (typeof mb === "string") return { ok: false, error: mb, end: after };
  if (mb.utf8 && !opts.utf8) return { ok: false, error: "non-ascii", end: after };
  return { ok: true, mailbox: mb, end: after };
}

/** Index of the ">" closing the path opened at s[start], skipping quoted strings; -1 if none. */
function findPathEnd(s: string, start: number): number {
  if (s.charCodeAt(start) !== 0x3c /* < */) return -1;
  let quoted = false;
  for (let i = start + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) quoted = true;
    else if (c === 0x3e /* > */) return i;
  }
  return -1;
}

/** A bare Mailbox (no angle brackets), e.g. the decoded AUTH= parameter (RFC 4954 §5). */
export function parseMailbox(s: string, utf8: boolean): Mailbox | null {
  const mb = parseMailboxUtf8(s, false);
  if (typeof mb === "string" || (mb.utf8 && !utf8)) return null;
  return mb;
}

/** Mailbox = Local-part "@" ( Domain / address-literal ), parsed with RFC 6531 rules. */
function parseMailboxUtf8(s: string, allowPostmaster: boolean): Mailbox | "syntax" | "too-long" {
  let local: string;
  let i: number;
  let quoted = false;
  if (s.charCodeAt(0) === 0x22) {
    const q = parseQuoted(s);
    if (q === null) return "syntax";
    local = q.value;
    i = q.end;
    quoted = true;
  } else {
    i = s.indexOf("@");
    if (i === -1) i = s.length;
    local = s.slice(0, i);
    if (!isDotString(local)) return "syntax";
  }
  if (i === s.length && !quoted && allowPostmaster && local.toLowerCase() === "postmaster") {
    return { local, domain: "", address: local, utf8: false };
  }
  if (s.charCodeAt(i) !== 0x40) return "syntax";
  if (octets(s.slice(0, i)) > MAX_LOCAL_PART) return "too-long";
  const domain = s.slice(i + 1);
  if (domain.charCodeAt(0) === 0x5b /* [ */) {
    if (!isAddressLiteral(domain)) return "syntax";
  } else if (!isDomain(domain, true)) {
    return octets(domain) > MAX_DOMAIN ? "too-long" : "syntax";
  }
  const utf8 = NON_ASCII.test(local) || NON_ASCII.test(domain);
  const lp = isDotString(local) ? local : quoteLocal(local);
  return { local, domain, address: `${lp}@${domain}`, utf8 };
}

/** Dot-string = Atom *("." Atom), atext extended by UTF8-non-ascii (RFC 6531 §3.3). */
export function isDotString(s: string): boolean {
  if (s.length === 0) return false;
  let prevDot = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (prevDot) return false;
      prevDot = true;
    } else if (c < 128 ? ATEXT[c] === 1 : isUtf8Char(s, i)) {
      prevDot = false;
    } else {
      return false;
    }
  }
  return !prevDot;
}

/** Non-ASCII code unit that is part of a well-formed code point (no lone surrogates). */
function isUtf8Char(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    return d >= 0xdc00 && d <= 0xdfff;
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const p = s.charCodeAt(i - 1);
    return p >= 0xd800 && p <= 0xdbff;
  }
  return true;
}

/**
 * Quoted-string = DQUOTE *QcontentSMTP DQUOTE at s[0]; qtextSMTP is %d32-33 / %d35-91 / %d93-126
 * plus UTF8-non-ascii, quoted-pairSMTP is "\" %d32-126.
 */
function parseQuoted(s: string): { value: string; end: number } | null {
  let value = "";
  let from = 1;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return { value: value + s.slice(from, i), end: i + 1 };
    if (c === 0x5c) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 32 && n <= 126)) return null;
      value += s.slice(from, i);
      from = i + 1;
      i++;
    } else if (c < 32 || c === 127 || (c >= 128 && !isUtf8Char(s, i))) {
      return null;
    }
  }
  return null;
}

function quoteLocal(local: string): string {
  return `"${local.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * Domain = sub-domain *("." sub-domain) (RFC 5321 §4.1.2), ≤ 255 octets. With `utf8`, labels may be
 * U-labels (RFC 6531 §3.3), checked with UTS #46 (node:url domainToASCII) and the A-label length.
 * `underscore` admits "_" (only for EHLO: Windows host names; RFC 5321 forbids it in addresses).
 */
export function isDomain(d: string, utf8: boolean, underscore = false): boolean {
  if (d.length === 0 || octets(d) > MAX_DOMAIN) return false;
  const ldh = underscore ? LDH_LABEL_UNDERSCORE : LDH_LABEL;
  let start = 0;
  while (start <= d.length) {
    let dot = d.indexOf(".", start);
    if (dot === -1) dot = d.length;
    const label = d.slice(start, dot);
    if (!ldh.test(label)) {
      if (!utf8 || !NON_ASCII.test(label)) return false;
      const a = domainToASCII(label);
      if (!a.startsWith("xn--") || a.includes(".") || !LDH_LABEL.test(a)) return false;
    }
    start = dot + 1;
  }
  return true;
}

/** address-literal (RFC 5321 §4.1.3): [IPv4], [IPv6:…], or [tag:dcontent]; brackets included. */
export function isAddressLiteral(s: string): boolean {
  if (s.length < 3 || s.charCodeAt(0) !== 0x5b || s.charCodeAt(s.length - 1) !== 0x5d) return false;
  const inner = s.slice(1, -1);
  if (isIPv4(inner)) return true;
  const colon = inner.indexOf(":");
  if (colon === -1) return false;
  const tag = inner.slice(0, colon);
  const value = inner.slice(colon + 1);
  if (tag.toLowerCase() === "ipv6") return isIPv6(value);
  // General-address-literal = Standardized-tag ":" 1*dcontent; dcontent = %d33-90 / %d94-126
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(tag) && /^[\x21-\x5a\x5e-\x7e]+$/.test(value);
}

/** Snum 3("." Snum), Snum = 1*3DIGIT in 0..255. */
export function isIPv4(s: string): boolean {
  const parts = s.split(".");
  if (parts.length !== 4) return false;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return false;
  }
  return true;
}

/**
 * IPv6-addr per RFC 5321 §4.1.3: full (8 groups), compressed ("::" standing for at least 2 groups,
 * at most 6 groups besides), and both with a trailing IPv4 address (6 / at most 4 groups).
 */
export function isIPv6(s: string): boolean {
  let groups = 8;
  let rest = s;
  if (s.includes(".")) {
    const c = s.lastIndexOf(":");
    if (c === -1 || !isIPv4(s.slice(c + 1))) return false;
    groups = 6;
    rest = s.slice(0, c + 1);
    // "…:" before the IPv4 part: keep "::" intact, drop a single trailing ":"
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const hex = /^[0-9A-Fa-f]{1,4}$/;
  const halves = rest.split("::");
  if (halves.length > 2) return false;
  const count = (h: string): number => {
    if (h === "") return 0;
    const g = h.split(":");
    return g.every((x) => hex.test(x)) ? g.length : -1;
  };
  if (halves.length === 1) return count(rest) === groups;
  const a = count(halves[0]!);
  const b = count(halves[1]!);
  return a >= 0 && b >= 0 && a + b <= groups - 2;
}
