// MessageSpool against the real SQLite store and file blob store in a temp dir.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import { parseMime } from "../../src/mail/mime-parser.js";
import { openStore } from "../../src/store/open-store.js";
import type { BlobStore, BlobWriter, MailStore } from "../../src/store/types.js";

const CRLF = "\r\n";

/** A multipart message exercising every text decoding path. */
function sampleMessage(): Buffer {
  const lines = (s: string[]) => Buffer.from(s.join(CRLF) + CRLF, "latin1");
  const utf8 = (s: string) => Buffer.from(s, "utf8");
  const html = Buffer.from("<p>Hallo <b>Welt</b> Zebrafisch &amp; Kr&#246;te</p>", "utf8").toString("base64");
  const secret = Buffer.from("SECRETWORD binary attachment").toString("base64");
  return Buffer.concat([
    lines([
      "From: =?iso-8859-1?q?J=F6rg?= <joerg@example.com>",
      "To: Bob Builder <bob@example.org>, carol@example.org",
      "Subject: =?utf-8?q?Sch=C3=B6ne_Gr=C3=BC=C3=9Fe?=",
      "Date: Tue, 2 Jan 2024 03:04:05 +0000",
      "Message-ID: <spool-test@example.com>",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="outer"',
      "",
      "preamble",
      "--outer",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      "Gr=C3=BC=C3=9Fe aus M=C3=BCnchen, soft=",
      "break.",
      "--outer",
      "Content-Type: text/html; charset=utf-8",
      "Content-Transfer-Encoding: base64",
      "",
      html,
      "--outer",
      "Content-Type: text/plain; charset=iso-8859-1",
      "Content-Transfer-Encoding: 8bit",
      "",
    ]),
    Buffer.from("Caf\xe9 cr\xe8me br\xfbl\xe9e\r\n", "latin1"),
    lines([
      "--outer",
      "Content-Type: application/octet-stream",
      "Content-Transfer-Encoding: base64",
      'Content-Disposition: attachment; filename="x.bin"',
      "",
      secret,
      "--outer--",
      "epilogue",
    ]),
    utf8(""),
  ]);
}

/** Small deterministic PRNG (mulberry32), so a failure can be reproduced from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(data: Buffer, seed: number): Buffer[] {
  const next = rng(seed);
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; ) {
    const n = 1 + Math.floor(next() * (next() < 0.3 ? 8 : 300));
    // copies: the spool must not depend on the caller keeping its buffers
    out.push(Buffer.from(data.subarray(pos, pos + n)));
    pos += n;
  }
  return out;
}

describe("MessageSpool", () => {
  let dir: string;
  let store: MailStore;
  let tmpBlobs: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-spool-"));
    // files only: these tests look at the writer's temporary files
    store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir, inlineBlobMax: 0 });
    tmpBlobs = join(dir, "blobs", "tmp");
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function tempFiles(): Promise<string[]> {
    try {
      return await readdir(tmpBlobs);
    } catch {
      return [];
    }
  }

  it("streams a multipart message in random chunks: identical blob, tree and text", async () => {
    const msg = sampleMessage();
    const whole = parseMime(msg);
    const sha = createHash("sha256").update(msg).digest("hex");
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1234567]) {
      const spool = new MessageSpool(store);
      for (const c of randomChunks(msg, seed)) await spool.write(c);
      assert.equal(spool.size, msg.length);
      const out = await spool.finish();
      assert.equal(out.blobId, sha, `seed ${seed}`);
      assert.equal(out.size, msg.length);
      assert.deepEqual(out.mime, whole.root, `seed ${seed}`);
      assert.deepEqual(out.envelope, whole.envelope);
      assert.deepEqual(out.defects, []);
      assert.deepEqual(await store.blobs.read(out.blobId), msg);

      const kinds = out.mime.children.map((c) => `${c.contentType.type}/${c.contentType.subtype}`);
      assert.deepEqual(kinds, ["text/plain", "text/html", "text/plain", "application/octet-stream"]);
      assert.equal(out.envelope.messageId, "<spool-test@example.com>");

      const text = out.searchText;
      for (const word of [
        "Schöne Grüße", // RFC 2047 subject
        "Jörg", // RFC 2047 display name in ISO-8859-1
        "joerg@example.com",
        "Bob Builder",
        "bob@example.org",
        "carol@example.org",
        "Grüße aus München, softbreak.", // quoted-printable, soft line break
        "Hallo Welt Zebrafisch & Kröte", // base64 HTML, tags and entities
        "Café crème brûlée", // ISO-8859-1 8bit
      ]) {
        assert.ok(
          text.includes(word),
          `seed ${seed}: ${JSON.stringify(word)} not in ${JSON.stringify(text)}`,
        );
      }
      assert.ok(!text.includes("SECRETWORD"), "attachments are not indexed");
      assert.ok(!text.includes("preamble") && !text.includes("epilogue"));
    }
    assert.deepEqual(await tempFiles(), []);
  });

  it("works one byte at a time", async () => {
    const msg = sampleMessage();
    const spool = new MessageSpool(store);
    for (let i = 0; i < msg.length; i++) await spool.write(msg.subarray(i, i + 1));
    const out = await spool.finish();
    assert.deepEqual(out.mime, parseMime(msg).root);
    assert.deepEqual(await store.blobs.read(out.blobId), msg);
  });

  it("passes MIME limits and the text limit on", async () => {
    const msg = sampleMessage();
    const spool = new MessageSpool(store, { limits: { maxParts: 2 }, textLimit: 10 });
    await spool.write(msg);
    const out = await spool.finish();
    assert.ok(out.defects.length > 0, "the part limit is reported");
    assert.ok(out.mime.children.length < 4);
    // subject and addresses are always there; body text is cut at 10 characters
    assert.ok(out.searchText.includes("Schöne Grüße"));
    assert.ok(!out.searchText.includes("München"));
  });

  it("an empty message is a valid empty blob", async () => {
    const spool = new MessageSpool(store);
    const out = await spool.finish();
    assert.equal(out.size, 0);
    assert.equal(out.searchText, "");
    assert.equal(await store.blobs.size(out.blobId), 0);
  });

  it("abort removes the temporary file and is safe to repeat", async () => {
    const spool = new MessageSpool(store);
    await spool.write(Buffer.from("Subject: dropped\r\n\r\nnever delivered\r\n"));
    assert.equal((await tempFiles()).length, 1);
    await spool.abort();
    assert.deepEqual(await tempFiles(), []);
    await spool.abort();
    await assert.rejects(spool.write(Buffer.from("more")));
    await assert.rejects(spool.finish());
  });

  it("abort after finish keeps the blob; finish twice returns the same result", async () => {
    const spool = new MessageSpool(store);
    await spool.write(Buffer.from("Subject: kept\r\n\r\nbody\r\n"));
    const first = await spool.finish();
    assert.equal(await spool.finish(), first);
    await spool.abort();
    assert.ok(await store.blobs.exists(first.blobId));
    await assert.rejects(spool.write(Buffer.from("late")));
  });

  it("abort while finishing waits and keeps the finished blob", async () => {
    const spool = new MessageSpool(store);
    await spool.write(Buffer.from("Subject: racing\r\n\r\nbody\r\n"));
    const finishing = spool.finish();
    await spool.abort();
    const out = await finishing;
    assert.ok(await store.blobs.exists(out.blobId));
  });

  it("a write error (ENOSPC) rejects with the original error and removes the temp file", async () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const failing = withFailingWriter(store, 100, enospc);
    const spool = new MessageSpool(failing);
    await spool.write(Buffer.alloc(80, 0x61));
    assert.equal((await tempFiles()).length, 1);
    const err = await spool.write(Buffer.alloc(80, 0x62)).then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal(err, enospc);
    assert.deepEqual(await tempFiles(), []);
    // every later call reports the same error, so the session replies 452 4.3.1 whatever it calls
    assert.equal(await spool.write(Buffer.from("x")).catch((e: unknown) => e), enospc);
    assert.equal(await spool.finish().catch((e: unknown) => e), enospc);
    await spool.abort();
  });

  it("a failure in finish (fsync) is reported as is and leaves no temp file", async () => {
    const eio = Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    const failing = withFailingWriter(store, Number.POSITIVE_INFINITY, eio);
    const spool = new MessageSpool(failing);
    await spool.write(Buffer.from("Subject: x\r\n\r\ny\r\n"));
    assert.equal(await spool.finish().catch((e: unknown) => e), eio);
    assert.deepEqual(await tempFiles(), []);
  });

  it("streams a 20 MB message with small memory growth", async () => {
    const head = Buffer.from(
      [
        "From: a@example.com",
        "To: b@example.org",
        "Subject: big",
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "see attachment",
        "--b",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64",
        "",
        "",
      ].join(CRLF),
    );
    const tail = Buffer.from(`--b--${CRLF}`);
    // one reused 64 KiB chunk of whole base64 lines: the test itself allocates nothing per chunk
    const line = `${"QUJD".repeat(19)}${CRLF}`;
    const chunk = Buffer.from(line.repeat(Math.floor(65536 / line.length)));
    const chunks = Math.ceil((20 * 1024 * 1024) / chunk.length);
    const hash = createHash("sha256");

    const spool = new MessageSpool(store);
    const usage = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    await spool.write(head);
    hash.update(head);
    const base = usage();
    let peak = base;
    for (let i = 0; i < chunks; i++) {
      await spool.write(chunk);
      hash.update(chunk);
      if (i % 16 === 0) peak = Math.max(peak, usage());
    }
    await spool.write(tail);
    hash.update(tail);
    const out = await spool.finish();
    peak = Math.max(peak, usage());

    const total = head.length + chunks * chunk.length + tail.length;
    assert.ok(total > 20 * 1024 * 1024);
    assert.equal(out.size, total);
    assert.equal(out.blobId, hash.digest("hex"));
    assert.equal(await store.blobs.size(out.blobId), total);
    const att = out.mime.children[1]!;
    assert.equal(att.contentType.subtype, "octet-stream");
    assert.equal(att.bodyEnd, total - tail.length - 2);
    const growth = peak - base;
    assert.ok(growth < 10 * 1024 * 1024, `memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});

/** The real store, whose blob writers fail with `error` once more than `after` bytes were written. */
function withFailingWriter(store: MailStore, afterBytes: number, error: Error): MailStore {
  const blobs: BlobStore = new Proxy(store.blobs, {
    get(target, prop, receiver) {
      if (prop !== "createWriter") return Reflect.get(target, prop, receiver);
      return (): BlobWriter => {
        const real = target.createWriter();
        let written = 0;
        return {
          write: async (chunk) => {
            written += chunk.length;
            if (written > afterBytes) throw error;
            await real.write(chunk);
          },
          finish: async () => {
            if (afterBytes === Number.POSITIVE_INFINITY) {
              await real.abort();
              throw error;
            }
            return real.finish();
          },
          abort: () => real.abort(),
        };
      };
    },
  });
  return new Proxy(store, {
    get(target, prop, receiver) {
      return prop === "blobs" ? blobs : Reflect.get(target, prop, receiver);
    },
  });
}
