// The parsed structure of a message, produced once at delivery by the streaming MIME parser
// (mime-parser.ts) and stored with the message, so IMAP FETCH (BODYSTRUCTURE, BODY[section],
// ENVELOPE) never has to re-parse. It is plain JSON: the store persists it as is.
//
// All offsets are byte offsets into the parsed bytes (the message blob, without the trace-header
// prefix that the store keeps separately), half-open: [start, end).

/** RFC 5322 / IMAP ENVELOPE address. Strings are raw header text (encoded-words left as they are). */
export interface EnvelopeAddress {
  /** display name, unfolded, quotes removed; null when absent */
  name: string | null;
  /** source route (obsolete), almost always null */
  adl: string | null;
  /** local part; for a group start: the group name; null for a group end */
  mailbox: string | null;
  /** domain; null marks a group start/end as in RFC 3501 §7.4.2 */
  host: string | null;
}

/** The IMAP ENVELOPE fields of a message or an encapsulated message/rfc822 part (RFC 9051 §7.5.2). */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[];
  sender: EnvelopeAddress[];
  replyTo: EnvelopeAddress[];
  to: EnvelopeAddress[];
  cc: EnvelopeAddress[];
  bcc: EnvelopeAddress[];
  inReplyTo: string | null;
  messageId: string | null;
}

export interface ContentType {
  /** lower-case, e.g. "text" */
  type: string;
  /** lower-case, e.g. "plain" */
  subtype: string;
  /** parameter names lower-case; RFC 2231 continuations joined and decoded to UTF-8 */
  params: Record<string, string>;
}

export interface ContentDisposition {
  /** lower-case, e.g. "attachment" */
  type: string;
  params: Record<string, string>;
}

export interface MimeNode {
  /** start of this part's header (0 for the root) */
  headerStart: number;
  /** end of the header including the blank line that ends it (= bodyStart) */
  headerEnd: number;
  bodyStart: number;
  /** end of the body: for a child of a multipart, the CRLF before the next boundary line is excluded */
  bodyEnd: number;
  /** number of lines in the body (for text/* and message/rfc822 in BODYSTRUCTURE) */
  bodyLines: number;
  /** effective Content-Type (defaults: text/plain; charset=us-ascii, or message/rfc822 in multipart/digest) */
  contentType: ContentType;
  /** true when the header had no (usable) Content-Type and the default was applied */
  contentTypeDefaulted: boolean;
  disposition: ContentDisposition | null;
  /** lower-case Content-Transfer-Encoding, default "7bit" */
  encoding: string;
  contentId: string | null;
  description: string | null;
  language: string[] | null;
  location: string | null;
  md5: string | null;
  /**
   * children of a multipart/* part, in order (empty otherwise). Also empty for a multipart left
   * unparsed (depth or part limit, see defects): serve such a part as a basic body.
   */
  children: MimeNode[];
  /**
   * the encapsulated message of a message/rfc822 (or message/global) part; null when it was
   * not parsed (limits, or a base64/quoted-printable encoded message/*): serve as a basic body
   */
  message: MimeNode | null;
  /**
   * the ENVELOPE of the encapsulated message, for message/rfc822 parts and for the root (the
   * message's own). Encapsulated message nodes (`message`) carry their own envelope too; a
   * message/rfc822 part that is itself a message root (the root is message/rfc822) keeps its
   * own, so BODYSTRUCTURE should read `message.envelope`.
   */
  envelope: Envelope | null;
  /** problems met while parsing this part (missing boundary, truncated header, limits) */
  defects?: string[];
}

export interface MimeLimits {
  /** longest header section of one part in bytes (Dovecot: 10 MB; we default lower) */
  maxHeaderBytes: number;
  /** most MIME parts in one message (Dovecot's default 10,000) */
  maxParts: number;
  /** deepest nesting of multiparts/messages (Dovecot's default 100) */
  maxDepth: number;
}

export const DEFAULT_MIME_LIMITS: MimeLimits = {
  maxHeaderBytes: 1024 * 1024,
  maxParts: 10_000,
  maxDepth: 100,
};
