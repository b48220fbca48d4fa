// SMTP command line → typed command or the reply for a syntax error (RFC 5321 §4.1.1, §4.1.2).
// The parser checks syntax only; whether a command is allowed now (sequence, STARTTLS/AUTH
// required, CHUNKING advertised…) is the session's decision.

import { isAscii, isUtf8 } from "node:buffer";
import { isAddressLiteral, isDomain, type Mailbox, parsePath } from "./address.js";
import type { ExtensionSet } from "./extensions.js";
import { type MailParams, parseMailParams, parseRcptParams, type RcptParams } from "./params.js";
import { REPLIES, type Reply, withText } from "./reply.js";

export interface ParseContext {
  /** Extensions advertised in this session (empty after HELO). */
  readonly extensions: ExtensionSet;
  /**
   * The current transaction is SMTPUTF8 (its MAIL carried SMTPUTF8): UTF-8 allowed in RCPT
   * addresses (RFC 6531 §3.3). MAIL itself enables UTF-8 with its own SMTPUTF8 parameter.
   */
  readonly utf8?: boolean;
}

export type Command =
  /** domain: a domain name or an address literal with brackets, as sent. */
  | { readonly verb: "EHLO" | "HELO"; readonly domain: string }
  /** from: null for the null reverse-path "<>". */
  | { readonly verb: "MAIL"; readonly from: Mailbox | null; readonly params: MailParams }
  | { readonly verb: "RCPT"; readonly to: Mailbox; readonly params: RcptParams }
  | { readonly verb: "DATA" | "RSET" | "QUIT" | "STARTTLS" }
  | { readonly verb: "BDAT"; readonly size: number; readonly last: boolean }
  | { readonly verb: "NOOP" | "HELP"; readonly arg?: string }
  /** smtputf8: the optional SMTPUTF8 argument (RFC 6531 §3.7.4.2). */
  | { readonly verb: "VRFY" | "EXPN"; readonly arg: string; readonly smtputf8: boolean }
  /** initialResponse: decoded; an empty Buffer for "=" (RFC 4954 §4); absent when not sent. */
  | { readonly verb: "AUTH"; readonly mechanism: string; readonly initialResponse?: Buffer };

export type Verb = Command["verb"];

export type ParseResult =
  | { readonly ok: true; readonly command: Command }
  /** verb: the first word upper-cased ("" for an empty line); reply: what to answer. */
  | { readonly ok: false; readonly verb: string; readonly reply: Reply };

/** Recognised (RFC 821/5321 and common extensions) but not implemented: 502 (RFC 5321 §4.2.4). */
const NOT_IMPLEMENTED = new Set(["SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN"]);

/** Longest chunk size accepted by BDAT (digits; keeps it a safe integer). */
const MAX_BDAT_DIGITS = 15;

interface Line {
  readonly text: string;
  /** Held 8-bit octets that are not valid UTF-8 (decoded as Latin-1 in `text`). */
  readonly badUtf8: boolean;
}

function decode(line: Buffer | string): Line {
  if (typeof line === "string") return { text: line, badUtf8: false };
  if (isAscii(line)) return { text: line.toString("latin1"), badUtf8: false };
  if (isUtf8(line)) return { text: line.toString("utf8"), badUtf8: false };
  return { text: line.toString("latin1"), badUtf8: true };
}

function trimEnd(s: string): string {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return end === s.length ? s : s.slice(0, end);
}

function fail(verb: string, reply: Reply, text?: string): ParseResult {
  return { ok: false, verb, reply: text === undefined ? reply : withText(reply, text) };
}

function ok(command: Command): ParseResult {
  return { ok: true, command };
}

/** Parse one command line (without its CRLF). Never throws. */
export function parseCommand(line: Buffer | string, ctx: ParseContext): ParseResult {
  const l = decode(line);
  // Trailing white space is tolerated (as Postfix does); leading is not.
  const text = trimEnd(l.text);
  const sp = text.indexOf(" ");
  const verb = (sp === -1 ? text : text.slice(0, sp)).toUpperCase();
  const args = sp === -1 ? "" : text.slice(sp + 1).replace(/^ +/, "");
  switch (verb) {
    case "EHLO":
    case "HELO":
      return parseHelo(verb, args);
    case "MAIL":
      return parseMail(args, l.badUtf8, ctx);
    case "RCPT":
      return parseRcpt(args, l.badUtf8, ctx);
    case "DATA":
    case "RSET":
    case "QUIT":
    case "STARTTLS":
      // e.g. RFC 3207 §4: "501 Syntax error (no parameters allowed)"
      return args === ""
        ? ok({ verb })
        : fail(verb, REPLIES.paramSyntax, `Syntax: ${verb} (no parameters allowed)`);
    case "NOOP":
    case "HELP":
      return ok(args === "" ? { verb } : { verb, arg: args });
    case "VRFY":
    case "EXPN":
      return parseVrfy(verb, args, ctx);
    case "BDAT":
      return parseBdat(args);
    case "AUTH":
      return parseAuth(args);
    case "":
      return fail("", REPLIES.syntaxError, "Syntax error, empty command");
    default:
      if (NOT_IMPLEMENTED.has(verb)) return fail(verb, REPLIES.notImplemented);
      return fail(verb, REPLIES.syntaxError);
  }
}

/** ehlo = "EHLO" SP ( Domain / address-literal ) (RFC 5321 §4.1.1.1); "_" tolerated in names. */
function parseHelo(verb: "EHLO" | "HELO", args: string): ParseResult {
  if (args === "" || args.includes(" ")) return fail(verb, REPLIES.paramSyntax, `Syntax: ${verb} hostname`);
  const validLiteral = args.startsWith("[") && isAddressLiteral(args);
  // RFC 6531 §3.7.1: the EHLO domain stays ASCII (A-labels) even with SMTPUTF8
  if (!validLiteral && !isDomain(args, false, true))
    return fail(verb, REPLIES.paramSyntax, "Invalid domain name");
  return ok({ verb, domain: args });
}

/** "MAIL FROM:" Reverse-path [SP Mail-parameters] (RFC 5321 §4.1.1.2). */
function parseMail(args: string, badUtf8: boolean, ctx: ParseContext): ParseResult {
  if (!/^FROM:/i.test(args)) return fail("MAIL", REPLIES.paramSyntax, "Syntax: MAIL FROM:<address>");
  const start = skipSpaces(args, 5); // "MAIL FROM: <a@b>" is common; Postfix accepts it too
  if (args.charCodeAt(start) !== 0x3c) return fail("MAIL", REPLIES.badSender);
  // Parse with UTF-8 allowed; whether it is allowed is known only after the parameters.
  const path = parsePath(args, start, { utf8: true, allowNull: true });
  if (!path.ok)
    return fail("MAIL", REPLIES.badSender, path.error === "too-long" ? "Path too long" : undefined);
  const rest = args.slice(path.end);
  if (rest !== "" && rest[0] !== " ") return fail("MAIL", REPLIES.badSender);
  const params = parseMailParams(rest, ctx.extensions);
  if (!params.ok) return fail("MAIL", params.reply);
  const utf8 = ctx.utf8 === true || params.params.smtputf8;
  // RFC 6531 §3.5: a MAIL needing SMTPUTF8 without it is refused with 550 5.6.7
  if (path.mailbox?.utf8 && !utf8) return fail("MAIL", REPLIES.nonAsciiSender);
  if (badUtf8 && utf8) return fail("MAIL", REPLIES.badSender, "Invalid UTF-8 in sender address");
  return ok({ verb: "MAIL", from: path.mailbox, params: params.params });
}

/** "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]. */
function parseRcpt(args: string, badUtf8: boolean, ctx: ParseContext): ParseResult {
  if (!/^TO:/i.test(args)) return fail("RCPT", REPLIES.paramSyntax, "Syntax: RCPT TO:<address>");
  const start = skipSpaces(args, 3);
  if (args.charCodeAt(start) !== 0x3c) return fail("RCPT", REPLIES.badRecipient);
  const utf8 = ctx.utf8 === true;
  const path = parsePath(args, start, { utf8: true, allowPostmaster: true });
  if (!path.ok || path.mailbox === null) {
    return fail(
      "RCPT",
      REPLIES.badRecipient,
      !path.ok && path.error === "too-long" ? "Path too long" : undefined,
    );
  }
  const rest = args.slice(path.end);
  if (rest !== "" && rest[0] !== " ") return fail("RCPT", REPLIES.badRecipient);
  // RFC 6531 §3.5: a recipient needing SMTPUTF8 outside an SMTPUTF8 transaction: 553 5.6.7
  if (path.mailbox.utf8 && !utf8) return fail("RCPT", REPLIES.nonAsciiRecipient);
  if (badUtf8 && utf8) return fail("RCPT", REPLIES.badRecipient, "Invalid UTF-8 in recipient address");
  const params = parseRcptParams(rest, ctx.extensions, utf8);
  if (!params.ok) return fail("RCPT", params.reply);
  return ok({ verb: "RCPT", to: path.mailbox, params: params.params });
}

function skipSpaces(s: string, i: number): number {
  while (s.charCodeAt(i) === 0x20) i++;
  return i;
}

/** "VRFY" SP String [SP "SMTPUTF8"] (RFC 5321 §4.1.1.6, RFC 6531 §3.7.4.2). */
function parseVrfy(verb: "VRFY" | "EXPN", args: string, ctx: ParseContext): ParseResult {
  if (args === "") return fail(verb, REPLIES.paramSyntax, `Syntax: ${verb} address`);
  const m = ctx.extensions.has("SMTPUTF8") ? /^(.*\S) +SMTPUTF8$/i.exec(args) : null;
  return ok(m ? { verb, arg: m[1]!, smtputf8: true } : { verb, arg: args, smtputf8: false });
}

/** bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ]; end-marker ::= "LAST" (RFC 3030 §2). */
function parseBdat(args: string): ParseResult {
  const m = /^([0-9]+)(?: +(LAST))?$/i.exec(args);
  if (m === null || m[1]!.length > MAX_BDAT_DIGITS) {
    return fail("BDAT", REPLIES.paramSyntax, "Syntax: BDAT chunk-size [LAST]");
  }
  return ok({ verb: "BDAT", size: Number(m[1]), last: m[2] !== undefined });
}

/** "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 §4, §8); mech names per RFC 4422 §3.1. */
function parseAuth(args: string): ParseResult {
  const m = /^([A-Za-z0-9_-]{1,20})(?: +(\S+))?$/.exec(args);
  if (m === null) return fail("AUTH", REPLIES.paramSyntax, "Syntax: AUTH mechanism [initial-response]");
  const mechanism = m[1]!.toUpperCase();
  const ir = m[2];
  if (ir === undefined) return ok({ verb: "AUTH", mechanism });
  const data = ir === "=" ? Buffer.alloc(0) : decodeBase64(ir);
  if (data === null) return fail("AUTH", REPLIES.badBase64);
  return ok({ verb: "AUTH", mechanism, initialResponse: data });
}

/** Strict base64 (RFC 4954 §4: reject any character outside the alphabet and misplaced "="). */
export function decodeBase64(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
  return Buffer.from(s, "base64");
}

export type SaslResponse =
  | { readonly kind: "data"; readonly data: Buffer }
  /** "*": the client cancels; answer 501 (RFC 4954 §4, REPLIES.authCancelled). */
  | { readonly kind: "cancel" }
  | { readonly kind: "error"; readonly reply: Reply };

/** A client line during an AUTH exchange: base64 (possibly empty) or "*" (RFC 4954 §4). */
export function parseSaslResponse(line: Buffer | string): SaslResponse {
  const s = trimEnd(typeof line === "string" ? line : line.toString("latin1"));
  if (s === "*") return { kind: "cancel" };
  const data = decodeBase64(s);
  return data === null ? { kind: "error", reply: REPLIES.badBase64 } : { kind: "data", data };
}
