// Small blobs inside SQLite. A file blob costs, in series, an fsync of the file and one of its
// directory before the delivery's transaction can even start its own (WAL) fsync. A blob of at most
// inlineMax bytes (INLINE_BLOB_MAX by default) is instead kept in memory when its writer finishes
// ("pending") and written into blob_inline by the transaction that first references it (deliver:
// local copies and queue entries), so it is made durable by that transaction's grouped WAL fsync,
// and nothing is acknowledged before it. Larger blobs spill to the file store exactly as before.
//
// Ids are the sha256 hex of the content in both tiers, so they never collide and equal content
// dedupes (INSERT OR IGNORE). Reads look in the pending map, then blob_inline, then the files.
//
// Memory: a pending blob nobody references (a rejected or abandoned transaction) is dropped after
// PENDING_TTL_MS; at most PENDING_MAX_BYTES are pending at once, beyond that new blobs go to files.
// Garbage collection (gc.ts) deletes unreferenced blob_inline rows like unreferenced files.

import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { type CollectableBlobStore, isBlobId, putWith } from "../fs-blob-store.js";
import { type BlobStore, type BlobWriter, StoreError } from "../types.js";
import type { Db } from "./db.js";

/** largest blob kept in the database instead of a file (bytes) */
export const INLINE_BLOB_MAX = 128 * 1024;
/** a finished small blob no delivery referenced within this time is dropped */
export const PENDING_TTL_MS = 10 * 60 * 1000;
/** most bytes of finished, not yet referenced small blobs held in memory */
export const PENDING_MAX_BYTES = 256 * 1024 * 1024;

interface PendingBlob {
  data: Buffer;
  /** when it was last finished (ms) */
  at: number;
}

/** a pending blob's bytes, pinned by a delivery for its transaction */
export type PinnedBlob = readonly [id: string, data: Buffer];

export class HybridBlobStore implements BlobStore {
  private db: Db | null = null;
  private readonly pending = new Map<string, PendingBlob>();
  private pendingBytes = 0;
  private lastSweep = Date.now();

  constructor(
    readonly files: CollectableBlobStore,
    readonly inlineMax = INLINE_BLOB_MAX,
  ) {}

  /** the store's connection (null when closed: then only pending blobs and files are found) */
  attach(db: Db | null): void {
    this.db = db;
  }

  createWriter(): BlobWriter {
    return this.inlineMax > 0 ? new HybridBlobWriter(this) : this.files.createWriter();
  }

  put(data: Buffer): Promise<{ id: string; size: number }> {
    return putWith(this.createWriter(), data);
  }

  createReadStream(id: string, start = 0, end?: number): Readable {
    const data = this.inlineData(id);
    if (data === null) return this.files.createReadStream(id, start, end);
    const slice = range(data, start, end);
    return slice.length === 0 ? Readable.from([]) : Readable.from([slice], { objectMode: false });
  }

  async read(id: string, start = 0, end?: number): Promise<Buffer> {
    const data = this.inlineData(id);
    if (data === null) return this.files.read(id, start, end);
    return Buffer.from(range(data, start, end));
  }

  async size(id: string): Promise<number> {
    const p = this.pending.get(id);
    if (p) return p.data.length;
    if (this.db && isBlobId(id)) {
      const r = this.db.prep<{ n: number }>("SELECT length(data) AS n FROM blob_inline WHERE id = ?").get(id);
      if (r) return r.n;
    }
    return this.files.size(id);
  }

  async exists(id: string): Promise<boolean> {
    if (this.pending.has(id)) return true;
    if (this.db && isBlobId(id)) {
      if (this.db.prep("SELECT 1 FROM blob_inline WHERE id = ?").get(id) !== undefined) return true;
    }
    return this.files.exists(id);
  }

  /** removes the blob from every tier (and its header row with an inline one) */
  async delete(id: string): Promise<void> {
    this.dropPending(id);
    const db = this.db;
    if (db && isBlobId(id)) {
      db.write(() => {
        const gone = db.prep("DELETE FROM blob_inline WHERE id = ?").run(id).changes;
        if (gone > 0) db.prep("DELETE FROM message_headers WHERE blob_id = ?").run(id);
      });
    }
    await this.files.delete(id);
  }

  /** stored blobs: those in the database, then the files (pending ones are not stored yet) */
  async *list(): AsyncIterable<string> {
    if (this.db) {
      const ids = this.db.prep<{ id: string }>("SELECT id FROM blob_inline").all();
      for (const r of ids) yield r.id;
    }
    yield* this.files.list();
  }

  // ---- for the store ----

  /** the bytes of those ids that are pending, for the delivery transaction to write */
  pin(ids: Array<string | undefined>): PinnedBlob[] {
    const out: PinnedBlob[] = [];
    for (const id of ids) {
      if (id === undefined || out.some(([i]) => i === id)) continue;
      const p = this.pending.get(id);
      if (p) out.push([id, p.data]);
    }
    return out;
  }

  /** inside the transaction that references them */
  persist(db: Db, pinned: PinnedBlob[]): void {
    if (pinned.length === 0) return;
    const insert = db.prep("INSERT OR IGNORE INTO blob_inline (id, data, created) VALUES (?, ?, ?)");
    const now = Date.now();
    for (const [id, data] of pinned) insert.run(id, data, now);
  }

  /** after that transaction is durable: the rows now hold the bytes */
  settle(pinned: PinnedBlob[]): void {
    // an equal blob finished again meanwhile is served by the row just as well
    for (const [id] of pinned) this.dropPending(id);
  }

  /** garbage collection: pending blobs finished before cutoffMs and never referenced */
  dropPendingBefore(cutoffMs: number): number {
    let n = 0;
    for (const [id, p] of this.pending) {
      if (p.at <= cutoffMs) {
        this.dropPending(id);
        n++;
      }
    }
    return n;
  }

  /** bytes of pending blobs (tests, metrics) */
  get pendingSize(): number {
    return this.pendingBytes;
  }

  /** a finished small blob; false when memory is full (the caller writes a file instead) */
  addPending(id: string, data: Buffer): boolean {
    const now = Date.now();
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now;
      this.dropPendingBefore(now - PENDING_TTL_MS);
    }
    const existing = this.pending.get(id);
    if (existing) {
      existing.at = now;
      return true;
    }
    if (this.pendingBytes + data.length > PENDING_MAX_BYTES) return false;
    this.pending.set(id, { data, at: now });
    this.pendingBytes += data.length;
    return true;
  }

  private dropPending(id: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.pendingBytes -= p.data.length;
  }

  /** the whole blob if it is pending or in the database; null: look in the files */
  private inlineData(id: string): Buffer | null {
    const p = this.pending.get(id);
    if (p) return p.data;
    if (!this.db || !isBlobId(id)) return null;
    const r = this.db.prep<{ data: Buffer }>("SELECT data FROM blob_inline WHERE id = ?").get(id);
    return r ? r.data : null;
  }
}

/** bytes [start, end) of data, clamped like a file read */
function range(data: Buffer, start: number, end?: number): Buffer {
  const to = Math.min(end ?? data.length, data.length);
  const from = Math.min(Math.max(start, 0), to);
  return data.subarray(from, to);
}

/** buffers up to inlineMax bytes; beyond that it becomes a file writer (buffered bytes first) */
class HybridBlobWriter implements BlobWriter {
  private readonly hash = createHash("sha256");
  private chunks: Buffer[] = [];
  private size = 0;
  private file: BlobWriter | null = null;
  private state: "open" | "finished" | "aborted" = "open";

  constructor(private readonly store: HybridBlobStore) {}

  write(chunk: Buffer): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error(`blob writer is ${this.state}`));
    if (this.file) return this.file.write(chunk);
    if (this.size + chunk.length > this.store.inlineMax) {
      this.file = this.store.files.createWriter();
      const buffered = Buffer.concat([...this.chunks, chunk]);
      this.chunks = [];
      return this.file.write(buffered);
    }
    // copied: the caller may reuse its buffer once write() resolves
    this.chunks.push(Buffer.from(chunk));
    this.hash.update(chunk);
    this.size += chunk.length;
    return Promise.resolve();
  }

  async finish(): Promise<{ id: string; size: number }> {
    if (this.state !== "open") throw new Error(`blob writer is ${this.state}`);
    this.state = "finished";
    if (this.file) return this.file.finish();
    const data = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    const id = this.hash.digest("hex");
    if (!this.store.addPending(id, data)) {
      // too much pending in memory: this one becomes a file as before
      const blob = await this.store.files.put(data);
      if (blob.id !== id) throw new StoreError("invalid", `blob ${blob.id} is not ${id}`);
    }
    return { id, size: data.length };
  }

  async abort(): Promise<void> {
    if (this.state === "aborted") return;
    this.state = "aborted";
    this.chunks = [];
    if (this.file) await this.file.abort();
  }
}
