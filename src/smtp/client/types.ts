// The outbound SMTP client's contract (DESIGN.md smtp/client): one connection to one remote host,
// used by the queue's remote delivery (and by tests). Replies are parsed, never interpreted here beyond
// the protocol: which reply means "retry" or "bounce" is the caller's decision.
import type { Readable } from "node:stream";
import type { PeerCertificate } from "node:tls";

export interface ClientReply {
  code: number;
  /** RFC 3463 enhanced status code when the remote gave one ("5.1.1") */
  enhanced: string | null;
  /** text lines without code and enhanced code */
  lines: string[];
  /** the reply as received, lines joined with " / " for logs and DSN diagnostic codes */
  text: string;
}

export type TlsMode =
  /** STARTTLS when offered, plaintext otherwise; certificate problems do not stop delivery */
  | "opportunistic"
  /** STARTTLS must be offered and succeed; the certificate is checked with `verify` (or PKIX + name) */
  | "required"
  /** TLS from the first byte (port 465 smarthosts) */
  | "implicit"
  | "none";

export interface TlsSession {
  protocol: string | null;
  cipher: string | null;
  /** PKIX chain valid and the certificate matches `servername` */
  authorized: boolean;
  authorizationError: string | null;
  peerCertificate: PeerCertificate | null;
  /** the reason `verifyCertificate` gave (recorded, not fatal, with tls "opportunistic"); null when it
   *  accepted or there is no hook */
  verifyError?: string | null;
}

export interface SmtpClientOptions {
  /** IP address (or host name) to connect to */
  host: string;
  port: number;
  /** the name the certificate must match (the MX host name), also sent as SNI */
  servername?: string;
  /** our name for EHLO/HELO */
  localHostname: string;
  /** source address to bind */
  localAddress?: string;
  tls: TlsMode;
  /** extra CAs for PKIX validation (tests) */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Extra certificate check after the handshake (DANE, MTA-STS). Return null when acceptable or a
   * reason; with tls "required" a reason fails the connection (ClientError kind "tls").
   */
  verifyCertificate?: (session: TlsSession, socket: import("node:tls").TLSSocket) => string | null;
  auth?: { user: string; pass: string };
  /** RFC 5321 §4.5.3.2 timeouts in ms; defaults: connect 30 s, greeting 5 min, MAIL/RCPT 5 min,
   *  DATA 2 min, data block 3 min, final dot 10 min */
  timeouts?: Partial<Record<"connect" | "greeting" | "command" | "dataInit" | "dataBlock" | "dataDone", number>>;
  /** use BDAT when the remote offers CHUNKING (default true); false forces DATA */
  chunking?: boolean;
  /** BDAT chunk size in octets (default 64 KiB) */
  bdatChunkSize?: number;
}

export interface OutboundRecipient {
  address: string;
  /** RFC 3461 NOTIFY values, sent only when the remote advertises DSN */
  notify?: string[];
  /** RFC 3461 ORCPT "addr-type;xtext" */
  orcpt?: string;
}

export interface OutboundEnvelope {
  /** "" for the null sender */
  from: string;
  recipients: OutboundRecipient[];
  /** total message size in octets (SIZE= parameter; refused locally when over the remote's SIZE) */
  size: number;
  /** the message has 8-bit octets (BODY=8BITMIME) */
  eightBit: boolean;
  /** the envelope or headers need SMTPUTF8 (RFC 6531) */
  smtputf8: boolean;
  ret?: "FULL" | "HDRS";
  envid?: string;
}

export interface RecipientResult {
  address: string;
  accepted: boolean;
  reply: ClientReply;
}

/**
 * A recipient got the message when it is `accepted` and `data` is 2xx. When MAIL is refused every
 * recipient carries the MAIL reply; after a 421 (the connection is then closed) the recipients not yet
 * answered carry the 421, and `data` is that 421 when some recipient had been accepted.
 */
export interface SendResult {
  /** reply to MAIL FROM */
  mail: ClientReply;
  recipients: RecipientResult[];
  /** reply to the end of data (DATA's final dot or the last BDAT); null when no recipient was accepted
   *  or MAIL was refused (then no data was sent) */
  data: ClientReply | null;
}

export type ClientErrorKind =
  /** TCP connect failed or was refused */
  | "connect"
  /** a timeout at any stage */
  | "timeout"
  /** the connection dropped or the remote sent garbage */
  | "protocol"
  /** STARTTLS required but missing, handshake failed, or verifyCertificate refused */
  | "tls"
  /** the remote refused AUTH */
  | "auth"
  /** a 4xx/5xx greeting or EHLO+HELO refusal (the reply is attached) */
  | "rejected"
  /** local refusal before sending: message larger than the remote's SIZE, or SMTPUTF8 needed but missing */
  | "size"
  | "smtputf8";

export class ClientError extends Error {
  constructor(
    readonly kind: ClientErrorKind,
    message: string,
    readonly reply: ClientReply | null = null,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

export interface SmtpConnection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** the greeting's first line text */
  readonly banner: string;
  /** EHLO keywords (upper case) → parameters string ("" when none); empty map after HELO fallback */
  readonly extensions: ReadonlyMap<string, string>;
  readonly tls: TlsSession | null;
  /** tls "opportunistic" only: why the STARTTLS handshake (or the STARTTLS command) failed, when this
   *  connection went on without TLS; null when TLS was not tried or worked */
  readonly tlsFallback?: string | null;
  /**
   * One transaction: MAIL, RCPT per recipient, then DATA (or BDAT when CHUNKING is offered) with the
   * message streamed from `source()` (dot-stuffed here), pipelined when PIPELINING is offered
   * (RFC 2920). After a transaction the connection can be reused (RSET is sent when needed).
   */
  send(envelope: OutboundEnvelope, source: MessageSource): Promise<SendResult>;
  /** true while the connection can carry another transaction */
  readonly usable: boolean;
  /** QUIT and close (never throws) */
  quit(): Promise<void>;
  /** drop the connection at once */
  destroy(): void;
}

/** The message to send: a stream, or (small messages already in memory) its pieces in order. */
export type MessageSource = () => Readable | readonly Buffer[];

export type ConnectFn = (opts: SmtpClientOptions) => Promise<SmtpConnection>;
