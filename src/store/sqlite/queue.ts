// Outbound queue tables: one row per message, one per recipient (status, attempts, schedule, last
// reply, lease). The delivery engine (src/queue/) builds on these; here: insert and basic admin.

import { randomBytes } from "node:crypto";
import { domainOf, normalizeRemoteAddress } from "../address.js";
import {
  type DsnParams,
  type NewQueueMessage,
  type QueueMessage,
  type QueueRecipient,
  type QueueRecipientStatus,
  StoreError,
} from "../types.js";
import type { Db } from "./db.js";

interface MessageRow {
  id: string;
  sender: string;
  blob_id: string;
  prefix: Buffer;
  size: number;
  dsn: string;
  account_id: number | null;
  created_at: number;
}

interface RecipientRow {
  id: number;
  message_id: string;
  address: string;
  domain: string;
  status: QueueRecipientStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_reply: string | null;
  notify: string | null;
  orcpt: string | null;
}

const RECIPIENT_COLUMNS =
  "id, message_id, address, domain, status, attempts, next_attempt_at, last_attempt_at, last_reply, notify, orcpt";

function date(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

function toRecipient(r: RecipientRow): QueueRecipient {
  return {
    id: r.id,
    address: r.address,
    domain: r.domain,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: date(r.next_attempt_at),
    lastAttemptAt: date(r.last_attempt_at),
    lastReply: r.last_reply,
    notify: r.notify === null ? null : (JSON.parse(r.notify) as string[]),
    orcpt: r.orcpt,
  };
}

function toMessage(r: MessageRow, recipients: QueueRecipient[]): QueueMessage {
  return {
    id: r.id,
    sender: r.sender,
    blobId: r.blob_id,
    prefix: r.prefix,
    size: r.size,
    dsn: JSON.parse(r.dsn) as DsnParams,
    accountId: r.account_id,
    createdAt: new Date(r.created_at),
    recipients,
  };
}

/** time-ordered, so listings sort by age: 12 hex digits of epoch ms + 12 random */
export function newQueueId(now = Date.now()): string {
  return now.toString(16).padStart(12, "0") + randomBytes(6).toString("hex");
}

/** checks and normalises recipients before the transaction (throws "invalid") */
export function checkQueueMessage(q: NewQueueMessage): void {
  if (q.recipients.length === 0) throw new StoreError("invalid", "a queued message needs recipients");
  for (const r of q.recipients) normalizeRemoteAddress(r.address);
}

export class QueueTable {
  constructor(private readonly db: Db) {}

  /** inside the delivery transaction; blobSize is the size of the blob that will be sent */
  insert(q: NewQueueMessage, defaultBlobId: string, blobSize: number): string {
    const now = Date.now();
    const id = newQueueId(now);
    const prefix = q.prefix ?? Buffer.alloc(0);
    this.db
      .prep(
        `INSERT INTO queue_messages (id, sender, blob_id, prefix, size, dsn, account_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        q.sender,
        q.blobId ?? defaultBlobId,
        prefix,
        prefix.length + blobSize,
        JSON.stringify(q.dsn ?? {}),
        q.accountId ?? null,
        now,
      );
    const insert = this.db.prep(
      `INSERT INTO queue_recipients (message_id, address, domain, status, next_attempt_at, notify, orcpt)
       VALUES (?, ?, ?, 'pending', ?, ?, ?)`,
    );
    const due = (q.nextAttemptAt ?? new Date(now)).getTime();
    for (const r of q.recipients) {
      const address = normalizeRemoteAddress(r.address);
      insert.run(
        id,
        address,
        domainOf(address),
        due,
        r.notify ? JSON.stringify(r.notify) : null,
        r.orcpt ?? null,
      );
    }
    return id;
  }

  list(): QueueMessage[] {
    const byMessage = new Map<string, QueueRecipient[]>();
    for (const r of this.db
      .prep<RecipientRow>(`SELECT ${RECIPIENT_COLUMNS} FROM queue_recipients ORDER BY message_id, id`)
      .all()) {
      const list = byMessage.get(r.message_id);
      if (list) list.push(toRecipient(r));
      else byMessage.set(r.message_id, [toRecipient(r)]);
    }
    return this.db
      .prep<MessageRow>("SELECT * FROM queue_messages ORDER BY created_at, id")
      .all()
      .map((m) => toMessage(m, byMessage.get(m.id) ?? []));
  }

  get(id: string): QueueMessage | null {
    const m = this.db.prep<MessageRow>("SELECT * FROM queue_messages WHERE id = ?").get(id);
    if (!m) return null;
    const recipients = this.db
      .prep<RecipientRow>(
        `SELECT ${RECIPIENT_COLUMNS} FROM queue_recipients WHERE message_id = ? ORDER BY id`,
      )
      .all(id)
      .map(toRecipient);
    return toMessage(m, recipients);
  }

  remove(id: string): boolean {
    return this.db.prep("DELETE FROM queue_messages WHERE id = ?").run(id).changes > 0;
  }

  /** recipients still to deliver become due now (leases are left to expire on their own) */
  retry(id?: string): number {
    const now = Date.now();
    const r =
      id === undefined
        ? this.db
            .prep("UPDATE queue_recipients SET next_attempt_at = ? WHERE status IN ('pending', 'deferred')")
            .run(now)
        : this.db
            .prep(
              `UPDATE queue_recipients SET next_attempt_at = ?
               WHERE message_id = ? AND status IN ('pending', 'deferred')`,
            )
            .run(now, id);
    return r.changes;
  }
}
