// MailStore on SQLite (better-sqlite3) plus the file-system blob store. better-sqlite3 is
// synchronous; the methods are async to honour the backend-neutral contract. Message mutations go
// through group commit; directory and mailbox administration are small immediate transactions.

import type { Envelope } from "../../mail/mime-types.js";
import type { CollectableBlobStore } from "../fs-blob-store.js";
import { isBlobId } from "../fs-blob-store.js";
import { normalizeFlags } from "../flags.js";
import type { StoreLogger } from "../open-store.js";
import {
  type Account,
  type Alias,
  type ChangeBus,
  type ClaimedQueueJob,
  type ClaimQueueOptions,
  type CopyResult,
  type DeliveryRequest,
  type DeliveryResult,
  type DmarcRecord,
  type GreylistEntry,
  type Domain,
  type Mailbox,
  type MailboxChange,
  MAX_STORED_HEADER,
  type MessageContent,
  type FlagCount,
  type MessageDetails,
  type MessageStates,
  type MailStore,
  type MessageRecord,
  type MessageSource,
  type MessageSummary,
  type NewAccount,
  type QueueCompletion,
  type QueueMessage,
  type QueueUpdate,
  type Quota,
  type RecipientResolution,
  type ScramCredentials,
  type SpecialUse,
  StoreError,
  type StoreFlagsRequest,
  type StoreFlagsResult,
} from "../types.js";
import { Db } from "./db.js";
import { Directory } from "./directory.js";
import { collectGarbage, DEFAULT_GC_GRACE_MS } from "./gc.js";
import { PolicyState } from "./policy-state.js";
import { type GroupCommitStats, GroupCommit } from "./group-commit.js";
import { Mailboxes } from "./mailboxes.js";
import { Messages, type PreparedDelivery, type Touched } from "./messages.js";
import { HybridBlobStore, INLINE_BLOB_MAX } from "./hybrid-blobs.js";
import { migrate, userVersion } from "./migrations.js";
import { checkQueueMessage, QueueTable } from "./queue.js";

export interface SqliteStoreOptions {
  /** database file (":memory:" for throw-away tests) */
  path: string;
  /** the message files; blobs of at most inlineBlobMax bytes go into the database instead */
  blobs: CollectableBlobStore;
  /** largest blob kept in the database (default INLINE_BLOB_MAX, 128 KiB); 0: every blob is a file */
  inlineBlobMax?: number;
  bus: ChangeBus;
  log?: StoreLogger;
  busyTimeoutMs?: number;
}

interface Parts {
  db: Db;
  commit: GroupCommit;
  directory: Directory;
  mailboxes: Mailboxes;
  messages: Messages;
  queue: QueueTable;
  policy: PolicyState;
}

export class SqliteMailStore implements MailStore {
  readonly blobs: HybridBlobStore;
  readonly bus: ChangeBus;
  private parts: Parts | null = null;

  constructor(private readonly opts: SqliteStoreOptions) {
    this.blobs = new HybridBlobStore(opts.blobs, opts.inlineBlobMax ?? INLINE_BLOB_MAX);
    this.bus = opts.bus;
  }

  // ---- lifecycle ----

  async open(): Promise<void> {
    if (this.parts) return;
    const db = new Db(this.opts.path, { busyTimeoutMs: this.opts.busyTimeoutMs });
    try {
      const applied = migrate(db);
      for (const m of applied) {
        this.opts.log?.info(
          { path: this.opts.path, version: m.version },
          `schema migrated: ${m.description}`,
        );
      }
    } catch (err) {
      db.close();
      throw err;
    }
    const mailboxes = new Mailboxes(db);
    const queue = new QueueTable(db);
    this.parts = {
      db,
      commit: new GroupCommit(db),
      directory: new Directory(db, mailboxes),
      mailboxes,
      messages: new Messages(db, mailboxes, queue),
      queue,
      policy: new PolicyState(db),
    };
    this.blobs.attach(db);
    // once after the upgrade to schema 5: the Date: header of messages stored before it
    const filled = this.parts.messages.backfillSentDates();
    if (filled > 0) {
      this.opts.log?.info(
        { path: this.opts.path, messages: filled },
        "sent dates of stored messages filled in",
      );
    }
  }

  async close(): Promise<void> {
    const parts = this.parts;
    if (!parts) return;
    this.parts = null;
    // commits what is queued and waits for its WAL sync before the connection goes
    await parts.commit.close();
    this.blobs.attach(null);
    parts.db.close();
  }

  async schemaVersion(): Promise<number> {
    return userVersion(this.p.db);
  }

  /** group-commit counters, for metrics */
  commitStats(): GroupCommitStats {
    return this.p.commit.stats();
  }

  private get p(): Parts {
    if (!this.parts) throw new StoreError("closed", "store is not open");
    return this.parts;
  }

  // ---- domains, accounts, aliases ----

  async addDomain(name: string): Promise<Domain> {
    return this.p.directory.addDomain(name);
  }

  async getDomain(name: string): Promise<Domain | null> {
    return this.p.directory.getDomain(name);
  }

  async listDomains(): Promise<Domain[]> {
    return this.p.directory.listDomains();
  }

  async removeDomain(name: string, opts?: { force?: boolean }): Promise<void> {
    this.p.directory.removeDomain(name, opts?.force ?? false);
  }

  async addAccount(acc: NewAccount): Promise<Account> {
    const account = this.p.directory.addAccount(acc);
    this.bus.publishAccount(account.id);
    return account;
  }

  async getAccount(address: string): Promise<Account | null> {
    return this.p.directory.getAccount(address);
  }

  async getAccountById(id: number): Promise<Account | null> {
    return this.p.directory.getAccountById(id);
  }

  async listAccounts(domain?: string): Promise<Account[]> {
    return this.p.directory.listAccounts(domain);
  }

  async setPassword(address: string, passwordHash: string, scram: ScramCredentials): Promise<void> {
    this.p.directory.setPassword(address, passwordHash, scram);
  }

  async setQuota(address: string, quotaBytes: number | null): Promise<void> {
    this.p.directory.setQuota(address, quotaBytes);
  }

  async removeAccount(address: string): Promise<void> {
    const id = this.p.directory.removeAccount(address);
    this.bus.publishAccount(id);
  }

  async addAlias(address: string, targets: string[]): Promise<Alias> {
    return this.p.directory.addAlias(address, targets);
  }

  async getAlias(address: string): Promise<Alias | null> {
    return this.p.directory.getAlias(address);
  }

  async listAliases(domain?: string): Promise<Alias[]> {
    return this.p.directory.listAliases(domain);
  }

  async removeAlias(address: string): Promise<void> {
    this.p.directory.removeAlias(address);
  }

  async resolveRecipient(address: string): Promise<RecipientResolution | null> {
    return this.p.directory.resolveRecipient(address);
  }

  async isLocalDomain(domain: string): Promise<boolean> {
    return this.p.directory.isLocalDomain(domain);
  }

  // ---- mailboxes ----

  async listMailboxes(accountId: number): Promise<Mailbox[]> {
    return this.p.mailboxes.list(accountId);
  }

  async getMailbox(accountId: number, name: string): Promise<Mailbox | null> {
    return this.p.mailboxes.get(accountId, name);
  }

  async getMailboxById(id: number): Promise<Mailbox | null> {
    return this.p.mailboxes.getById(id);
  }

  async createMailbox(
    accountId: number,
    name: string,
    opts?: { specialUse?: SpecialUse | null },
  ): Promise<Mailbox> {
    const mailbox = this.p.mailboxes.create(accountId, name, opts?.specialUse ?? null);
    this.bus.publishAccount(accountId);
    return mailbox;
  }

  async renameMailbox(accountId: number, from: string, to: string): Promise<void> {
    const { touched } = this.p.mailboxes.rename(accountId, from, to);
    this.publish(touched);
    this.bus.publishAccount(accountId);
  }

  async deleteMailbox(accountId: number, name: string): Promise<void> {
    const { touched } = this.p.mailboxes.delete(accountId, name);
    // wakes sessions that have it selected: they find it gone, or its messages expunged
    this.publish(touched);
    this.bus.publishAccount(accountId);
  }

  async setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<void> {
    this.p.mailboxes.setSubscribed(accountId, name, subscribed);
    this.bus.publishAccount(accountId);
  }

  // ---- messages ----

  async deliver(req: DeliveryRequest): Promise<DeliveryResult> {
    // small blobs not stored yet: their bytes go into blob_inline in the delivery's own transaction
    if (!this.parts) throw new StoreError("closed", "store is not open");
    const inline = this.blobs.pin([req.content.blobId, req.queue?.blobId]);
    const prepared = await this.prepareDelivery(req);
    const p = this.p;
    const out = await p.commit.run(() => {
      this.blobs.persist(p.db, inline);
      return p.messages.deliver(prepared);
    });
    this.blobs.settle(inline);
    this.publish(out.touched);
    return { copies: out.copies, queueId: out.queueId };
  }

  /** checks that need no transaction (or are async): the blobs exist on disk, flags are valid */
  private async prepareDelivery(req: DeliveryRequest): Promise<PreparedDelivery> {
    const { content } = req;
    if (req.targets.length === 0 && !req.queue) {
      throw new StoreError("invalid", "a delivery needs targets or a queue entry");
    }
    if (!isBlobId(content.blobId)) throw new StoreError("invalid", `invalid blob id ${content.blobId}`);
    const size = await this.blobs.size(content.blobId);
    if (size !== content.blobSize) {
      throw new StoreError("invalid", `blob ${content.blobId} has ${size} bytes, not ${content.blobSize}`);
    }
    const flags = req.targets.map((t) => normalizeFlags(t.flags ?? []));
    let queueBlobSize = size;
    if (req.queue) {
      checkQueueMessage(req.queue);
      if (req.queue.blobId !== undefined && req.queue.blobId !== content.blobId) {
        queueBlobSize = await this.blobs.size(req.queue.blobId);
      }
    }
    return { req, flags, queueBlobSize, header: storedHeader(content) };
  }

  async listMessages(mailboxId: number, opts?: { sinceUid?: number }): Promise<MessageSummary[]> {
    return this.p.messages.list(mailboxId, opts?.sinceUid);
  }

  async getMessage(
    mailboxId: number,
    uid: number,
    opts?: { header?: boolean },
  ): Promise<MessageRecord | null> {
    return this.p.messages.get(mailboxId, uid, opts?.header ?? false);
  }

  async listEnvelopes(mailboxId: number): Promise<Map<number, Envelope>> {
    return this.p.messages.envelopes(mailboxId);
  }

  async listMessageStates(mailboxId: number): Promise<MessageStates | null> {
    return this.p.messages.states(mailboxId);
  }

  async listMessageDetails(
    mailboxId: number,
    opts?: { fromUid?: number; toUid?: number },
  ): Promise<MessageDetails> {
    return this.p.messages.details(mailboxId, opts?.fromUid ?? 1, opts?.toUid ?? 0xffffffff);
  }

  async countFlags(mailboxId: number): Promise<FlagCount[]> {
    return this.p.messages.countFlags(mailboxId);
  }

  async getMessageSource(mailboxId: number, uid: number): Promise<MessageSource | null> {
    return this.p.messages.source(mailboxId, uid);
  }

  async storeFlags(req: StoreFlagsRequest): Promise<StoreFlagsResult> {
    const flags = normalizeFlags(req.flags);
    const p = this.p;
    const out = await p.commit.run(() => p.messages.storeFlags(req, flags));
    this.publish(out.touched);
    return out.result;
  }

  async copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<CopyResult> {
    const p = this.p;
    const out = await p.commit.run(() => p.messages.copy(fromMailboxId, uids, toMailboxId, false));
    this.publish(out.touched);
    return out.result;
  }

  async moveMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<CopyResult> {
    const p = this.p;
    const out = await p.commit.run(() => p.messages.copy(fromMailboxId, uids, toMailboxId, true));
    this.publish(out.touched);
    return out.result;
  }

  async expunge(mailboxId: number, uids: number[]): Promise<number[]> {
    const p = this.p;
    const out = await p.commit.run(() => p.messages.expunge(mailboxId, uids));
    this.publish(out.touched);
    return out.uids;
  }

  async markRetrieved(mailboxId: number, uids: number[], at: Date): Promise<void> {
    const p = this.p;
    await p.commit.run(() => p.messages.markRetrieved(mailboxId, uids, at.getTime()));
  }

  async expireRetrieved(mailboxId: number, retrievedBefore: Date): Promise<number[]> {
    const p = this.p;
    const out = await p.commit.run(() => p.messages.expireRetrieved(mailboxId, retrievedBefore.getTime()));
    this.publish(out.touched);
    return out.uids;
  }

  async changesSince(mailboxId: number, modseq: number): Promise<MailboxChange[]> {
    return this.p.messages.changesSince(mailboxId, modseq);
  }

  async searchText(mailboxId: number, query: string): Promise<number[]> {
    return this.p.messages.searchText(mailboxId, query);
  }

  // ---- quota ----

  async getQuota(accountId: number): Promise<Quota> {
    const r = this.p.db
      .prep<{ used_bytes: number; quota_bytes: number | null; message_count: number }>(
        "SELECT used_bytes, quota_bytes, message_count FROM accounts WHERE id = ?",
      )
      .get(accountId);
    if (!r) throw new StoreError("not-found", `no account ${accountId}`);
    return { accountId, usedBytes: r.used_bytes, limitBytes: r.quota_bytes, messages: r.message_count };
  }

  // ---- queue ----

  async listQueue(): Promise<QueueMessage[]> {
    return this.p.queue.list();
  }

  async getQueued(id: string): Promise<QueueMessage | null> {
    return this.p.queue.get(id);
  }

  async removeQueued(id: string): Promise<boolean> {
    return this.p.queue.remove(id);
  }

  async retryQueued(id?: string): Promise<number> {
    return this.p.queue.retry(id);
  }

  async claimQueue(opts: ClaimQueueOptions): Promise<ClaimedQueueJob[]> {
    const p = this.p;
    // a lease need not survive a crash (the recipients just become claimable again): no fsync
    return p.commit.runUnsynced(() => p.queue.claim(opts));
  }

  async completeQueue(updates: QueueUpdate[]): Promise<QueueCompletion> {
    const p = this.p;
    if (updates.length === 0) return { applied: [], removedMessages: [] };
    // Not synced either (RFC 5321 §6.1: a duplicate is better than a loss): a power failure can undo
    // an outcome, and the recipient is tried again; a process crash cannot (the WAL write happened).
    return p.commit.runUnsynced(() => p.queue.complete(updates));
  }

  async releaseLeases(owner: string): Promise<number> {
    const p = this.p;
    return p.commit.run(() => p.queue.releaseLeases(owner));
  }

  async nextQueueDue(): Promise<Date | null> {
    return this.p.queue.nextDue();
  }

  async markDelayNotified(recipientIds: number[], at: Date): Promise<void> {
    const p = this.p;
    await p.commit.run(() => p.queue.markDelayNotified(recipientIds, at));
  }

  // ---- inbound policy state ----

  async greylistGet(key: string): Promise<GreylistEntry | null> {
    return this.p.policy.greylistGet(key);
  }

  async greylistPut(entry: GreylistEntry): Promise<void> {
    const p = this.p;
    // losing a greylist update on power failure only means one more 451: no fsync
    await p.commit.runUnsynced(() => p.policy.greylistPut(entry));
  }

  async greylistExpire(now: number): Promise<number> {
    const p = this.p;
    return p.commit.runUnsynced(() => p.policy.greylistExpire(now));
  }

  async recordDmarc(rows: DmarcRecord[]): Promise<void> {
    const p = this.p;
    if (rows.length === 0) return;
    await p.commit.runUnsynced(() => p.policy.recordDmarc(rows));
  }

  async listDmarc(opts?: { since?: string; domain?: string }): Promise<DmarcRecord[]> {
    return this.p.policy.listDmarc(opts);
  }

  // ---- blobs ----

  async collectGarbage(opts?: { graceMs?: number }): Promise<{ removed: number }> {
    const result = await collectGarbage(
      this.p.db,
      this.blobs.files,
      this.blobs,
      opts?.graceMs ?? DEFAULT_GC_GRACE_MS,
    );
    if (result.removed > 0 || result.tempRemoved > 0) this.opts.log?.info(result, "blob garbage collected");
    return { removed: result.removed };
  }

  /** after commit: wake the sessions watching these mailboxes */
  private publish(touched: Touched): void {
    for (const [mailboxId, modseq] of touched) this.bus.publish(mailboxId, modseq);
  }
}

/**
 * The header section of a delivery to keep in message_headers, or null: none given, or over
 * MAX_STORED_HEADER. One that is not the tree's header section (blob bytes [0, mime.headerEnd)) is
 * refused: it would be served in place of the message's own header.
 */
function storedHeader(content: MessageContent): Buffer | null {
  const header = content.header;
  if (header === undefined) return null;
  if (header.length !== content.mime.headerEnd || content.mime.headerStart !== 0) {
    throw new StoreError(
      "invalid",
      `header section of ${header.length} bytes, but the message's header ends at ${content.mime.headerEnd}`,
    );
  }
  return header.length <= MAX_STORED_HEADER ? header : null;
}
