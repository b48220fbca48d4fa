// The selected mailbox as one session sees it (RFC 9051 §2.3.1.2, §7): the sequence-number ⇄ UID map,
// flags and modseqs of every message, and the changes other sessions (or deliveries) made that this
// client has not been told about yet. Changes are pulled from the store's change log (the truth) and
// announced only at the moments the RFC allows: EXISTS and FETCH at any command's end, EXPUNGE (or
// VANISHED under QRESYNC) never during FETCH, STORE or SEARCH by sequence number (§7.5.1), so the
// client's sequence numbers never shift under a command.
import type { Flag, MailStore, MessageSummary } from "../../store/types.js";

export interface MessageState {
  uid: number;
  flags: Flag[];
  modseq: number;
  size: number;
  internalDate: Date;
}

export interface AnnounceOptions {
  /** EXPUNGE/VANISHED may be sent now */
  allowExpunge: boolean;
  /** QRESYNC enabled: VANISHED instead of EXPUNGE (RFC 7162 §3.2.10) */
  qresync: boolean;
  /** CONDSTORE/QRESYNC enabled: FETCH updates carry MODSEQ (RFC 7162 §3.1.4) */
  condstore: boolean;
  /** IMAP4rev1 session: report \Recent counts */
  rev1: boolean;
}

export class SelectedMailbox {
  /** seq - 1 → message */
  private messages: MessageState[];
  private byUid = new Map<number, MessageState>();
  /** highest modseq pulled from the change log */
  private pulledModseq: number;
  private pendingAppends: MessageState[] = [];
  private pendingExpunges = new Set<number>();
  private pendingFlags = new Map<number, { flags: Flag[]; modseq: number }>();
  /** \Recent: UIDs this session was the first to see (RFC 3501 §2.3.2) */
  readonly recent = new Set<number>();

  private constructor(
    private readonly store: MailStore,
    readonly mailboxId: number,
    readonly name: string,
    readonly uidValidity: number,
    readonly readOnly: boolean,
    messages: MessageSummary[],
    highestModseq: number,
    public uidNext: number,
  ) {
    this.messages = messages.map((m) => ({
      uid: m.uid,
      flags: m.flags,
      modseq: m.modseq,
      size: m.size,
      internalDate: m.internalDate,
    }));
    for (const m of this.messages) this.byUid.set(m.uid, m);
    this.pulledModseq = highestModseq;
  }

  static async open(store: MailStore, mailboxId: number, readOnly: boolean): Promise<SelectedMailbox | null> {
    const box = await store.getMailboxById(mailboxId);
    if (!box) return null;
    const list = await store.listMessages(mailboxId);
    // The list may include changes newer than box.highestModseq (read in two steps): take the larger.
    const highest = list.reduce((m, x) => Math.max(m, x.modseq), box.highestModseq);
    const uidNext = Math.max(box.uidNext, (list[list.length - 1]?.uid ?? 0) + 1);
    return new SelectedMailbox(store, mailboxId, box.name, box.uidValidity, readOnly, list, highest, uidNext);
  }

  get exists(): number {
    return this.messages.length;
  }

  get highestModseq(): number {
    return this.pulledModseq;
  }

  /** the message at a sequence number (1-based) */
  at(seq: number): MessageState | undefined {
    return this.messages[seq - 1];
  }

  byUidGet(uid: number): MessageState | undefined {
    return this.byUid.get(uid);
  }

  /** sequence number of a UID, or 0 when it is not in the view */
  seqOf(uid: number): number {
    const m = this.byUid.get(uid);
    if (!m) return 0;
    // binary search: UIDs ascend with sequence numbers
    let lo = 0;
    let hi = this.messages.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = this.messages[mid]!.uid;
      if (u === uid) return mid + 1;
      if (u < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  all(): readonly MessageState[] {
    return this.messages;
  }

  get maxUid(): number {
    return this.messages[this.messages.length - 1]?.uid ?? 0;
  }

  /** Records this session's own flag change so it is not announced back to it. */
  applyOwnFlags(uid: number, flags: Flag[], modseq: number): void {
    const m = this.byUid.get(uid);
    if (!m) return;
    m.flags = flags;
    m.modseq = modseq;
    const pending = this.pendingFlags.get(uid);
    if (pending && pending.modseq <= modseq) this.pendingFlags.delete(uid);
  }

  /** Removes messages this session expunged itself (it sends the EXPUNGE responses). */
  removeOwn(uids: readonly number[]): void {
    const gone = new Set(uids);
    this.messages = this.messages.filter((m) => !gone.has(m.uid));
    for (const uid of uids) {
      this.byUid.delete(uid);
      this.pendingExpunges.delete(uid);
      this.pendingFlags.delete(uid);
      this.recent.delete(uid);
    }
  }

  /** Pulls new entries of the change log into the pending state (announces nothing). */
  async poll(): Promise<void> {
    const changes = await this.store.changesSince(this.mailboxId, this.pulledModseq);
    if (changes.length === 0) return;
    const appended: number[] = [];
    for (const c of changes) {
      if (c.modseq > this.pulledModseq) this.pulledModseq = c.modseq;
      if (c.kind === "append") {
        if (!this.byUid.has(c.uid) && !this.pendingAppends.some((p) => p.uid === c.uid)) appended.push(c.uid);
      } else if (c.kind === "flags") {
        const known = this.byUid.get(c.uid);
        if (known && known.modseq >= c.modseq) continue; // our own STORE, already known
        const pendingAppend = this.pendingAppends.find((p) => p.uid === c.uid);
        if (pendingAppend) {
          pendingAppend.flags = c.flags ?? pendingAppend.flags;
          pendingAppend.modseq = c.modseq;
        } else this.pendingFlags.set(c.uid, { flags: c.flags ?? [], modseq: c.modseq });
      } else if (this.byUid.has(c.uid)) {
        this.pendingExpunges.add(c.uid);
        this.pendingFlags.delete(c.uid);
      } else {
        this.pendingAppends = this.pendingAppends.filter((p) => p.uid !== c.uid);
        const i = appended.indexOf(c.uid);
        if (i >= 0) appended.splice(i, 1);
      }
    }
    if (appended.length > 0) {
      // Sizes and dates of new messages come from the message list (the change log has only flags).
      const fresh = await this.store.listMessages(this.mailboxId, { sinceUid: Math.min(...appended) });
      const wanted = new Set(appended);
      for (const m of fresh) {
        if (!wanted.has(m.uid)) continue;
        this.pendingAppends.push({
          uid: m.uid,
          flags: m.flags,
          modseq: m.modseq,
          size: m.size,
          internalDate: m.internalDate,
        });
      }
      this.pendingAppends.sort((a, b) => a.uid - b.uid);
    }
  }

  get hasPending(): boolean {
    return this.pendingAppends.length > 0 || this.pendingExpunges.size > 0 || this.pendingFlags.size > 0;
  }

  /**
   * Applies pending changes to the view and returns the untagged responses that tell the client
   * (without CRLF). Expunges first (only when allowed), then new messages, then flag changes.
   */
  announce(opts: AnnounceOptions): string[] {
    const out: string[] = [];
    if (opts.allowExpunge && this.pendingExpunges.size > 0) {
      const gone = this.pendingExpunges;
      this.pendingExpunges = new Set();
      if (opts.qresync) {
        out.push(`VANISHED ${compactSet([...gone].sort((a, b) => a - b))}`);
        this.removeOwn([...gone]);
      } else {
        // Highest sequence number first, so each number is right when the client reads it.
        const seqs = [...gone]
          .map((uid) => this.seqOf(uid))
          .filter((s) => s > 0)
          .sort((a, b) => b - a);
        for (const seq of seqs) out.push(`${seq} EXPUNGE`);
        this.removeOwn([...gone]);
      }
    }
    if (this.pendingAppends.length > 0) {
      const maxKnown = this.maxUid;
      for (const m of this.pendingAppends) {
        if (m.uid <= maxKnown || this.byUid.has(m.uid)) continue;
        this.messages.push(m);
        this.byUid.set(m.uid, m);
        if (m.uid >= this.uidNext) this.uidNext = m.uid + 1;
      }
      this.pendingAppends = [];
      out.push(`${this.messages.length} EXISTS`);
      if (opts.rev1) out.push(`${this.recent.size} RECENT`);
    }
    if (this.pendingFlags.size > 0) {
      for (const [uid, change] of this.pendingFlags) {
        const m = this.byUid.get(uid);
        if (!m) continue;
        m.flags = change.flags;
        m.modseq = change.modseq;
        const seq = this.seqOf(uid);
        const flags = [...change.flags, ...(this.recent.has(uid) ? ["\\Recent"] : [])].join(" ");
        out.push(
          `${seq} FETCH (UID ${uid} FLAGS (${flags})${opts.condstore ? ` MODSEQ (${change.modseq})` : ""})`,
        );
      }
      this.pendingFlags.clear();
    }
    return out;
  }
}

/** "1:3,7,9:10" from ascending numbers. */
export function compactSet(sorted: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
