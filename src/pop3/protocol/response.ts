// POP3 response lines (RFC 1939 §3, RFC 2449 §3 and §8). Status lines are at most 512 octets with
// their CRLF; text is cleaned of control characters so nothing a client sent can end a line early.
//
// Response codes (RFC 2449 §8, RFC 3206) as Postamt uses them:
//   [IN-USE]     the credentials were right but another POP3 session holds the maildrop (RFC 2449 §8.1.2)
//   [LOGIN-DELAY] the credentials were right but the account logged in less than pop3.login_delay
//                seconds ago (RFC 2449 §8.1.1)
//   [AUTH]       the credentials were wrong, or authentication broke policy: plaintext before STLS
//                from a non-loopback client (RFC 3206 §5: "an attempt to authenticate in violation
//                of policy"; RFC 2595 §2.3 requires the refusal)
//   [SYS/TEMP]   try again later and it may work: too many failed logins (a ban, which ends by
//                itself; [AUTH] would make clients throw away a possibly correct password), the
//                store failing, shutdown (RFC 3206 §4)
//   [SYS/PERM]   needs an administrator (RFC 3206 §4): the account has no INBOX

export type RespCode = "IN-USE" | "LOGIN-DELAY" | "AUTH" | "SYS/TEMP" | "SYS/PERM";

/** RFC 2449 §4: the first line of a response, CRLF included. */
export const MAX_STATUS_LINE = 512;

function line(status: "+OK" | "-ERR", text: string, code?: RespCode): string {
  const clean = text.replace(/[\x00-\x1f\x7f]/g, " ");
  const head = code ? `${status} [${code}]` : status;
  let body = clean.length > 0 ? `${head} ${clean}` : head;
  if (body.length > MAX_STATUS_LINE) body = body.slice(0, MAX_STATUS_LINE);
  // Octets, not characters: text may hold UTF-8 (an echoed user name). Trim by characters until it fits.
  while (Buffer.byteLength(body, "utf8") > MAX_STATUS_LINE - 2) body = body.slice(0, -1);
  return `${body}\r\n`;
}

export function ok(text = "", code?: RespCode): string {
  return line("+OK", text, code);
}

export function err(text: string, code?: RespCode): string {
  return line("-ERR", text, code);
}

/**
 * A multi-line response from short lines the server made up (CAPA, LIST, UIDL, AUTH listing):
 * dot-stuffed (RFC 1939 §3) and terminated by ".".
 */
export function multiline(first: string, lines: readonly string[]): string {
  let out = ok(first);
  for (const l of lines) out += l.charCodeAt(0) === 0x2e ? `.${l}\r\n` : `${l}\r\n`;
  return `${out}.\r\n`;
}

/** A SASL challenge (RFC 5034 §4): "+" SP base64; an empty challenge is "+ ". */
export function challenge(base64: string): string {
  return `+ ${base64}\r\n`;
}

/** The end of a multi-line response. */
export const TERMINATOR = ".\r\n";
