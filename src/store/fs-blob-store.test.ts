import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, beforeEach, describe, it } from "node:test";
import { FsBlobStore } from "./fs-blob-store.js";
import { StoreError } from "./types.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function age(path: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await utimes(path, t, t);
}

describe("FsBlobStore", () => {
  let dir: string;
  let blobs: FsBlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-blobs-"));
    blobs = new FsBlobStore(join(dir, "blobs"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("names blobs by sha256 in sharded directories and leaves no temp files", async () => {
    const data = Buffer.from("Subject: hi\r\n\r\nbody\r\n");
    const { id, size } = await blobs.put(data);
    assert.equal(id, sha(data));
    assert.equal(size, data.length);
    assert.equal(blobs.pathOf(id), join(dir, "blobs", id.slice(0, 2), id.slice(2, 4), id));
    assert.equal((await stat(blobs.pathOf(id))).size, data.length);
    assert.deepEqual(await readdir(blobs.tmpDir), []);
    assert.deepEqual(await blobs.read(id), data);
    assert.equal(await blobs.size(id), data.length);
    assert.equal(await blobs.exists(id), true);
  });

  it("hashes while streaming chunks, in order even when writes are not awaited", async () => {
    const chunks = Array.from({ length: 80 }, () => randomBytes(64 * 1024 + 13));
    const writer = blobs.createWriter();
    const pending = chunks.map((c) => writer.write(c));
    const { id, size } = await writer.finish();
    await Promise.all(pending);
    const all = Buffer.concat(chunks);
    assert.equal(id, sha(all));
    assert.equal(size, all.length);
    assert.equal(sha(await blobs.read(id)), id);
  });

  it("reads ranges and streams them", async () => {
    const data = Buffer.from("0123456789abcdefghij");
    const { id } = await blobs.put(data);
    assert.equal((await blobs.read(id, 5, 10)).toString(), "56789");
    assert.equal((await blobs.read(id, 15)).toString(), "fghij");
    assert.equal((await blobs.read(id, 18, 100)).toString(), "ij");
    assert.equal((await blobs.read(id, 30, 40)).length, 0);
    assert.equal((await drain(blobs.createReadStream(id))).toString(), data.toString());
    assert.equal((await drain(blobs.createReadStream(id, 3, 7))).toString(), "3456");
    assert.equal((await drain(blobs.createReadStream(id, 19))).toString(), "j");
    assert.equal((await drain(blobs.createReadStream(id, 4, 4))).length, 0);
  });

  it("stores the empty blob", async () => {
    const { id, size } = await blobs.put(Buffer.alloc(0));
    assert.equal(id, sha(Buffer.alloc(0)));
    assert.equal(size, 0);
    assert.equal((await blobs.read(id)).length, 0);
  });

  it("accepts the same content twice", async () => {
    const data = randomBytes(1000);
    const [a, b] = await Promise.all([blobs.put(data), blobs.put(data)]);
    assert.equal(a.id, b.id);
    const c = await blobs.put(data);
    assert.equal(c.id, a.id);
    assert.deepEqual(await blobs.read(a.id), data);
    assert.deepEqual(await readdir(blobs.tmpDir), []);
  });

  it("aborts: the temporary file goes, the writer is closed", async () => {
    const writer = blobs.createWriter();
    await writer.write(Buffer.from("half a message"));
    assert.equal((await readdir(blobs.tmpDir)).length, 1);
    await writer.abort();
    await writer.abort();
    assert.deepEqual(await readdir(blobs.tmpDir), []);
    await assert.rejects(writer.write(Buffer.from("more")));
    await assert.rejects(writer.finish());
    // a writer aborted before any write never created a file
    await blobs.createWriter().abort();
  });

  it("refuses ids that are not sha256 hex (no path tricks)", async () => {
    for (const bad of ["../../etc/passwd", "ABC", "", "g".repeat(64), `${"a".repeat(64)}/x`]) {
      await assert.rejects(blobs.read(bad), (e: unknown) => e instanceof StoreError && e.code === "invalid");
      assert.throws(() => blobs.createReadStream(bad), StoreError);
    }
  });

  it("reports missing blobs", async () => {
    const id = sha(Buffer.from("never"));
    assert.equal(await blobs.exists(id), false);
    await assert.rejects(blobs.read(id), (e: unknown) => e instanceof StoreError && e.code === "not-found");
    await assert.rejects(blobs.size(id), (e: unknown) => e instanceof StoreError && e.code === "not-found");
    await assert.rejects(drain(blobs.createReadStream(id)), /ENOENT/);
    await blobs.delete(id);
  });

  it("lists and deletes blobs", async () => {
    assert.deepEqual(await collect(blobs.list()), []);
    const ids = await Promise.all(["a", "b", "c"].map(async (s) => (await blobs.put(Buffer.from(s))).id));
    assert.deepEqual((await collect(blobs.list())).sort(), [...ids].sort());
    await blobs.delete(ids[1]!);
    assert.deepEqual((await collect(blobs.list())).sort(), [ids[0]!, ids[2]!].sort());
  });

  it("removes stale temp files only", async () => {
    await blobs.put(Buffer.from("creates the tmp dir"));
    const stale = join(blobs.tmpDir, "1-dead.tmp");
    const fresh = join(blobs.tmpDir, "2-live.tmp");
    await writeFile(stale, "crashed writer");
    await writeFile(fresh, "writing right now");
    await age(stale, 2 * 3600_000);
    assert.equal(await blobs.removeStaleTemp(Date.now() - 3600_000), 1);
    assert.deepEqual(await readdir(blobs.tmpDir), ["2-live.tmp"]);
  });

  it("deleteIfUnused keeps young and used blobs", async () => {
    const { id } = await blobs.put(Buffer.from("candidate"));
    const cutoff = Date.now() - 3600_000;
    assert.equal(await blobs.deleteIfUnused(id, cutoff, () => false), false, "young");
    await age(blobs.pathOf(id), 2 * 3600_000);
    assert.equal(await blobs.deleteIfUnused(id, cutoff, () => true), false, "in use");
    assert.equal(await blobs.deleteIfUnused(id, cutoff, () => false), true);
    assert.equal(await blobs.exists(id), false);
    assert.equal(await blobs.deleteIfUnused(id, cutoff, () => false), false, "already gone");
  });

  it("never loses a blob that is rewritten while being collected", async () => {
    for (let i = 0; i < 30; i++) {
      const data = Buffer.from(`racing content ${i}`);
      const { id } = await blobs.put(data);
      await age(blobs.pathOf(id), 2 * 3600_000);
      const [, rewritten] = await Promise.all([
        blobs.deleteIfUnused(id, Date.now() - 3600_000, () => false),
        blobs.put(data),
      ]);
      assert.equal(rewritten.id, id);
      assert.equal(await blobs.exists(id), true, `iteration ${i}`);
    }
  });
});

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}
