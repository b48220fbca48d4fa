// SMTP replies: the Reply value, its wire form, the table of standard replies and SmtpError.
// Reply codes: RFC 5321 §4.2; enhanced status codes: RFC 3463 / RFC 2034.

export interface Reply {
  /** Three-digit reply code (RFC 5321 §4.2). */
  readonly code: number;
  /** Enhanced status code "c.s.d" (RFC 3463); its class must agree with the code (RFC 2034 §4). */
  readonly enhanced?: string;
  /** Text lines; [] or [""] gives a bare code line. */
  readonly lines: readonly string[];
}

/** Longest reply line including CRLF (RFC 5321 §4.5.3.1.5). */
export const MAX_REPLY_LINE = 512;

export interface FormatOptions {
  /**
   * Prefix the enhanced code (default true). RFC 2034 §4-5: a server implementing the extension
   * sends the codes whether or not the client used EHLO; false is for a server configured without
   * ENHANCEDSTATUSCODES. The greeting, EHLO/HELO replies and 3xx carry none (RFC 2034 §3 (4), §4):
   * give those replies no `enhanced`.
   */
  readonly enhanced?: boolean;
}

/**
 * The wire form of a reply: every line but the last is "code-text", the last "code text"
 * (RFC 5321 §4.2.1); every line repeats the enhanced code (RFC 2034 §4). CR and LF in the text are
 * replaced by spaces (text often echoes client input), and lines are wrapped to 512 octets.
 */
export function formatReply(reply: Reply, opts: FormatOptions = {}): string {
  const enh = opts.enhanced !== false && reply.enhanced ? reply.enhanced : "";
  const prefixLen = 4 + (enh ? enh.length + 1 : 0); // "250-" + "2.0.0 "
  const room = MAX_REPLY_LINE - prefixLen - 2;
  const texts: string[] = [];
  for (const raw of reply.lines.length > 0 ? reply.lines : [""]) {
    const line = raw.replace(/[\r\n]/g, " ");
    if (Buffer.byteLength(line) <= room) texts.push(line);
    else texts.push(...wrap(line, room));
  }
  let out = "";
  const last = texts.length - 1;
  for (let i = 0; i <= last; i++) {
    const text = enh ? (texts[i] ? `${enh} ${texts[i]}` : enh) : texts[i];
    // An empty last line keeps its space: RFC 4954 §4 defines an empty challenge as "334 ".
    out += `${reply.code}${i === last ? " " : "-"}${text}\r\n`;
  }
  return out;
}

/** Split text into pieces of at most `room` UTF-8 octets, preferring to break after a space. */
function wrap(text: string, room: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (Buffer.byteLength(rest) > room) {
    // longest prefix (by code points) that fits
    let bytes = 0;
    let end = 0;
    for (const ch of rest) {
      const n = Buffer.byteLength(ch);
      if (bytes + n > room) break;
      bytes += n;
      end += ch.length;
    }
    const space = rest.lastIndexOf(" ", end - 1);
    const cut = space > 0 ? space + 1 : end;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}

/** A copy of `reply` with other text. */
export function withText(reply: Reply, ...lines: string[]): Reply {
  return reply.enhanced === undefined
    ? { code: reply.code, lines }
    : { code: reply.code, enhanced: reply.enhanced, lines };
}

/** A protocol error carrying the reply to send; turned into wire lines in one place (the session). */
export class SmtpError extends Error {
  readonly reply: Reply;
  constructor(reply: Reply) {
    super(`${reply.code}${reply.enhanced ? ` ${reply.enhanced}` : ""} ${reply.lines.join(" / ")}`);
    this.name = "SmtpError";
    this.reply = reply;
  }
}

function r(code: number, enhanced: string | undefined, text: string): Reply {
  return Object.freeze(
    enhanced === undefined
      ? { code, lines: Object.freeze([text]) }
      : { code, enhanced, lines: Object.freeze([text]) },
  );
}

/**
 * The standard replies used by the server. Sessions put the hostname or queue id into the text
 * with `withText` where RFC 5321 wants it (220/221/421).
 */
export const REPLIES = Object.freeze({
  // 2xx
  ok: r(250, "2.0.0", "OK"),
  senderOk: r(250, "2.1.0", "Sender OK"),
  recipientOk: r(250, "2.1.5", "Recipient OK"),
  resetOk: r(250, "2.0.0", "Reset OK"),
  queued: r(250, "2.0.0", "Message accepted for delivery"),
  bye: r(221, "2.0.0", "Bye"),
  help: r(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH"),
  // RFC 5321 §3.5.3: 252 when the server will not (or cannot) verify
  cannotVerify: r(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"),
  startTls: r(220, "2.0.0", "Ready to start TLS"),
  authOk: r(235, "2.7.0", "Authentication successful"),
  // 3xx carry no enhanced code (RFC 2034 §4)
  startData: r(354, undefined, "End data with <CR><LF>.<CR><LF>"),
  authContinue: r(334, undefined, ""),

  // 4xx
  shuttingDown: r(421, "4.3.2", "Service shutting down, closing transmission channel"),
  timeout: r(421, "4.4.2", "Timeout exceeded, closing transmission channel"),
  tooManyErrors: r(421, "4.7.0", "Too many errors, closing transmission channel"),
  localError: r(451, "4.3.0", "Local error in processing"),
  insufficientStorage: r(452, "4.3.1", "Insufficient system storage"),
  tooManyRecipients: r(452, "4.5.3", "Too many recipients"), // RFC 5321 §4.5.3.1.10
  tlsUnavailable: r(454, "4.7.0", "TLS not available due to temporary reason"), // RFC 3207 §4
  authTempFail: r(454, "4.7.0", "Temporary authentication failure"), // RFC 4954 §6

  // 5xx: command syntax (RFC 5321 §4.2.2, §4.2.4)
  syntaxError: r(500, "5.5.2", "Syntax error, command unrecognized"),
  lineTooLong: r(500, "5.5.2", "Line too long"), // RFC 5321 §4.5.3.1.4
  // RFC 5321 §2.3.8: only CRLF ends a line; answered once per offending line (SMTP smuggling defence)
  bareLfCommand: r(500, "5.5.2", "Bare <LF> received; lines must end with <CR><LF>"),
  bareCrCommand: r(500, "5.5.2", "Bare <CR> received; lines must end with <CR><LF>"),
  authLineTooLong: r(500, "5.5.6", "Authentication Exchange line is too long"), // RFC 4954 §4
  paramSyntax: r(501, "5.5.4", "Syntax error in parameters or arguments"),
  badSender: r(501, "5.1.7", "Bad sender address syntax"),
  badRecipient: r(501, "5.1.3", "Bad recipient address syntax"),
  badBase64: r(501, "5.5.2", "Cannot Base64-decode client response"), // RFC 4954 §4
  authCancelled: r(501, "5.7.0", "Authentication cancelled"), // RFC 4954 §4: "*" → 501
  notImplemented: r(502, "5.5.1", "Command not implemented"),
  badSequence: r(503, "5.5.1", "Bad sequence of commands"),
  paramNotImplemented: r(504, "5.5.4", "Command parameter not implemented"),
  authMechanismUnsupported: r(504, "5.5.4", "Unrecognized authentication type"), // RFC 4954 §4
  unknownParam: r(555, "5.5.4", "MAIL FROM/RCPT TO parameters not recognized or not implemented"),

  // 5xx: security (RFC 3207, RFC 4954 §6)
  tlsRequired: r(530, "5.7.0", "Must issue a STARTTLS command first"),
  authRequired: r(530, "5.7.0", "Authentication required"),
  authTooWeak: r(534, "5.7.9", "Authentication mechanism is too weak"),
  authFailed: r(535, "5.7.8", "Authentication credentials invalid"),
  encryptionRequired: r(538, "5.7.11", "Encryption required for requested authentication mechanism"),

  // 5xx: envelope and data
  mailboxUnknown: r(550, "5.1.1", "Mailbox unavailable"),
  relayDenied: r(554, "5.7.1", "Relay access denied"),
  // RFC 6531 §3.5: 550 for MAIL, 553 for RCPT, with X.6.7
  nonAsciiSender: r(550, "5.6.7", "Non-ASCII addresses not permitted for that sender"),
  nonAsciiRecipient: r(553, "5.6.7", "Non-ASCII addresses not permitted for that recipient"),
  sizeExceeded: r(552, "5.3.4", "Message size exceeds fixed maximum message size"), // RFC 1870 §6.1
  // Bare CR/LF in DATA: like Postfix's smtpd_forbid_bare_newline (550 5.5.2), sent only after the
  // final CRLF.CRLF (RFC 5321 §2.3.8, §4.1.1.4)
  bareNewlineData: r(550, "5.5.2", "Message contains bare <CR> or <LF>; lines must end with <CR><LF>"),
  noValidRecipients: r(554, "5.5.1", "No valid recipients"),
  transactionFailed: r(554, "5.0.0", "Transaction failed"),
} satisfies Record<string, Reply>);

export type ReplyName = keyof typeof REPLIES;
