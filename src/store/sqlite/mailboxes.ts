// Mailboxes: create (with a store-wide increasing UIDVALIDITY), rename (children too; INBOX per
// RFC 9051 §6.3.6), delete, subscribe.

import { DEFAULT_MAILBOXES, MAILBOX_DELIMITER, type Mailbox, type SpecialUse, StoreError } from "../types.js";
import type { Db } from "./db.js";
import { rowid } from "./db.js";

export interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  special_use: string | null;
  subscribed: number;
  uidvalidity: number;
  uidnext: number;
  highestmodseq: number;
  message_count: number;
  total_size: number;
  noselect: number;
}

const SPECIAL_USES: ReadonlySet<string> = new Set([
  "\\Inbox",
  "\\Sent",
  "\\Drafts",
  "\\Trash",
  "\\Junk",
  "\\Archive",
]);

export function toMailbox(r: MailboxRow): Mailbox {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    specialUse: r.special_use as SpecialUse | null,
    subscribed: r.subscribed !== 0,
    noselect: r.noselect !== 0,
    uidValidity: r.uidvalidity,
    uidNext: r.uidnext,
    highestModseq: r.highestmodseq,
    messages: r.message_count,
    size: r.total_size,
  };
}

/** "inbox" in any case is INBOX; other names are NFC (RFC 9051 §5.1) and must be well-formed. */
export function normalizeMailboxName(name: string): string {
  const n = name.normalize("NFC");
  if (n.toUpperCase() === "INBOX") return "INBOX";
  const parts = n.split(MAILBOX_DELIMITER);
  if (n.length === 0 || n.length > 1000 || parts.some((p) => p.length === 0) || /[\x00-\x1f\x7f]/.test(n)) {
    throw new StoreError("invalid", `invalid mailbox name ${JSON.stringify(name)}`);
  }
  return n;
}

export interface RenameOutcome {
  /** mailboxes whose content changed (INBOX after its messages moved), with their highest modseq */
  touched: Map<number, number>;
}

export class Mailboxes {
  constructor(private readonly db: Db) {}

  list(accountId: number): Mailbox[] {
    return this.db
      .prep<MailboxRow>("SELECT * FROM mailboxes WHERE account_id = ? ORDER BY name <> 'INBOX', name")
      .all(accountId)
      .map(toMailbox);
  }

  get(accountId: number, name: string): Mailbox | null {
    const row = this.row(accountId, normalizeMailboxName(name));
    return row ? toMailbox(row) : null;
  }

  getById(id: number): Mailbox | null {
    const row = this.rowById(id);
    return row ? toMailbox(row) : null;
  }

  rowById(id: number): MailboxRow | undefined {
    return this.db.prep<MailboxRow>("SELECT * FROM mailboxes WHERE id = ?").get(id);
  }

  create(accountId: number, name: string, specialUse: SpecialUse | null = null): Mailbox {
    const n = normalizeMailboxName(name);
    if (specialUse !== null && !SPECIAL_USES.has(specialUse)) {
      throw new StoreError("invalid", `unknown special-use ${specialUse}`);
    }
    return this.db.write(() => {
      if (!this.db.prep("SELECT 1 FROM accounts WHERE id = ?").get(accountId)) {
        throw new StoreError("not-found", `no account ${accountId}`);
      }
      const existing = this.row(accountId, n);
      if (existing?.noselect) {
        // A \Noselect name becomes a real mailbox again, with a new UIDVALIDITY (its old messages are gone).
        this.db
          .prep(
            "UPDATE mailboxes SET noselect = 0, special_use = ?, uidvalidity = ?, uidnext = 1 WHERE id = ?",
          )
          .run(specialUse, this.nextUidValidity(), existing.id);
        return toMailbox(this.rowById(existing.id)!);
      }
      if (existing) throw new StoreError("exists", `mailbox ${n} already exists`);
      return toMailbox(this.rowById(this.insert(accountId, n, specialUse))!);
    });
  }

  /** the DEFAULT_MAILBOXES of a new account (inside its transaction) */
  createDefaults(accountId: number): void {
    for (const m of DEFAULT_MAILBOXES) this.insert(accountId, m.name, m.specialUse);
  }

  rename(accountId: number, from: string, to: string): RenameOutcome {
    const src = normalizeMailboxName(from);
    const dst = normalizeMailboxName(to);
    return this.db.write(() => {
      const row = this.row(accountId, src);
      if (!row) throw new StoreError("not-found", `no mailbox ${src}`);
      if (this.row(accountId, dst)) throw new StoreError("exists", `mailbox ${dst} already exists`);
      if (src === "INBOX") return this.renameInbox(row, dst);
      if (dst.startsWith(src + MAILBOX_DELIMITER)) {
        throw new StoreError("invalid", `cannot rename ${src} into its own child ${dst}`);
      }
      const family = this.db
        .prep<{ id: number; name: string }>(
          `SELECT id, name FROM mailboxes WHERE account_id = @account AND (name = @name OR substr(name, 1, @len) = @prefix)
           ORDER BY name`,
        )
        .all({ account: accountId, name: src, len: src.length + 1, prefix: src + MAILBOX_DELIMITER });
      const update = this.db.prep("UPDATE mailboxes SET name = ? WHERE id = ?");
      for (const m of family) {
        const renamed = dst + m.name.slice(src.length);
        if (this.row(accountId, renamed)) throw new StoreError("exists", `mailbox ${renamed} already exists`);
        update.run(renamed, m.id);
      }
      return { touched: new Map() };
    });
  }

  /**
   * RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox of that name and
   * leaves INBOX empty; its children are not renamed. The new mailbox keeps the UIDs (it has a new
   * UIDVALIDITY anyway); INBOX logs an expunge per message so open sessions see them go.
   */
  private renameInbox(inbox: MailboxRow, dst: string): RenameOutcome {
    const id = this.insert(inbox.account_id, dst, null);
    const msgs = this.db
      .prep<{ id: number; uid: number; flags: string }>(
        `SELECT m.id AS id, m.uid AS uid, s.flags AS flags
         FROM messages m JOIN message_state s ON s.mailbox_id = m.mailbox_id AND s.uid = m.uid
         WHERE m.mailbox_id = ? ORDER BY m.uid`,
      )
      .all(inbox.id);
    const n = msgs.length;
    this.db
      .prep("UPDATE mailboxes SET uidnext = ?, highestmodseq = 1 + ? WHERE id = ?")
      .run(inbox.uidnext, n, id);
    const inboxTop = this.bumpModseq(inbox.id, n);
    const move = this.db.prep("UPDATE messages SET mailbox_id = ? WHERE id = ?");
    const moveState = this.db.prep(
      "UPDATE message_state SET mailbox_id = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
    );
    const log = this.db.prep(
      "INSERT INTO changes (mailbox_id, modseq, kind, uid, flags) VALUES (?, ?, ?, ?, ?)",
    );
    msgs.forEach((m, i) => {
      move.run(id, m.id);
      moveState.run(id, 2 + i, inbox.id, m.uid);
      log.run(id, 2 + i, "append", m.uid, m.flags);
      log.run(inbox.id, inboxTop - n + 1 + i, "expunge", m.uid, null);
    });
    return { touched: new Map([[inbox.id, inboxTop]]) };
  }

  /**
   * Deletes a mailbox (messages cascade). With children it becomes \Noselect instead (RFC 9051
   * §6.3.5): its messages are removed, each logged as an expunge so open sessions see them go. A
   * \Noselect mailbox with children cannot be deleted ("in-use"); INBOX never ("invalid").
   */
  delete(accountId: number, name: string): { row: MailboxRow; touched: Map<number, number> } {
    const n = normalizeMailboxName(name);
    if (n === "INBOX") throw new StoreError("invalid", "INBOX cannot be deleted");
    return this.db.write(() => {
      const row = this.row(accountId, n);
      if (!row) throw new StoreError("not-found", `no mailbox ${n}`);
      const child = this.db
        .prep("SELECT 1 FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ? LIMIT 1")
        .get(accountId, n.length + 1, n + MAILBOX_DELIMITER);
      if (child) {
        if (row.noselect) throw new StoreError("in-use", `mailbox ${n} has child mailboxes and no messages`);
        const uids = this.db
          .prep<{ uid: number }>("SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid")
          .all(row.id);
        const top = uids.length > 0 ? this.bumpModseq(row.id, uids.length) : row.highestmodseq;
        const log = this.db.prep(
          "INSERT INTO changes (mailbox_id, modseq, kind, uid, flags) VALUES (?, ?, 'expunge', ?, NULL)",
        );
        for (let i = 0; i < uids.length; i++) log.run(row.id, top - uids.length + 1 + i, uids[i]!.uid);
        // triggers release the quota and the text index
        this.db.prep("DELETE FROM messages WHERE mailbox_id = ?").run(row.id);
        this.db.prep("UPDATE mailboxes SET noselect = 1 WHERE id = ?").run(row.id);
        return { row, touched: new Map(uids.length > 0 ? [[row.id, top]] : []) };
      }
      // cascades to messages (triggers release the quota and the text index) and the change log
      this.db.prep("DELETE FROM mailboxes WHERE id = ?").run(row.id);
      return { row, touched: new Map([[row.id, row.highestmodseq + 1]]) };
    });
  }

  setSubscribed(accountId: number, name: string, subscribed: boolean): void {
    const r = this.db
      .prep("UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND name = ?")
      .run(subscribed ? 1 : 0, accountId, normalizeMailboxName(name));
    if (r.changes === 0) throw new StoreError("not-found", `no mailbox ${name}`);
  }

  /** reserves n modseqs; returns the new highest (the reserved ones are top-n+1 … top) */
  bumpModseq(mailboxId: number, n: number): number {
    const r = this.db
      .prep<{ highestmodseq: number }>(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + ? WHERE id = ? RETURNING highestmodseq",
      )
      .get(n, mailboxId);
    if (!r) throw new StoreError("not-found", `no mailbox ${mailboxId}`);
    return r.highestmodseq;
  }

  private row(accountId: number, name: string): MailboxRow | undefined {
    return this.db
      .prep<MailboxRow>("SELECT * FROM mailboxes WHERE account_id = ? AND name = ?")
      .get(accountId, name);
  }

  private insert(accountId: number, name: string, specialUse: SpecialUse | null): number {
    return rowid(
      this.db
        .prep("INSERT INTO mailboxes (account_id, name, special_use, uidvalidity) VALUES (?, ?, ?, ?)")
        .run(accountId, name, specialUse, this.nextUidValidity()),
    );
  }

  /**
   * max(unix time, last + 1), store-wide: strictly increasing, so a mailbox deleted and created
   * again (even within the same second) gets a new UIDVALIDITY. Fits 32 bits until 2106.
   */
  private nextUidValidity(): number {
    return this.db
      .prep<{ value: number }>(
        "UPDATE meta SET value = max(value + 1, ?) WHERE key = 'last_uidvalidity' RETURNING value",
      )
      .get(Math.floor(Date.now() / 1000))!.value;
  }
}
