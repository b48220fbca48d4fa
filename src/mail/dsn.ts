// Delivery Status Notifications: a pure composer of RFC 3464 DSNs inside an RFC 6522
// multipart/report (report-type=delivery-status), as the outbound queue sends them for failures,
// delays and requested successes (RFC 3461 §5.2–§6).
//
//   multipart/report; report-type=delivery-status
//   ├─ text/plain                      what happened, in plain English (RFC 6522 §3: first part)
//   ├─ message/delivery-status         per-message fields, then one block per recipient (RFC 3464 §2)
//   └─ message/rfc822                  the original (or text/rfc822-headers: its header only)
//
// Returned content (RFC 3461 §6.2): a DSN without failures returns only the header. A failure DSN
// returns the whole original when it is at most `maxReturnSize` bytes (default 1 MiB) unless the
// sender asked RET=HDRS; RET=FULL and no RET are treated alike, and a bigger original is returned
// as its header only (the RFC lets the MTA choose that limit).
//
// Internationalised mail (RFC 6533): when a recipient address (or its ORCPT) is not ASCII, the
// report is message/global-delivery-status with "utf-8" address types carrying the UTF-8 address;
// an original whose header is not ASCII is returned as message/global (message/global-headers).
// Remote replies, MTA names and the envelope id are reduced to printable ASCII (RFC 5321 replies
// are ASCII; anything else is noise that could break the report).

import { randomBytes } from "node:crypto";
import { rfc5322Date } from "./received.js";

/** RFC 3464 §2.3.3 */
export type DsnAction = "failed" | "delayed" | "delivered" | "relayed" | "expanded";

export interface DsnRecipient {
  /** the envelope recipient (Final-Recipient, RFC 3464 §2.3.2) */
  address: string;
  /** RFC 3461 ORCPT as received, "addr-type;xtext" (Original-Recipient, RFC 3461 §6.3(d)) */
  orcpt?: string | null;
  action: DsnAction;
  /** RFC 3463 status, e.g. "5.1.1" */
  status: string;
  /** the host that answered (Remote-MTA: dns; host) */
  remoteMta?: string | null;
  /** "smtp; 550 5.1.1 no such user" (Diagnostic-Code); a value without a type gets "smtp; " */
  diagnostic?: string | null;
  lastAttemptDate?: Date | null;
  /** delayed: until when delivery is still attempted (Will-Retry-Until) */
  willRetryUntil?: Date | null;
  /** a line for people when there is no diagnostic (e.g. "no mail server for example.test") */
  reason?: string | null;
}

export interface DsnInput {
  /** our host name: Reporting-MTA and MAILER-DAEMON@hostname */
  hostname: string;
  /** where the DSN goes: the original envelope sender (never "", RFC 5321 §4.5.5) */
  to: string;
  date: Date;
  /** "<id@host>"; default: generated */
  messageId?: string;
  /** RFC 3461 ENVID, xtext-decoded (Original-Envelope-Id) */
  envid?: string | null;
  /** when we accepted the original (Arrival-Date) */
  arrivalDate?: Date | null;
  /** our queue id, as an X-Postamt-Queue-ID extension field and in the text */
  queueId?: string | null;
  recipients: DsnRecipient[];
  /** RFC 3461 RET of the original */
  ret?: "FULL" | "HDRS" | null;
  /** the original as it was sent (trace prefix + blob): whole, or a leading part holding its header */
  original?: Buffer | null;
  /** false: `original` is only a leading part (default true) */
  originalComplete?: boolean;
  /** size of the whole original (default original.length) */
  originalSize?: number;
  /** default DEFAULT_MAX_RETURN_SIZE */
  maxReturnSize?: number;
  /** MIME boundary (tests); default random */
  boundary?: string;
}

/** Largest original returned whole in a failure DSN. */
export const DEFAULT_MAX_RETURN_SIZE = 1024 * 1024;

/**
 * Whether a DSN with these actions returns the whole original (RFC 3461 §6.2) rather than its
 * header: only failure reports, not with RET=HDRS, and only up to maxReturnSize bytes.
 */
export function dsnReturnsFull(
  actions: readonly DsnAction[],
  ret: "FULL" | "HDRS" | null | undefined,
  size: number,
  maxReturnSize = DEFAULT_MAX_RETURN_SIZE,
): boolean {
  return actions.includes("failed") && ret !== "HDRS" && size <= maxReturnSize;
}

export type DsnKind = "failure" | "delay" | "success";

/** failure when anything failed, else delay when anything is delayed, else success */
export function dsnKind(actions: readonly DsnAction[]): DsnKind {
  if (actions.includes("failed")) return "failure";
  if (actions.includes("delayed")) return "delay";
  return "success";
}

const SUBJECTS: Record<DsnKind, string> = {
  failure: "Undelivered Mail Returned to Sender",
  delay: "Delayed Mail (still being retried)",
  success: "Successful Mail Delivery Report",
};

const CRLF = "\r\n";
const NON_ASCII = /[^\x00-\x7f]/;

/** Builds the whole DSN message (CRLF line ends). */
export function composeDsn(input: DsnInput): Buffer {
  if (input.to === "") throw new Error("a DSN is never sent to the null sender (RFC 5321 §4.5.5)");
  if (input.recipients.length === 0) throw new Error("a DSN needs at least one recipient");
  const hostname = printable(input.hostname);
  const actions = input.recipients.map((r) => r.action);
  const kind = dsnKind(actions);

  const recipients = input.recipients.map((r) => ({
    ...r,
    address: fieldText(r.address),
    original: r.orcpt ? decodeOrcpt(r.orcpt) : null,
  }));
  const global = recipients.some(
    (r) => NON_ASCII.test(r.address) || (r.original !== null && NON_ASCII.test(r.original.address)),
  );

  // ---- returned content ----
  const original = input.original ?? null;
  const complete = input.originalComplete ?? true;
  const size = input.originalSize ?? original?.length ?? 0;
  const full = original !== null && complete && dsnReturnsFull(actions, input.ret, size, input.maxReturnSize);
  let returned: { type: string; description: string; body: Buffer } | null = null;
  if (original !== null) {
    const header = headerSection(original, complete);
    const utf8Header = NON_ASCII.test(header.toString("latin1"));
    returned = full
      ? {
          type: utf8Header ? "message/global" : "message/rfc822",
          description: "Undelivered Message",
          body: original,
        }
      : {
          type: utf8Header ? "message/global-headers" : "text/rfc822-headers",
          description: kind === "failure" ? "Undelivered Message Headers" : "Message Headers",
          body: header,
        };
  }

  // ---- the three parts ----
  const text = humanText(input, hostname, kind, recipients, returned === null ? null : full);
  const textBytes = Buffer.from(text, "utf8");
  const status = Buffer.from(statusFields(input, hostname, recipients), "utf8");

  const boundary = input.boundary ?? pickBoundary(original);
  const parts: Array<{ headers: string[]; body: Buffer }> = [
    {
      headers: [
        "Content-Description: Notification",
        `Content-Type: text/plain; charset=${NON_ASCII.test(text) ? "utf-8" : "us-ascii"}`,
        `Content-Transfer-Encoding: ${transferEncoding(textBytes)}`,
      ],
      body: textBytes,
    },
    {
      headers: [
        "Content-Description: Delivery report",
        `Content-Type: ${global ? "message/global-delivery-status" : "message/delivery-status"}`,
        // RFC 3464 §2.1: 7bit for message/delivery-status; RFC 6533 §6.1: 8bit when UTF-8 is in it
        `Content-Transfer-Encoding: ${transferEncoding(status)}`,
      ],
      body: status,
    },
  ];
  if (returned) {
    parts.push({
      headers: [
        `Content-Description: ${returned.description}`,
        `Content-Type: ${returned.type}`,
        // message/* may only be 7bit, 8bit or binary (RFC 2046 §5.2.1, RFC 6532 §3.5)
        `Content-Transfer-Encoding: ${transferEncoding(returned.body)}`,
      ],
      body: returned.body,
    });
  }
  const encodings = parts.map((p) => transferEncoding(p.body));
  const outerEncoding = encodings.includes("binary")
    ? "binary"
    : encodings.includes("8bit")
      ? "8bit"
      : "7bit";

  const messageId =
    input.messageId ?? `<${input.date.getTime().toString(36)}.${randomBytes(6).toString("hex")}@${hostname}>`;
  const head = [
    `From: "Mail Delivery System" <MAILER-DAEMON@${hostname}>`,
    // RFC 6532: a UTF-8 address goes into the header as it is
    `To: ${fieldText(input.to)}`,
    `Subject: ${SUBJECTS[kind]}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${messageId}`,
    // RFC 3834 §5: generated in response to a message; auto-responders must not answer it
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF}\tboundary="${boundary}"`,
    `Content-Transfer-Encoding: ${outerEncoding}`,
  ];

  const chunks: Buffer[] = [
    Buffer.from(`${head.join(CRLF)}${CRLF}${CRLF}This is a MIME-encapsulated message.${CRLF}`, "utf8"),
  ];
  for (const p of parts) {
    // the CRLF before "--boundary" belongs to the delimiter (RFC 2046 §5.1.1), so every body,
    // with or without a final line break, comes back exactly
    chunks.push(Buffer.from(`${CRLF}--${boundary}${CRLF}${p.headers.join(CRLF)}${CRLF}${CRLF}`, "utf8"));
    chunks.push(p.body);
  }
  chunks.push(Buffer.from(`${CRLF}--${boundary}--${CRLF}`, "ascii"));
  return Buffer.concat(chunks);
}

// ---- message/delivery-status ----

function statusFields(
  input: DsnInput,
  hostname: string,
  recipients: ReadonlyArray<DsnRecipient & { original: { type: string; address: string } | null }>,
): string {
  const perMessage: string[] = [];
  // RFC 3461 §6.3(a): only when the envelope had an ENVID, decoded (the store keeps it decoded)
  if (input.envid != null && input.envid !== "")
    perMessage.push(field("Original-Envelope-Id", printable(input.envid)));
  perMessage.push(field("Reporting-MTA", `dns; ${hostname}`));
  if (input.queueId) perMessage.push(field("X-Postamt-Queue-ID", printable(input.queueId)));
  if (input.arrivalDate) perMessage.push(field("Arrival-Date", rfc5322Date(input.arrivalDate)));

  const blocks = recipients.map((r) => {
    const f: string[] = [];
    if (r.original) f.push(field("Original-Recipient", `${r.original.type};${r.original.address}`));
    f.push(field("Final-Recipient", `${addressType(r.address)}; ${r.address}`));
    f.push(field("Action", r.action));
    f.push(field("Status", statusCode(r.status, r.action)));
    if (r.remoteMta) f.push(field("Remote-MTA", `dns; ${printable(r.remoteMta)}`));
    const diagnostic = diagnosticCode(r.diagnostic);
    if (diagnostic) f.push(field("Diagnostic-Code", diagnostic));
    if (r.lastAttemptDate) f.push(field("Last-Attempt-Date", rfc5322Date(r.lastAttemptDate)));
    if (r.action === "delayed" && r.willRetryUntil)
      f.push(field("Will-Retry-Until", rfc5322Date(r.willRetryUntil)));
    return f.join("");
  });
  return `${perMessage.join("")}${blocks.map((b) => `${CRLF}${b}`).join("")}`;
}

/** "utf-8" for an address that is not ASCII (RFC 6533 §3), else "rfc822" */
function addressType(address: string): string {
  return NON_ASCII.test(address) ? "utf-8" : "rfc822";
}

/** RFC 3464 §2.3.4: digit "." 1*3digit "." 1*3digit; a malformed one becomes the class default */
function statusCode(status: string, action: DsnAction): string {
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(status)) return status;
  if (action === "failed") return "5.0.0";
  if (action === "delayed") return "4.0.0";
  return "2.0.0";
}

/** "smtp; 550 …"; a bare reply gets the smtp type (RFC 3464 §2.3.6) */
function diagnosticCode(d: string | null | undefined): string | null {
  if (!d) return null;
  const text = printable(d);
  if (text === "") return null;
  return /^[A-Za-z][A-Za-z0-9-]*\s*;/.test(text) ? text : `smtp; ${text}`;
}

/**
 * ORCPT "addr-type;xtext" → its type and the xtext-decoded address (RFC 3461 §4.2, §6.3(d)). The
 * decoded octets are read as UTF-8 (RFC 6533 "utf-8" addresses); controls are dropped.
 */
export function decodeOrcpt(orcpt: string): { type: string; address: string } {
  const semi = orcpt.indexOf(";");
  const type = semi < 0 ? "rfc822" : orcpt.slice(0, semi).trim() || "rfc822";
  const value = semi < 0 ? orcpt : orcpt.slice(semi + 1);
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const m = /^\+([0-9A-Fa-f]{2})/.exec(value.slice(i, i + 3));
    if (m) {
      bytes.push(Number.parseInt(m[1]!, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(value[i]!, "utf8")) bytes.push(b);
    }
  }
  return { type: printable(type) || "rfc822", address: fieldText(Buffer.from(bytes).toString("utf8")) };
}

// ---- text/plain ----

function humanText(
  input: DsnInput,
  hostname: string,
  kind: DsnKind,
  recipients: readonly DsnRecipient[],
  full: boolean | null,
): string {
  const p: string[] = [`This is the mail system at ${hostname}.`];
  const attached =
    full === null
      ? ""
      : full
        ? " Your message is attached below."
        : " The header of your message is attached below.";
  if (kind === "failure") {
    p.push(
      `I'm sorry to have to tell you that your message could not be delivered to one or more recipients.${attached} ` +
        "Nothing more will be tried for the recipients listed as failed.",
    );
  } else if (kind === "delay") {
    const until = recipients.map((r) => r.willRetryUntil?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
    p.push(
      "Your message has not been delivered yet to the recipients listed below. This is only a warning: " +
        (until > 0
          ? `delivery will be retried until ${rfc5322Date(new Date(until))}, `
          : "delivery will be retried, ") +
        "and you do not need to send the message again. You will be told if it finally cannot be delivered." +
        attached,
    );
  } else {
    p.push(
      "Your message was successfully handed on or delivered to the recipients listed below. " +
        `You get this report because you asked for one.${attached}`,
    );
  }
  if (input.queueId) p.push(`Queue ID: ${printable(input.queueId)}`);
  const lines: string[] = [];
  for (const para of p) lines.push(...wrap(para, 72), "");
  for (const r of recipients) {
    lines.push(
      ...wrap(`<${fieldText(r.address)}>: ${recipientSummary(r)}`, 72).map((l, i) =>
        i > 0 ? `    ${l}` : l,
      ),
    );
    const said = replyText(r);
    if (said) lines.push(...wrap(said, 68).map((l) => `    ${l}`));
    lines.push("");
  }
  return lines.join(CRLF);
}

function recipientSummary(r: DsnRecipient): string {
  switch (r.action) {
    case "failed":
      return /^4\.4\.7$|^5\.4\.7$/.test(r.status)
        ? "delivery time expired: the message could not be delivered in time and was returned"
        : r.status.startsWith("4")
          ? "delivery failed and will not be tried again"
          : "delivery failed permanently";
    case "delayed":
      return r.willRetryUntil
        ? `not delivered yet; still trying until ${rfc5322Date(r.willRetryUntil)}`
        : "not delivered yet; still trying";
    case "delivered":
      return "delivered";
    case "relayed":
      return r.remoteMta
        ? `handed on to ${printable(r.remoteMta)}, which does not send delivery confirmations`
        : "handed on to a mail server that does not send delivery confirmations";
    case "expanded":
      return "delivered and forwarded to further recipients";
  }
}

/** "The mail server X answered: 550 …" / the reason / the status meaning */
function replyText(r: DsnRecipient): string | null {
  const diag = r.diagnostic ? printable(r.diagnostic).replace(/^smtp\s*;\s*/i, "") : "";
  if (diag !== "") {
    const who = r.remoteMta ? `The mail server ${printable(r.remoteMta)}` : "The remote mail server";
    return r.action === "failed" || r.action === "delayed"
      ? `${who} answered: ${diag}`
      : `${who} said: ${diag}`;
  }
  if (r.reason) return printable(r.reason);
  if (r.action === "failed" || r.action === "delayed") return statusMeaning(r.status);
  return null;
}

/** RFC 3463 meanings of the codes we meet most, for a DSN without a remote reply */
const STATUS_MEANINGS: Record<string, string> = {
  "1.1": "the mailbox does not exist",
  "1.2": "the destination domain does not exist or accepts no mail",
  "1.3": "the recipient address is not valid",
  "2.1": "the mailbox is disabled",
  "2.2": "the mailbox is full",
  "3.4": "the message is too big for the destination",
  "4.1": "no answer from the destination mail server",
  "4.2": "the connection to the destination mail server broke",
  "4.3": "a DNS lookup failed",
  "4.4": "no route to the destination",
  "4.6": "a mail routing loop was detected",
  "4.7": "the delivery time expired",
  "5.3": "too many recipients",
  "7.1": "delivery not authorized, the message was refused",
};

function statusMeaning(status: string): string {
  const m = /^([245])\.(\d{1,3}\.\d{1,3})$/.exec(status);
  const meaning = m ? STATUS_MEANINGS[m[2]!] : undefined;
  if (meaning) return `Reason: ${meaning} (${status}).`;
  return m?.[1] === "4"
    ? `Reason: a temporary failure (${status}).`
    : `Reason: a permanent failure (${status}).`;
}

// ---- helpers ----

/** one header-style field, folded at spaces to about 78 characters (RFC 5322 §2.2.3) */
function field(name: string, value: string): string {
  const words = value.split(" ");
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > 78 && line.length > name.length + 1 && w !== "") {
      lines.push(line);
      line = ` ${w}`;
    } else line += ` ${w}`;
  }
  lines.push(line);
  return `${lines.join(CRLF)}${CRLF}`;
}

/** printable ASCII only (controls and non-ASCII become "?"), whitespace runs collapsed, bounded */
function printable(s: string): string {
  return s
    .replace(/[\r\n\t]+/g, " ")
    .replace(/[^\x20-\x7e]/g, "?")
    .replace(/ {2,}/g, " ")
    .trim()
    .slice(0, 900);
}

/** like printable, but keeps non-ASCII letters (addresses under RFC 6531/6532) */
function fieldText(s: string): string {
  return s
    .replace(/[\x00-\x1f\x7f\u0080-\u009f]+/g, " ")
    .replace(/ {2,}/g, " ")
    .trim()
    .slice(0, 900);
}

/** words wrapped to lines of at most width characters (longer words stay whole) */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const w of text.split(/ +/)) {
    if (line === "") line = w;
    else if (line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else line += ` ${w}`;
  }
  out.push(line);
  return out;
}

/**
 * The header section of a message: up to and including the line break of its last field (the
 * blank line is not included). Without a blank line, a complete message is all header; a
 * leading part is cut after its last whole line.
 */
export function headerSection(message: Buffer, complete = true): Buffer {
  // starts with an empty line: no header
  if (message[0] === 0x0a || (message[0] === 0x0d && message[1] === 0x0a)) return message.subarray(0, 0);
  for (let i = 0; i < message.length; i++) {
    if (message[i] !== 0x0a) continue;
    // "\n\n" or "\n\r\n": the blank line starts after i
    if (message[i + 1] === 0x0a) return message.subarray(0, i + 1);
    if (message[i + 1] === 0x0d && message[i + 2] === 0x0a) return message.subarray(0, i + 1);
  }
  if (complete) return message;
  const lastLf = message.lastIndexOf(0x0a);
  return message.subarray(0, lastLf + 1);
}

/** "7bit", "8bit", or "binary" (NUL, a bare CR or a line over 998 octets; RFC 2045 §2.7–2.8) */
function transferEncoding(body: Buffer): "7bit" | "8bit" | "binary" {
  let eight = false;
  let lineLength = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b === 0x0a) {
      lineLength = 0;
      continue;
    }
    if (b === 0x00 || (b === 0x0d && body[i + 1] !== 0x0a)) return "binary";
    if (b !== 0x0d && ++lineLength > 998) return "binary";
    if (b >= 0x80) eight = true;
  }
  return eight ? "8bit" : "7bit";
}

/** a boundary that does not occur in the returned content ("=_" cannot occur in QP or base64) */
function pickBoundary(original: Buffer | null): string {
  for (;;) {
    const b = `=_postamt_dsn_${randomBytes(12).toString("hex")}`;
    if (original === null || !original.includes(b)) return b;
  }
}
