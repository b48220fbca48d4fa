// The storage contract (DESIGN.md §4). Every backend (SQLite now, PostgreSQL later) implements
// MailStore and passes the one conformance suite in test/store/. Protocol code talks only to these
// interfaces, never to SQL.

import type { Readable } from "node:stream";
import type { Envelope, MimeNode } from "../mail/mime-types.js";

export type SpecialUse = "\\Inbox" | "\\Sent" | "\\Drafts" | "\\Trash" | "\\Junk" | "\\Archive";

/** Created for every new account, in this order. INBOX is special: its name is case-insensitive. */
export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse | null }> = [
  { name: "INBOX", specialUse: null },
  { name: "Sent", specialUse: "\\Sent" },
  { name: "Drafts", specialUse: "\\Drafts" },
  { name: "Trash", specialUse: "\\Trash" },
  { name: "Junk", specialUse: "\\Junk" },
  { name: "Archive", specialUse: "\\Archive" },
];

/** Hierarchy delimiter of mailbox names as stored. ("." is accepted on input and mapped by IMAP.) */
export const MAILBOX_DELIMITER = "/";

export interface Domain {
  id: number;
  /** lower-case ASCII (A-labels for IDN) */
  name: string;
  createdAt: Date;
}

/** SCRAM-SHA-256 server credentials (RFC 5802 §3, RFC 7677); binary values base64. */
export interface ScramCredentials {
  iterations: number;
  salt: string;
  storedKey: string;
  serverKey: string;
}

export interface Account {
  id: number;
  /** "local@domain", lower-case */
  address: string;
  domainId: number;
  /** PHC-style string, e.g. "$scrypt$ln=15,r=8,p=1$salt$hash" (see auth/password.ts) */
  passwordHash: string;
  scram: ScramCredentials;
  /** storage limit in bytes; null = unlimited */
  quotaBytes: number | null;
  disabled: boolean;
  createdAt: Date;
}

export interface NewAccount {
  address: string;
  passwordHash: string;
  scram: ScramCredentials;
  quotaBytes?: number | null;
}

/** An alias address ("local@domain", or "@domain" for the domain's catch-all) with its targets. */
export interface Alias {
  id: number;
  address: string;
  targets: string[];
  createdAt: Date;
}

export interface Mailbox {
  id: number;
  accountId: number;
  /** full UTF-8 name with "/" as hierarchy delimiter; "INBOX" exactly for the inbox */
  name: string;
  specialUse: SpecialUse | null;
  subscribed: boolean;
  /** \Noselect: deleted while it had children (RFC 9051 §6.3.5); holds no messages, only names children */
  noselect: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** messages currently in the mailbox */
  messages: number;
  /** sum of message sizes in the mailbox (bytes) */
  size: number;
}

/** System flags are stored with their backslash (\Seen); anything else is a keyword. */
export type Flag = string;

/** Message metadata as listed for a mailbox (without the MIME tree, which can be large). */
export interface MessageSummary {
  /** store-wide message id (of this copy) */
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  flags: Flag[];
  internalDate: Date;
  /** RFC822.SIZE: prefix length + blob size */
  size: number;
}

export interface MessageSource {
  id: number;
  uid: number;
  /** prefix length + blob size */
  size: number;
  blobId: string;
  prefix: Buffer;
}

export interface MessageRecord extends MessageSummary {
  blobId: string;
  /** trace headers (Return-Path, Delivered-To, Received, Authentication-Results) served before the blob */
  prefix: Buffer;
  /** MIME tree with offsets relative to the blob (add prefix.length for offsets into the full message) */
  mime: MimeNode;
  envelope: Envelope;
  /**
   * The blob's top-level header section, bytes [0, mime.headerEnd), kept in the database (see
   * MessageContent.header): only when getMessage was asked for it ({ header: true }) and it is stored
   * (absent for messages stored without it, or whose header is over MAX_STORED_HEADER bytes).
   */
  header?: Buffer;
}

/**
 * The largest top-level header section the store keeps in its database (MessageContent.header), so
 * that header FETCHes (BODY[HEADER], HEADER.FIELDS, RFC822.HEADER) need no blob read.
 */
export const MAX_STORED_HEADER = 16 * 1024;

/** The top-level header section of a whole message's bytes, when the store would keep it. */
export function storedHeaderOf(message: Buffer, mime: MimeNode): Buffer | undefined {
  const end = mime.headerEnd;
  return end <= MAX_STORED_HEADER && end <= message.length ? message.subarray(0, end) : undefined;
}

/** What a message is made of, shared by every copy of one delivery. */
export interface MessageContent {
  blobId: string;
  /** size of the blob in bytes */
  blobSize: number;
  mime: MimeNode;
  envelope: Envelope;
  /** decoded text of the message (subject, addresses, text parts) for the full-text index; may be "" */
  searchText?: string;
  /**
   * The blob's top-level header section, bytes [0, mime.headerEnd) (MessageSpool keeps it): stored
   * once per blob when it is at most MAX_STORED_HEADER bytes, and served by getMessage with
   * { header: true }. Optional: without it header FETCHes read the blob.
   */
  header?: Buffer;
}

export interface DeliveryTarget {
  accountId: number;
  /** mailbox to file into; default: the account's INBOX */
  mailboxId?: number;
  prefix?: Buffer;
  flags?: Flag[];
  /** ignore the account's quota (e.g. for bounce notices); default false */
  ignoreQuota?: boolean;
}

export interface DeliveryRequest {
  content: MessageContent;
  /** default: now */
  internalDate?: Date;
  targets: DeliveryTarget[];
  /** remote recipients, queued in the same transaction as the local copies */
  queue?: NewQueueMessage;
}

export interface DeliveredCopy {
  accountId: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  messageId: number;
  uidValidity: number;
}

export interface DeliveryResult {
  copies: DeliveredCopy[];
  queueId: string | null;
}

/**
 * What an IMAP session keeps of every message of a selected mailbox, in columns (ascending UID), read
 * in one go: a 100,000-message mailbox is a few typed arrays, not 100,000 objects.
 */
export interface MessageStates {
  uids: Uint32Array;
  modseqs: Float64Array;
  /** per message, its flags as an index into flagSets */
  flagIds: Uint32Array;
  /** the distinct (normalised) flag lists of the mailbox; shared, never to be modified */
  flagSets: Flag[][];
  /** the mailbox's UIDVALIDITY, HIGHESTMODSEQ and UIDNEXT, read together with the messages */
  uidValidity: number;
  highestModseq: number;
  uidNext: number;
}

/** Sizes and dates of messages, in columns (ascending UID): FETCH RFC822.SIZE/INTERNALDATE, SORT. */
export interface MessageDetails {
  uids: Uint32Array;
  /** RFC822.SIZE */
  sizes: Float64Array;
  /** INTERNALDATE, epoch ms */
  internalDates: Float64Array;
  /** the Date: header as a UTC instant (RFC 5256 §2.2), epoch ms; NaN when missing or unreadable */
  sentDates: Float64Array;
}

/** How many messages of a mailbox carry one distinct flag list. */
export interface FlagCount {
  flags: Flag[];
  count: number;
}

export type ChangeKind = "append" | "flags" | "expunge";

/** One row of a mailbox's change log, keyed by modseq (for IDLE, CONDSTORE and QRESYNC). */
export interface MailboxChange {
  modseq: number;
  kind: ChangeKind;
  uid: number;
  /** the flags after the change, for "append" and "flags" */
  flags?: Flag[];
}

export type FlagOperation = "add" | "remove" | "set";

export interface StoreFlagsRequest {
  mailboxId: number;
  uids: number[];
  op: FlagOperation;
  flags: Flag[];
  /** CONDSTORE UNCHANGEDSINCE: messages whose modseq is greater are left alone and reported */
  unchangedSince?: number;
}

export interface StoreFlagsResult {
  /** messages whose flags changed, in UID order, with their new state (one modseq each, ascending
   *  with the UID); entries with equal flags may share one array: do not modify it */
  updated: Array<{ uid: number; modseq: number; flags: Flag[] }>;
  /** UIDs that failed the UNCHANGEDSINCE test */
  modified: number[];
  highestModseq: number;
}

export interface CopyResult {
  uidValidity: number;
  /** pairs of source UID → destination UID, in source UID order */
  mapping: Array<[number, number]>;
}

export interface Quota {
  accountId: number;
  usedBytes: number;
  limitBytes: number | null;
  messages: number;
}

// ---- outbound queue (used by the outbound delivery issue; the tables and basic admin live here) ----

export type QueueRecipientStatus = "pending" | "delivered" | "failed" | "deferred";

export interface DsnParams {
  /** RFC 3461 RET */
  ret?: "FULL" | "HDRS";
  /** RFC 3461 ENVID (xtext-decoded) */
  envid?: string;
}

export interface NewQueueRecipient {
  address: string;
  /** RFC 3461 NOTIFY: e.g. ["SUCCESS","FAILURE"] or ["NEVER"] */
  notify?: string[];
  /** RFC 3461 ORCPT, "addr-type;xtext" as received */
  orcpt?: string;
}

export interface NewQueueMessage {
  /** envelope sender ("" for the null sender <>) */
  sender: string;
  recipients: NewQueueRecipient[];
  /** blob of the message as it is to be sent (may differ from the local copy's blob, e.g. DKIM-signed) */
  blobId?: string;
  /** header lines to send before the blob (e.g. DKIM-Signature, Received) */
  prefix?: Buffer;
  dsn?: DsnParams;
  /** account that submitted it, for send limits and bounces */
  accountId?: number | null;
  /** when the first attempt should be made; default now */
  nextAttemptAt?: Date;
}

export interface QueueRecipient {
  id: number;
  address: string;
  domain: string;
  status: QueueRecipientStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastReply: string | null;
  notify: string[] | null;
  orcpt: string | null;
  /** RFC 3463 status of the last attempt, e.g. "4.4.1" (always set by the store; optional for test doubles) */
  lastStatus?: string | null;
  /** DSN Remote-MTA of the last attempt (RFC 3464 §2.3.5): the host that answered */
  remoteMta?: string | null;
  /** DSN Diagnostic-Code of the last attempt (RFC 3464 §2.3.6), e.g. "smtp; 451 4.7.1 try later" */
  diagnostic?: string | null;
  /** when the sender was sent a "delayed" DSN for this recipient (at most once) */
  delayNotifiedAt?: Date | null;
}

export interface QueueMessage {
  /** opaque id shown to admins (e.g. "01J…" or a hex string) */
  id: string;
  sender: string;
  blobId: string;
  prefix: Buffer;
  size: number;
  dsn: DsnParams;
  accountId: number | null;
  createdAt: Date;
  recipients: QueueRecipient[];
}

/** What claimQueue leases: due recipients, one job per (message, destination domain). */
export interface ClaimQueueOptions {
  /** the caller's clock: due means next_attempt_at <= now, a live lease lease_until > now */
  now: Date;
  /** lease holder, stable across restarts of one node (releaseLeases(owner) at startup) */
  owner: string;
  /** the lease lasts until now + leaseMs; after that another owner may claim the recipients */
  leaseMs: number;
  /** most jobs returned */
  limit: number;
  /** destination domains to skip (e.g. their concurrency is used up) */
  excludeDomains?: string[];
  /**
   * only these destination domains (a slot freed up for them and nothing else is known to be due):
   * read through the per-domain index, so the cost does not grow with the rest of the queue
   */
  onlyDomains?: string[];
  /** most jobs per destination domain, counting `busy[domain]` jobs already running */
  perDomain?: { limit: number; busy?: Record<string, number> };
}

/** A claimed job: QueueMessage.recipients holds only the leased recipients of `domain`. */
export interface ClaimedQueueJob {
  message: QueueMessage;
  domain: string;
  recipients: QueueRecipient[];
}

/** The outcome of one delivery attempt for one leased recipient. */
export interface QueueUpdate {
  recipientId: number;
  /** the lease holder; the update is skipped while another owner holds the recipient's lease */
  owner: string;
  status: "delivered" | "failed" | "deferred";
  attemptedAt: Date;
  /** deferred: when to try again (ignored otherwise) */
  nextAttemptAt?: Date | null;
  /** one line for admins (last_reply) */
  reply: string;
  /** RFC 3463 status, e.g. "5.1.1" */
  statusCode?: string | null;
  remoteMta?: string | null;
  diagnostic?: string | null;
}

export interface QueueCompletion {
  /** recipient ids whose update was applied (others: no longer pending, or leased by another owner) */
  applied: number[];
  /** queue messages removed because every recipient is now delivered or failed */
  removedMessages: string[];
}

export interface RecipientResolution {
  kind: "local";
  /** accounts that receive a copy (deduplicated) */
  accountIds: number[];
  /** the final addresses, for Delivered-To */
  addresses: string[];
  /** remote addresses reached through aliases, to be queued for relay (deduplicated) */
  remote: string[];
  /** only the domain's catch-all "@domain" answered for the address */
  catchAll?: boolean;
}

// ---- interfaces ----

export interface BlobWriter {
  write(chunk: Buffer): Promise<void>;
  /** fsyncs the data and the directory, names the blob by its sha256; idempotent for equal content */
  finish(): Promise<{ id: string; size: number }>;
  /** removes the temporary file */
  abort(): Promise<void>;
}

/** Immutable content-addressed bytes. */
export interface BlobStore {
  createWriter(): BlobWriter;
  put(data: Buffer): Promise<{ id: string; size: number }>;
  /** stream bytes [start, end) (end defaults to the blob's size) */
  createReadStream(id: string, start?: number, end?: number): Readable;
  read(id: string, start?: number, end?: number): Promise<Buffer>;
  size(id: string): Promise<number>;
  exists(id: string): Promise<boolean>;
  delete(id: string): Promise<void>;
  list(): AsyncIterable<string>;
}

/** Wakes sessions when a mailbox changed. Never the truth: the change log is (changesSince). */
export interface ChangeBus {
  publish(mailboxId: number, modseq: number): void;
  subscribe(mailboxId: number, listener: (modseq: number) => void): () => void;
  /** mailbox list changes (create/delete/rename/subscribe) of an account */
  publishAccount(accountId: number): void;
  subscribeAccount(accountId: number, listener: () => void): () => void;
}

export interface MailStore {
  readonly blobs: BlobStore;
  readonly bus: ChangeBus;

  /** runs migrations; refuses a database from a newer schema version */
  open(): Promise<void>;
  /** waits for pending group commits, then closes */
  close(): Promise<void>;
  schemaVersion(): Promise<number>;

  // domains
  addDomain(name: string): Promise<Domain>;
  getDomain(name: string): Promise<Domain | null>;
  listDomains(): Promise<Domain[]>;
  /** refuses (StoreError "in-use") while accounts or aliases of the domain exist unless force */
  removeDomain(name: string, opts?: { force?: boolean }): Promise<void>;

  // accounts
  addAccount(acc: NewAccount): Promise<Account>;
  getAccount(address: string): Promise<Account | null>;
  getAccountById(id: number): Promise<Account | null>;
  listAccounts(domain?: string): Promise<Account[]>;
  setPassword(address: string, passwordHash: string, scram: ScramCredentials): Promise<void>;
  setQuota(address: string, quotaBytes: number | null): Promise<void>;
  /** removes the account, its mailboxes and messages (blobs are collected later) */
  removeAccount(address: string): Promise<void>;

  // aliases
  addAlias(address: string, targets: string[]): Promise<Alias>;
  getAlias(address: string): Promise<Alias | null>;
  listAliases(domain?: string): Promise<Alias[]>;
  removeAlias(address: string): Promise<void>;

  /**
   * Resolves an envelope recipient of a local domain through accounts, aliases (recursively,
   * loop-safe), "+tag" sub-addressing and the domain's catch-all. null: no such recipient.
   */
  resolveRecipient(address: string): Promise<RecipientResolution | null>;
  isLocalDomain(domain: string): Promise<boolean>;

  // mailboxes
  listMailboxes(accountId: number): Promise<Mailbox[]>;
  getMailbox(accountId: number, name: string): Promise<Mailbox | null>;
  getMailboxById(id: number): Promise<Mailbox | null>;
  createMailbox(accountId: number, name: string, opts?: { specialUse?: SpecialUse | null }): Promise<Mailbox>;
  /** renames the mailbox and its children; renaming INBOX moves its messages to a new mailbox (RFC 9051 §6.3.6) */
  renameMailbox(accountId: number, from: string, to: string): Promise<void>;
  /**
   * Deletes a mailbox and its messages. One with children becomes \Noselect instead (its messages
   * are removed, the name stays for the children; RFC 9051 §6.3.5); deleting a \Noselect mailbox
   * that still has children is refused ("in-use"). Creating a \Noselect name makes it selectable again.
   */
  deleteMailbox(accountId: number, name: string): Promise<void>;
  setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void>;

  // messages
  /** writes every local copy (and the queue rows) in one transaction, durably (group commit) */
  deliver(req: DeliveryRequest): Promise<DeliveryResult>;
  /** in UID order; sinceUid: only messages with uid >= sinceUid */
  listMessages(mailboxId: number, opts?: { sinceUid?: number }): Promise<MessageSummary[]>;
  /** opts.header: include the stored top-level header section (MessageRecord.header) in the same read */
  getMessage(mailboxId: number, uid: number, opts?: { header?: boolean }): Promise<MessageRecord | null>;
  /** the ENVELOPE of every message of a mailbox, by UID, in one read (SORT and THREAD keys) */
  listEnvelopes(mailboxId: number): Promise<Map<number, Envelope>>;
  /** UID, MODSEQ and flags of every message, with HIGHESTMODSEQ and UIDNEXT, in one read; null: no mailbox */
  listMessageStates(mailboxId: number): Promise<MessageStates | null>;
  /** sizes and dates of the messages with fromUid <= uid <= toUid (default: all) */
  listMessageDetails(mailboxId: number, opts?: { fromUid?: number; toUid?: number }): Promise<MessageDetails>;
  /** message counts per distinct flag list (STATUS UNSEEN/DELETED) */
  countFlags(mailboxId: number): Promise<FlagCount[]>;
  /** where a message's bytes are (prefix + blob), without its parsed structure: POP3 RETR, whole-message reads */
  getMessageSource(mailboxId: number, uid: number): Promise<MessageSource | null>;
  storeFlags(req: StoreFlagsRequest): Promise<StoreFlagsResult>;
  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<CopyResult>;
  moveMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<CopyResult>;
  /** removes the given messages; returns the UIDs actually expunged */
  expunge(mailboxId: number, uids: number[]): Promise<number[]>;
  /**
   * Records that POP3 sent these messages whole at `at` (RFC 2449 §6.7 EXPIRE n); a message keeps
   * the time of its first retrieval (later calls leave it alone). Unknown UIDs are ignored; an
   * unknown mailbox is StoreError "not-found". Not a change IMAP sees: no modseq, no bus event.
   */
  markRetrieved(mailboxId: number, uids: number[], at: Date): Promise<void>;
  /**
   * Expunges (like expunge: change log, quota, bus) the messages first retrieved by POP3 before
   * `retrievedBefore`; returns their UIDs in UID order.
   */
  expireRetrieved(mailboxId: number, retrievedBefore: Date): Promise<number[]>;
  changesSince(mailboxId: number, modseq: number): Promise<MailboxChange[]>;
  /** UIDs whose decoded text contains all the words (full-text index) */
  searchText(mailboxId: number, query: string): Promise<number[]>;

  // quota
  getQuota(accountId: number): Promise<Quota>;

  // queue
  listQueue(): Promise<QueueMessage[]>;
  getQueued(id: string): Promise<QueueMessage | null>;
  removeQueued(id: string): Promise<boolean>;
  /**
   * Makes pending/deferred recipients due now (all messages when id is omitted) and drops their
   * expired leases; a live lease is kept (an attempt is in flight and records its own outcome).
   * Returns recipients touched.
   */
  retryQueued(id?: string): Promise<number>;
  /**
   * Leases due recipients (pending/deferred, next attempt <= now, no live lease) to `owner` in one
   * transaction, grouped per (message, domain), the longest-due first. A lease need not survive a
   * crash (its recipients simply become claimable again), so backends may commit it without a sync.
   */
  claimQueue(opts: ClaimQueueOptions): Promise<ClaimedQueueJob[]>;
  /**
   * Records attempts: status, attempts + 1, last attempt, next attempt (deferred only), reply and
   * DSN fields; releases the lease. A message whose recipients are all delivered or failed is
   * removed with its recipients. One transaction; it survives a process crash, but a backend may
   * commit it without a sync (a power failure may then undo it: the recipient is tried again, a
   * duplicate rather than a loss, RFC 5321 §6.1).
   */
  completeQueue(updates: QueueUpdate[]): Promise<QueueCompletion>;
  /** drops every lease of `owner` (its previous process is dead); returns recipients released */
  releaseLeases(owner: string): Promise<number>;
  /** the earliest time a pending/deferred recipient can be claimed (a live lease postpones it); null: none */
  nextQueueDue(): Promise<Date | null>;
  /** records that a "delayed" DSN went out for these recipients (the first time is kept) */
  markDelayNotified(recipientIds: number[], at: Date): Promise<void>;

  /**
   * deletes blobs no message or queue entry references (older than graceMs, default 1 hour), with
   * their stored header sections
   */
  collectGarbage(opts?: { graceMs?: number }): Promise<{ removed: number }>;

  // ---- inbound policy state (schema v6) ----
  /** one greylisting triplet or allowed client network, by key; null when unknown */
  greylistGet(key: string): Promise<GreylistEntry | null>;
  /** inserts or replaces the entry with that key */
  greylistPut(entry: GreylistEntry): Promise<void>;
  /** deletes entries whose expiresAt is before `now` (ms); returns how many */
  greylistExpire(now: number): Promise<number>;
  /** adds each row's count to the row with the same key fields (day … dkimDomain), creating it */
  recordDmarc(rows: DmarcRecord[]): Promise<void>;
  /** aggregate rows, newest day first; filters are optional */
  listDmarc(opts?: { since?: string; domain?: string }): Promise<DmarcRecord[]>;
}

/** Greylisting state (RFC 6647): a triplet seen, or a client network allowed after a good retry. */
export interface GreylistEntry {
  /** "t:<network>|<sender>|<recipient>" for triplets, "a:<network>" for auto-allowed networks */
  key: string;
  /** ms since the epoch */
  firstSeen: number;
  lastSeen: number;
  /** the triplet was retried after the delay (or, for "a:" keys, always true) */
  passed: boolean;
  /** ms since the epoch; the entry is forgotten after this */
  expiresAt: number;
}

/** One row of DMARC aggregate report data (RFC 7489 §7.2 "record"): a count per distinct outcome. */
export interface DmarcRecord {
  /** UTC day, "YYYY-MM-DD" */
  day: string;
  /** the RFC5322.From domain the policy was looked up for */
  domain: string;
  sourceIp: string;
  /** the published policy applied: "none" | "quarantine" | "reject" ("" when there was no record) */
  policy: string;
  /** what Postamt did: "none" (delivered) | "quarantine" (Junk) | "reject" */
  disposition: string;
  /** the DMARC result: pass | fail | none | temperror | permerror */
  dmarc: string;
  /** SPF result and the domain it was for (MAIL FROM, or HELO for the null sender) */
  spf: string;
  spfDomain: string;
  /** the best DKIM result ("pass" when any signature passed) and its d= domain ("" when unsigned) */
  dkim: string;
  dkimDomain: string;
  count: number;
}

export type StoreErrorCode =
  | "exists"
  | "not-found"
  | "in-use"
  | "invalid"
  | "quota"
  | "no-domain"
  | "newer-schema"
  | "closed";

/** Errors the store reports to its callers; protocol layers map codes to replies. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}
