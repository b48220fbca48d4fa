// The conformance suite on SQLite, plus what only SQLite has: pragmas, schema versions, group
// commit, two processes on one database, the full-text rows.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { openStore, parseStoreUrl } from "../../src/store/open-store.js";
import { LATEST_SCHEMA_VERSION } from "../../src/store/sqlite/migrations.js";
import type { SqliteMailStore } from "../../src/store/sqlite/sqlite-store.js";
import { type MailStore, StoreError } from "../../src/store/types.js";
import { runStoreConformance, type StoreFixture, testAccount, testContent } from "./conformance.js";

const CHILD = fileURLToPath(new URL("./crash-child.js", import.meta.url));

async function makeSqlite(): Promise<StoreFixture & { dir: string; dbPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-store-"));
  const dbPath = join(dir, "postamt.db");
  const opened: MailStore[] = [];
  const open = async () => {
    const s = await openStore(`sqlite:${dbPath}`, { dataDir: dir });
    opened.push(s);
    return s;
  };
  const store = await open();
  return {
    dir,
    dbPath,
    store,
    openAnother: open,
    cleanup: async () => {
      for (const s of opened) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runStoreConformance("sqlite", makeSqlite);

async function withSqlite(fn: (f: Awaited<ReturnType<typeof makeSqlite>>) => Promise<void>): Promise<void> {
  const f = await makeSqlite();
  try {
    await fn(f);
  } finally {
    await f.cleanup();
  }
}

function isStoreError(code: string) {
  return (err: unknown) => err instanceof StoreError && err.code === code;
}

describe("SQLite store specifics", () => {
  it("uses WAL and the latest schema version", () =>
    withSqlite(async ({ store, dbPath }) => {
      assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
      const raw = new Database(dbPath, { readonly: true });
      try {
        assert.equal(raw.pragma("journal_mode", { simple: true }), "wal");
        assert.equal(raw.pragma("user_version", { simple: true }), LATEST_SCHEMA_VERSION);
      } finally {
        raw.close();
      }
    }));

  it("refuses a database from a newer Postamt, saying which version", () =>
    withSqlite(async ({ store, dbPath, dir }) => {
      await store.close();
      const raw = new Database(dbPath);
      raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 7}`);
      raw.close();
      await assert.rejects(openStore(`sqlite:${dbPath}`, { dataDir: dir }), (err: unknown) => {
        assert.ok(err instanceof StoreError);
        assert.equal(err.code, "newer-schema");
        assert.match(err.message, new RegExp(`version ${LATEST_SCHEMA_VERSION + 7}`));
        assert.match(err.message, /upgrade Postamt/);
        return true;
      });
    }));

  it("commits concurrent deliveries in a few transactions, each request on its own", () =>
    withSqlite(async ({ store }) => {
      const s = store as SqliteMailStore;
      const a = await testAccount(s, "alice@example.com");
      const full = await testAccount(s, "full@example.com", 0);
      const content = await testContent(s, "gc");
      const before = s.commitStats();
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          s.deliver({ content, targets: [{ accountId: i % 10 === 9 ? full.id : a.id }] }),
        ),
      );
      const after = s.commitStats();
      assert.equal(results.filter((r) => r.status === "rejected").length, 10);
      assert.equal(after.requests - before.requests, 100);
      assert.ok(after.batches - before.batches <= 2, `${after.batches - before.batches} transactions`);
    }));

  it("drops full-text rows with the last copy of a message", () =>
    withSqlite(async ({ store, dbPath }) => {
      const a = await testAccount(store, "alice@example.com");
      const b = await testAccount(store, "bob@example.com");
      const content = await testContent(store, "shared words");
      const r = await store.deliver({ content, targets: [{ accountId: a.id }, { accountId: b.id }] });
      const raw = new Database(dbPath, { readonly: true });
      const rows = () => (raw.prepare("SELECT count(*) AS n FROM message_text").get() as { n: number }).n;
      try {
        assert.equal(rows(), 1, "one index row serves every copy of a delivery");
        await store.expunge(r.copies[0]!.mailboxId, [r.copies[0]!.uid]);
        assert.equal(rows(), 1);
        await store.removeAccount("bob@example.com");
        assert.equal(rows(), 0);
      } finally {
        raw.close();
      }
    }));

  it(
    "works from two processes at once (server delivering, admin CLI adding accounts)",
    { timeout: 60_000 },
    () =>
      withSqlite(async ({ store, dir }) => {
        const a = await testAccount(store, "alice@example.com");
        const content = await testContent(store, "two processes");
        const child = spawn(process.execPath, [CHILD, dir, "admin", "200"], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        let running = true;
        void exited.then(() => {
          running = false;
        });
        let delivered = 0;
        while (running) {
          await Promise.all(
            Array.from({ length: 10 }, () => store.deliver({ content, targets: [{ accountId: a.id }] })),
          );
          delivered += 10;
        }
        assert.equal(await exited, 0, err);
        assert.match(out, /done/);
        assert.equal((await store.listAccounts("admin.test")).length, 200);
        assert.equal((await store.getMailbox(a.id, "INBOX"))?.messages, delivered);
      }),
  );

  it("parses store URLs and refuses PostgreSQL for now", async () => {
    assert.deepEqual(parseStoreUrl("sqlite:/var/lib/postamt/db.sqlite"), {
      kind: "sqlite",
      path: "/var/lib/postamt/db.sqlite",
    });
    assert.deepEqual(parseStoreUrl("sqlite:///abs/x.db"), { kind: "sqlite", path: "/abs/x.db" });
    assert.equal(parseStoreUrl("sqlite:./data/postamt.db").kind, "sqlite");
    assert.ok(parseStoreUrl("sqlite:rel.db").kind === "sqlite");
    assert.equal(parseStoreUrl("postgres://u@h/db").kind, "postgres");
    await assert.rejects(openStore("postgres://u@h/db", { dataDir: tmpdir() }), (err: unknown) => {
      assert.ok(isStoreError("invalid")(err));
      assert.match((err as Error).message, /PostgreSQL is not yet supported/);
      return true;
    });
    await assert.rejects(openStore("mysql://x", { dataDir: tmpdir() }), isStoreError("invalid"));
    await assert.rejects(openStore("sqlite:", { dataDir: tmpdir() }), isStoreError("invalid"));
  });
});
