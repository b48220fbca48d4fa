// Base64 as SASL profiles require it: RFC 4954 §4 and RFC 9051 §6.2.2 say servers MUST reject any
// character outside the alphabet and any "=" that is not at the end ("=AAA", "AAA=BBB"). Node's
// Buffer.from(…, "base64") silently skips garbage, so protocols use these helpers instead.

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decode RFC 4648 §4 base64 strictly: padded, no whitespace, and canonical (the unused bits of the
 * last character are zero, §3.5), so every accepted string has exactly one meaning. "" decodes to an
 * empty Buffer. null = invalid.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return null;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : null;
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export type SaslResponseLine =
  | { kind: "data"; data: Buffer }
  /** the client sent "*": the protocol fails the command (SMTP 501, IMAP BAD, POP3 -ERR) */
  | { kind: "cancel" }
  /** not base64: SMTP 501 5.5.2, IMAP BAD, POP3 -ERR */
  | { kind: "malformed" };

/**
 * Interpret one client line of a SASL exchange (without its CRLF).
 * - initial = true: the optional initial-response argument of AUTH/AUTHENTICATE, where a single "="
 *   stands for a present but empty response (RFC 4954 §4, RFC 9051 §6.2.2, RFC 5034 §4).
 * - initial = false: a response to a challenge; an empty line is an empty response.
 */
export function parseSaslResponse(line: string, initial = false): SaslResponseLine {
  if (!initial && line === "*") return { kind: "cancel" };
  if (initial && line === "=") return { kind: "data", data: Buffer.alloc(0) };
  if (initial && line === "") return { kind: "malformed" };
  const data = decodeBase64Strict(line);
  return data === null ? { kind: "malformed" } : { kind: "data", data };
}
