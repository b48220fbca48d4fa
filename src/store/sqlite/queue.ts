// Outbound queue tables: one row per message, one per recipient (status, attempts, schedule, last
// reply, lease). The delivery engine (src/queue/) builds on these; here: insert, basic admin, and
// the engine's lease protocol (claim → complete, release at startup).

import { randomBytes } from "node:crypto";
import { domainOf, normalizeRemoteAddress } from "../address.js";
import {
  type ClaimedQueueJob,
  type ClaimQueueOptions,
  type DsnParams,
  type NewQueueMessage,
  type QueueCompletion,
  type QueueMessage,
  type QueueRecipient,
  type QueueRecipientStatus,
  type QueueUpdate,
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
  last_status: string | null;
  remote_mta: string | null;
  diagnostic: string | null;
  delay_notified_at: number | null;
}

const RECIPIENT_COLUMNS =
  "id, message_id, address, domain, status, attempts, next_attempt_at, last_attempt_at, last_reply, notify, orcpt, " +
  "last_status, remote_mta, diagnostic, delay_notified_at";

/** claimable: still to deliver, due, and not under a live lease (@now) */
const CLAIMABLE =
  "status IN ('pending', 'deferred') AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)";

const FINAL_STATUSES: ReadonlySet<string> = new Set(["delivered", "failed", "deferred"]);

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
    lastStatus: r.last_status,
    remoteMta: r.remote_mta,
    diagnostic: r.diagnostic,
    delayNotifiedAt: date(r.delay_notified_at),
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

  /**
   * Recipients still to deliver become due now; expired leases are dropped. A live lease is kept:
   * its attempt is in flight and records its own outcome (a second, parallel attempt would deliver
   * twice).
   */
  retry(id?: string): number {
    const now = Date.now();
    const set = `UPDATE queue_recipients SET next_attempt_at = @now,
                   lease_owner = CASE WHEN lease_until <= @now THEN NULL ELSE lease_owner END,
                   lease_until = CASE WHEN lease_until <= @now THEN NULL ELSE lease_until END`;
    const r =
      id === undefined
        ? this.db.prep(`${set} WHERE status IN ('pending', 'deferred')`).run({ now })
        : this.db
            .prep(`${set} WHERE message_id = @id AND status IN ('pending', 'deferred')`)
            .run({ now, id });
    return r.changes;
  }

  // ---- the delivery engine's lease protocol (each call runs inside one group-commit transaction) ----

  /** see MailStore.claimQueue */
  claim(o: ClaimQueueOptions): ClaimedQueueJob[] {
    if (!(o.limit > 0)) return [];
    if (!(o.leaseMs > 0)) throw new StoreError("invalid", `invalid lease duration ${o.leaseMs}`);
    const now = o.now.getTime();
    const until = now + o.leaseMs;
    const exclude = new Set(o.excludeDomains ?? []);
    const perDomain = o.perDomain?.limit ?? Number.POSITIVE_INFINITY;
    const busy = o.perDomain?.busy ?? {};
    const taken = new Map<string, number>();
    const groups: Array<{ message_id: string; domain: string }> = [];
    const seen = new Set<string>();
    // Domains that cannot take another job are filtered inside SQLite, so a big backlog for a busy
    // destination costs an index scan in C, not a row per recipient in JS. Walking the due index in
    // order (no GROUP BY, no sort) stops as soon as `limit` jobs are found. Equal due times come in
    // insertion order (rowid), i.e. oldest message first.
    const skip = new Set(exclude);
    for (const [d, n] of Object.entries(busy)) if (n >= perDomain) skip.add(d);
    const due = this.db.prep<{ message_id: string; domain: string }>(
      `SELECT message_id, domain FROM queue_recipients INDEXED BY queue_recipients_due
       WHERE ${CLAIMABLE} AND domain NOT IN (SELECT value FROM json_each(@skip))
       ORDER BY next_attempt_at`,
    );
    // When a domain fills up during the walk, the query restarts with that domain filtered out too:
    // at most one restart per domain that fills, instead of stepping through its backlog row by row.
    const byDomain = this.db.prep<{ message_id: string; domain: string }>(
      `SELECT message_id, domain FROM queue_recipients INDEXED BY queue_recipients_domain
       WHERE domain = @domain AND ${CLAIMABLE} ORDER BY next_attempt_at`,
    );
    const rows = o.onlyDomains
      ? function* () {
          for (const domain of o.onlyDomains ?? []) if (!skip.has(domain)) yield* byDomain.iterate({ now, domain });
        }
      : () => due.iterate({ now, skip: JSON.stringify([...skip]) });
    scan: for (;;) {
      for (const g of rows()) {
        const key = `${g.message_id}\u0000${g.domain}`;
        if (seen.has(key) || skip.has(g.domain)) continue;
        seen.add(key);
        const used = (busy[g.domain] ?? 0) + (taken.get(g.domain) ?? 0);
        taken.set(g.domain, (taken.get(g.domain) ?? 0) + 1);
        groups.push(g);
        if (groups.length >= o.limit) break scan; // leaving the loop resets the statement
        if (used + 1 >= perDomain) {
          skip.add(g.domain);
          continue scan;
        }
      }
      break;
    }
    const lease = this.db.prep<RecipientRow>(
      // by message: the planner would otherwise walk the destination's whole due range per lease
      `UPDATE queue_recipients INDEXED BY queue_recipients_message SET lease_owner = @owner, lease_until = @until
       WHERE message_id = @message AND domain = @domain AND ${CLAIMABLE}
       RETURNING ${RECIPIENT_COLUMNS}`,
    );
    const messageRow = this.db.prep<MessageRow>("SELECT * FROM queue_messages WHERE id = ?");
    const jobs: ClaimedQueueJob[] = [];
    for (const g of groups) {
      const rows = lease.all({ now, owner: o.owner, until, message: g.message_id, domain: g.domain });
      const m = messageRow.get(g.message_id);
      if (rows.length === 0 || !m) continue;
      const recipients = rows.sort((a, b) => a.id - b.id).map(toRecipient);
      jobs.push({ message: toMessage(m, recipients), domain: g.domain, recipients });
    }
    return jobs;
  }

  /** see MailStore.completeQueue */
  complete(updates: QueueUpdate[]): QueueCompletion {
    for (const u of updates) {
      if (!FINAL_STATUSES.has(u.status)) throw new StoreError("invalid", `invalid queue status ${u.status}`);
    }
    const update = this.db.prep<{ message_id: string }>(
      `UPDATE queue_recipients SET status = @status, attempts = attempts + 1, last_attempt_at = @at,
         next_attempt_at = @next, last_reply = @reply, last_status = @code, remote_mta = @mta,
         diagnostic = @diag, lease_owner = NULL, lease_until = NULL
       WHERE id = @id AND status IN ('pending', 'deferred') AND (lease_owner IS NULL OR lease_owner = @owner)
       RETURNING message_id`,
    );
    const applied: number[] = [];
    const touched = new Set<string>();
    const removedMessages: string[] = [];
    // The common case: every recipient still open of a message is done (delivered or failed) in this
    // call. Then the message row goes at once (its recipients by cascade) instead of each recipient
    // row being updated first and deleted right after: half the index maintenance of a relay.
    const finished = this.finishedMessages(updates);
    for (const id of finished.messages) {
      if (this.db.prep("DELETE FROM queue_messages WHERE id = ?").run(id).changes > 0) removedMessages.push(id);
    }
    for (const u of updates) {
      if (finished.recipients.has(u.recipientId)) {
        applied.push(u.recipientId);
        continue;
      }
      const at = u.attemptedAt.getTime();
      const row = update.get({
        id: u.recipientId,
        owner: u.owner,
        status: u.status,
        at,
        next: u.status === "deferred" ? (u.nextAttemptAt?.getTime() ?? at) : null,
        reply: u.reply,
        code: u.statusCode ?? null,
        mta: u.remoteMta ?? null,
        diag: u.diagnostic ?? null,
      });
      if (!row) continue;
      applied.push(u.recipientId);
      touched.add(row.message_id);
    }
    const removeDone = this.db.prep(
      `DELETE FROM queue_messages WHERE id = @id AND NOT EXISTS
         (SELECT 1 FROM queue_recipients WHERE message_id = @id AND status IN ('pending', 'deferred'))`,
    );
    for (const id of touched) if (removeDone.run({ id }).changes > 0) removedMessages.push(id);
    return { applied, removedMessages };
  }

  /**
   * Messages whose open recipients (pending or deferred) are exactly the recipients given a final
   * outcome (delivered/failed) in `updates`, each leased by the updater or by nobody (the same
   * condition as the per-recipient UPDATE).
   */
  private finishedMessages(updates: QueueUpdate[]): { messages: string[]; recipients: Set<number> } {
    const finals = new Map<number, QueueUpdate>();
    for (const u of updates) if (u.status !== "deferred") finals.set(u.recipientId, u);
    const messages: string[] = [];
    const recipients = new Set<number>();
    if (finals.size === 0) return { messages, recipients };
    const messageOf = this.db.prep<{ message_id: string }>("SELECT message_id FROM queue_recipients WHERE id = ?");
    const open = this.db.prep<{ id: number; lease_owner: string | null }>(
      `SELECT id, lease_owner FROM queue_recipients INDEXED BY queue_recipients_message
       WHERE message_id = ? AND status IN ('pending', 'deferred')`,
    );
    const seen = new Set<string>();
    for (const u of finals.values()) {
      const m = messageOf.get(u.recipientId)?.message_id;
      if (m === undefined || seen.has(m)) continue;
      seen.add(m);
      const rows = open.all(m);
      const all =
        rows.length > 0 &&
        rows.every((r) => {
          const f = finals.get(r.id);
          return f !== undefined && (r.lease_owner === null || r.lease_owner === f.owner);
        });
      if (!all) continue;
      messages.push(m);
      for (const r of rows) recipients.add(r.id);
    }
    return { messages, recipients };
  }

  /** see MailStore.releaseLeases */
  releaseLeases(owner: string): number {
    return this.db
      .prep("UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?")
      .run(owner).changes;
  }

  /** see MailStore.nextQueueDue */
  nextDue(): Date | null {
    const r = this.db
      .prep<{ due: number | null }>(
        `SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS due FROM queue_recipients
         WHERE status IN ('pending', 'deferred')`,
      )
      .get();
    return r?.due == null ? null : new Date(r.due);
  }

  /** see MailStore.markDelayNotified */
  markDelayNotified(ids: number[], at: Date): void {
    if (ids.length === 0) return;
    this.db
      .prep(
        `UPDATE queue_recipients SET delay_notified_at = ?
         WHERE id IN (SELECT value FROM json_each(?)) AND delay_notified_at IS NULL`,
      )
      .run(at.getTime(), JSON.stringify(ids));
  }
}
