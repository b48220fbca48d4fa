// The maildrop of one POP3 session: a snapshot of the account's INBOX taken at login (RFC 1939 §4:
// message numbers are assigned when the maildrop is opened and never change during the session),
// the session's deletion marks, and what other sessions expunged meanwhile.
//
// IMAP may expunge (or move away) messages while POP3 is in the TRANSACTION state. Numbers must
// not shift under the client, so such a message keeps its number and is reported as deleted for
// the rest of the session: STAT and LIST leave it out like a DELEted one, RETR/TOP/DELE/UIDL of it
// answer "-ERR Message n was deleted", and RSET cannot bring it back. The session learns of it
// from the change log when the store's bus wakes it (the log is the truth; a lost wake-up is
// caught by RETR/TOP finding the message gone). New deliveries are not added: they show up at
// the next login, as RFC 1939 implies.
//
// UIDL (RFC 1939 §7) is "<UIDVALIDITY>.<UID>" of the INBOX copy: printable, at most 21 octets,
// the same in every session, and unaffected by anything IMAP does short of recreating INBOX
// (which changes UIDVALIDITY, so clients then download again, as they must).
//
// EXPIRE n > 0 (RFC 2449 §6.7, `pop3.expire`): the UPDATE state records when each message was
// first sent whole by RETR (MailStore.markRetrieved), and the next login, before the maildrop is
// numbered, expunges what was first retrieved more than n days ago (MailStore.expireRetrieved).
import type { Pop3Expire } from "../../config/types.js";
import type { MailStore } from "../../store/types.js";
import type { SizeCache } from "./size-cache.js";

export interface MaildropEntry {
  /** 1-based message number */
  readonly n: number;
  readonly uid: number;
  /** store-wide message id (key of the size cache) */
  readonly id: number;
  /** stored octets (trace prefix + blob) */
  readonly storedSize: number;
  /** octets of the CRLF form, as LIST reports it */
  size: number;
  /** marked by DELE in this session */
  deleted: boolean;
  /** expunged by another session since login */
  gone: boolean;
  /** sent whole by RETR: flagged \Seen at QUIT (deleted instead under EXPIRE 0; its first retrieval recorded under EXPIRE n > 0) */
  retrieved: boolean;
  readonly seen: boolean;
}

export type Lookup =
  | { kind: "ok"; entry: MaildropEntry }
  | { kind: "no-such-message" }
  | { kind: "deleted" }
  | { kind: "gone" };

export interface UpdateResult {
  /** messages removed in the UPDATE state */
  expunged: number;
}

const DAY_MS = 86_400_000;

/** EXPIRE n > 0: messages first retrieved before this time are expired at login; else undefined. */
export function expireCutoff(expire: Pop3Expire, now: Date = new Date()): Date | undefined {
  return typeof expire === "number" && expire > 0 ? new Date(now.getTime() - expire * DAY_MS) : undefined;
}

export class Maildrop {
  readonly entries: MaildropEntry[];
  private readonly byUid = new Map<number, MaildropEntry>();
  /** highest modseq of the change log already applied */
  private modseq: number;
  /** the bus said the mailbox changed since the last refresh */
  private dirty = false;
  private unsubscribe: (() => void) | null = null;

  private constructor(
    private readonly store: MailStore,
    readonly mailboxId: number,
    readonly uidValidity: number,
    modseq: number,
    entries: MaildropEntry[],
  ) {
    this.modseq = modseq;
    this.entries = entries;
    for (const e of entries) this.byUid.set(e.uid, e);
    this.unsubscribe = store.bus.subscribe(mailboxId, () => {
      this.dirty = true;
    });
  }

  /**
   * Opens the account's INBOX; null when the account has none. With expireBefore (see
   * expireCutoff), the messages POP3 first retrieved before that time are expunged first.
   */
  static async open(
    store: MailStore,
    accountId: number,
    sizes: SizeCache,
    expireBefore?: Date,
  ): Promise<Maildrop | null> {
    // The modseq is read before the listing: an expunge that races with the listing is then either
    // already missing from the list or found in changesSince(modseq).
    let box = await store.getMailbox(accountId, "INBOX");
    if (!box) return null;
    if (expireBefore && (await store.expireRetrieved(box.id, expireBefore)).length > 0) {
      box = await store.getMailboxById(box.id);
      if (!box) return null;
    }
    const list = await store.listMessages(box.id);
    const entries = list.map(
      (m, i): MaildropEntry => ({
        n: i + 1,
        uid: m.uid,
        id: m.id,
        storedSize: m.size,
        size: sizes.size(m.id, m.size),
        deleted: false,
        gone: false,
        retrieved: false,
        seen: m.flags.includes("\\Seen"),
      }),
    );
    return new Maildrop(store, box.id, box.uidValidity, box.highestModseq, entries);
  }

  /** Applies expunges from the change log if the bus reported a change. */
  async refresh(force = false): Promise<void> {
    if (!this.dirty && !force) return;
    this.dirty = false;
    const changes = await this.store.changesSince(this.mailboxId, this.modseq);
    for (const c of changes) {
      if (c.modseq > this.modseq) this.modseq = c.modseq;
      if (c.kind !== "expunge") continue;
      const e = this.byUid.get(c.uid);
      if (e) e.gone = true;
    }
  }

  lookup(n: number): Lookup {
    const entry = n >= 1 && n <= this.entries.length ? this.entries[n - 1] : undefined;
    if (!entry) return { kind: "no-such-message" };
    if (entry.gone) return { kind: "gone" };
    if (entry.deleted) return { kind: "deleted" };
    return { kind: "ok", entry };
  }

  /** Messages neither deleted nor gone, in number order. */
  *visible(): Generator<MaildropEntry> {
    for (const e of this.entries) if (!e.deleted && !e.gone) yield e;
  }

  /** RFC 1939 §5 STAT: count and octets, deleted messages not counted. */
  stat(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    for (const e of this.visible()) {
      count++;
      octets += e.size;
    }
    return { count, octets };
  }

  uidl(e: MaildropEntry): string {
    return `${this.uidValidity}.${e.uid}`;
  }

  markGone(e: MaildropEntry): void {
    e.gone = true;
  }

  /** RFC 1939 §5 RSET: unmark what this session deleted (not what others expunged). */
  reset(): void {
    for (const e of this.entries) e.deleted = false;
  }

  /**
   * RFC 1939 §6, the UPDATE state: expunge the messages marked by DELE (other sessions see the
   * expunge through the change log), then flag what RETR sent whole as \Seen, as Dovecot does.
   * Under EXPIRE 0 (RFC 2449 §6.7: "the server MAY assume an implicit DELE for each message which
   * was downloaded with RETR"), what RETR sent whole is expunged too, whatever RSET did: the
   * download happened. Under EXPIRE n > 0 its first retrieval is recorded at `now`, so a later
   * login expires it after n days. Throws when the expunge failed (the caller answers
   * "-ERR [SYS/TEMP]"); a failure to set \Seen or to record the retrieval is only reported to the
   * caller's onError.
   */
  async update(
    expire: Pop3Expire,
    onError: (what: "seen" | "retrieved", err: unknown) => void,
    now: Date = new Date(),
  ): Promise<UpdateResult> {
    const deleteRetrieved = expire === 0;
    const doomed = this.entries
      .filter((e) => (e.deleted || (deleteRetrieved && e.retrieved)) && !e.gone)
      .map((e) => e.uid);
    const expunged = doomed.length > 0 ? await this.store.expunge(this.mailboxId, doomed) : [];
    const kept = deleteRetrieved ? [] : this.entries.filter((e) => e.retrieved && !e.deleted && !e.gone);
    const seen = kept.filter((e) => !e.seen).map((e) => e.uid);
    if (seen.length > 0) {
      try {
        await this.store.storeFlags({ mailboxId: this.mailboxId, uids: seen, op: "add", flags: ["\\Seen"] });
      } catch (err) {
        onError("seen", err);
      }
    }
    if (typeof expire === "number" && expire > 0 && kept.length > 0) {
      try {
        await this.store.markRetrieved(
          this.mailboxId,
          kept.map((e) => e.uid),
          now,
        );
      } catch (err) {
        onError("retrieved", err);
      }
    }
    return { expunged: expunged.length };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
