// Messages of mailboxes: delivery, flags, copy/move, expunge, the change log and full-text search.
// The write methods here run inside a group-commit savepoint (see group-commit.ts) and return what
// the store must publish on the ChangeBus once the transaction has committed.

import { applyFlagOperation, sameFlags } from "../flags.js";
import type { Envelope, MimeNode } from "../../mail/mime-types.js";
import { parseSentDate } from "../../mail/sort-thread.js";
import {
  type ChangeKind,
  type CopyResult,
  type DeliveredCopy,
  type DeliveryRequest,
  type Flag,
  type FlagCount,
  type MailboxChange,
  type MessageDetails,
  type MessageRecord,
  type MessageSource,
  type MessageStates,
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

/** a message row with its flags and modseq (which live in the narrow message_state table, schema 5) */
const WITH_STATE = "messages m JOIN message_state s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid";
const SUMMARY_COLUMNS =
  "m.id AS id, m.mailbox_id AS mailbox_id, m.uid AS uid, s.modseq AS modseq, s.flags AS flags, " +
  "m.internal_date AS internal_date, m.size AS size";
const RECORD_COLUMNS = `${SUMMARY_COLUMNS}, m.blob_id AS blob_id, m.prefix AS prefix, m.mime AS mime, m.envelope AS envelope`;

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
  /** the header section to keep in message_headers (checked: mime.headerEnd bytes, not too large) */
  header: Buffer | null;
}

/** the sent_date column: the Date: header as epoch ms (RFC 5256 §2.2), null when there is none */
export function sentDateOf(envelope: Envelope): number | null {
  return parseSentDate(envelope.date)?.getTime() ?? null;
}

/** ascending, deduplicated UIDs as [first, last] runs: "1:*" on 100,000 messages is one range */
export function uidRanges(uids: readonly number[]): Array<[number, number]> {
  let sorted = true;
  for (let i = 1; i < uids.length && sorted; i++) if (uids[i]! <= uids[i - 1]!) sorted = false;
  const list = sorted ? uids : [...new Set(uids)].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
    out.push([list[i]!, list[j]!]);
    i = j + 1;
  }
  return out;
}

/**
 * The message_state rows (s) of mailbox @mb whose UIDs are in the ranges of the JSON array @ranges:
 * one key range each (CROSS JOIN keeps the ranges the outer loop; SQLite preferred scanning the
 * whole mailbox).
 */
const STATE_IN_RANGES = `json_each(@ranges) r CROSS JOIN message_state s
  ON s.mailbox_id = @mb AND s.uid BETWEEN r.value ->> 0 AND r.value ->> 1`;

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
        `SELECT ${SUMMARY_COLUMNS} FROM ${WITH_STATE} WHERE m.mailbox_id = ? AND m.uid >= ? ORDER BY m.uid`,
      )
      .all(mailboxId, sinceUid)
      .map(toSummary);
  }

  /** withHeader: the stored header section too (message_headers, schema 7), in the same statement */
  get(mailboxId: number, uid: number, withHeader = false): MessageRecord | null {
    const r = this.db
      .prep<RecordRow & { header?: Buffer | null }>(
        withHeader
          ? `SELECT ${RECORD_COLUMNS}, h.header AS header
             FROM ${WITH_STATE} LEFT JOIN message_headers h ON h.blob_id = m.blob_id
             WHERE m.mailbox_id = ? AND m.uid = ?`
          : `SELECT ${RECORD_COLUMNS} FROM ${WITH_STATE} WHERE m.mailbox_id = ? AND m.uid = ?`,
      )
      .get(mailboxId, uid);
    if (!r) return null;
    const rec: MessageRecord = {
      ...toSummary(r),
      blobId: r.blob_id,
      prefix: r.prefix,
      mime: JSON.parse(r.mime) as MimeNode,
      envelope: JSON.parse(r.envelope) as Envelope,
    };
    // a row from before schema 7, or one whose header was over MAX_STORED_HEADER, has none
    if (r.header) rec.header = r.header;
    return rec;
  }

  /**
   * UID, MODSEQ and flags of every message of a mailbox with its HIGHESTMODSEQ and UIDNEXT, in one
   * statement (one consistent read). better-sqlite3 builds a JavaScript object per row, which costs
   * more than the read itself at 100,000 rows, so SQLite aggregates each column (one key range of
   * message_state) into a JSON array; flag lists are interned by their JSON text.
   */
  states(mailboxId: number): MessageStates | null {
    const row = this.db
      .prep<{
        uidvalidity: number;
        highestmodseq: number;
        uidnext: number;
        uids: string;
        modseqs: string;
        flags: string;
      }>(
        `SELECT uidvalidity, highestmodseq, uidnext, s.uids, s.modseqs, s.flags
         FROM mailboxes,
              (SELECT json_group_array(uid) AS uids, json_group_array(modseq) AS modseqs,
                      json_group_array(flags) AS flags
               FROM (SELECT uid, modseq, flags FROM message_state WHERE mailbox_id = @mb ORDER BY uid)) AS s
         WHERE id = @mb`,
      )
      .get({ mb: mailboxId });
    if (!row) return null;
    const uids = Uint32Array.from(JSON.parse(row.uids) as number[]);
    const modseqs = Float64Array.from(JSON.parse(row.modseqs) as number[]);
    const jsons = JSON.parse(row.flags) as string[];
    const flagIds = new Uint32Array(jsons.length);
    const flagSets: Flag[][] = [];
    const byJson = new Map<string, number>();
    for (let i = 0; i < jsons.length; i++) {
      const json = jsons[i]!;
      let id = byJson.get(json);
      if (id === undefined) {
        id = flagSets.length;
        byJson.set(json, id);
        flagSets.push(JSON.parse(json) as Flag[]);
      }
      flagIds[i] = id;
    }
    if (!ascending(uids)) sortColumns(uids, [modseqs, flagIds]);
    return {
      uids,
      modseqs,
      flagIds,
      flagSets,
      uidValidity: row.uidvalidity,
      highestModseq: row.highestmodseq,
      uidNext: row.uidnext,
    };
  }

  /** sizes, internal dates and sent dates of the messages with fromUid <= uid <= toUid (see states) */
  details(mailboxId: number, fromUid: number, toUid: number): MessageDetails {
    const row = this.db
      .prep<{ uids: string; sizes: string; dates: string; sent: string }>(
        `SELECT json_group_array(uid) AS uids, json_group_array(size) AS sizes,
                json_group_array(internal_date) AS dates, json_group_array(sent_date) AS sent
         FROM (SELECT uid, size, internal_date, sent_date FROM messages
               WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid)`,
      )
      .get(mailboxId, fromUid, toUid)!;
    const sent = JSON.parse(row.sent) as Array<number | null>;
    const out: MessageDetails = {
      uids: Uint32Array.from(JSON.parse(row.uids) as number[]),
      sizes: Float64Array.from(JSON.parse(row.sizes) as number[]),
      internalDates: Float64Array.from(JSON.parse(row.dates) as number[]),
      sentDates: new Float64Array(sent.length),
    };
    for (let i = 0; i < sent.length; i++) out.sentDates[i] = sent[i] ?? Number.NaN;
    if (!ascending(out.uids)) sortColumns(out.uids, [out.sizes, out.internalDates, out.sentDates]);
    return out;
  }

  countFlags(mailboxId: number): FlagCount[] {
    return this.db
      .prep<{ flags: string; n: number }>(
        "SELECT flags, count(*) AS n FROM message_state WHERE mailbox_id = ? GROUP BY flags",
      )
      .all(mailboxId)
      .map((r) => ({ flags: JSON.parse(r.flags) as Flag[], count: r.n }));
  }

  /**
   * Fills sent_date of messages stored before schema version 5 (the Date: header is parsed here, not
   * in SQL), in batches of short transactions, then clears the marker the migration left. Idempotent:
   * another process doing the same at the same time does no harm. Returns the messages updated.
   */
  backfillSentDates(): number {
    if (!this.db.prep("SELECT 1 FROM meta WHERE key = 'sent_date_backfill'").get()) return 0;
    let after = 0;
    let updated = 0;
    for (;;) {
      const rows = this.db.write(() => {
        const batch = this.db
          .prep<{ id: number; date: string | null }>(
            `SELECT id, json_extract(envelope, '$.date') AS date FROM messages
             WHERE id > ? AND sent_date IS NULL ORDER BY id LIMIT 2000`,
          )
          .all(after);
        const set = this.db.prep("UPDATE messages SET sent_date = ? WHERE id = ?");
        for (const r of batch) {
          const t = parseSentDate(r.date)?.getTime();
          if (t === undefined) continue;
          set.run(t, r.id);
          updated++;
        }
        return batch;
      });
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
    }
    this.db.write(() => this.db.prep("DELETE FROM meta WHERE key = 'sent_date_backfill'").run());
    return updated;
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
      const sentDate = sentDateOf(content.envelope);
      const internalDate = (req.internalDate ?? new Date()).getTime();
      // once per blob: an equal blob delivered before already has its row (and equal bytes)
      if (p.header !== null) {
        this.db
          .prep("INSERT OR IGNORE INTO message_headers (blob_id, header) VALUES (?, ?)")
          .run(content.blobId, p.header);
      }
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
              `INSERT INTO messages (mailbox_id, account_id, uid, internal_date, size, blob_id, prefix, mime,
                                     envelope, doc_id, sent_date)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              mailbox.id,
              target.accountId,
              slot.uid,
              internalDate,
              size,
              content.blobId,
              prefix,
              mime,
              envelope,
              docId,
              sentDate,
            ),
        );
        this.insertState(mailbox.id, slot.uid, slot.modseq, flags);
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

  /**
   * Set-based: a STORE on 100,000 messages is a handful of statements, not two per message. The
   * requested UIDs become ranges; the distinct flag lists among those messages (usually a few) are
   * read and the operation applied to each list once; one INSERT logs every changed message with its
   * own modseq (ascending with the UID, as the change log's key needs) and its new flags, and one
   * upsert copies those log rows into message_state.
   */
  storeFlags(req: StoreFlagsRequest, flags: Flag[]): { result: StoreFlagsResult; touched: Touched } {
    const box = this.mailbox(req.mailboxId);
    const touched: Touched = new Map();
    const unchanged = { updated: [], modified: [], highestModseq: box.highestmodseq };
    if (req.uids.length === 0) return { result: unchanged, touched };
    const mb = req.mailboxId;
    const ranges = JSON.stringify(uidRanges(req.uids));
    const since = req.unchangedSince ?? null;
    const modified =
      since === null
        ? []
        : this.db
            .prep<number>(`SELECT s.uid FROM ${STATE_IN_RANGES} WHERE s.modseq > @since ORDER BY s.uid`)
            .pluck()
            .all({ ranges, mb, since });
    const groups = this.db
      .prep<{ flags: string; n: number }>(
        `SELECT s.flags AS flags, count(*) AS n FROM ${STATE_IN_RANGES}
         WHERE @since IS NULL OR s.modseq <= @since GROUP BY s.flags`,
      )
      .all({ ranges, mb, since });
    const pairs: Array<[string, string]> = [];
    const afterByJson = new Map<string, Flag[]>();
    let n = 0;
    for (const g of groups) {
      const before = JSON.parse(g.flags) as Flag[];
      const after = applyFlagOperation(before, req.op, flags);
      if (sameFlags(before, after)) continue;
      const json = JSON.stringify(after);
      pairs.push([g.flags, json]);
      afterByJson.set(json, after);
      n += g.n;
    }
    if (n === 0) return { result: { ...unchanged, modified }, touched };
    const last = this.mailboxes.bumpModseq(mb, n);
    const first = last - n + 1;
    const logged = this.db
      .prep(
        `INSERT INTO changes (mailbox_id, modseq, kind, uid, flags)
         SELECT @mb, @first - 1 + row_number() OVER (ORDER BY s.uid), 'flags', s.uid, p.value ->> 1
         FROM ${STATE_IN_RANGES} JOIN json_each(@pairs) p ON p.value ->> 0 = s.flags
         WHERE @since IS NULL OR s.modseq <= @since`,
      )
      .run({ ranges, mb, since, first, pairs: JSON.stringify(pairs) });
    if (logged.changes !== n) throw new Error(`storeFlags: ${logged.changes} changes logged, ${n} expected`);
    const rows = this.db
      .prep<{ uid: number; modseq: number; flags: string }>(
        `INSERT INTO message_state (mailbox_id, uid, modseq, flags)
         SELECT mailbox_id, uid, modseq, flags FROM changes WHERE mailbox_id = @mb AND modseq BETWEEN @first AND @last
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq, flags = excluded.flags
         RETURNING uid, modseq, flags`,
      )
      .all({ mb, first, last });
    rows.sort((a, b) => a.uid - b.uid);
    const updated = rows.map((r) => ({ uid: r.uid, modseq: r.modseq, flags: afterByJson.get(r.flags)! }));
    touched.set(mb, last);
    return { result: { updated, modified, highestModseq: last }, touched };
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
      `INSERT INTO messages (mailbox_id, account_id, uid, internal_date, size, blob_id, prefix, mime, envelope,
                             doc_id, sent_date)
       SELECT ?, ?, ?, internal_date, size, blob_id, prefix, mime, envelope, doc_id, sent_date
       FROM messages WHERE id = ?`,
    );
    const mapping: Array<[number, number]> = [];
    rows.forEach((r, i) => {
      // allocate() reserved uid…uid+n-1 and modseq-n+1…modseq
      const uid = slot.uid + i;
      const modseq = slot.modseq - n + 1 + i;
      insert.run(toId, dst.account_id, uid, r.id);
      this.insertState(toId, uid, modseq, r.flags);
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
        `SELECT ${SUMMARY_COLUMNS} FROM json_each(@ranges) r CROSS JOIN ${WITH_STATE}
         WHERE m.mailbox_id = @mb AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1 ORDER BY m.uid`,
      )
      .all({ ranges: JSON.stringify(uidRanges(uids)), mb: mailboxId });
  }

  /** the flags and modseq of a new message (removed with it by a trigger) */
  private insertState(mailboxId: number, uid: number, modseq: number, flags: string): void {
    this.db
      .prep("INSERT INTO message_state (mailbox_id, uid, modseq, flags) VALUES (?, ?, ?, ?)")
      .run(mailboxId, uid, modseq, flags);
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

function ascending(uids: Uint32Array): boolean {
  for (let i = 1; i < uids.length; i++) if (uids[i]! <= uids[i - 1]!) return false;
  return true;
}

/** Sorts parallel columns by the first (ascending): aggregates do not promise the subquery's order. */
function sortColumns(keys: Uint32Array, others: Array<Float64Array | Uint32Array>): void {
  const order = Array.from(keys.keys()).sort((a, b) => keys[a]! - keys[b]!);
  for (const col of [keys, ...others]) {
    const copy = col.slice();
    for (let i = 0; i < order.length; i++) col[i] = copy[order[i]!]!;
  }
}
