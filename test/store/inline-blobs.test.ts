// Small blobs in the database (schema 8, src/store/sqlite/hybrid-blobs.ts): kept in memory until the
// delivery that references them writes them in its own transaction; large ones stay files.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { openStore } from "../../src/store/open-store.js";
import { INLINE_BLOB_MAX } from "../../src/store/sqlite/hybrid-blobs.js";
import type { SqliteMailStore } from "../../src/store/sqlite/sqlite-store.js";
import type { MessageContent } from "../../src/store/types.js";
import { testAccount, testEnvelope, testMime } from "./conformance.js";

interface Fixture {
  dir: string;
  dbPath: string;
  store: SqliteMailStore;
  reopen(): Promise<SqliteMailStore>;
}

async function withStore(fn: (f: Fixture) => Promise<void>, inlineBlobMax?: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-inline-"));
  const dbPath = join(dir, "postamt.db");
  const open = async () =>
    (await openStore(`sqlite:${dbPath}`, { dataDir: dir, inlineBlobMax })) as SqliteMailStore;
  const f: Fixture = {
    dir,
    dbPath,
    store: await open(),
    reopen: async () => {
      await f.store.close();
      f.store = await open();
      return f.store;
    },
  };
  try {
    await fn(f);
  } finally {
    await f.store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** what blob_inline and message_headers hold, read by a second connection */
function rows(dbPath: string): { inline: Map<string, Buffer>; headers: string[] } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const inline = new Map<string, Buffer>();
    for (const r of db.prepare("SELECT id, data FROM blob_inline").all() as Array<{
      id: string;
      data: Buffer;
    }>) {
      inline.set(r.id, r.data);
    }
    const headers = (
      db.prepare("SELECT blob_id FROM message_headers").all() as Array<{ blob_id: string }>
    ).map((r) => r.blob_id);
    return { inline, headers };
  } finally {
    db.close();
  }
}

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function messageBytes(subject: string, bodyBytes: number): { data: Buffer; headerLength: number } {
  const header = `Subject: ${subject}\r\nFrom: alice@example.com\r\n\r\n`;
  const body = Buffer.alloc(bodyBytes, "x");
  return { data: Buffer.concat([Buffer.from(header), body]), headerLength: Buffer.byteLength(header) };
}

/** streams data into a writer in uneven chunks, like SMTP DATA */
async function writeBlob(store: SqliteMailStore, data: Buffer): Promise<{ id: string; size: number }> {
  const w = store.blobs.createWriter();
  for (let off = 0, n = 1; off < data.length; n++) {
    const len = Math.min(data.length - off, 1000 * n);
    await w.write(data.subarray(off, off + len));
    off += len;
  }
  return w.finish();
}

function content(
  blob: { id: string; size: number },
  subject: string,
  headerLength: number,
  data: Buffer,
): MessageContent {
  return {
    blobId: blob.id,
    blobSize: blob.size,
    mime: testMime(headerLength, blob.size),
    envelope: testEnvelope(subject),
    searchText: subject,
    header: data.subarray(0, headerLength),
  };
}

/** every way of reading a blob gives back these bytes */
async function assertReads(store: SqliteMailStore, id: string, data: Buffer): Promise<void> {
  assert.equal(await store.blobs.exists(id), true);
  assert.equal(await store.blobs.size(id), data.length);
  assert.deepEqual(await store.blobs.read(id), data);
  assert.deepEqual(await store.blobs.read(id, 5, 17), data.subarray(5, 17));
  assert.deepEqual(await store.blobs.read(id, 10), data.subarray(10));
  assert.deepEqual(await store.blobs.read(id, 0, data.length + 100), data, "end past the size is clamped");
  assert.deepEqual(await drain(store.blobs.createReadStream(id)), data);
  assert.deepEqual(await drain(store.blobs.createReadStream(id, 3, 40)), data.subarray(3, 40));
  assert.deepEqual(await drain(store.blobs.createReadStream(id, 7)), data.subarray(7));
  assert.deepEqual(await drain(store.blobs.createReadStream(id, 9, 9)), Buffer.alloc(0));
}

describe("small blobs in the database", () => {
  it("round trip before and after the delivery commit, and after reopening; no file", () =>
    withStore(async (f) => {
      const a = await testAccount(f.store, "alice@example.com");
      const { data, headerLength } = messageBytes("small", 20_000);
      const blob = await writeBlob(f.store, data);
      assert.equal(blob.size, data.length);
      // finished, not referenced yet: served from memory, nothing written
      await assertReads(f.store, blob.id, data);
      assert.equal(f.store.blobs.pendingSize, data.length);
      assert.equal(rows(f.dbPath).inline.size, 0);
      assert.equal(await f.store.blobs.files.exists(blob.id), false);

      const r = await f.store.deliver({
        content: content(blob, "small", headerLength, data),
        targets: [{ accountId: a.id }],
      });
      // the delivery's transaction wrote the bytes; memory is free again
      assert.equal(f.store.blobs.pendingSize, 0);
      assert.deepEqual(rows(f.dbPath).inline.get(blob.id), data);
      assert.equal(await f.store.blobs.files.exists(blob.id), false, "no file ever");
      await assertReads(f.store, blob.id, data);
      assert.deepEqual([...(await collect(f.store.blobs.list()))], [blob.id]);

      const s2 = await f.reopen();
      await assertReads(s2, blob.id, data);
      const rec = await s2.getMessage(r.copies[0]!.mailboxId, r.copies[0]!.uid, { header: true });
      assert.equal(rec?.blobId, blob.id);
      assert.deepEqual(rec?.header, data.subarray(0, headerLength));
    }));

  it("a blob over the limit is a file; one of exactly the limit is not", () =>
    withStore(async (f) => {
      const a = await testAccount(f.store, "alice@example.com");
      const big = messageBytes("big", INLINE_BLOB_MAX + 1 - messageBytes("big", 0).data.length);
      assert.equal(big.data.length, INLINE_BLOB_MAX + 1);
      const edge = messageBytes("edge", INLINE_BLOB_MAX - messageBytes("edge", 0).data.length);
      assert.equal(edge.data.length, INLINE_BLOB_MAX);
      const bigBlob = await writeBlob(f.store, big.data);
      const edgeBlob = await writeBlob(f.store, edge.data);
      assert.equal(await f.store.blobs.files.exists(bigBlob.id), true);
      assert.equal(await f.store.blobs.files.exists(edgeBlob.id), false);
      assert.equal(f.store.blobs.pendingSize, INLINE_BLOB_MAX);
      for (const [blob, m, subject] of [
        [bigBlob, big, "big"],
        [edgeBlob, edge, "edge"],
      ] as const) {
        await f.store.deliver({
          content: content(blob, subject, m.headerLength, m.data),
          targets: [{ accountId: a.id }],
        });
      }
      const { inline } = rows(f.dbPath);
      assert.deepEqual([...inline.keys()], [edgeBlob.id]);
      await assertReads(f.store, bigBlob.id, big.data);
      await assertReads(f.store, edgeBlob.id, edge.data);
      // put() takes the same path as a writer
      const put = await f.store.blobs.put(big.data);
      assert.equal(put.id, bigBlob.id);
    }));

  it("a queue entry's own blob is written with the delivery", () =>
    withStore(async (f) => {
      const local = messageBytes("local", 100);
      const signed = messageBytes("signed", 120);
      const localBlob = await f.store.blobs.put(local.data);
      const signedBlob = await f.store.blobs.put(signed.data);
      const r = await f.store.deliver({
        content: content(localBlob, "local", local.headerLength, local.data),
        targets: [],
        queue: { sender: "a@example.com", recipients: [{ address: "b@remote.test" }], blobId: signedBlob.id },
      });
      assert.ok(r.queueId);
      assert.equal(f.store.blobs.pendingSize, 0);
      const { inline } = rows(f.dbPath);
      assert.deepEqual(inline.get(signedBlob.id), signed.data);
      assert.deepEqual(inline.get(localBlob.id), local.data);
      const q = await f.store.getQueued(r.queueId);
      assert.equal(q?.blobId, signedBlob.id);
      await assertReads(f.store, signedBlob.id, signed.data);
    }));

  it("equal content twice is one row, shared by both messages", () =>
    withStore(async (f) => {
      const a = await testAccount(f.store, "alice@example.com");
      const m = messageBytes("twice", 3000);
      const one = await writeBlob(f.store, m.data);
      const two = await writeBlob(f.store, m.data);
      assert.equal(one.id, two.id);
      assert.equal(f.store.blobs.pendingSize, m.data.length, "held once");
      const c = content(one, "twice", m.headerLength, m.data);
      const [r1, r2] = await Promise.all([
        f.store.deliver({ content: c, targets: [{ accountId: a.id }] }),
        f.store.deliver({ content: c, targets: [{ accountId: a.id }] }),
      ]);
      // and once more after the first commits: the row serves it
      const three = await writeBlob(f.store, m.data);
      await f.store.blobs.createWriter().abort();
      const r3 = await f.store.deliver({
        content: content(three, "twice", m.headerLength, m.data),
        targets: [{ accountId: a.id }],
      });
      assert.equal(f.store.blobs.pendingSize, 0);
      assert.equal(rows(f.dbPath).inline.size, 1);
      for (const r of [r1, r2, r3]) {
        const rec = await f.store.getMessage(r.copies[0]!.mailboxId, r.copies[0]!.uid);
        assert.deepEqual(await f.store.blobs.read(rec!.blobId), m.data);
      }
    }));

  it("an aborted writer holds nothing; a finished blob never referenced is collected", () =>
    withStore(async (f) => {
      const w = f.store.blobs.createWriter();
      await w.write(Buffer.from("Subject: dropped\r\n\r\nnever delivered\r\n"));
      await w.abort();
      await w.abort();
      await assert.rejects(w.write(Buffer.from("more")));
      await assert.rejects(w.finish());
      assert.equal(f.store.blobs.pendingSize, 0);
      // aborted after spilling to a file: the temporary file goes too
      const big = f.store.blobs.createWriter();
      await big.write(Buffer.alloc(INLINE_BLOB_MAX + 10, "y"));
      await big.abort();
      assert.equal(f.store.blobs.pendingSize, 0);
      const orphan = await f.store.blobs.put(Buffer.from("nobody refers to me"));
      assert.equal(await f.store.blobs.exists(orphan.id), true);
      assert.deepEqual(await f.store.collectGarbage(), { removed: 0 }, "young");
      await sleep(5);
      assert.deepEqual(await f.store.collectGarbage({ graceMs: 0 }), { removed: 1 });
      assert.equal(await f.store.blobs.exists(orphan.id), false);
      assert.equal(f.store.blobs.pendingSize, 0);
    }));

  it("garbage collection deletes unreferenced rows with their header rows, keeps referenced ones", () =>
    withStore(async (f) => {
      const a = await testAccount(f.store, "alice@example.com");
      const kept = messageBytes("kept", 500);
      const gone = messageBytes("gone", 600);
      const queued = messageBytes("queued", 700);
      const keptBlob = await f.store.blobs.put(kept.data);
      const goneBlob = await f.store.blobs.put(gone.data);
      const queuedBlob = await f.store.blobs.put(queued.data);
      const k = await f.store.deliver({
        content: content(keptBlob, "kept", kept.headerLength, kept.data),
        targets: [{ accountId: a.id }],
      });
      const g = await f.store.deliver({
        content: content(goneBlob, "gone", gone.headerLength, gone.data),
        targets: [{ accountId: a.id }],
      });
      await f.store.deliver({
        content: content(queuedBlob, "queued", queued.headerLength, queued.data),
        targets: [],
        queue: { sender: "a@example.com", recipients: [{ address: "b@remote.test" }] },
      });
      await f.store.expunge(g.copies[0]!.mailboxId, [g.copies[0]!.uid]);
      // header rows come with local copies (the queue-only delivery has none)
      assert.deepEqual(rows(f.dbPath).headers.sort(), [keptBlob.id, goneBlob.id].sort());
      assert.deepEqual(await f.store.collectGarbage(), { removed: 0 }, "young");
      await sleep(5);
      assert.deepEqual(await f.store.collectGarbage({ graceMs: 0 }), { removed: 1 });
      const after = rows(f.dbPath);
      assert.deepEqual([...after.inline.keys()].sort(), [keptBlob.id, queuedBlob.id].sort());
      assert.deepEqual(after.headers, [keptBlob.id], "the expunged message's header row went with it");
      assert.equal(await f.store.blobs.exists(goneBlob.id), false);
      await assert.rejects(f.store.blobs.read(goneBlob.id), { code: "not-found" });
      const rec = await f.store.getMessage(k.copies[0]!.mailboxId, k.copies[0]!.uid);
      assert.deepEqual(await f.store.blobs.read(rec!.blobId), kept.data);
      // the same content again after collection is simply there again
      const again = await f.store.blobs.put(gone.data);
      assert.equal(again.id, goneBlob.id);
      assert.deepEqual(await f.store.blobs.read(again.id), gone.data);
    }));

  it("inlineBlobMax 0: every blob is a file", () =>
    withStore(async (f) => {
      const blob = await f.store.blobs.put(Buffer.from("tiny"));
      assert.equal(await f.store.blobs.files.exists(blob.id), true);
      assert.equal(f.store.blobs.pendingSize, 0);
      assert.deepEqual(await f.store.blobs.read(blob.id), Buffer.from("tiny"));
    }, 0));
});

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
