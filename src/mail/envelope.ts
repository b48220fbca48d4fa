// The IMAP ENVELOPE (RFC 9051 §7.5.2, RFC 3501 §7.4.2) of a message, built from its header
// fields, and an RFC 5322 §3.4 address-list parser that tolerates garbage and never throws.

import { firstField, type HeaderField } from "./header.js";
import type { Envelope, EnvelopeAddress } from "./mime-types.js";

/**
 * Builds the ENVELOPE. Strings are the raw unfolded values (encoded-words kept, as IMAP
 * wants); the first occurrence of each field counts. Sender and Reply-To default to From
 * when absent or empty (RFC 3501 §7.4.2).
 */
export function buildEnvelope(fields: readonly HeaderField[]): Envelope {
  const str = (key: string): string | null => firstField(fields, key)?.value ?? null;
  const addrs = (key: string): EnvelopeAddress[] => {
    const f = firstField(fields, key);
    return f ? parseAddressList(f.value) : [];
  };
  const from = addrs("from");
  const sender = addrs("sender");
  const replyTo = addrs("reply-to");
  return {
    date: str("date"),
    subject: str("subject"),
    from,
    // copies, so that the stored JSON has no shared objects
    sender: sender.length > 0 ? sender : from.map((a) => ({ ...a })),
    replyTo: replyTo.length > 0 ? replyTo : from.map((a) => ({ ...a })),
    to: addrs("to"),
    cc: addrs("cc"),
    bcc: addrs("bcc"),
    inReplyTo: str("in-reply-to"),
    messageId: str("message-id"),
  };
}

/** The envelope of a message without any header. */
export function emptyEnvelope(): Envelope {
  return {
    date: null,
    subject: null,
    from: [],
    sender: [],
    replyTo: [],
    to: [],
    cc: [],
    bcc: [],
    inReplyTo: null,
    messageId: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

/** atom, quoted-string, [domain literal], or one special: < > @ , ; : . and strays like ) \ ] */
type T = "atom" | "quoted" | "literal" | "special";

interface Token {
  t: T;
  /** atoms and specials as written; quoted strings unescaped, without quotes */
  text: string;
  /** quoted strings as written, quotes and backslashes kept (for local parts) */
  raw: string;
  /** whitespace or a comment came before this token */
  space: boolean;
  /** the text of the comment(s) right after this token, for "addr@host (Name)" */
  comment: string | null;
}

const SPECIALS = '<>@,;:.[]()\\"';
// 1: special, 2: whitespace; for the atom scan
const CLASS = new Uint8Array(128);
for (const c of SPECIALS) CLASS[c.charCodeAt(0)] = 1;
for (const c of " \t\r\n") CLASS[c.charCodeAt(0)] = 2;
const isSpecial = (code: number) => code < 128 && CLASS[code] === 1;
const isAtomChar = (code: number) => code >= 128 || CLASS[code] === 0;

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let space = false;
  const push = (t: T, text: string, raw: string) => {
    out.push({ t, text, raw, space, comment: null });
    space = false;
  };
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      space = true;
      i++;
    } else if (c === "(") {
      // comment, nested, with quoted-pairs; remembered on the previous token
      const start = i;
      let depth = 0;
      let text = "";
      while (i < s.length) {
        const d = s[i++]!;
        if (d === "\\" && i < s.length) {
          if (depth > 0) text += s[i];
          i++;
        } else if (d === "(") {
          if (depth++ > 0) text += d;
        } else if (d === ")") {
          if (--depth === 0) break;
          text += d;
        } else text += d;
      }
      const prev = out[out.length - 1];
      if (prev && i - start > 2) prev.comment = prev.comment === null ? text : `${prev.comment} ${text}`;
      space = true;
    } else if (c === '"') {
      const start = i++;
      let text = "";
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\" && i + 1 < s.length) i++;
        text += s[i++];
      }
      i = Math.min(i + 1, s.length);
      push("quoted", text, s.slice(start, i));
    } else if (c === "[") {
      const end = s.indexOf("]", i);
      const stop = end < 0 ? s.length : end + 1;
      push("literal", s.slice(i, stop), s.slice(i, stop));
      i = stop;
    } else if (isSpecial(c.charCodeAt(0))) {
      push("special", c, c);
      i++;
    } else {
      const start = i;
      while (i < s.length && isAtomChar(s.charCodeAt(i))) i++;
      push("atom", s.slice(start, i), s.slice(start, i));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

const isSp = (tok: Token | undefined, ch: string) =>
  tok !== undefined && tok.t === "special" && tok.text === ch;

/**
 * Parses an address-list. Groups become a start marker (mailbox = group name, host = null)
 * and an end marker (all null), as RFC 3501 §7.4.2 prescribes. A mailbox without a domain gets
 * host "" (null would mark a group); unusable pieces are skipped.
 */
export function parseAddressList(value: string): EnvelopeAddress[] {
  const toks = tokenize(value);
  const out: EnvelopeAddress[] = [];
  let i = 0;
  while (i < toks.length) {
    if (isSp(toks[i], ",") || isSp(toks[i], ";")) {
      i++;
      continue;
    }
    const colon = groupColon(toks, i);
    if (colon >= 0) {
      out.push({ name: null, adl: null, mailbox: phrase(toks, i, colon) ?? "", host: null });
      i = colon + 1;
      while (i < toks.length && !isSp(toks[i], ";")) {
        if (isSp(toks[i], ",")) {
          i++;
          continue;
        }
        i = parseMailbox(toks, i, true, out);
      }
      i++; // ";" (or the end of the value for an unterminated group)
      out.push({ name: null, adl: null, mailbox: null, host: null });
    } else {
      i = parseMailbox(toks, i, false, out);
    }
  }
  return out;
}

/** Index of the ":" that makes toks[i..] a group (before any <, @, ",", ";"), or -1. */
function groupColon(toks: Token[], i: number): number {
  for (let j = i; j < toks.length; j++) {
    const tok = toks[j]!;
    if (tok.t !== "special" || tok.text === ".") continue;
    return tok.text === ":" && j > i ? j : -1;
  }
  return -1;
}

/**
 * Parses one mailbox from toks[i..] up to "," (or ";" inside a group) at the top level and
 * pushes it when it has anything usable. Returns the index of the separator.
 */
function parseMailbox(toks: Token[], i: number, inGroup: boolean, out: EnvelopeAddress[]): number {
  let end = i;
  let lt = -1;
  let gt = -1;
  for (; end < toks.length; end++) {
    const tok = toks[end]!;
    if (tok.t !== "special") continue;
    if (tok.text === "<" && lt < 0) lt = end;
    else if (tok.text === ">" && lt >= 0 && gt < 0) gt = end;
    // a "," inside <...> belongs to an obsolete route (RFC 5322 §4.4)
    else if ((tok.text === "," && (lt < 0 || gt >= 0)) || (tok.text === ";" && inGroup)) break;
  }
  if (end === i) return end + 1; // stray separator; the caller decides on it
  if (lt >= 0) {
    const inner = toks.slice(lt + 1, gt >= 0 ? gt : end);
    const addr = angleAddr(inner);
    if (addr) {
      addr.name = phrase(toks, i, lt);
      out.push(addr);
    }
  } else {
    const spec = toks.slice(i, end);
    const addr = addrSpec(spec);
    if (addr) {
      // "addr@host (Name)": a trailing comment stands in for the display name (as Dovecot does)
      const last = spec[spec.length - 1]!;
      addr.name = last.comment !== null && last.comment.trim() !== "" ? last.comment.trim() : null;
      out.push(addr);
    }
  }
  return end;
}

/** "<" [route ":"] addr-spec ">" without the brackets. */
function angleAddr(inner: Token[]): EnvelopeAddress | null {
  let adl: string | null = null;
  let k = 0;
  if (isSp(inner[0], "@")) {
    const colon = inner.findIndex((tok) => isSp(tok, ":"));
    if (colon > 0) {
      adl = inner
        .slice(0, colon)
        .map((tok) => tok.raw)
        .join("");
      k = colon + 1;
    }
  }
  const spec = addrSpec(inner.slice(k));
  if (!spec) return inner.length === 0 ? null : { name: null, adl, mailbox: "", host: "" };
  spec.adl = adl;
  return spec;
}

/** local-part "@" domain, split at the last "@"; local parts keep their quotes. */
function addrSpec(spec: Token[]): EnvelopeAddress | null {
  let at = -1;
  for (let j = spec.length - 1; j >= 0; j--) {
    if (isSp(spec[j], "@")) {
      at = j;
      break;
    }
  }
  const local = joinRaw(spec, 0, at < 0 ? spec.length : at);
  const host = at < 0 ? "" : joinRaw(spec, at + 1, spec.length);
  if (local === "" && host === "") return null;
  return { name: null, adl: null, mailbox: local, host };
}

/** Concatenates tokens as written (CFWS between dot-atom pieces is dropped). */
function joinRaw(toks: Token[], from: number, to: number): string {
  let s = "";
  for (let j = from; j < to; j++) {
    const tok = toks[j]!;
    if (tok.t === "special" && tok.text !== "." && tok.text !== "@") continue;
    s += tok.raw;
  }
  return s;
}

/** A display name: words joined by single spaces where the source had space, quotes removed. */
function phrase(toks: Token[], from: number, to: number): string | null {
  let s = "";
  for (let j = from; j < to; j++) {
    const tok = toks[j]!;
    if (tok.space && s.length > 0) s += " ";
    s += tok.text;
  }
  s = s.trim();
  return s.length > 0 ? s : null;
}
