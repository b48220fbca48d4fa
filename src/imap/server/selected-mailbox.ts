// The selected mailbox as one session sees it (RFC 9051 §2.3.1.2, §7): the sequence-number ⇄ UID map,
// flags and modseqs of every message, and the changes other sessions (or deliveries) made that this
// client has not been told about yet. Changes are pulled from the store's change log (the truth) and
// announced only at the moments the RFC allows: EXISTS and FETCH at any command's end, EXPUNGE (or
// VANISHED under QRESYNC) never during FETCH, STORE or SEARCH by sequence number (§7.5.1), so the
// client's sequence numbers never shift under a command.
//
// Big mailboxes (issue 6): the view is columns (typed arrays of UIDs, modseqs and interned flag-list
// ids), not an object per message; sizes and dates are loaded only when a command needs them
// (ensureDetails). SELECT copies a per-process snapshot of the mailbox that is brought up to date
// from the change log, so only the first SELECT of a mailbox after start reads every message.
import type { Flag, MailboxChange, MailStore, MessageDetails, MessageStates } from "../../store/types.js";

export interface MessageState {
  uid: number;
  flags: readonly Flag[];
  modseq: number;
  /** RFC822.SIZE; NaN unless loaded by ensureDetails */
  size: number;
  /** INTERNALDATE; an invalid date unless loaded by ensureDetails */
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

// ---------------------------------------------------------------------------------------------
// Flag lists, interned

/**
 * The distinct flag lists of one mailbox, each with a small id. Shared by the mailbox's snapshot and
 * every session's view of it: ids are only ever added, so an id never changes meaning.
 */
export class FlagTable {
  readonly lists: Array<readonly Flag[]> = [];
  private readonly byKey = new Map<string, number>();
  /** the arrays the store hands out are shared between messages: most lookups end here */
  private readonly byRef = new WeakMap<readonly Flag[], number>();
  /** lower-cased flag → per id: does the list hold it (computed on demand) */
  private readonly holds = new Map<string, boolean[]>();

  id(flags: readonly Flag[]): number {
    const known = this.byRef.get(flags);
    if (known !== undefined) return known;
    const key = flags.join(" ");
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.lists.length;
      this.lists.push(flags);
      this.byKey.set(key, id);
    }
    this.byRef.set(flags, id);
    return id;
  }

  /** the list with this id holds the flag (compared case-insensitively, as IMAP flags are) */
  has(id: number, flag: string): boolean {
    const lower = flag.toLowerCase();
    let memo = this.holds.get(lower);
    if (memo === undefined) {
      memo = [];
      this.holds.set(lower, memo);
    }
    let v = memo[id];
    if (v === undefined) {
      v = this.lists[id]!.some((f) => f.toLowerCase() === lower);
      memo[id] = v;
    }
    return v;
  }
}

// ---------------------------------------------------------------------------------------------
// Columns

/** Messages in ascending UID order as parallel typed arrays; sizes and dates only once loaded. */
class Columns {
  n = 0;
  uids: Uint32Array;
  modseqs: Float64Array;
  flagIds: Uint32Array;
  /** 1 where size, internal date and sent date are loaded */
  loaded: Uint8Array | null = null;
  sizes: Float64Array | null = null;
  dates: Float64Array | null = null;
  sent: Float64Array | null = null;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.uids = new Uint32Array(c);
    this.modseqs = new Float64Array(c);
    this.flagIds = new Uint32Array(c);
  }

  static fromStates(st: MessageStates, table: FlagTable): Columns {
    const n = st.uids.length;
    const cols = new Columns(n);
    cols.n = n;
    cols.uids.set(st.uids);
    cols.modseqs.set(st.modseqs);
    // the store's flag-list indexes → this mailbox's table ids
    const map = st.flagSets.map((f) => table.id(f));
    for (let i = 0; i < n; i++) cols.flagIds[i] = map[st.flagIds[i]!]!;
    return cols;
  }

  /** a copy, with room to grow */
  clone(): Columns {
    const n = this.n;
    const c = new Columns(n + (n >> 4) + 16);
    c.n = n;
    c.uids.set(this.uids.subarray(0, n));
    c.modseqs.set(this.modseqs.subarray(0, n));
    c.flagIds.set(this.flagIds.subarray(0, n));
    if (this.loaded) {
      c.withDetails();
      c.loaded!.set(this.loaded.subarray(0, n));
      c.sizes!.set(this.sizes!.subarray(0, n));
      c.dates!.set(this.dates!.subarray(0, n));
      c.sent!.set(this.sent!.subarray(0, n));
    }
    return c;
  }

  /** takes loaded details (ascending UIDs) for the messages it has */
  mergeDetails(d: MessageDetails): void {
    this.withDetails();
    if (d.uids.length === 0) return;
    const { uids, loaded, sizes, dates, sent } = this;
    // both ascending: one walk
    let i = this.lowerBound(d.uids[0]!);
    for (let k = 0; k < d.uids.length && i < this.n; k++) {
      const uid = d.uids[k]!;
      while (i < this.n && uids[i]! < uid) i++;
      if (i < this.n && uids[i] === uid) {
        loaded![i] = 1;
        sizes![i] = d.sizes[k]!;
        dates![i] = d.internalDates[k]!;
        sent![i] = d.sentDates[k]!;
      }
    }
  }

  get capacity(): number {
    return this.uids.length;
  }

  /** index of a UID, or -1 */
  indexOf(uid: number): number {
    const i = this.lowerBound(uid);
    return i < this.n && this.uids[i] === uid ? i : -1;
  }

  /** index of the first UID >= uid (n when none) */
  lowerBound(uid: number): number {
    const u = this.uids;
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (u[mid]! < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get lastUid(): number {
    return this.n > 0 ? this.uids[this.n - 1]! : 0;
  }

  push(uid: number, modseq: number, flagId: number): void {
    if (this.n === this.capacity) this.grow(this.n * 2);
    const i = this.n++;
    this.uids[i] = uid;
    this.modseqs[i] = modseq;
    this.flagIds[i] = flagId;
    if (this.loaded) this.loaded[i] = 0;
  }

  /** removes the messages with these UIDs, keeping the order */
  remove(gone: ReadonlySet<number>): void {
    const { uids, modseqs, flagIds, loaded, sizes, dates, sent } = this;
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      if (gone.has(uids[r]!)) continue;
      if (w !== r) {
        uids[w] = uids[r]!;
        modseqs[w] = modseqs[r]!;
        flagIds[w] = flagIds[r]!;
        if (loaded) {
          loaded[w] = loaded[r]!;
          sizes![w] = sizes![r]!;
          dates![w] = dates![r]!;
          sent![w] = sent![r]!;
        }
      }
      w++;
    }
    this.n = w;
  }

  /** allocates the detail columns (nothing loaded yet) */
  withDetails(): void {
    if (this.loaded) return;
    const c = this.capacity;
    this.loaded = new Uint8Array(c);
    this.sizes = new Float64Array(c);
    this.dates = new Float64Array(c);
    this.sent = new Float64Array(c);
  }

  private grow(min: number): void {
    const c = Math.max(16, min);
    const n = this.n;
    const copy = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (c: number) => T): T => {
      const b = make(c);
      b.set(a.subarray(0, n) as unknown as ArrayLike<number>);
      return b;
    };
    this.uids = copy(this.uids, (x) => new Uint32Array(x));
    this.modseqs = copy(this.modseqs, (x) => new Float64Array(x));
    this.flagIds = copy(this.flagIds, (x) => new Uint32Array(x));
    if (this.loaded) {
      this.loaded = copy(this.loaded, (x) => new Uint8Array(x));
      this.sizes = copy(this.sizes!, (x) => new Float64Array(x));
      this.dates = copy(this.dates!, (x) => new Float64Array(x));
      this.sent = copy(this.sent!, (x) => new Float64Array(x));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per-process snapshots

interface Snapshot {
  uidValidity: number;
  /** the change log is applied up to here */
  modseq: number;
  /** states; and sizes and dates as far as views loaded them (they never change) */
  cols: Columns;
  flags: FlagTable;
}

/** messages kept in snapshots per store (16 to 41 bytes each), least recently selected dropped first */
const SNAPSHOT_MESSAGES = 1_000_000;

/**
 * The last known state of every mailbox selected in this process, so that a SELECT costs a read of
 * the change log since the last one plus a copy of a few typed arrays, instead of a read of every
 * message (for 100,000 messages: about 1 ms against about 60). The change log is complete (never
 * pruned), so replaying it gives exactly the stored state; another process's changes (the CLI) are
 * in it too.
 */
class Snapshots {
  private readonly byMailbox = new Map<number, Snapshot>();

  constructor(private readonly store: MailStore) {}

  /** the mailbox's state now; uidValidity and highestModseq as just read from the mailbox */
  async get(mailboxId: number, uidValidity: number, highestModseq: number): Promise<Snapshot | null> {
    let snap = this.byMailbox.get(mailboxId);
    // every change takes one modseq: past about half the mailbox, reading it afresh is cheaper
    if (snap && highestModseq - snap.modseq > Math.max(1000, snap.cols.n / 2)) snap = undefined;
    if (snap && snap.uidValidity === uidValidity) {
      applyChanges(snap, await this.store.changesSince(mailboxId, snap.modseq));
    } else {
      const st = await this.store.listMessageStates(mailboxId);
      if (!st) {
        this.byMailbox.delete(mailboxId);
        return null;
      }
      const flags = new FlagTable();
      snap = {
        uidValidity: st.uidValidity,
        modseq: st.highestModseq,
        cols: Columns.fromStates(st, flags),
        flags,
      };
    }
    // most recently used last
    this.byMailbox.delete(mailboxId);
    this.byMailbox.set(mailboxId, snap);
    let total = 0;
    for (const s of this.byMailbox.values()) total += s.cols.capacity;
    for (const [id, s] of this.byMailbox) {
      if (total <= SNAPSHOT_MESSAGES || s === snap) break;
      this.byMailbox.delete(id);
      total -= s.cols.capacity;
    }
    return snap;
  }
}

/** Applies change-log entries newer than the snapshot (idempotent: older entries are skipped). */
function applyChanges(snap: Snapshot, changes: readonly MailboxChange[]): void {
  const cols = snap.cols;
  let gone: Set<number> | null = null;
  for (const c of changes) {
    if (c.modseq <= snap.modseq) continue;
    snap.modseq = c.modseq;
    if (c.kind === "append") {
      // UIDs are assigned in commit order: a new message is always above every one there
      if (c.uid > cols.lastUid) cols.push(c.uid, c.modseq, snap.flags.id(c.flags ?? []));
    } else if (c.kind === "flags") {
      const i = cols.indexOf(c.uid);
      if (i >= 0) {
        cols.flagIds[i] = snap.flags.id(c.flags ?? []);
        cols.modseqs[i] = c.modseq;
      }
    } else {
      gone ??= new Set();
      gone.add(c.uid);
    }
  }
  if (gone) cols.remove(gone);
}

const snapshotsByStore = new WeakMap<MailStore, Snapshots>();

function snapshots(store: MailStore): Snapshots {
  let s = snapshotsByStore.get(store);
  if (!s) {
    s = new Snapshots(store);
    snapshotsByStore.set(store, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The view

interface PendingAppend {
  uid: number;
  flags: readonly Flag[];
  modseq: number;
}

/** a message of the view as an object, for the commands that handle a few */
class StateOf implements MessageState {
  constructor(
    readonly uid: number,
    readonly flags: readonly Flag[],
    readonly modseq: number,
    readonly size: number,
    private readonly dateMs: number,
  ) {}

  get internalDate(): Date {
    return new Date(this.dateMs);
  }
}

/** fewer missing messages than this are read one by one rather than as one UID range */
const DETAILS_ONE_BY_ONE = 16;

export class SelectedMailbox {
  /** highest modseq pulled from the change log */
  private pulledModseq: number;
  private pendingAppends = new Map<number, PendingAppend>();
  private pendingExpunges = new Set<number>();
  private pendingFlags = new Map<number, { flags: readonly Flag[]; modseq: number }>();
  /** \Recent: UIDs this session was the first to see (RFC 3501 §2.3.2) */
  readonly recent = new Set<number>();

  private constructor(
    private readonly store: MailStore,
    readonly mailboxId: number,
    readonly name: string,
    readonly uidValidity: number,
    readonly readOnly: boolean,
    private readonly cols: Columns,
    /** the mailbox's interned flag lists (shared with its snapshot) */
    readonly flagTable: FlagTable,
    private readonly snapshot: Snapshot,
    highestModseq: number,
    public uidNext: number,
  ) {
    this.pulledModseq = highestModseq;
  }

  static async open(store: MailStore, mailboxId: number, readOnly: boolean): Promise<SelectedMailbox | null> {
    const box = await store.getMailboxById(mailboxId);
    if (!box) return null;
    const snap = await snapshots(store).get(mailboxId, box.uidValidity, box.highestModseq);
    if (!snap) return null;
    // copied at once (no await in between): the view is exactly the snapshot at snap.modseq
    const cols = snap.cols.clone();
    // box was read before the change log, so snap.modseq normally covers it; take the larger anyway
    const highest = Math.max(box.highestModseq, snap.modseq);
    const uidNext = Math.max(box.uidNext, cols.lastUid + 1);
    return new SelectedMailbox(
      store,
      mailboxId,
      box.name,
      snap.uidValidity,
      readOnly,
      cols,
      snap.flags,
      snap,
      highest,
      uidNext,
    );
  }

  get exists(): number {
    return this.cols.n;
  }

  get highestModseq(): number {
    return this.pulledModseq;
  }

  get maxUid(): number {
    return this.cols.lastUid;
  }

  // ---- per message, by sequence number (1-based, must be in 1..exists) ----

  uidAt(seq: number): number {
    return this.cols.uids[seq - 1]!;
  }

  modseqAt(seq: number): number {
    return this.cols.modseqs[seq - 1]!;
  }

  flagIdAt(seq: number): number {
    return this.cols.flagIds[seq - 1]!;
  }

  flagsAt(seq: number): readonly Flag[] {
    return this.flagTable.lists[this.cols.flagIds[seq - 1]!]!;
  }

  hasFlagAt(seq: number, flag: string): boolean {
    return this.flagTable.has(this.cols.flagIds[seq - 1]!, flag);
  }

  /** size, INTERNALDATE and sent date are loaded for this message (see ensureDetails) */
  detailsAt(seq: number): boolean {
    return this.cols.loaded?.[seq - 1] === 1;
  }

  /** RFC822.SIZE (NaN unless loaded) */
  sizeAt(seq: number): number {
    return this.detailsAt(seq) ? this.cols.sizes![seq - 1]! : Number.NaN;
  }

  /** INTERNALDATE as epoch ms (NaN unless loaded) */
  internalDateAt(seq: number): number {
    return this.detailsAt(seq) ? this.cols.dates![seq - 1]! : Number.NaN;
  }

  /** the Date: header as epoch ms (RFC 5256 §2.2); NaN when missing, unreadable or not loaded */
  sentDateAt(seq: number): number {
    return this.detailsAt(seq) ? this.cols.sent![seq - 1]! : Number.NaN;
  }

  /** the message at a sequence number as an object */
  at(seq: number): MessageState | undefined {
    if (seq < 1 || seq > this.cols.n) return undefined;
    return new StateOf(
      this.uidAt(seq),
      this.flagsAt(seq),
      this.modseqAt(seq),
      this.sizeAt(seq),
      this.internalDateAt(seq),
    );
  }

  byUidGet(uid: number): MessageState | undefined {
    const seq = this.seqOf(uid);
    return seq > 0 ? this.at(seq) : undefined;
  }

  /** sequence number of a UID, or 0 when it is not in the view */
  seqOf(uid: number): number {
    return this.cols.indexOf(uid) + 1;
  }

  /** the number of messages with a UID below uid: the sequence number of the first UID >= uid, minus one */
  countBelow(uid: number): number {
    return this.cols.lowerBound(uid);
  }

  modseqOfUid(uid: number): number {
    const i = this.cols.indexOf(uid);
    return i >= 0 ? this.cols.modseqs[i]! : 0;
  }

  // ---- over the whole view ----

  /** UIDs of the messages that hold the flag, ascending */
  uidsWithFlag(flag: string): number[] {
    const out: number[] = [];
    const { uids, flagIds, n } = this.cols;
    for (let i = 0; i < n; i++) if (this.flagTable.has(flagIds[i]!, flag)) out.push(uids[i]!);
    return out;
  }

  /** sequence number of the first message without the flag, 0 when every message has it */
  firstSeqWithout(flag: string): number {
    const { flagIds, n } = this.cols;
    for (let i = 0; i < n; i++) if (!this.flagTable.has(flagIds[i]!, flag)) return i + 1;
    return 0;
  }

  /** the keywords (non-system flags) some message holds */
  keywords(): string[] {
    const used = new Uint8Array(this.flagTable.lists.length);
    const { flagIds, n } = this.cols;
    for (let i = 0; i < n; i++) used[flagIds[i]!] = 1;
    const out = new Set<string>();
    used.forEach((u, id) => {
      if (u) for (const f of this.flagTable.lists[id]!) if (!f.startsWith("\\")) out.add(f);
    });
    return [...out];
  }

  /** marks every message with a UID above `uid` \Recent in this session */
  markRecentAbove(uid: number): void {
    const { uids, n } = this.cols;
    for (let i = this.cols.lowerBound(uid + 1); i < n; i++) this.recent.add(uids[i]!);
  }

  /**
   * Loads size, INTERNALDATE and sent date of the given messages (sequence numbers, ascending), or of
   * every message: a few one by one, more as one UID range. Messages already gone from the store
   * (expunged by another session, not yet announced) stay without (detailsAt is false).
   */
  async ensureDetails(seqs?: readonly number[]): Promise<void> {
    const cols = this.cols;
    cols.withDetails();
    const missing: number[] = [];
    if (seqs === undefined) {
      for (let i = 0; i < cols.n; i++) if (cols.loaded![i] === 0) missing.push(cols.uids[i]!);
    } else {
      for (const q of seqs) if (cols.loaded![q - 1] === 0) missing.push(cols.uids[q - 1]!);
    }
    if (missing.length === 0) return;
    if (missing.length < DETAILS_ONE_BY_ONE) {
      for (const uid of missing) {
        this.mergeDetails(await this.store.listMessageDetails(this.mailboxId, { fromUid: uid, toUid: uid }));
      }
      return;
    }
    let fromUid = missing[0]!;
    let toUid = fromUid;
    for (const u of missing) {
      if (u < fromUid) fromUid = u;
      if (u > toUid) toUid = u;
    }
    this.mergeDetails(await this.store.listMessageDetails(this.mailboxId, { fromUid, toUid }));
  }

  /** into the view, and into the mailbox's snapshot: they never change, the next SELECT has them */
  private mergeDetails(d: MessageDetails): void {
    this.cols.mergeDetails(d);
    this.snapshot.cols.mergeDetails(d);
  }

  // ---- this session's own changes ----

  /** Records this session's own flag change so it is not announced back to it. */
  applyOwnFlags(uid: number, flags: readonly Flag[], modseq: number): void {
    const i = this.cols.indexOf(uid);
    if (i < 0) return;
    this.cols.flagIds[i] = this.flagTable.id(flags);
    this.cols.modseqs[i] = modseq;
    const pending = this.pendingFlags.get(uid);
    if (pending && pending.modseq <= modseq) this.pendingFlags.delete(uid);
  }

  /**
   * Records the result of this session's STORE (or FETCH setting \Seen). The store gives the changed
   * messages consecutive modseqs; when they directly follow what was pulled, nobody else changed
   * anything in between, so the change log need not be read back for them.
   */
  applyOwnStore(updated: ReadonlyArray<{ uid: number; flags: readonly Flag[]; modseq: number }>): void {
    for (const u of updated) this.applyOwnFlags(u.uid, u.flags, u.modseq);
    const n = updated.length;
    if (
      n > 0 &&
      updated[0]!.modseq === this.pulledModseq + 1 &&
      updated[n - 1]!.modseq === this.pulledModseq + n
    ) {
      this.pulledModseq += n;
    }
  }

  /** Removes messages this session expunged itself (it sends the EXPUNGE responses). */
  removeOwn(uids: readonly number[]): void {
    const gone = new Set(uids);
    this.cols.remove(gone);
    for (const uid of uids) {
      this.pendingExpunges.delete(uid);
      this.pendingFlags.delete(uid);
      this.recent.delete(uid);
    }
  }

  // ---- other sessions' changes ----

  /** Pulls new entries of the change log into the pending state (announces nothing). */
  async poll(): Promise<void> {
    const changes = await this.store.changesSince(this.mailboxId, this.pulledModseq);
    for (const c of changes) {
      if (c.modseq <= this.pulledModseq) continue;
      this.pulledModseq = c.modseq;
      if (c.kind === "append") {
        if (this.cols.indexOf(c.uid) < 0 && !this.pendingAppends.has(c.uid)) {
          this.pendingAppends.set(c.uid, { uid: c.uid, flags: c.flags ?? [], modseq: c.modseq });
        }
      } else if (c.kind === "flags") {
        const i = this.cols.indexOf(c.uid);
        if (i >= 0 && this.cols.modseqs[i]! >= c.modseq) continue; // our own STORE, already known
        const pendingAppend = this.pendingAppends.get(c.uid);
        if (pendingAppend) {
          pendingAppend.flags = c.flags ?? pendingAppend.flags;
          pendingAppend.modseq = c.modseq;
        } else this.pendingFlags.set(c.uid, { flags: c.flags ?? [], modseq: c.modseq });
      } else if (this.cols.indexOf(c.uid) >= 0) {
        this.pendingExpunges.add(c.uid);
        this.pendingFlags.delete(c.uid);
      } else {
        this.pendingAppends.delete(c.uid);
      }
    }
  }

  get hasPending(): boolean {
    return this.pendingAppends.size > 0 || this.pendingExpunges.size > 0 || this.pendingFlags.size > 0;
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
    if (this.pendingAppends.size > 0) {
      const fresh = [...this.pendingAppends.values()].sort((a, b) => a.uid - b.uid);
      for (const m of fresh) {
        if (m.uid <= this.cols.lastUid) continue;
        this.cols.push(m.uid, m.modseq, this.flagTable.id(m.flags));
        if (m.uid >= this.uidNext) this.uidNext = m.uid + 1;
      }
      this.pendingAppends.clear();
      out.push(`${this.cols.n} EXISTS`);
      if (opts.rev1) out.push(`${this.recent.size} RECENT`);
    }
    if (this.pendingFlags.size > 0) {
      for (const [uid, change] of this.pendingFlags) {
        const i = this.cols.indexOf(uid);
        if (i < 0) continue;
        this.cols.flagIds[i] = this.flagTable.id(change.flags);
        this.cols.modseqs[i] = change.modseq;
        const flags = [...change.flags, ...(this.recent.has(uid) ? ["\\Recent"] : [])].join(" ");
        out.push(
          `${i + 1} FETCH (UID ${uid} FLAGS (${flags})${opts.condstore ? ` MODSEQ (${change.modseq})` : ""})`,
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
