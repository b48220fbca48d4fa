// The ESMTP extensions this layer knows. Which ones a session advertised (after EHLO; none after
// HELO) decides which MAIL/RCPT parameters are accepted and how long a command line may be.

export type Extension =
  | "PIPELINING" // RFC 2920
  | "SIZE" // RFC 1870
  | "8BITMIME" // RFC 6152
  | "SMTPUTF8" // RFC 6531
  | "ENHANCEDSTATUSCODES" // RFC 2034
  | "CHUNKING" // RFC 3030
  | "BINARYMIME" // RFC 3030
  | "DSN" // RFC 3461
  | "STARTTLS" // RFC 3207
  | "AUTH"; // RFC 4954

export type ExtensionSet = ReadonlySet<Extension>;

/** Default command line limit including CRLF (RFC 5321 §4.5.3.1.4). */
export const COMMAND_LINE_LIMIT = 512;

/** Line limit while reading SASL responses (RFC 4954 §4 suggests 12288). */
export const SASL_LINE_LIMIT = 12288;

/**
 * The command line limit once `ext` is advertised: RFC 5321's 512 plus what each extension adds
 * to MAIL/RCPT (RFC 1870 §3 +26, RFC 3030 §3 +16, RFC 6531 §3.1 +10, RFC 4954 §3 +500,
 * RFC 3461 §5.4 +530 for ORCPT and NOTIFY; 8BITMIME's " BODY=8BITMIME" +14).
 */
export function commandLineLimit(ext: ExtensionSet): number {
  let n = COMMAND_LINE_LIMIT;
  if (ext.has("SIZE")) n += 26;
  if (ext.has("8BITMIME")) n += 14;
  if (ext.has("BINARYMIME")) n += 16;
  if (ext.has("SMTPUTF8")) n += 10;
  if (ext.has("AUTH")) n += 500;
  if (ext.has("DSN")) n += 530;
  return n;
}
