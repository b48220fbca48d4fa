// BODY and BODYSTRUCTURE (RFC 9051 §7.5.2, §9 body) from the stored MIME tree, shaped like
// Dovecot's imap-bodystructure.c so clients see what they are used to:
//
// - type, subtype, parameter names and the transfer encoding come from the tree, which keeps
//   them lower-case ("text" "plain", "base64"). Dovecot prints them as written in the header,
//   which for almost all mail is lower-case too; its defaults ("7bit", "charset") are lower-case.
// - text/* without a charset parameter gets ("charset" "us-ascii") (RFC 2045 §5.2, as Dovecot).
// - Parameter values are stored RFC 2231-decoded (continuations joined, charset converted to
//   UTF-8). ASCII values are sent as is under their name; other values are re-encoded as
//   `name*` "utf-8''%XX…" (RFC 2231 §4), the form Dovecot passes through for encoded parameters
//   and the "foo*" RFC 9051 §7.5.2 describes, so every client (7-bit or not) gets them intact.
//   Dovecot would keep the original charset and language; a raw 8-bit value it sends as 8-bit.
// - Sizes are octets of the body as stored (bodyEnd - bodyStart); lines for text/* and for
//   message/rfc822|global are the stored LF counts. The trace prefix of the full message is
//   header, so it changes no body size.
// - A multipart with parts: `(part)(part) "subtype"` [+ params, disposition, language,
//   location]. One the parser left unparsed (depth/part limits) is a basic body with its
//   declared type; a parsed one without any part gets Dovecot's empty text/plain part.
// - message/rfc822 (or message/global) with a parsed message: basic fields, the encapsulated
//   ENVELOPE, its body and lines. Unparsed (`message: null`): a basic body.
// - Language is always a list, as Dovecot writes it.
//
// Strings are built into one array per call and joined once; nothing is cached.

import { nstring, type StringOptions, string } from "../imap/protocol/compose.js";
import { imapEnvelope } from "./imap-envelope.js";
import type { MimeNode } from "./mime-types.js";

export type BodyStructureOptions = StringOptions;

/** BODYSTRUCTURE: the extensible form (RFC 9051 §7.5.2). */
export function bodyStructure(root: MimeNode, opts: BodyStructureOptions = {}): string {
  const out: string[] = [];
  writePart(root, true, opts, out);
  return out.join("");
}

/** BODY: the same without extension data. */
export function body(root: MimeNode, opts: BodyStructureOptions = {}): string {
  const out: string[] = [];
  writePart(root, false, opts, out);
  return out.join("");
}

/** A multipart the parser split into parts (not an opaque leaf left by the limits). */
export function isParsedMultipart(node: MimeNode): boolean {
  return typeIs(node, "multipart") && (node.children.length > 0 || !isUnparsed(node));
}

/** message/rfc822 or message/global whose content was parsed as a message. */
export function isParsedMessage(node: MimeNode): boolean {
  return node.message !== null && typeIs(node, "message");
}

/** The tree keeps types lower-case; hand-built trees (tests, RFC examples) may not. */
function typeIs(node: MimeNode, t: string): boolean {
  const type = node.contentType.type;
  return type === t || (type.length === t.length && type.toLowerCase() === t);
}

/** The parser marks parts it did not descend into with a "not parsed" defect (mime-parser.ts). */
function isUnparsed(node: MimeNode): boolean {
  return node.defects?.some((d) => d.endsWith("not parsed")) ?? false;
}

const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)';

function writePart(node: MimeNode, ext: boolean, opts: StringOptions, out: string[]): void {
  out.push("(");
  if (isParsedMultipart(node)) writeMultipart(node, ext, opts, out);
  else writeSinglePart(node, ext, opts, out);
  out.push(")");
}

function writeMultipart(node: MimeNode, ext: boolean, opts: StringOptions, out: string[]): void {
  if (node.children.length === 0) out.push(ext ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
  for (const child of node.children) writePart(child, ext, opts, out);
  out.push(" ", string(node.contentType.subtype, opts));
  if (!ext) return;
  out.push(" ");
  writeParams(node.contentType.params, false, opts, out);
  writeCommonExtension(node, opts, out);
}

function writeSinglePart(node: MimeNode, ext: boolean, opts: StringOptions, out: string[]): void {
  const ct = node.contentType;
  const text = typeIs(node, "text");
  out.push(string(ct.type, opts), " ", string(ct.subtype, opts), " ");
  writeParams(ct.params, text, opts, out);
  out.push(
    " ",
    nstring(node.contentId, opts),
    " ",
    nstring(node.description, opts),
    " ",
    string(node.encoding, opts),
    " ",
    String(node.bodyEnd - node.bodyStart),
  );
  if (text) {
    out.push(" ", String(node.bodyLines));
  } else if (isParsedMessage(node)) {
    const inner = node.message!;
    out.push(" ", imapEnvelope(inner.envelope ?? node.envelope, opts), " ");
    writePart(inner, ext, opts, out);
    out.push(" ", String(node.bodyLines));
  }
  if (!ext) return;
  out.push(" ", nstring(node.md5, opts));
  writeCommonExtension(node, opts, out);
}

/** body-fld-dsp SP body-fld-lang SP body-fld-loc, with the leading space. */
function writeCommonExtension(node: MimeNode, opts: StringOptions, out: string[]): void {
  out.push(" ");
  const dsp = node.disposition;
  if (dsp === null) out.push("NIL");
  else {
    out.push("(", string(dsp.type, opts), " ");
    writeParams(dsp.params, false, opts, out);
    out.push(")");
  }
  out.push(" ");
  const lang = node.language;
  if (lang === null || lang.length === 0) out.push("NIL");
  else out.push("(", lang.map((l) => string(l, opts)).join(" "), ")");
  out.push(" ", nstring(node.location, opts));
}

/** body-fld-param; `defaultCharset` adds ("charset" "us-ascii") to text parts that lack one. */
function writeParams(
  params: Record<string, string>,
  defaultCharset: boolean,
  opts: StringOptions,
  out: string[],
): void {
  const keys = Object.keys(params);
  if (keys.length === 0 && !defaultCharset) {
    out.push("NIL");
    return;
  }
  out.push("(");
  let first = true;
  let seenCharset = false;
  for (const k of keys) {
    if (!first) out.push(" ");
    first = false;
    if (k.length === 7 && k.toLowerCase() === "charset") seenCharset = true;
    const v = params[k]!;
    if (isAscii(v)) out.push(string(k, opts), " ", string(v, opts));
    else out.push(string(`${k}*`, opts), " ", string(rfc2231Encode(v), opts));
  }
  if (defaultCharset && !seenCharset) out.push(first ? "" : " ", '"charset" "us-ascii"');
  out.push(")");
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

// RFC 2231 §7 attribute-char: any CHAR except SPACE, CTLs, "*", "'", "%" and tspecials.
const ATTRIBUTE_CHAR = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) ATTRIBUTE_CHAR[c] = 1;
for (const ch of "*'%()<>@,;:\\\"/[]?=") ATTRIBUTE_CHAR[ch.charCodeAt(0)] = 0;

const HEX = "0123456789ABCDEF";

/** `utf-8''` + the UTF-8 octets, attribute-chars as is and the rest as %XX (RFC 2231 §4). */
export function rfc2231Encode(value: string): string {
  const bytes = Buffer.from(value, "utf8");
  let s = "utf-8''";
  for (const b of bytes) {
    s += b < 128 && ATTRIBUTE_CHAR[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return s;
}
