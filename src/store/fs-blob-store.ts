// Content-addressed message files: blobs/ab/cd/<sha256>. A writer streams into blobs/tmp/ (same
// filesystem, so the final rename is atomic) while hashing, then fsyncs the file, renames it to its
// hash and fsyncs the directory: once finish() resolves the blob survives a crash or power loss.
// Equal content maps to the same name, so writing it twice just replaces the file with an equal one.

import { createHash, randomBytes } from "node:crypto";
import { createReadStream as fsReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { type BlobStore, type BlobWriter, StoreError } from "./types.js";

const BLOB_ID = /^[0-9a-f]{64}$/;
const SHARD = /^[0-9a-f]{2}$/;

/** What the store's garbage collector needs beyond BlobStore (file-system specific). */
export interface CollectableBlobStore extends BlobStore {
  /**
   * Deletes the blob if it was last written before cutoffMs (epoch ms) and inUse() is false. Runs
   * under the blob's lock, so a writer finishing the same content meanwhile is never lost.
   */
  deleteIfUnused(id: string, cutoffMs: number, inUse: () => boolean): Promise<boolean>;
  /** removes temporary files of writers older than cutoffMs (crashed or abandoned writes) */
  removeStaleTemp(cutoffMs: number): Promise<number>;
}

export function isBlobId(id: string): boolean {
  return BLOB_ID.test(id);
}

export class FsBlobStore implements CollectableBlobStore {
  readonly tmpDir: string;
  private readonly knownDirs = new Set<string>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(readonly root: string) {
    this.tmpDir = join(root, "tmp");
  }

  /** the file of a blob; throws "invalid" for anything but a sha256 hex id (no path tricks) */
  pathOf(id: string): string {
    if (!BLOB_ID.test(id)) throw new StoreError("invalid", `invalid blob id ${JSON.stringify(id)}`);
    return join(this.root, id.slice(0, 2), id.slice(2, 4), id);
  }

  createWriter(): BlobWriter {
    return new FsBlobWriter(this);
  }

  put(data: Buffer): Promise<{ id: string; size: number }> {
    return putWith(this.createWriter(), data);
  }

  createReadStream(id: string, start = 0, end?: number): Readable {
    const path = this.pathOf(id);
    if (end !== undefined && end <= start) return Readable.from([]);
    // fs streams take an inclusive end. 256 KiB reads: most messages in one read, fewer thread-pool trips.
    return fsReadStream(path, {
      start,
      end: end === undefined ? undefined : end - 1,
      highWaterMark: 256 * 1024,
    });
  }

  async read(id: string, start = 0, end?: number): Promise<Buffer> {
    const path = this.pathOf(id);
    const fh = await openBlob(path, id);
    try {
      const size = (await fh.stat()).size;
      const to = Math.min(end ?? size, size);
      const from = Math.min(start, to);
      const buf = Buffer.allocUnsafe(to - from);
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, from + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  async size(id: string): Promise<number> {
    try {
      return (await stat(this.pathOf(id))).size;
    } catch (err) {
      throw notFound(err, id);
    }
  }

  async exists(id: string): Promise<boolean> {
    try {
      await stat(this.pathOf(id));
      return true;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    const path = this.pathOf(id);
    await this.withLock(id, () => unlinkIfExists(path));
  }

  async *list(): AsyncIterable<string> {
    for (const a of await readdirIfExists(this.root)) {
      if (!SHARD.test(a)) continue;
      for (const b of await readdirIfExists(join(this.root, a))) {
        if (!SHARD.test(b)) continue;
        for (const name of await readdirIfExists(join(this.root, a, b))) {
          if (BLOB_ID.test(name) && name.startsWith(a + b)) yield name;
        }
      }
    }
  }

  async deleteIfUnused(id: string, cutoffMs: number, inUse: () => boolean): Promise<boolean> {
    const path = this.pathOf(id);
    return this.withLock(id, async () => {
      let mtime: number;
      try {
        mtime = (await stat(path)).mtimeMs;
      } catch (err) {
        if (isErrno(err, "ENOENT")) return false;
        throw err;
      }
      if (mtime > cutoffMs || inUse()) return false;
      await unlinkIfExists(path);
      return true;
    });
  }

  async removeStaleTemp(cutoffMs: number): Promise<number> {
    let removed = 0;
    for (const name of await readdirIfExists(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      try {
        if ((await stat(path)).mtimeMs > cutoffMs) continue;
        await unlink(path);
        removed++;
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
    }
    return removed;
  }

  /** mkdir -p that makes new directory entries durable (fsyncs the parent of each one created) */
  async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    const first = await mkdir(dir, { recursive: true });
    if (first !== undefined) {
      for (let d = dir; ; d = dirname(d)) {
        await fsyncDir(dirname(d));
        if (d === first) break;
      }
    }
    this.knownDirs.add(dir);
  }

  /** serialises finish() and garbage collection of one blob id within this process */
  async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const mine = previous.then(() => gate);
    this.locks.set(id, mine);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === mine) this.locks.delete(id);
    }
  }
}

class FsBlobWriter implements BlobWriter {
  private readonly hash = createHash("sha256");
  private readonly tmpPath: string;
  private file: Promise<FileHandle> | null = null;
  /** writes are chained so that callers who forget to await still get their bytes in order */
  private chain: Promise<void> = Promise.resolve();
  private size = 0;
  private state: "open" | "finished" | "aborted" = "open";

  constructor(private readonly store: FsBlobStore) {
    this.tmpPath = join(store.tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}.tmp`);
  }

  write(chunk: Buffer): Promise<void> {
    if (this.state !== "open") return Promise.reject(new Error(`blob writer is ${this.state}`));
    const next = this.chain.then(async () => {
      const fh = await this.handle();
      this.hash.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
      this.size += chunk.length;
    });
    // a failed write poisons the writer: finish() must not name a blob with a hole in it
    this.chain = next;
    return next;
  }

  async finish(): Promise<{ id: string; size: number }> {
    if (this.state !== "open") throw new Error(`blob writer is ${this.state}`);
    this.state = "finished";
    try {
      await this.chain;
      const fh = await this.handle();
      await fh.sync();
      await fh.close();
      const id = this.hash.digest("hex");
      const path = this.store.pathOf(id);
      await this.store.ensureDir(dirname(path));
      await this.store.withLock(id, async () => {
        await rename(this.tmpPath, path);
        await fsyncDir(dirname(path));
      });
      return { id, size: this.size };
    } catch (err) {
      await this.cleanup();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.state === "aborted") return;
    this.state = "aborted";
    await this.chain.catch(() => undefined);
    await this.cleanup();
  }

  private handle(): Promise<FileHandle> {
    if (this.file === null) {
      this.file = this.store.ensureDir(this.store.tmpDir).then(() => open(this.tmpPath, "wx"));
    }
    return this.file;
  }

  private async cleanup(): Promise<void> {
    if (this.file === null) return;
    try {
      await (await this.file).close();
    } catch {
      // already closed, or never opened
    }
    await unlinkIfExists(this.tmpPath).catch(() => undefined);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function openBlob(path: string, id: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (err) {
    throw notFound(err, id);
  }
}

function notFound(err: unknown, id: string): unknown {
  return isErrno(err, "ENOENT") ? new StoreError("not-found", `blob ${id} not found`) : err;
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
}

async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/** Writes one buffer through a writer; a failure drops the partial blob. */
export async function putWith(writer: BlobWriter, data: Buffer): Promise<{ id: string; size: number }> {
  try {
    await writer.write(data);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
