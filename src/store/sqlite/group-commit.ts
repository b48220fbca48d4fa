// Group commit: write requests made in the same event-loop turn are applied in ONE transaction,
// so N concurrent deliveries cost one WAL fsync instead of N. Each request runs in its own
// SAVEPOINT: one that throws (over quota, unknown mailbox) rolls back only itself and rejects only
// its own promise. Promises settle only after COMMIT returned, i.e. after the data is durable.

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

export class GroupCommit {
  private queue: Pending[] = [];
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

  /** commits everything queued now; then refuses new work */
  close(): void {
    this.closed = true;
    this.flush();
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) this.commit(this.queue.splice(0, this.maxBatch), true);
    if (this.unsynced.length > 0) {
      this.db.prep("PRAGMA synchronous = NORMAL").run();
      try {
        while (this.unsynced.length > 0) this.commit(this.unsynced.splice(0, this.maxBatch), false);
      } finally {
        this.db.prep("PRAGMA synchronous = FULL").run();
      }
    }
  }

  private commit(batch: Pending[], synced: boolean): void {
    const db = this.db;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      db.prep("BEGIN IMMEDIATE").run();
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
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
      return;
    }
    if (synced) this.counters.batches++;
    this.counters.requests += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) p.resolve(outcome.value);
      else p.reject(outcome.error);
    });
  }
}
