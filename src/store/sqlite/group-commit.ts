// Group commit: write requests made in the same event-loop turn are applied in ONE transaction,
// so N concurrent deliveries cost one WAL fsync instead of N. Each request runs in its own
// SAVEPOINT: one that throws (over quota, unknown mailbox) rolls back only itself and rejects only
// its own promise. Promises settle only once the data is durable.
//
// The fsync runs off the event loop: the batch commits with synchronous=NORMAL (SQLite writes the
// WAL frames but does not sync them), then fs.fsync of the WAL file runs in libuv's thread pool,
// and only when it returns are the batch's promises resolved. That is exactly what
// synchronous=FULL adds to NORMAL in WAL mode (a sync of the WAL after each commit; checkpoints are
// synced in both modes: SQLite docs, "PRAGMA synchronous"), but the event loop reads sockets and
// parses messages meanwhile instead of waiting inside a synchronous COMMIT. fsync(2) flushes the
// file (the inode), whichever descriptor it is called on. Batches that commit while a sync is
// running wait for the next one, so a burst costs few fsyncs.

import { closeSync, fstatSync, fsync, openSync, statSync } from "node:fs";
import { StoreError } from "../types.js";
import type { Db } from "./db.js";

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitStats {
  /** transactions committed */
  batches: number;
  /** requests applied (including those rolled back to their savepoint) */
  requests: number;
  /** most requests in one transaction */
  largestBatch: number;
}

/** a committed batch whose promises wait for the WAL sync */
interface Committed {
  batch: Pending[];
  outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
}

export class GroupCommit {
  private queue: Pending[] = [];
  /** committed, not yet synced */
  private awaitingSync: Committed[] = [];
  private syncing = false;
  private wal: { fd: number; ino: number } | null = null;
  private drained: Array<() => void> = [];
  /** work committed in its own transactions without a sync (see runUnsynced) */
  private unsynced: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly counters: GroupCommitStats = { batches: 0, requests: 0, largestBatch: 0 };

  /** maxBatch bounds how long one transaction holds the write lock */
  constructor(
    private readonly db: Db,
    private readonly maxBatch = 500,
  ) {}

  /** queues work (synchronous database code) for the next group transaction */
  run<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError("closed", "store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: lets every session whose data ended in this I/O turn join
    setImmediate(() => this.flush());
  }

  /**
   * Queues work whose loss in a power failure is harmless (queue leases and outcomes: the recipient is
   * just tried again). It is grouped like run() but committed, after the durable batch of the same
   * turn, in a transaction without an fsync: synchronous=NORMAL in WAL mode skips the sync at commit
   * and keeps checkpoints synced, so a power failure can lose the transaction but never corrupt the
   * database (SQLite docs, "WAL mode"); a process crash loses nothing. The next durable commit syncs
   * its frames too.
   */
  runUnsynced<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError("closed", "store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.unsynced.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  stats(): GroupCommitStats {
    return { ...this.counters };
  }

  /** commits everything queued now and waits for its sync; then refuses new work */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.syncing || this.awaitingSync.length > 0) await new Promise<void>((r) => this.drained.push(r));
    if (this.wal) closeSync(this.wal.fd);
    this.wal = null;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0 && this.unsynced.length === 0) return;
    this.db.prep("PRAGMA synchronous = NORMAL").run();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        const outcomes = this.commit(batch, true);
        if (outcomes) this.awaitingSync.push({ batch, outcomes });
      }
      while (this.unsynced.length > 0) {
        const batch = this.unsynced.splice(0, this.maxBatch);
        const outcomes = this.commit(batch, false);
        if (outcomes) settle(batch, outcomes);
      }
    } finally {
      this.db.prep("PRAGMA synchronous = FULL").run();
    }
    this.startSync();
  }

  /** one fsync of the WAL for every batch committed before it starts */
  private startSync(): void {
    if (this.syncing || this.awaitingSync.length === 0) return;
    const batches = this.awaitingSync;
    this.awaitingSync = [];
    let fd: number;
    try {
      fd = this.walFd();
    } catch (err) {
      // no WAL file to sync (cannot happen after a commit in WAL mode): fail loudly, lose nothing silently
      for (const c of batches) for (const p of c.batch) p.reject(err);
      for (const done of this.drained.splice(0)) done();
      return;
    }
    this.syncing = true;
    fsync(fd, (err) => {
      this.syncing = false;
      for (const c of batches) {
        if (err) for (const p of c.batch) p.reject(err);
        else settle(c.batch, c.outcomes);
      }
      if (this.awaitingSync.length > 0) this.startSync();
      else for (const done of this.drained.splice(0)) done();
    });
  }

  /** our own descriptor of the WAL file, reopened if SQLite replaced the file */
  private walFd(): number {
    const path = `${this.db.path}-wal`;
    const ino = statSync(path).ino;
    if (this.wal && this.wal.ino === ino) return this.wal.fd;
    if (this.wal) closeSync(this.wal.fd);
    const fd = openSync(path, "r+");
    this.wal = { fd, ino: fstatSync(fd).ino };
    return fd;
  }

  /** runs one transaction; the outcome of each request, or null when the whole batch failed (rejected) */
  private commit(
    batch: Pending[],
    synced: boolean,
  ): Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> | null {
    const db = this.db;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      db.prep("BEGIN IMMEDIATE").run();
    } catch (err) {
      for (const p of batch) p.reject(err);
      return null;
    }
    try {
      for (const p of batch) {
        db.prep("SAVEPOINT request").run();
        try {
          outcomes.push({ ok: true, value: p.work() });
          db.prep("RELEASE request").run();
        } catch (error) {
          // some errors (SQLITE_FULL, IOERR) roll back the whole transaction: then all fail
          if (!db.raw.inTransaction) throw error;
          db.prep("ROLLBACK TO request").run();
          db.prep("RELEASE request").run();
          outcomes.push({ ok: false, error });
        }
      }
      db.prep("COMMIT").run();
    } catch (err) {
      if (db.raw.inTransaction) db.prep("ROLLBACK").run();
      for (const p of batch) p.reject(err);
      return null;
    }
    if (synced) this.counters.batches++;
    this.counters.requests += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    return outcomes;
  }
}

function settle(
  batch: Pending[],
  outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>,
): void {
  batch.forEach((p, i) => {
    const outcome = outcomes[i]!;
    if (outcome.ok) p.resolve(outcome.value);
    else p.reject(outcome.error);
  });
}
