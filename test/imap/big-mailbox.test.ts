// What the big-mailbox work (issue 6) changed: the selected mailbox as columns with sizes and dates
// loaded on demand, the per-process snapshot that SELECT copies and brings up to date from the change
// log, the numeric SORT path, set-based STORE with streamed responses, STATUS counts per flag list,
// and the SQLite schema 5 migration (flags and modseqs in message_state, sent_date filled in).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import { dateTime } from "../../src/imap/protocol/compose.js";
import { LocalChangeBus } from "../../src/store/change-bus.js";
import { FsBlobStore } from "../../src/store/fs-blob-store.js";
import { Db } from "../../src/store/sqlite/db.js";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.js";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Flag } from "../../src/store/types.js";
import { type ImapResponse, ImapRaw } from "../helpers/imap-client.js";
import { DEFAULT_USERS, startTestServer, type TestServer } from "../helpers/server.js";

const ALICE = DEFAULT_USERS[0]!;

let srv: TestServer;
let boxes = 0;
const open: ImapRaw[] = [];

before(async () => {
  srv = await startTestServer({ listen: { imap: ["127.0.0.1:0"] } });
});
after(async () => {
  await srv.stop();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

async function accountId(): Promise<number> {
  const acc = await srv.server.store.getAccount(ALICE.address);
  assert.ok(acc);
  return acc.id;
}

async function newBox(): Promise<{ name: string; id: number }> {
  const name = `Big${++boxes}`;
  const box = await srv.server.store.createMailbox(await accountId(), name);
  return { name, id: box.id };
}

/** Delivers through the spool, as SMTP and APPEND do; returns the UID. */
async function put(
  mailboxId: number,
  o: { subject: string; date?: string; body?: string; flags?: Flag[]; internalDate?: Date },
): Promise<number> {
  const store = srv.server.store;
  const text = [
    "From: someone@example.org",
    "To: alice@example.test",
    `Subject: ${o.subject}`,
    ...(o.date ? [`Date: ${o.date}`] : []),
    "",
    o.body ?? "Hello.",
    "",
  ].join("\r\n");
  const spool = new MessageSpool(store);
  await spool.write(Buffer.from(text));
  const m = await spool.finish();
  const r = await store.deliver({
    content: {
      blobId: m.blobId,
      blobSize: m.size,
      mime: m.mime,
      envelope: m.envelope,
      searchText: m.searchText,
    },
    ...(o.internalDate ? { internalDate: o.internalDate } : {}),
    targets: [{ accountId: await accountId(), mailboxId, flags: o.flags ?? [] }],
  });
  return r.copies[0]!.uid;
}

async function connect(): Promise<ImapRaw> {
  const c = await ImapRaw.connect(srv.port("imap"));
  open.push(c);
  await c.login(ALICE.address, ALICE.password);
  return c;
}

function ok(r: ImapResponse): ImapResponse {
  assert.equal(r.status, "OK", `expected OK: ${r.raw}`);
  return r;
}

/** "n FETCH (UID u FLAGS (…))" lines of the store's truth, for comparison with a session's answer */
async function truth(mailboxId: number): Promise<string[]> {
  const list = await srv.server.store.listMessages(mailboxId);
  return list.map((m, i) => `${i + 1} FETCH (UID ${m.uid} FLAGS (${m.flags.join(" ")}))`);
}

describe("big mailboxes: the selected mailbox", () => {
  it("a SELECT after others changed the mailbox shows exactly the stored state (snapshot + change log)", async () => {
    const box = await newBox();
    const store = srv.server.store;
    const uids: number[] = [];
    for (let i = 0; i < 8; i++)
      uids.push(await put(box.id, { subject: `m${i}`, flags: i % 2 ? ["\\Seen"] : [] }));
    const a = await connect();
    ok(await a.cmd(`SELECT ${box.name}`)); // the process now has a snapshot of the mailbox
    const b = await connect();
    ok(await b.cmd(`SELECT ${box.name}`));
    ok(await b.cmd("STORE 1:3 +FLAGS.SILENT (\\Flagged Blue)"));
    ok(await b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"));
    ok(await b.cmd("EXPUNGE"));
    await store.storeFlags({ mailboxId: box.id, uids: [uids[7]!], op: "set", flags: ["Red"] });
    await store.expunge(box.id, [uids[4]!]);
    await put(box.id, { subject: "late", flags: ["\\Answered"] });

    const c = await connect();
    const sel = ok(await c.cmd(`SELECT ${box.name}`));
    assert.ok(sel.untagged.includes("7 EXISTS"), sel.raw);
    assert.match(sel.raw, /\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft( Blue| Red){2}\)/);
    // the late message arrived after the other sessions selected: this one is the first to see it
    const fetched = ok(await c.cmd("FETCH 1:* (UID FLAGS)")).untagged;
    assert.match(fetched[6]!, / \\Recent\)\)$/);
    assert.deepEqual(
      fetched.map((l) => l.replace(" \\Recent", "")),
      await truth(box.id),
    );
    assert.deepEqual(ok(await c.cmd("SEARCH UNSEEN")).untagged, ["SEARCH 1 2 5 6 7"]);

    // the first session catches up through its own poll, as before
    const noop = ok(await a.cmd("NOOP"));
    assert.ok(noop.untagged.includes("7 EXISTS"), noop.raw);
    assert.deepEqual(ok(await a.cmd("FETCH 1:* (UID FLAGS)")).untagged, await truth(box.id));
  });

  it("FETCH RFC822.SIZE and INTERNALDATE are loaded on demand, for a few messages or all", async () => {
    const box = await newBox();
    for (let i = 0; i < 20; i++) {
      await put(box.id, {
        subject: `s${i}`,
        body: "x".repeat(i * 7),
        internalDate: new Date(Date.UTC(2021, 3, 1 + i, 12)),
      });
    }
    const list = await srv.server.store.listMessages(box.id);
    const expected = list.map(
      (m, i) => `${i + 1} FETCH (RFC822.SIZE ${m.size} INTERNALDATE ${dateTime(m.internalDate)})`,
    );
    const c = await connect();
    ok(await c.cmd(`SELECT ${box.name}`));
    assert.deepEqual(ok(await c.cmd("FETCH 3,5 (RFC822.SIZE INTERNALDATE)")).untagged, [
      expected[2],
      expected[4],
    ]);
    assert.deepEqual(ok(await c.cmd("FETCH 1:* (RFC822.SIZE INTERNALDATE)")).untagged, expected);
    const larger = list.flatMap((m, i) => (m.size > list[10]!.size ? [i + 1] : []));
    assert.deepEqual(ok(await c.cmd(`SEARCH LARGER ${list[10]!.size}`)).untagged, [
      `SEARCH ${larger.join(" ")}`,
    ]);
    // a new session copies the sizes the snapshot learned; the answers stay the same
    const d = await connect();
    ok(await d.cmd(`SELECT ${box.name}`));
    assert.deepEqual(ok(await d.cmd("FETCH 1:* (RFC822.SIZE INTERNALDATE)")).untagged, expected);
  });

  it("SORT by DATE, ARRIVAL and SIZE: numbers only, ties in mailbox order, no Date: falls back to INTERNALDATE", async () => {
    const box = await newBox();
    const day = (d: number) => new Date(Date.UTC(2022, 0, d, 8));
    // seq: sent date (or none) / internal date / body length
    await put(box.id, {
      subject: "1",
      date: "Wed, 5 Jan 2022 10:00:00 +0000",
      internalDate: day(1),
      body: "aaaa",
    });
    await put(box.id, { subject: "2", internalDate: day(3), body: "a" }); // no Date: → 3 Jan
    await put(box.id, {
      subject: "3",
      date: "Sun, 2 Jan 2022 10:00:00 +0100",
      internalDate: day(9),
      body: "aaaa",
    });
    await put(box.id, {
      subject: "4",
      date: "Wed, 5 Jan 2022 10:00:00 +0000",
      internalDate: day(2),
      body: "aa",
    });
    await put(box.id, { subject: "5", date: "not a date", internalDate: day(4), body: "aaa" }); // → 4 Jan
    const c = await connect();
    ok(await c.cmd(`SELECT ${box.name}`));
    assert.deepEqual(ok(await c.cmd("SORT (DATE) US-ASCII ALL")).untagged, ["SORT 3 2 5 1 4"]);
    assert.deepEqual(ok(await c.cmd("SORT (REVERSE DATE) US-ASCII ALL")).untagged, ["SORT 1 4 5 2 3"]);
    assert.deepEqual(ok(await c.cmd("SORT (ARRIVAL) US-ASCII ALL")).untagged, ["SORT 1 4 2 5 3"]);
    assert.deepEqual(ok(await c.cmd("SORT (REVERSE SIZE) US-ASCII ALL")).untagged, ["SORT 1 3 4 5 2"]);
    assert.deepEqual(ok(await c.cmd("SORT (SIZE REVERSE ARRIVAL) US-ASCII ALL")).untagged, [
      "SORT 2 5 4 3 1",
    ]);
    assert.deepEqual(ok(await c.cmd("SORT (DATE) US-ASCII NOT 2:3")).untagged, ["SORT 5 1 4"]);
    const uids = (await srv.server.store.listMessages(box.id)).map((m) => m.uid);
    assert.deepEqual(ok(await c.cmd("UID SORT (DATE) US-ASCII ALL")).untagged, [
      `SORT ${[2, 1, 4, 0, 3].map((i) => uids[i]).join(" ")}`,
    ]);
  });

  it("STORE on hundreds of messages streams every FETCH; the session is not told its own changes again", async () => {
    const box = await newBox();
    for (let i = 0; i < 300; i++)
      await put(box.id, { subject: `n${i}`, flags: i % 3 === 0 ? ["\\Seen"] : [] });
    const c = await connect();
    ok(await c.cmd(`SELECT ${box.name}`));
    const other = await connect();
    ok(await other.cmd(`SELECT ${box.name}`));
    const r = ok(await c.cmd("STORE 1:* +FLAGS (\\Seen)", 20_000));
    assert.equal(r.untagged.length, 300);
    assert.equal(r.untagged[299], "300 FETCH (FLAGS (\\Seen))");
    assert.deepEqual(ok(await c.cmd("NOOP")).untagged, []);
    const seen = ok(await other.cmd("NOOP", 20_000));
    assert.equal(seen.untagged.length, 200); // the 200 that changed
    ok(await c.cmd("FETCH 1 (MODSEQ)")); // CONDSTORE from here on
    const silent = ok(await c.cmd("STORE 1:2 -FLAGS.SILENT (\\Seen)"));
    assert.deepEqual(silent.untagged, []);
    assert.deepEqual(
      ok(await c.cmd("FETCH 1:3 (FLAGS)")).untagged.map((l) => l.replace(/ MODSEQ \(\d+\)/, "")),
      ["1 FETCH (FLAGS ())", "2 FETCH (FLAGS ())", "3 FETCH (FLAGS (\\Seen))"],
    );
    assert.deepEqual(ok(await other.cmd(`STATUS ${box.name} (MESSAGES UNSEEN DELETED)`)).untagged, [
      `STATUS ${box.name} (MESSAGES 300 UNSEEN 2 DELETED 0)`,
      "1 FETCH (UID 1 FLAGS ())",
      "2 FETCH (UID 2 FLAGS ())",
    ]);
  });
});

describe("SQLite schema 5 (big mailboxes)", () => {
  it("moves flags and modseqs of a version 4 database to message_state and fills in sent dates", async () => {
    const dir = await mkdtemp(join(tmpdir(), "postamt-v4-"));
    try {
      const path = join(dir, "postamt.db");
      const db = new Db(path);
      db.write(() => {
        for (const m of MIGRATIONS.filter((x) => x.version <= 4)) db.raw.exec(m.sql);
        db.raw.pragma("user_version = 4");
        db.raw.exec(`
          INSERT INTO domains (id, name, created_at) VALUES (1, 'example.test', 0);
          INSERT INTO accounts (id, address, domain_id, password_hash, scram, created_at)
            VALUES (1, 'a@example.test', 1, 'x', '{}', 0);
          INSERT INTO mailboxes (id, account_id, name, uidvalidity, uidnext, highestmodseq)
            VALUES (1, 1, 'INBOX', 7, 3, 5);`);
        const insert = db.raw.prepare(
          `INSERT INTO messages (mailbox_id, account_id, uid, modseq, flags, internal_date, size, blob_id, prefix,
                                 mime, envelope)
           VALUES (1, 1, ?, ?, ?, 1000, 10, ?, x'', '{}', ?)`,
        );
        insert.run(
          1,
          4,
          '["\\\\Seen"]',
          "a".repeat(64),
          JSON.stringify({ date: "Tue, 2 Jan 2024 03:04:05 +0100" }),
        );
        insert.run(2, 5, "[]", "b".repeat(64), JSON.stringify({ date: null }));
      });
      db.close();
      const store = new SqliteMailStore({
        path,
        blobs: new FsBlobStore(join(dir, "blobs")),
        bus: new LocalChangeBus(),
      });
      await store.open();
      try {
        assert.equal(await store.schemaVersion(), MIGRATIONS[MIGRATIONS.length - 1]!.version);
        const st = (await store.listMessageStates(1))!;
        assert.deepEqual([...st.uids], [1, 2]);
        assert.deepEqual([...st.modseqs], [4, 5]);
        assert.deepEqual(
          [...st.flagIds].map((i) => st.flagSets[i]),
          [["\\Seen"], []],
        );
        assert.equal(st.highestModseq, 5);
        const d = await store.listMessageDetails(1);
        assert.deepEqual([...d.sentDates], [Date.UTC(2024, 0, 2, 2, 4, 5), Number.NaN]);
        assert.deepEqual(
          (await store.listMessages(1)).map((m) => [m.uid, m.modseq, m.flags]),
          [
            [1, 4, ["\\Seen"]],
            [2, 5, []],
          ],
        );
        const r = await store.storeFlags({ mailboxId: 1, uids: [1, 2], op: "add", flags: ["\\Flagged"] });
        assert.deepEqual(
          r.updated.map((u) => [u.uid, u.modseq, u.flags]),
          [
            [1, 6, ["\\Seen", "\\Flagged"]],
            [2, 7, ["\\Flagged"]],
          ],
        );
        assert.equal(await store.expunge(1, [1]).then((u) => u.length), 1);
        assert.deepEqual([...(await store.listMessageStates(1))!.uids], [2]);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
