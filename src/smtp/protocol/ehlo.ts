// The EHLO / HELO replies (RFC 5321 §4.1.1.1): greeting line plus one line per extension.

import type { Extension } from "./extensions.js";
import type { Reply } from "./reply.js";

export interface Capabilities {
  /** The server's name, first word of the first line. */
  readonly hostname: string;
  /** Text after the hostname on the first line, e.g. "at your service, [192.0.2.1]". */
  readonly greeting?: string;
  readonly pipelining?: boolean;
  /** Advertise SIZE with this limit in octets; 0 means "no fixed limit" (RFC 1870 §3). */
  readonly size?: number;
  /** Offer STARTTLS (not on a TLS connection, RFC 3207 §4.2). */
  readonly starttls?: boolean;
  /** SASL mechanisms to advertise; none or empty: no AUTH line. */
  readonly auth?: readonly string[];
  readonly enhancedStatusCodes?: boolean;
  readonly eightBitMime?: boolean;
  /** Only advertised together with CHUNKING (RFC 3030 §3). */
  readonly binaryMime?: boolean;
  readonly dsn?: boolean;
  readonly smtputf8?: boolean;
  readonly chunking?: boolean;
}

/** [extension, its EHLO line] in Postfix's order. */
function lines(c: Capabilities): [Extension, string][] {
  const out: [Extension, string][] = [];
  if (c.pipelining) out.push(["PIPELINING", "PIPELINING"]);
  if (c.size !== undefined) out.push(["SIZE", c.size > 0 ? `SIZE ${Math.floor(c.size)}` : "SIZE"]);
  if (c.starttls) out.push(["STARTTLS", "STARTTLS"]);
  if (c.auth && c.auth.length > 0) out.push(["AUTH", `AUTH ${c.auth.join(" ")}`]);
  if (c.enhancedStatusCodes) out.push(["ENHANCEDSTATUSCODES", "ENHANCEDSTATUSCODES"]);
  if (c.eightBitMime) out.push(["8BITMIME", "8BITMIME"]);
  if (c.binaryMime && c.chunking) out.push(["BINARYMIME", "BINARYMIME"]);
  if (c.dsn) out.push(["DSN", "DSN"]);
  if (c.smtputf8) out.push(["SMTPUTF8", "SMTPUTF8"]);
  if (c.chunking) out.push(["CHUNKING", "CHUNKING"]);
  return out;
}

function firstLine(c: Capabilities): string {
  return c.greeting ? `${c.hostname} ${c.greeting}` : c.hostname;
}

/** 250 reply to EHLO; no enhanced code (RFC 2034 §3 (4) exempts EHLO/HELO replies). */
export function ehloReply(c: Capabilities): Reply {
  return { code: 250, lines: [firstLine(c), ...lines(c).map(([, l]) => l)] };
}

/** 250 reply to HELO: the first line only, no extensions. */
export function heloReply(c: Pick<Capabilities, "hostname" | "greeting">): Reply {
  return { code: 250, lines: [firstLine(c)] };
}

/** The extensions `ehloReply(c)` advertises: pass to the parser as `extensions`. */
export function advertisedExtensions(c: Capabilities): ReadonlySet<Extension> {
  return new Set(lines(c).map(([e]) => e));
}
