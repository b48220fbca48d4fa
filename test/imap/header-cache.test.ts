// Header sections from the database (schema 7, message_headers): FETCH BODY[HEADER], HEADER.FIELDS,
// HEADER.FIELDS.NOT, RFC822.HEADER and 1.MIME of a message whose top-level header section is stored
// answer from it, without reading the blob, and give exactly the bytes the blob gives: the trace
// prefix (Return-Path, Received, …) first, then the message's own header. Messages without a row (a
// header over 16 KiB, stored before schema 7) and nested message/rfc822 parts are read from the blob.
import assert from "node:assert/strict";
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { filterHeaderFields } from "../../src/mail/sections.js";
import type { FsBlobStore } from "../../src/store/fs-blob-store.js";
import type { HybridBlobStore } from "../../src/store/sqlite/hybrid-blobs.js";
import { MAX_STORED_HEADER, type MessageRecord } from "../../src/store/types.js";
import { type ImapResponse, ImapRaw } from "../helpers/imap-client.js";
import { DEFAULT_USERS, startTestServer, type TestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";

const ALICE = DEFAULT_USERS[0]!;

let srv: TestServer;
let inboxId: number;
const open: ImapRaw[] = [];

before(async () => {
  // files only: a test moves a message's blob file away to show the header comes from the database
  srv = await startTestServer({ listen: { imap: ["127.0.0.1:0"] } }, { start: { inlineBlobMax: 0 } });
  const acc = await srv.server.store.getAccount(ALICE.address);
  inboxId = (await srv.server.store.getMailbox(acc!.id, "INBOX"))!.id;
});
after(async () => {
  await srv.stop();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** Delivers over SMTP (so the stored message has a trace prefix); returns its UID. */
async function smtp(message: string): Promise<number> {
  const before = await srv.server.store.listMessages(inboxId);
  const c = await RawSmtp.connect(srv.port("smtp"));
  try {
    await c.read();
    await c.cmd("EHLO test.example");
    assert.equal((await c.cmd("MAIL FROM:<sender@remote.test>")).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<${ALICE.address}>`)).code, 250);
    assert.equal((await c.cmd("DATA")).code, 354);
    c.write(`${message.replace(/\r?\n/g, "\r\n")}\r\n.\r\n`);
    assert.equal((await c.read()).code, 250);
  } finally {
    c.close();
  }
  const list = await srv.server.store.listMessages(inboxId);
  assert.equal(list.length, before.length + 1);
  return list[list.length - 1]!.uid;
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

/** The literal of FETCH item `name` in a raw response (literals are inlined as UTF-8 text). */
function literal(raw: string, name: string): Buffer {
  const marker = `${name} {`;
  const i = raw.indexOf(marker);
  assert.ok(i >= 0, `${name} not in ${raw.slice(0, 300)}`);
  const close = raw.indexOf("}\r\n", i);
  const n = Number(raw.slice(i + marker.length, close));
  const data = Buffer.from(raw.slice(close + 3), "utf8").subarray(0, n);
  assert.equal(data.length, n);
  return data;
}

async function record(uid: number, header = true): Promise<MessageRecord> {
  const rec = await srv.server.store.getMessage(inboxId, uid, { header });
  assert.ok(rec);
  return rec;
}

/** The message as stored: trace prefix + blob. */
async function fullMessage(uid: number): Promise<Buffer> {
  const rec = await record(uid, false);
  return Buffer.concat([rec.prefix, await srv.server.store.blobs.read(rec.blobId)]);
}

/** Deletes stored header sections through a second connection to the database file (as before schema 7). */
function dropStoredHeaders(blobIds: string[]): void {
  const db = new Database(join(srv.dir, "postamt.db"));
  try {
    const del = db.prepare("DELETE FROM message_headers WHERE blob_id = ?");
    for (const id of blobIds) del.run(id);
  } finally {
    db.close();
  }
}

const ITEMS = [
  "BODY.PEEK[HEADER.FIELDS (Subject From)]",
  "BODY.PEEK[HEADER]",
  "RFC822.HEADER",
  "BODY.PEEK[HEADER.FIELDS.NOT (Subject)]",
  "BODY.PEEK[HEADER]<5.40>",
  "BODY.PEEK[HEADER.FIELDS (Subject From)]<3.10>",
  "BODY.PEEK[1.MIME]",
  "BODY.PEEK[TEXT]",
];

/** The item names as the server writes them back. */
const NAMES = [
  "BODY[HEADER.FIELDS (Subject From)]",
  "BODY[HEADER]",
  "RFC822.HEADER",
  "BODY[HEADER.FIELDS.NOT (Subject)]",
  "BODY[HEADER]<5>",
  "BODY[HEADER.FIELDS (Subject From)]<3>",
  "BODY[1.MIME]",
  "BODY[TEXT]",
];

async function fetchItems(c: ImapRaw, uid: number): Promise<Buffer[]> {
  const r = ok(await c.cmd(`UID FETCH ${uid} (${ITEMS.join(" ")})`));
  return NAMES.map((n) => literal(r.raw, n));
}

/** What each item must be, computed from the stored bytes. */
async function expected(uid: number): Promise<Buffer[]> {
  const full = await fullMessage(uid);
  const rec = await record(uid, false);
  const header = full.subarray(0, rec.prefix.length + rec.mime.headerEnd);
  const fields = filterHeaderFields(header, ["Subject", "From"], false);
  const isMultipart = rec.mime.contentType.type === "multipart";
  const firstMime = isMultipart
    ? full.subarray(
        rec.prefix.length + rec.mime.children[0]!.headerStart,
        rec.prefix.length + rec.mime.children[0]!.headerEnd,
      )
    : header;
  return [
    fields,
    header,
    header,
    filterHeaderFields(header, ["Subject"], true),
    header.subarray(5, 45),
    fields.subarray(3, 13),
    firstMime,
    full.subarray(rec.prefix.length + rec.mime.bodyStart),
  ];
}

const SIMPLE = `From: "Sender" <sender@remote.test>
To: alice@example.test
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and a folded
 subject line
Date: Tue, 2 Jan 2024 03:04:05 +0100
Message-ID: <simple@remote.test>
X-Umlaut: Grüße

Hello, this is the body.
`;

const LONG = `From: sender@remote.test
To: alice@example.test
Subject: a header over 16 KiB
${Array.from({ length: 250 }, (_, i) => `X-Filler-${i}: ${"x".repeat(70)}`).join("\n")}
Date: Tue, 2 Jan 2024 03:04:05 +0100

Body after a long header.
`;

const NESTED = `From: outer@remote.test
To: alice@example.test
Subject: outer message
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

see the attached message
--b1
Content-Type: message/rfc822

From: inner@remote.test
To: someone@remote.test
Subject: inner message
Date: Wed, 3 Jan 2024 10:00:00 +0000

inner body
--b1--
`;

describe("header sections from the database", () => {
  it("serves a delivered message's header section from the database, without the blob", async () => {
    const uid = await smtp(SIMPLE.replace("Hello", "Cached"));
    const rec = await record(uid);
    assert.ok(rec.prefix.length > 0, "SMTP adds a trace prefix");
    assert.deepEqual(
      rec.header,
      (await srv.server.store.blobs.read(rec.blobId)).subarray(0, rec.mime.headerEnd),
    );
    const want = await expected(uid);
    const c = await connect();
    ok(await c.cmd("SELECT INBOX"));
    // the blob file away: header items still answer (from the database), TEXT cannot
    const blobs = (srv.server.store.blobs as HybridBlobStore).files as FsBlobStore;
    const path = blobs.pathOf(rec.blobId);
    await rename(path, `${path}.away`);
    try {
      const r = ok(await c.cmd(`UID FETCH ${uid} (${ITEMS.slice(0, 7).join(" ")})`));
      for (const [i, n] of NAMES.slice(0, 7).entries()) assert.deepEqual(literal(r.raw, n), want[i], n);
    } finally {
      await rename(`${path}.away`, path);
    }
    const all = await fetchItems(c, uid);
    for (const [i, n] of NAMES.entries()) assert.deepEqual(all[i], want[i], n);
  });

  it("gives the same bytes with and without the stored header section", async () => {
    const uids = [await smtp(SIMPLE), await smtp(LONG), await smtp(NESTED)];
    const long = await record(uids[1]!);
    assert.ok(long.mime.headerEnd > MAX_STORED_HEADER);
    assert.equal(long.header, undefined, "a header over 16 KiB is not stored");
    assert.ok((await record(uids[0]!)).header);
    assert.ok((await record(uids[2]!)).header);

    const c = await connect();
    ok(await c.cmd("SELECT INBOX"));
    const cached: Buffer[][] = [];
    for (const uid of uids) {
      const got = await fetchItems(c, uid);
      const want = await expected(uid);
      for (const [i, n] of NAMES.entries()) assert.deepEqual(got[i], want[i], `UID ${uid} ${n}`);
      cached.push(got);
    }
    // as stored before schema 7: no rows; read from the blob, byte for byte the same
    dropStoredHeaders(await Promise.all(uids.map(async (u) => (await record(u)).blobId)));
    for (const [k, uid] of uids.entries()) {
      assert.equal((await record(uid)).header, undefined);
      const got = await fetchItems(c, uid);
      for (const [i, n] of NAMES.entries()) {
        assert.deepEqual(got[i], cached[k]![i], `UID ${uid} ${n} without the row`);
      }
    }
  });

  it("BODY[HEADER] (not PEEK) sets \\Seen and gives the same bytes, stored or not", async () => {
    const a = await smtp(SIMPLE.replace("simple@", "seen-a@"));
    const b = await smtp(SIMPLE.replace("simple@", "seen-b@"));
    dropStoredHeaders([(await record(b)).blobId]);
    assert.ok((await record(a)).header);
    assert.equal((await record(b)).header, undefined);
    const c = await connect();
    ok(await c.cmd("SELECT INBOX"));
    for (const uid of [a, b]) {
      const r = ok(await c.cmd(`UID FETCH ${uid} (BODY[HEADER] BODY[HEADER.FIELDS (Subject From)])`));
      const want = await expected(uid);
      assert.deepEqual(literal(r.raw, "BODY[HEADER]"), want[1]);
      assert.deepEqual(literal(r.raw, "BODY[HEADER.FIELDS (Subject From)]"), want[0]);
      assert.match(r.raw, /FLAGS \(\\Seen( \\Recent)?\)/);
    }
  });

  it("reads the header of a nested message/rfc822 part from the blob", async () => {
    const uid = await smtp(NESTED.replace("inner body", "nested body"));
    assert.ok((await record(uid)).header);
    const full = (await fullMessage(uid)).toString("utf8");
    const start = full.indexOf("From: inner@remote.test");
    const innerHeader = Buffer.from(full.slice(start, full.indexOf("\r\n\r\n", start) + 4));
    const c = await connect();
    ok(await c.cmd("SELECT INBOX"));
    const items = "BODY.PEEK[2.HEADER] BODY.PEEK[2.HEADER.FIELDS (Subject From)] BODY.PEEK[2.MIME]";
    const r1 = ok(await c.cmd(`UID FETCH ${uid} (${items})`));
    assert.deepEqual(literal(r1.raw, "BODY[2.HEADER]"), innerHeader);
    assert.deepEqual(
      literal(r1.raw, "BODY[2.HEADER.FIELDS (Subject From)]"),
      Buffer.from("From: inner@remote.test\r\nSubject: inner message\r\n\r\n"),
    );
    assert.deepEqual(literal(r1.raw, "BODY[2.MIME]"), Buffer.from("Content-Type: message/rfc822\r\n\r\n"));
    dropStoredHeaders([(await record(uid)).blobId]);
    const r2 = ok(await c.cmd(`UID FETCH ${uid} (${items})`));
    assert.equal(r2.raw.replace(/^A\d+ /m, ""), r1.raw.replace(/^A\d+ /m, ""));
  });

  it("stores the header section of an APPENDed message", async () => {
    const c = await connect();
    const msg = Buffer.from(SIMPLE.replace("simple@", "appended@").replace(/\n/g, "\r\n"));
    const r = ok(await c.literalCmd("APPEND INBOX ()", msg));
    const uid = Number(/APPENDUID \d+ (\d+)/.exec(r.text)?.[1]);
    const rec = await record(uid);
    assert.equal(rec.prefix.length, 0);
    assert.deepEqual(rec.header, msg.subarray(0, rec.mime.headerEnd));
    ok(await c.cmd("SELECT INBOX"));
    const got = await fetchItems(c, uid);
    const want = await expected(uid);
    for (const [i, n] of NAMES.entries()) assert.deepEqual(got[i], want[i], n);
  });
});
