// Messages of mailboxes: delivery, flags, copy/move, expunge, the change log and full-text search.
// The write methods here run inside a group-commit savepoint (see group-commit.ts) and return what
// the store must publish on the ChangeBus once the transaction has committed.

import { applyFlagOperation, sameFlags } from "../flags.js";
import type { Envelope, MimeNode } from "../../mail/mime-types.js";
import {
  type ChangeKind,
  type CopyResult,
  type DeliveredCopy,
  type DeliveryRequest,
  type Flag,
  type MailboxChange,
  type MessageRecord,
  type MessageSource,
  type MessageSummary,
  type StoreFlagsRequest,
  type StoreFlagsResult,
  StoreError,
} from "../types.js";
import type { Db } from "./db.js";
import { rowid } from "./db.js";
import type { MailboxRow, Mailboxes } from "./mailboxes.js";
import type { QueueTable } from "./queue.js";

/** mailbox id → its highest modseq after the change, published after commit */
export type Touched = Map<number, number>;

interface SummaryRow {
  id: number;
  mailbox_id: number;
  uid: number;
  modseq: number;
  flags: string;
  internal_date: number;
  size: number;
}

interface RecordRow extends SummaryRow {
  blob_id: string;
  prefix: Buffer;
  mime: string;
  envelope: string;
}

const SUMMARY_COLUMNS = "id, mailbox_id, uid, modseq, flags, internal_date, size";

function toSummary(r: SummaryRow): MessageSummary {
  return {
    id: r.id,
    mailboxId: r.mailbox_id,
    uid: r.uid,
    modseq: r.modseq,
    flags: JSON.parse(r.flags) as Flag[],
    internalDate: new Date(r.internal_date),
    size: r.size,
  };
}

/** a delivery request checked and prepared outside the transaction (see SqliteMailStore.deliver) */
export interface PreparedDelivery {
  req: DeliveryRequest;
  /** flags per target, normalised */
  flags: Flag[][];
  /** size of the queued message's blob */
  queueBlobSize: number;
}

/** words of a full-text query, as FTS5 prefix strings ANDed together */
export function ftsQuery(query: string): string | null {
  const words = query.match(/[\p{L}\p{N}\p{M}]+/gu);
  if (!words) return null;
  return words.map((w) => `"${w.replaceAll('"', '""')}"*`).join(" AND ");
}

export class Messages {
  constructor(
    private readonly db: Db,
    private readonly mailboxes: Mailboxes,
    private readonly queue: QueueTable,
  ) {}

  // ---- reads ----

  list(mailboxId: number, sinceUid = 1): MessageSummary[] {
    return this.db
      .prep<SummaryRow>(
        `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE mailbox_id = ? AND uid >= ? ORDER BY uid`,
      )
      .all(mailboxId, sinceUid)
      .map(toSummary);
  }

  get(mailboxId: number, uid: number): MessageRecord | null {
    const r = this.db
      .prep<RecordRow>(
        `SELECT ${SUMMARY_COLUMNS}, blob_id, prefix, mime, envelope FROM messages WHERE mailbox_id = ? AND uid = ?`,
      )
      .get(mailboxId, uid);
    if (!r) return null;
    return {
      ...toSummary(r),
      blobId: r.blob_id,
      prefix: r.prefix,
      mime: JSON.parse(r.mime) as MimeNode,
      envelope: JSON.parse(r.envelope) as Envelope,
    };
  }

  envelopes(mailboxId: number): Map<number, Envelope> {
    const out = new Map<number, Envelope>();
    const rows = this.db
      .prep<{ uid: number; envelope: string }>("SELECT uid, envelope FROM messages WHERE mailbox_id = ?")
      .all(mailboxId);
    for (const r of rows) out.set(r.uid, JSON.parse(r.envelope) as Envelope);
    return out;
  }

  source(mailboxId: number, uid: number): MessageSource | null {
    const r = this.db
      .prep<{ id: number; uid: number; size: number; blob_id: string; prefix: Buffer }>(
        "SELECT id, uid, size, blob_id, prefix FROM messages WHERE mailbox_id = ? AND uid = ?",
      )
      .get(mailboxId, uid);
    return r ? { id: r.id, uid: r.uid, size: r.size, blobId: r.blob_id, prefix: r.prefix } : null;
  }

  changesSince(mailboxId: number, modseq: number): MailboxChange[] {
    return this.db
      .prep<{ modseq: number; kind: ChangeKind; uid: number; flags: string | null }>(
        "SELECT modseq, kind, uid, flags FROM changes WHERE mailbox_id = ? AND modseq > ? ORDER BY modseq",
      )
      .all(mailboxId, modseq)
      .map((r) =>
        r.flags === null
          ? { modseq: r.modseq, kind: r.kind, uid: r.uid }
          : { modseq: r.modseq, kind: r.kind, uid: r.uid, flags: JSON.parse(r.flags) as Flag[] },
      );
  }

  /** prefix matches of every word (IMAP SEARCH TEXT/BODY are substring searches: the closest FTS5 fit) */
  searchText(mailboxId: number, query: string): number[] {
    const fts = ftsQuery(query);
    if (fts === null) {
      return this.db
        .prep<{ uid: number }>("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid")
        .all(mailboxId)
        .map((r) => r.uid);
    }
    return this.db
      .prep<{ uid: number }>(
        // IN (subquery): the MATCH runs once; as a join, SQLite re-ran it for every message
        `SELECT uid FROM messages
         WHERE mailbox_id = ? AND doc_id IN (SELECT rowid FROM message_text WHERE message_text MATCH ?)
         ORDER BY uid`,
      )
      .all(mailboxId, fts)
      .map((r) => r.uid);
  }

  // ---- writes (inside a group-commit savepoint) ----

  deliver(p: PreparedDelivery): { copies: DeliveredCopy[]; queueId: string | null; touched: Touched } {
    const { req } = p;
    const content = req.content;
    const touched: Touched = new Map();
    const copies: DeliveredCopy[] = [];
    if (req.targets.length > 0) {
      const docId = content.searchText
        ? rowid(this.db.prep("INSERT INTO message_text (body) VALUES (?)").run(content.searchText))
        : null;
      const mime = JSON.stringify(content.mime);
      const envelope = JSON.stringify(content.envelope);
      const internalDate = (req.internalDate ?? new Date()).getTime();
      req.targets.forEach((target, i) => {
        const mailbox = this.targetMailbox(target.accountId, target.mailboxId);
        const prefix = target.prefix ?? Buffer.alloc(0);
        const size = prefix.length + content.blobSize;
        if (!target.ignoreQuota) this.checkQuota(target.accountId, size);
        const slot = this.allocate(mailbox.id, 1);
        const flags = JSON.stringify(p.flags[i]);
        const messageId = rowid(
          this.db
            .prep(
              `INSERT INTO messages (mailbox_id, account_id, uid, modseq, flags, internal_date, size, blob_id,
                                     prefix, mime, envelope, doc_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              mailbox.id,
              target.accountId,
              slot.uid,
              slot.modseq,
              flags,
              internalDate,
              size,
              content.blobId,
              prefix,
              mime,
              envelope,
              docId,
            ),
        );
        this.log(mailbox.id, slot.modseq, "append", slot.uid, flags);
        touched.set(mailbox.id, slot.modseq);
        copies.push({
          accountId: target.accountId,
          mailboxId: mailbox.id,
          uid: slot.uid,
          modseq: slot.modseq,
          messageId,
          uidValidity: slot.uidValidity,
        });
      });
    }
    const queueId = req.queue ? this.queue.insert(req.queue, content.blobId, p.queueBlobSize) : null;
    return { copies, queueId, touched };
  }

  storeFlags(req: StoreFlagsRequest, flags: Flag[]): { result: StoreFlagsResult; touched: Touched } {
    this.mailbox(req.mailboxId);
    const rows = this.select(req.mailboxId, req.uids);
    const modified: number[] = [];
    const changed: Array<{ id: number; uid: number; flags: Flag[] }> = [];
    for (const r of rows) {
      if (req.unchangedSince !== undefined && r.modseq > req.unchangedSince) {
        modified.push(r.uid);
        continue;
      }
      const before = JSON.parse(r.flags) as Flag[];
      const after = applyFlagOperation(before, req.op, flags);
      if (!sameFlags(before, after)) changed.push({ id: r.id, uid: r.uid, flags: after });
    }
    const touched: Touched = new Map();
    const updated: StoreFlagsResult["updated"] = [];
    let highest = this.mailbox(req.mailboxId).highestmodseq;
    if (changed.length > 0) {
      highest = this.mailboxes.bumpModseq(req.mailboxId, changed.length);
      const first = highest - changed.length + 1;
      const update = this.db.prep("UPDATE messages SET flags = ?, modseq = ? WHERE id = ?");
      changed.forEach((c, i) => {
        const json = JSON.stringify(c.flags);
        update.run(json, first + i, c.id);
        this.log(req.mailboxId, first + i, "flags", c.uid, json);
        updated.push({ uid: c.uid, modseq: first + i, flags: c.flags });
      });
      touched.set(req.mailboxId, highest);
    }
    return { result: { updated, modified, highestModseq: highest }, touched };
  }

  /** copies in source UID order; MOVE also expunges the sources in the same transaction */
  copy(
    fromId: number,
    uids: number[],
    toId: number,
    move: boolean,
  ): { result: CopyResult; touched: Touched } {
    const src = this.mailbox(fromId);
    const dst = this.mailbox(toId);
    const rows = this.select(fromId, uids);
    const touched: Touched = new Map();
    if (rows.length === 0) return { result: { uidValidity: dst.uidvalidity, mapping: [] }, touched };
    // a move within one account does not change its usage
    if (!move || src.account_id !== dst.account_id) {
      this.checkQuota(
        dst.account_id,
        rows.reduce((sum, r) => sum + r.size, 0),
      );
    }
    const n = rows.length;
    const slot = this.allocate(toId, n);
    const insert = this.db.prep(
      `INSERT INTO messages (mailbox_id, account_id, uid, modseq, flags, internal_date, size, blob_id, prefix,
                             mime, envelope, doc_id)
       SELECT ?, ?, ?, ?, flags, internal_date, size, blob_id, prefix, mime, envelope, doc_id
       FROM messages WHERE id = ?`,
    );
    const mapping: Array<[number, number]> = [];
    rows.forEach((r, i) => {
      // allocate() reserved uid…uid+n-1 and modseq-n+1…modseq
      const uid = slot.uid + i;
      const modseq = slot.modseq - n + 1 + i;
      insert.run(toId, dst.account_id, uid, modseq, r.id);
      this.log(toId, modseq, "append", uid, r.flags);
      mapping.push([r.uid, uid]);
    });
    touched.set(toId, slot.modseq);
    if (move) touched.set(fromId, this.remove(fromId, rows));
    return { result: { uidValidity: slot.uidValidity, mapping }, touched };
  }

  expunge(mailboxId: number, uids: number[]): { uids: number[]; touched: Touched } {
    this.mailbox(mailboxId);
    const rows = this.select(mailboxId, uids);
    const touched: Touched = new Map();
    if (rows.length > 0) touched.set(mailboxId, this.remove(mailboxId, rows));
    return { uids: rows.map((r) => r.uid), touched };
  }

  /** sets pop3_retrieved_at where it is still NULL; changes no modseq (no IMAP-visible state) */
  markRetrieved(mailboxId: number, uids: number[], at: number): void {
    this.mailbox(mailboxId);
    if (uids.length === 0) return;
    this.db
      .prep(
        `UPDATE messages SET pop3_retrieved_at = ?
         WHERE mailbox_id = ? AND pop3_retrieved_at IS NULL AND uid IN (SELECT value FROM json_each(?))`,
      )
      .run(at, mailboxId, JSON.stringify(uids));
  }

  /** expunges the messages first retrieved by POP3 before `before` (epoch ms) */
  expireRetrieved(mailboxId: number, before: number): { uids: number[]; touched: Touched } {
    this.mailbox(mailboxId);
    const rows = this.db
      .prep<{ id: number; uid: number }>(
        `SELECT id, uid FROM messages
         WHERE mailbox_id = ? AND pop3_retrieved_at IS NOT NULL AND pop3_retrieved_at < ? ORDER BY uid`,
      )
      .all(mailboxId, before);
    const touched: Touched = new Map();
    if (rows.length > 0) touched.set(mailboxId, this.remove(mailboxId, rows));
    return { uids: rows.map((r) => r.uid), touched };
  }

  // ---- helpers ----

  private remove(mailboxId: number, rows: ReadonlyArray<{ id: number; uid: number }>): number {
    const highest = this.mailboxes.bumpModseq(mailboxId, rows.length);
    const first = highest - rows.length + 1;
    const del = this.db.prep("DELETE FROM messages WHERE id = ?");
    rows.forEach((r, i) => {
      del.run(r.id);
      this.log(mailboxId, first + i, "expunge", r.uid, null);
    });
    return highest;
  }

  /** existing messages among uids, in UID order */
  private select(mailboxId: number, uids: number[]): Array<SummaryRow> {
    if (uids.length === 0) return [];
    return this.db
      .prep<SummaryRow>(
        `SELECT ${SUMMARY_COLUMNS} FROM messages
         WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid`,
      )
      .all(mailboxId, JSON.stringify(uids));
  }

  private mailbox(id: number): MailboxRow {
    const row = this.mailboxes.rowById(id);
    if (!row) throw new StoreError("not-found", `no mailbox ${id}`);
    return row;
  }

  private targetMailbox(accountId: number, mailboxId: number | undefined): { id: number } {
    if (mailboxId === undefined) {
      const inbox = this.db
        .prep<{ id: number }>("SELECT id FROM mailboxes WHERE account_id = ? AND name = 'INBOX'")
        .get(accountId);
      if (!inbox) throw new StoreError("not-found", `account ${accountId} has no INBOX`);
      return inbox;
    }
    const row = this.mailbox(mailboxId);
    if (row.account_id !== accountId) {
      throw new StoreError("invalid", `mailbox ${mailboxId} does not belong to account ${accountId}`);
    }
    return row;
  }

  private checkQuota(accountId: number, adding: number): void {
    const acc = this.db
      .prep<{ address: string; used_bytes: number; quota_bytes: number | null }>(
        "SELECT address, used_bytes, quota_bytes FROM accounts WHERE id = ?",
      )
      .get(accountId);
    if (!acc) throw new StoreError("not-found", `no account ${accountId}`);
    if (acc.quota_bytes !== null && acc.used_bytes + adding > acc.quota_bytes) {
      throw new StoreError(
        "quota",
        `${acc.address} is over quota: ${acc.used_bytes} + ${adding} bytes > ${acc.quota_bytes}`,
      );
    }
  }

  /** reserves n UIDs and n modseqs; returns the first UID and the new highest modseq */
  private allocate(mailboxId: number, n: number): { uid: number; modseq: number; uidValidity: number } {
    const r = this.db
      .prep<{ uid: number; modseq: number; uidvalidity: number }>(
        `UPDATE mailboxes SET uidnext = uidnext + @n, highestmodseq = highestmodseq + @n WHERE id = @id
         RETURNING uidnext - @n AS uid, highestmodseq AS modseq, uidvalidity`,
      )
      .get({ n, id: mailboxId });
    if (!r) throw new StoreError("not-found", `no mailbox ${mailboxId}`);
    return { uid: r.uid, modseq: r.modseq, uidValidity: r.uidvalidity };
  }

  private log(mailboxId: number, modseq: number, kind: ChangeKind, uid: number, flags: string | null): void {
    this.db
      .prep("INSERT INTO changes (mailbox_id, modseq, kind, uid, flags) VALUES (?, ?, ?, ?, ?)")
      .run(mailboxId, modseq, kind, uid, flags);
  }
}
