// What the SMTP session hands to the delivery layer: the spooled message (one blob, parsed once),
// the accepted recipients and the trace data for the Received header (DESIGN.md §5).
import type { Envelope, MimeNode } from "../mail/mime-types.js";
import type { TlsInfo } from "../tls/context.js";

/** A message written to the blob store and parsed in the same pass (see spool.ts). */
export interface SpooledMessage {
  blobId: string;
  /** blob size in bytes */
  size: number;
  mime: MimeNode;
  envelope: Envelope;
  /** decoded subject, addresses and text parts for the full-text index (bounded) */
  searchText: string;
  /** MIME defects, for the log */
  defects: string[];
  /**
   * The top-level header section, blob bytes [0, mime.headerEnd), when it is at most
   * MAX_STORED_HEADER bytes (for MessageContent.header: header FETCHes without a blob read)
   */
  header?: Buffer;
}

/** A RCPT of a local domain, resolved to accounts (RecipientResolution minus remote targets). */
export interface LocalRecipient {
  kind: "local";
  /** the address as given in RCPT TO */
  address: string;
  accountIds: number[];
  /** final address of each account (same order as accountIds), for Delivered-To */
  addresses: string[];
  /** RFC 3461 NOTIFY */
  notify?: string[];
  /** RFC 3461 ORCPT, "addr-type;xtext" as received */
  orcpt?: string;
}

export interface RemoteRecipient {
  kind: "remote";
  address: string;
  notify?: string[];
  orcpt?: string;
}

export type AcceptedRecipient = LocalRecipient | RemoteRecipient;

export interface InboundEnvelope {
  /** "" = null sender <> */
  mailFrom: string;
  /** RFC 3461 RET */
  ret?: "FULL" | "HDRS";
  /** RFC 3461 ENVID (xtext-decoded) */
  envid?: string;
  /** RFC 6531 SMTPUTF8 was given on MAIL FROM */
  smtputf8?: boolean;
  recipients: AcceptedRecipient[];
}

/** RFC 5321 §4.4 trace data of one SMTP transaction. */
export interface TraceInfo {
  /** our hostname */
  receivedBy: string;
  /** as the client said it in HELO/EHLO (null: none) */
  heloName: string | null;
  /** client IP */
  remoteAddress: string;
  /** verified reverse DNS name, when known */
  remoteHost: string | null;
  /** RFC 3848 / RFC 6531 §4.3 WITH values */
  protocol:
    | "SMTP"
    | "ESMTP"
    | "ESMTPS"
    | "ESMTPA"
    | "ESMTPSA"
    | "UTF8SMTP"
    | "UTF8SMTPS"
    | "UTF8SMTPA"
    | "UTF8SMTPSA";
  tls: TlsInfo | null;
  authenticatedAs: string | null;
  /** session / transaction id for the "id" clause (also in the log, to trace a message back) */
  id: string;
  /** time of receipt; default now (also the copies' internal date) */
  date?: Date;
}

export interface DeliveryOutcome {
  /** mailbox copies written */
  localCopies: number;
  /** id of the queue entry for remote recipients, null when there were none */
  queueId: string | null;
}
