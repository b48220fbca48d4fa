// Trace header fields added on receipt (RFC 5321 §4.4), stored per copy as a prefix before the
// blob, never written into it. Pure: strings in, header text out.
//
// Received, as Postfix writes it (so existing parsers — SpamAssassin, rspamd, mail-parser — read it):
//
//   Received: from <helo> (<rdns or "unknown"> [<ip>])
//   	by <host> (Postamt) with <protocol> id <id>
//   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)
//   	for <rcpt>; <date>
//
// - The TLS comment records version and cipher suite (RFC 8314 §4.3).
// - Authentication is shown only by the WITH value (ESMTPA/ESMTPSA, RFC 3848), never the login
//   name: the header travels with the message to every later reader, the login name helps
//   password guessing and can reveal the account behind an alias or a role address. The id clause
//   ties the message to our log, which names the account (as Postfix does by default,
//   smtpd_sasl_authenticated_header = no).
// - Client-supplied text (HELO) cannot add lines, clauses or comments: control and space
//   characters become "?", parentheses and backslashes are quoted-pairs (RFC 5322 §3.2.1),
//   non-ASCII is kept only for UTF8SMTP* (RFC 6531 §3.7.3), and the length is bounded.
// - Folding (RFC 5322 §2.2.3) happens only at spaces between clauses and comment words, so lines
//   stay within 78 characters unless one clause is longer (a 255-character HELO).

import type { TraceInfo } from "../delivery/types.js";

/** RFC 5322 §2.1.1: lines SHOULD be at most 78 characters, excluding the CRLF. */
const MAX_LINE = 78;
/** RFC 5321 §4.5.3.1.2: a domain name is at most 255 octets. */
const MAX_NAME = 255;
/** longest recipient/sender text we write (RFC 5321 §4.5.3.1.3 allows a 256-octet path) */
const MAX_ADDRESS = 512;

const WITH_VALUES = new Set<string>([
  "SMTP",
  "ESMTP",
  "ESMTPS",
  "ESMTPA",
  "ESMTPSA",
  "UTF8SMTP",
  "UTF8SMTPS",
  "UTF8SMTPA",
  "UTF8SMTPSA",
]);

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** One folded Received field, CRLF-terminated; forAddress null: no "for" clause. */
export function receivedHeader(trace: TraceInfo, forAddress: string | null): string {
  const utf8 = trace.protocol.startsWith("UTF8");
  const ip = addressLiteral(trace.remoteAddress);
  const helo = trace.heloName === null || trace.heloName.trim() === "" ? ip : name(trace.heloName, utf8);
  const rdns = trace.remoteHost === null ? "unknown" : name(trace.remoteHost, utf8);
  const protocol = WITH_VALUES.has(trace.protocol) ? trace.protocol : "ESMTP";
  // a clause keyword stays with its value, and the date stays whole: folds go between them
  const groups: string[][] = [
    [`Received: from ${helo}`, `(${rdns}`, `${ip})`],
    [`by ${name(trace.receivedBy, utf8)}`, "(Postamt)", `with ${protocol}`, `id ${atom(trace.id)}`],
  ];
  if (trace.tls !== null) {
    groups.push(["(using", token(trace.tls.protocol), "with", "cipher", `${token(trace.tls.cipher)})`]);
  }
  const date = rfc5322Date(trace.date ?? new Date());
  if (forAddress !== null) {
    groups.push([`for <${address(forAddress, utf8)}>;`, date]);
  } else {
    const last = groups[groups.length - 1]!;
    last[last.length - 1] += ";";
    groups.push([date]);
  }
  return fold(groups);
}

/** "Return-Path: <sender>" (RFC 5321 §4.4, RFC 5322 §3.6.7); "<>" for the null sender. */
export function returnPathHeader(mailFrom: string): string {
  return `Return-Path: <${address(mailFrom, true)}>\r\n`;
}

/** "Delivered-To: address", the final recipient, for loop detection (as Postfix and Dovecot). */
export function deliveredToHeader(addr: string): string {
  return `Delivered-To: ${address(addr, true)}\r\n`;
}

/** RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 2 Jan 2024 03:04:05 +0000". */
export function rfc5322Date(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/**
 * Each group starts a line; its words are joined by spaces and wrapped (CRLF HTAB) where a line
 * would pass MAX_LINE.
 */
function fold(groups: string[][]): string {
  const lines: string[] = [];
  for (const words of groups) {
    let line = lines.length === 0 ? words[0]! : `\t${words[0]!}`;
    for (const w of words.slice(1)) {
      if (line.length + 1 + w.length > MAX_LINE) {
        lines.push(line);
        line = `\t${w}`;
      } else line += ` ${w}`;
    }
    lines.push(line);
  }
  return `${lines.join("\r\n")}\r\n`;
}

/**
 * Client-IP as an address literal (RFC 5321 §4.1.3): [192.0.2.1], [IPv6:2001:db8::1].
 * IPv4-mapped IPv6 (dual-stack sockets) is shown as IPv4; a zone id is dropped.
 */
export function addressLiteral(ip: string): string {
  let a = ip.trim();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  if (/^ipv6:/i.test(a)) a = a.slice(5);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(a);
  if (mapped) a = mapped[1]!;
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(a)) return `[${a}]`;
  const zone = a.indexOf("%");
  if (zone > 0) a = a.slice(0, zone);
  if (a.includes(":") && /^[0-9a-f:.]+$/i.test(a)) return `[IPv6:${a.toLowerCase()}]`;
  return `[${name(a, false)}]`;
}

/**
 * A name that did not come from us (HELO argument, reverse DNS): no control or space characters,
 * parentheses and backslash quoted so they cannot open or close a comment, bounded length.
 */
function name(s: string, utf8: boolean): string {
  let t = s.trim();
  if (t.length > MAX_NAME) t = Array.from(t).slice(0, MAX_NAME).join("");
  t = t.replace(/[\p{C}\p{Z}]/gu, "?");
  if (!utf8) t = t.replace(/[^\x00-\x7f]/gu, "?");
  t = t.replace(/[()\\]/g, "\\$&");
  return t === "" ? "unknown" : t;
}

/** The id clause takes an Atom (RFC 5321 §4.4); dots are kept for readability. */
function atom(s: string): string {
  const t = s.slice(0, 64).replace(/[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]/g, "?");
  return t === "" ? "unknown" : t;
}

/** TLS version and cipher names: letters, digits, "_", "-", "." */
function token(s: string): string {
  const t = s.slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, "?");
  return t === "" ? "unknown" : t;
}

/** An envelope address (already parsed by SMTP): no control characters, no enclosing <>. */
function address(s: string, utf8: boolean): string {
  let t = s.trim();
  if (t.startsWith("<") && t.endsWith(">")) t = t.slice(1, -1);
  if (t.length > MAX_ADDRESS) t = t.slice(0, MAX_ADDRESS);
  t = t.replace(/[\p{C}\u2028\u2029]/gu, "?");
  if (!utf8) t = t.replace(/[^\x00-\x7f]/gu, "?");
  return t;
}
