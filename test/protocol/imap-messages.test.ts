// Scripted IMAP conversations for the selected-state message commands: FETCH (every item, partials,
// nested parts, BINARY, \Seen), STORE (SILENT, UNCHANGEDSINCE), SEARCH (keys, ESEARCH, SAVE/$),
// SORT, THREAD, EXPUNGE / UID EXPUNGE, COPY / MOVE with COPYUID, and two sessions on one mailbox
// seeing each other's changes at the moments RFC 9051 §7 allows.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, afterEach, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import { dateTime } from "../../src/imap/protocol/compose.js";
import type { Flag } from "../../src/store/types.js";
import { type ImapResponse, ImapRaw } from "../helpers/imap-client.js";
import { DEFAULT_USERS, startTestServer, type TestServer } from "../helpers/server.js";

const FIXTURES = new URL("../../../test/fixtures/mime/", import.meta.url);
const fixture = (name: string): Buffer => readFileSync(new URL(name, FIXTURES));
/** the per-copy trace prefix the store serves before the blob */
const PREFIX = Buffer.from("Return-Path: <sender@example.org>\r\nDelivered-To: alice@example.test\r\n");

const ALICE = DEFAULT_USERS[0]!;
const CAROL = { address: "carol@example.test", password: "carol-secret" };

let srv: TestServer;
let boxes = 0;
const open: ImapRaw[] = [];

before(async () => {
  srv = await startTestServer({ listen: { imap: ["127.0.0.1:0"] } }, { users: [...DEFAULT_USERS, CAROL] });
});
after(async () => {
  await srv.stop();
});
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

// ---------------------------------------------------------------------------------------------
// helpers

async function accountId(address: string): Promise<number> {
  const acc = await srv.server.store.getAccount(address);
  assert.ok(acc);
  return acc.id;
}

/** A new mailbox with a unique name. */
async function newBox(address = ALICE.address, prefix = "T"): Promise<string> {
  const name = `${prefix}${++boxes}`;
  await srv.server.store.createMailbox(await accountId(address), name);
  return name;
}

interface PutOptions {
  flags?: Flag[];
  date?: Date;
  address?: string;
}

/** Delivers a message into a mailbox through the spool (MIME parsing, FTS text) as SMTP does. */
async function put(box: string, data: Buffer | string, opts: PutOptions = {}): Promise<number> {
  const store = srv.server.store;
  const acc = await accountId(opts.address ?? ALICE.address);
  const mailbox = await store.getMailbox(acc, box);
  assert.ok(mailbox, box);
  const spool = new MessageSpool(store);
  await spool.write(Buffer.isBuffer(data) ? data : Buffer.from(data));
  const m = await spool.finish();
  const r = await store.deliver({
    content: {
      blobId: m.blobId,
      blobSize: m.size,
      mime: m.mime,
      envelope: m.envelope,
      searchText: m.searchText,
    },
    ...(opts.date ? { internalDate: opts.date } : {}),
    targets: [{ accountId: acc, mailboxId: mailbox.id, prefix: PREFIX, flags: opts.flags ?? [] }],
  });
  return r.copies[0]!.uid;
}

function message(o: {
  subject: string;
  from?: string;
  date?: string;
  body?: string;
  headers?: string[];
}): string {
  return [
    `From: ${o.from ?? "someone@example.org"}`,
    "To: alice@example.test",
    `Subject: ${o.subject}`,
    ...(o.date ? [`Date: ${o.date}`] : []),
    ...(o.headers ?? []),
    "",
    o.body ?? "Hello.",
    "",
  ].join("\r\n");
}

async function connect(user = ALICE): Promise<ImapRaw> {
  const c = await ImapRaw.connect(srv.port("imap"));
  open.push(c);
  await c.login(user.address, user.password);
  return c;
}

/** A logged-in session with `box` selected (or examined). */
async function session(box: string, opts: { examine?: boolean; user?: typeof ALICE; enable?: string } = {}) {
  const c = await connect(opts.user);
  if (opts.enable) ok(await c.cmd(`ENABLE ${opts.enable}`));
  ok(await c.cmd(`${opts.examine ? "EXAMINE" : "SELECT"} ${box}`));
  return c;
}

function ok(r: ImapResponse): ImapResponse {
  assert.equal(r.status, "OK", `expected OK: ${r.raw}`);
  return r;
}

/** Sends a command and returns its responses as raw bytes (literals included), for byte checks. */
async function raw(c: ImapRaw, line: string): Promise<{ tagged: string; responses: Buffer[] }> {
  const tag = c.nextTag();
  c.write(`${tag} ${line}\r\n`);
  const responses: Buffer[] = [];
  for (;;) {
    const r = await c.readResponse();
    if (r.subarray(0, tag.length + 1).toString("latin1") === `${tag} `) {
      return { tagged: r.toString("latin1").slice(tag.length + 1), responses };
    }
    responses.push(r);
  }
}

/** The value of a FETCH item in a raw response: a literal's bytes or a quoted string's content. */
function itemValue(resp: Buffer, name: string): Buffer {
  const text = resp.toString("latin1");
  const at = text.indexOf(`${name} `);
  assert.ok(at >= 0, `no ${name} in ${text.slice(0, 300)}`);
  const from = at + name.length + 1;
  const rest = text.slice(from);
  const lit = /^~?\{(\d+)\}\r\n/.exec(rest);
  if (lit) return resp.subarray(from + lit[0].length, from + lit[0].length + Number(lit[1]));
  const q = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
  assert.ok(q, `${name} is neither a literal nor a string: ${rest.slice(0, 80)}`);
  return Buffer.from(q[1]!.replace(/\\(.)/g, "$1"), "latin1");
}

/** Fetches one item of one message and returns its bytes. */
async function fetchBytes(
  c: ImapRaw,
  seq: number,
  item: string,
  name = item.replace(".PEEK", ""),
): Promise<Buffer> {
  const r = await raw(c, `FETCH ${seq} (${item})`);
  assert.match(r.tagged, /^OK/, r.tagged);
  assert.equal(r.responses.length, 1, r.responses.map((b) => b.toString("latin1")).join("\n"));
  return itemValue(r.responses[0]!, name);
}

/** The bytes between two markers of a fixture (start marker included, end marker excluded). */
function slice(data: Buffer, start: string, end: string | null, from = 0): Buffer {
  const a = data.indexOf(start, from);
  assert.ok(a >= 0, start);
  const b = end === null ? data.length : data.indexOf(end, a + start.length);
  assert.ok(b >= 0, end ?? "");
  return data.subarray(a, b);
}

async function storeFlags(box: string, address = ALICE.address): Promise<Flag[][]> {
  const store = srv.server.store;
  const mb = await store.getMailbox(await accountId(address), box);
  return (await store.listMessages(mb!.id)).map((m) => m.flags);
}

async function getMessageCalls(): Promise<number> {
  const metric = await srv.server.metrics.storeLatency.get();
  const v = metric.values.find((x) => x.metricName?.endsWith("_count") && x.labels.op === "getMessage");
  return v?.value ?? 0;
}

// ---------------------------------------------------------------------------------------------
// FETCH

const CORPUS = [
  "simple.eml",
  "alternative.eml",
  "mixed-attachment.eml",
  "nested-rfc822.eml",
  "digest.eml",
  "encoded-words.eml",
  "lf-only.eml",
  "rfc2231.eml",
  "broken-boundaries.eml",
];
const DATE = new Date(Date.UTC(2024, 4, 14, 7, 12, 44));

describe("FETCH", () => {
  let box: string;
  before(async () => {
    box = await newBox();
    for (const name of CORPUS) await put(box, fixture(name), { date: DATE });
  });

  it("BODY.PEEK[] and RFC822.SIZE of every fixture are the stored bytes, prefix first", async () => {
    const c = await session(box);
    for (let i = 0; i < CORPUS.length; i++) {
      const want = Buffer.concat([PREFIX, fixture(CORPUS[i]!)]);
      const r = await raw(c, `FETCH ${i + 1} (RFC822.SIZE BODY.PEEK[])`);
      assert.match(r.tagged, /^OK/);
      assert.ok(
        r.responses[0]!.toString("latin1").startsWith(
          `* ${i + 1} FETCH (RFC822.SIZE ${want.length} BODY[] {`,
        ),
      );
      assert.deepEqual(itemValue(r.responses[0]!, "BODY[]"), want, CORPUS[i]);
    }
  });

  it("FLAGS, UID, INTERNALDATE, ENVELOPE, BODYSTRUCTURE, BODY of simple.eml", async () => {
    const c = await session(box);
    const r = ok(await c.cmd("FETCH 1 (FLAGS UID INTERNALDATE ENVELOPE BODYSTRUCTURE BODY)"));
    const env =
      '("Tue, 14 May 2024 09:12:44 +0200" "Lunch on Friday?" (("Alice Example" NIL "alice" "example.org"))' +
      ' (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org"))' +
      ' (("Bob" NIL "bob" "example.com")) NIL NIL NIL "<20240514091244.1234@example.org>")';
    assert.deepEqual(r.untagged, [
      `1 FETCH (FLAGS () UID 1 INTERNALDATE ${dateTime(DATE)} ENVELOPE ${env}` +
        ' BODYSTRUCTURE ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "8bit" 96 6 NIL NIL NIL NIL)' +
        ' BODY ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "8bit" 96 6))',
    ]);
  });

  it("macros ALL and FAST; UID FETCH always includes UID", async () => {
    const c = await session(box);
    const fast = ok(await c.cmd("FETCH 2 FAST"));
    const size = PREFIX.length + fixture("alternative.eml").length;
    assert.deepEqual(fast.untagged, [
      `2 FETCH (FLAGS () INTERNALDATE ${dateTime(DATE)} RFC822.SIZE ${size})`,
    ]);
    const all = ok(await c.cmd("FETCH 2 ALL"));
    assert.match(
      all.untagged[0]!,
      /^2 FETCH \(FLAGS \(\) INTERNALDATE .* RFC822.SIZE \d+ ENVELOPE \("Wed, 15 May/,
    );
    const uid = ok(await c.cmd("UID FETCH 2:3 (FLAGS)"));
    assert.deepEqual(uid.untagged, ["2 FETCH (UID 2 FLAGS ())", "3 FETCH (UID 3 FLAGS ())"]);
    const star = ok(await c.cmd("UID FETCH * (FLAGS)"));
    assert.deepEqual(star.untagged, [`${CORPUS.length} FETCH (UID ${CORPUS.length} FLAGS ())`]);
  });

  it("sections of a nested message: parts, MIME, HEADER, TEXT, HEADER.FIELDS[.NOT]", async () => {
    const c = await session(box);
    const f = fixture("nested-rfc822.eml");
    const inner = slice(f, "Date: Thu, 16 May", "\r\n--outer--");
    const innerHeaderEnd = inner.indexOf("\r\n\r\n") + 4;
    const cases: Array<[string, Buffer]> = [
      ["1", Buffer.from("See the forwarded message below.\r\n")],
      ["1.MIME", Buffer.from("Content-Type: text/plain\r\n\r\n")],
      ["2", inner],
      ["2.MIME", Buffer.from("Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n")],
      ["2.HEADER", inner.subarray(0, innerHeaderEnd)],
      ["2.TEXT", inner.subarray(innerHeaderEnd)],
      ["2.1", Buffer.from("1. Budget approved\r\n2. Next meeting in June")],
      ["2.1.MIME", Buffer.from("Content-Type: text/plain; charset=utf-8\r\n\r\n")],
      ["2.2", Buffer.from("<ol><li>Budget approved</li><li>Next meeting in June</li></ol>")],
      [
        "2.HEADER.FIELDS (Subject FROM)",
        Buffer.from("From: Heidi <heidi@example.com>\r\nSubject: Meeting notes\r\n\r\n"),
      ],
      ["3", Buffer.alloc(0)],
      ["2.3.1", Buffer.alloc(0)],
      ["HEADER", Buffer.concat([PREFIX, f.subarray(0, f.indexOf("\r\n\r\n") + 4)])],
      ["TEXT", f.subarray(f.indexOf("\r\n\r\n") + 4)],
      // the trace prefix is part of the header: FIELDS.NOT of every own field leaves just it
      [
        "HEADER.FIELDS.NOT (Date From To Subject Message-ID MIME-Version Content-Type)",
        Buffer.concat([PREFIX, Buffer.from("\r\n")]),
      ],
      ["HEADER.FIELDS (Return-Path)", Buffer.from("Return-Path: <sender@example.org>\r\n\r\n")],
    ];
    for (const [section, want] of cases) {
      assert.deepEqual(await fetchBytes(c, 4, `BODY.PEEK[${section}]`, `BODY[${section}]`), want, section);
    }
    // RFC822.HEADER / RFC822.TEXT are HEADER and TEXT under their own names
    assert.deepEqual(await fetchBytes(c, 4, "RFC822.HEADER"), cases[12]![1]);
    assert.deepEqual(await fetchBytes(c, 4, "RFC822.TEXT"), cases[13]![1]);
  });

  it("partials: origin in the name, truncated at the end, empty past it", async () => {
    const c = await session(box);
    const full = Buffer.concat([PREFIX, fixture("nested-rfc822.eml")]);
    assert.deepEqual(await fetchBytes(c, 4, "BODY.PEEK[]<0.20>", "BODY[]<0>"), full.subarray(0, 20));
    assert.deepEqual(await fetchBytes(c, 4, "BODY.PEEK[]<50.30>", "BODY[]<50>"), full.subarray(50, 80));
    assert.deepEqual(
      await fetchBytes(c, 4, `BODY.PEEK[]<${full.length - 5}.100>`, `BODY[]<${full.length - 5}>`),
      full.subarray(full.length - 5),
    );
    assert.deepEqual(await fetchBytes(c, 4, "BODY.PEEK[2.1]<3.6>", "BODY[2.1]<3>"), Buffer.from("Budget"));
    const past = await raw(c, "FETCH 4 (BODY.PEEK[1]<1000.10>)");
    assert.equal(past.responses[0]!.toString(), '* 4 FETCH (BODY[1]<1000> "")');
    // partial of HEADER.FIELDS applies after subsetting (RFC 9051 §6.4.5)
    assert.deepEqual(
      await fetchBytes(
        c,
        4,
        "BODY.PEEK[2.HEADER.FIELDS (Subject)]<9.7>",
        "BODY[2.HEADER.FIELDS (Subject)]<9>",
      ),
      Buffer.from("Meeting"),
    );
  });

  it("BINARY, BINARY.PEEK and BINARY.SIZE decode the transfer encoding", async () => {
    const c = await session(box);
    const mixed = fixture("mixed-attachment.eml");
    const b64 = slice(mixed, "AwoRGB8m", "\r\n--mixed-boundary-1--").toString("latin1");
    const pdf = Buffer.from(b64, "base64");
    const r = await raw(c, "FETCH 3 (BINARY.SIZE[2] BINARY.PEEK[2])");
    assert.ok(
      r.responses[0]!.toString("latin1").startsWith(`* 3 FETCH (BINARY.SIZE[2] ${pdf.length} BINARY[2] ~{`),
    );
    assert.deepEqual(itemValue(r.responses[0]!, "BINARY[2]"), pdf);
    assert.deepEqual(await fetchBytes(c, 3, "BINARY.PEEK[2]<5.10>", "BINARY[2]<5>"), pdf.subarray(5, 15));
    assert.deepEqual(
      await fetchBytes(c, 3, "BINARY.PEEK[1]", "BINARY[1]"),
      Buffer.from("Please find the report attached.\r\n"),
    );
    // quoted-printable, no NUL: a normal literal
    const qp = await raw(c, "FETCH 2 (BINARY.PEEK[1] BINARY.SIZE[1])");
    const want = Buffer.from(
      "This week: 20% off everything. Gr\xfc\xdfe from the shop!\r\nSee https://shop.example/deals ",
      "latin1",
    );
    assert.match(qp.responses[0]!.toString("latin1"), /BINARY\[1\] \{\d+\}\r\n/);
    assert.deepEqual(itemValue(qp.responses[0]!, "BINARY[1]"), want);
    assert.match(qp.responses[0]!.toString("latin1"), new RegExp(`BINARY.SIZE\\[1\\] ${want.length}\\)$`));
    // base64 text of a single-part message: part 1 is the body
    assert.deepEqual(
      await fetchBytes(c, 6, "BINARY.PEEK[1]", "BINARY[1]"),
      Buffer.from("🎉 Ja, wir feiern!"),
    );
    // the whole message as stored
    assert.deepEqual(
      await fetchBytes(c, 1, "BINARY.PEEK[]", "BINARY[]"),
      Buffer.concat([PREFIX, fixture("simple.eml")]),
    );
    // BINARY is only for leaf parts
    const notLeaf = await c.cmd("FETCH 4 (BINARY.PEEK[2])");
    assert.equal(notLeaf.status, "NO");
    assert.deepEqual(notLeaf.untagged, []);
  });

  it("an unknown Content-Transfer-Encoding gives NO [UNKNOWN-CTE]", async () => {
    const b = await newBox();
    await put(
      b,
      message({ subject: "uu", headers: ["Content-Transfer-Encoding: x-uuencode"], body: "begin 644 x" }),
    );
    const c = await session(b);
    const r = await c.cmd("FETCH 1 (UID BINARY.PEEK[1])");
    assert.equal(r.status, "NO");
    assert.match(r.text, /^NO \[UNKNOWN-CTE\]/);
    assert.deepEqual(r.untagged, []);
    assert.match((await c.cmd("FETCH 1 (BINARY.SIZE[1])")).text, /^NO \[UNKNOWN-CTE\]/);
    // BODY[] still works
    ok(await c.cmd("FETCH 1 (BODY.PEEK[1])"));
  });

  it("sequence numbers beyond the mailbox are BAD; UIDs that match nothing are OK", async () => {
    const c = await session(box);
    const bad = await c.cmd(`FETCH ${CORPUS.length + 1} (FLAGS)`);
    assert.equal(bad.status, "BAD");
    assert.match(bad.text, /Invalid message sequence number/);
    const none = ok(await c.cmd("UID FETCH 500:600 (FLAGS)"));
    assert.deepEqual(none.untagged, []);
  });

  it("UID FETCH 1:* on an empty mailbox answers OK with nothing; FETCH 1:* is BAD", async () => {
    const c = await session(await newBox());
    assert.deepEqual(ok(await c.cmd("UID FETCH 1:* (FLAGS)")).untagged, []);
    assert.equal((await c.cmd("FETCH 1:* (FLAGS)")).status, "BAD");
    assert.equal((await c.cmd("FETCH * (FLAGS)")).status, "BAD");
  });

  it("FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE) never loads message records", async () => {
    const c = await session(box);
    const before = await getMessageCalls();
    const r = ok(await c.cmd("FETCH 1:* (FLAGS UID RFC822.SIZE INTERNALDATE)"));
    assert.equal(r.untagged.length, CORPUS.length);
    assert.equal(await getMessageCalls(), before);
  });
});

describe("FETCH sets \\Seen", () => {
  it("non-PEEK body items set \\Seen and report FLAGS; PEEK and EXAMINE do not", async () => {
    const box = await newBox();
    for (let i = 0; i < 4; i++) await put(box, message({ subject: `m${i}`, body: `body ${i}` }));
    const c = await session(box);
    const r = ok(await c.cmd("FETCH 1 (BODY[TEXT])"));
    assert.deepEqual(r.untagged, ["1 FETCH (BODY[TEXT] {8}\r\nbody 0\r\n FLAGS (\\Seen))"]);
    // already seen: no FLAGS added the second time
    assert.deepEqual(ok(await c.cmd("FETCH 1 (BODY[TEXT])")).untagged, [
      "1 FETCH (BODY[TEXT] {8}\r\nbody 0\r\n)",
    ]);
    assert.deepEqual(
      ok(await c.cmd("FETCH 2 (BODY.PEEK[TEXT] RFC822.HEADER BINARY.PEEK[1])")).untagged.length,
      1,
    );
    assert.deepEqual(ok(await c.cmd("FETCH 2 (FLAGS)")).untagged, ["2 FETCH (FLAGS ())"]);
    assert.match(ok(await c.cmd("FETCH 2 (RFC822)")).untagged[0]!, /FLAGS \(\\Seen\)\)$/);
    assert.match(
      ok(await c.cmd("UID FETCH 3 (BINARY[1])")).untagged[0]!,
      /^3 FETCH \(UID 3 BINARY\[1\] .* FLAGS \(\\Seen\)\)$/s,
    );
    const ro = await session(box, { examine: true });
    const r4 = ok(await ro.cmd("FETCH 4 (BODY[])"));
    assert.doesNotMatch(r4.untagged[0]!, /FLAGS/);
    assert.deepEqual(await storeFlags(box), [["\\Seen"], ["\\Seen"], ["\\Seen"], []]);
  });
});

// ---------------------------------------------------------------------------------------------
// STORE

describe("STORE", () => {
  it("+FLAGS, -FLAGS, FLAGS, .SILENT, UID STORE, \\Recent ignored", async () => {
    const box = await newBox();
    for (let i = 0; i < 3; i++) await put(box, message({ subject: `m${i}` }));
    const c = await session(box);
    assert.deepEqual(ok(await c.cmd("STORE 1 +FLAGS (\\Flagged)")).untagged, ["1 FETCH (FLAGS (\\Flagged))"]);
    assert.deepEqual(ok(await c.cmd("STORE 1 +FLAGS.SILENT (\\Seen)")).untagged, []);
    assert.deepEqual(ok(await c.cmd("STORE 1 -FLAGS (\\Flagged)")).untagged, ["1 FETCH (FLAGS (\\Seen))"]);
    assert.deepEqual(ok(await c.cmd("STORE 1 FLAGS ($Work \\answered)")).untagged, [
      "1 FETCH (FLAGS (\\Answered $Work))",
    ]);
    assert.deepEqual(ok(await c.cmd("UID STORE 1 +FLAGS \\Draft")).untagged, [
      "1 FETCH (UID 1 FLAGS (\\Answered \\Draft $Work))",
    ]);
    assert.deepEqual(ok(await c.cmd("STORE 1:3 +FLAGS (\\Recent)")).untagged, [
      "1 FETCH (FLAGS (\\Answered \\Draft $Work))",
      "2 FETCH (FLAGS ())",
      "3 FETCH (FLAGS ())",
    ]);
    assert.deepEqual(ok(await c.cmd("STORE 2:3 FLAGS.SILENT (\\Deleted)")).untagged, []);
    assert.deepEqual(await storeFlags(box), [
      ["\\Answered", "\\Draft", "$Work"],
      ["\\Deleted"],
      ["\\Deleted"],
    ]);
    assert.equal((await c.cmd("STORE 4 +FLAGS (\\Seen)")).status, "BAD");
    assert.deepEqual(ok(await c.cmd("UID STORE 99 +FLAGS (\\Seen)")).untagged, []);
    const ro = await session(box, { examine: true });
    assert.match((await ro.cmd("STORE 1 +FLAGS (\\Seen)")).text, /^NO \[READ-ONLY\]/);
  });

  it("UNCHANGEDSINCE: MODIFIED for the ones that changed, FETCH with MODSEQ even when SILENT", async () => {
    const box = await newBox();
    for (let i = 0; i < 2; i++) await put(box, message({ subject: `m${i}` }));
    const c = await session(box);
    const m = ok(await c.cmd("FETCH 1:2 (MODSEQ)"));
    // the first CONDSTORE enabling command reports HIGHESTMODSEQ (RFC 7162 §3.1)
    assert.match(m.untagged[0]!, /^OK \[HIGHESTMODSEQ \d+\]/);
    const ms = m.untagged.slice(1).map((l) => Number(/MODSEQ \((\d+)\)/.exec(l)![1]));
    const zero = await c.cmd("STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)");
    assert.equal(zero.text.split(" ").slice(0, 3).join(" "), "OK [MODIFIED 1]");
    assert.deepEqual(zero.untagged, []);
    const pass = ok(await c.cmd(`STORE 1 (UNCHANGEDSINCE ${ms[0]}) +FLAGS.SILENT ($MDNSent)`));
    assert.equal(pass.untagged.length, 1);
    const newModseq = Number(/^1 FETCH \(MODSEQ \((\d+)\)\)$/.exec(pass.untagged[0]!)![1]);
    assert.ok(newModseq > ms[0]!);
    // message 2 passes, message 1 (changed just now) fails: UIDs for UID STORE
    const mixed = await c.cmd(`UID STORE 1:2 (UNCHANGEDSINCE ${ms[1]}) +FLAGS (\\Flagged)`);
    assert.match(mixed.text, /^OK \[MODIFIED 1\]/);
    assert.deepEqual(mixed.untagged, [`2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (${newModseq + 1}))`]);
    // CONDSTORE is on now: FLAGS come with MODSEQ
    assert.match(
      ok(await c.cmd("FETCH 2 (FLAGS)")).untagged[0]!,
      /^2 FETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/,
    );
  });

  it("CHANGEDSINCE returns only messages changed after the given modseq", async () => {
    const box = await newBox();
    for (let i = 0; i < 3; i++) await put(box, message({ subject: `m${i}` }));
    const c = await session(box, { enable: "CONDSTORE" });
    const before = ok(await c.cmd("FETCH 3 (MODSEQ)"));
    const high = Number(/MODSEQ \((\d+)\)/.exec(before.untagged.at(-1)!)![1]);
    ok(await c.cmd("STORE 2 +FLAGS.SILENT (\\Seen)"));
    const r = ok(await c.cmd(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${high})`));
    assert.deepEqual(r.untagged, [`2 FETCH (FLAGS (\\Seen) MODSEQ (${high + 1}))`]);
    const u = ok(await c.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${high - 1})`));
    assert.deepEqual(u.untagged, [
      `2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (${high + 1}))`,
      `3 FETCH (UID 3 FLAGS () MODSEQ (${high}))`,
    ]);
    assert.equal((await c.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)`)).status, "BAD"); // no QRESYNC
  });
});

// ---------------------------------------------------------------------------------------------
// SEARCH

describe("SEARCH", () => {
  let box: string;
  const uids: number[] = [];
  const day = (m: number, d: number) => new Date(Date.UTC(2024, m - 1, d, 12));
  before(async () => {
    box = await newBox();
    uids.push(
      await put(
        box,
        message({
          subject: "Quarterly report",
          from: "Alice <alice@example.org>",
          date: "Wed, 10 Jan 2024 12:00:00 +0000",
          body: "The zebrafish numbers are in.",
          headers: ["X-Tag: alpha"],
        }),
        { flags: ["\\Seen"], date: day(1, 10) },
      ),
      await put(
        box,
        message({
          subject: "Lunch plans",
          from: "bob@example.com",
          date: "Thu, 15 Feb 2024 12:00:00 +0000",
          body: "Pizza?",
        }),
        { flags: ["\\Flagged", "$Work"], date: day(2, 15) },
      ),
      await put(
        box,
        message({
          subject: "Re: Quarterly report",
          from: "Carol <carol@example.net>",
          date: "Wed, 20 Mar 2024 12:00:00 +0000",
          body: "lorem ipsum ".repeat(250),
          headers: ["X-Tag: beta"],
        }),
        { flags: ["\\Deleted"], date: day(3, 20) },
      ),
      await put(
        box,
        message({
          subject: "Holiday",
          from: "dave@example.com",
          date: "Wed, 20 Mar 2024 13:00:00 +0000",
          body: "zebrafish holiday",
        }),
        { flags: ["\\Seen", "\\Answered"], date: day(3, 20) },
      ),
    );
  });

  const cases: Array<[string, string]> = [
    ["ALL", "1 2 3 4"],
    ["SEEN", "1 4"],
    ["UNSEEN", "2 3"],
    ["FLAGGED", "2"],
    ["DELETED", "3"],
    ["UNDELETED", "1 2 4"],
    ["ANSWERED", "4"],
    ["KEYWORD $Work", "2"],
    ["UNKEYWORD $work", "1 3 4"],
    ["FROM bob", "2"],
    ["FROM Carol", "3"],
    ["TO alice@example.test", "1 2 3 4"],
    ["SUBJECT quarterly", "1 3"],
    ['HEADER X-Tag "beta"', "3"],
    ['HEADER X-Tag ""', "1 3"],
    ["BODY zebrafish", "1 4"],
    ["TEXT pizza", "2"],
    ["SINCE 1-Mar-2024", "3 4"],
    ["BEFORE 1-Feb-2024", "1"],
    ["ON 15-Feb-2024", "2"],
    ["SENTSINCE 20-Mar-2024", "3 4"],
    ["SENTBEFORE 11-Jan-2024", "1"],
    ["SENTON 15-Feb-2024", "2"],
    ["LARGER 2000", "3"],
    ["SMALLER 2000", "1 2 4"],
    ["OR FROM bob FROM dave", "2 4"],
    ["NOT SEEN", "2 3"],
    ["OR SEEN FLAGGED NOT DELETED", "1 2 4"],
    ["(OR SEEN FLAGGED) SINCE 1-Feb-2024", "2 4"],
    ["2:3", "2 3"],
    ["2:*", "2 3 4"],
    ["UID 2:4", "2 3 4"],
    ["UID 100:*", "4"],
    ["KEYWORD $Nothing", ""],
  ];
  describe("keys", () => {
    // one session for all the keys (a login costs a password hash)
    let c: ImapRaw;
    before(async () => {
      c = await session(box);
      open.splice(open.indexOf(c), 1);
    });
    after(() => c.close());
    for (const [criteria, want] of cases) {
      it(`SEARCH ${criteria}`, async () => {
        const r = ok(await c.cmd(`SEARCH ${criteria}`));
        assert.deepEqual(r.untagged, [want ? `SEARCH ${want}` : "SEARCH"]);
      });
    }
  });

  it("UID SEARCH answers UIDs; CHARSET UTF-8 is accepted, an unknown one refused", async () => {
    const c = await session(box);
    assert.deepEqual(ok(await c.cmd("UID SEARCH FLAGGED")).untagged, [`SEARCH ${uids[1]}`]);
    assert.deepEqual(ok(await c.cmd("SEARCH CHARSET UTF-8 SUBJECT holiday")).untagged, ["SEARCH 4"]);
    assert.deepEqual(ok(await c.cmd("SEARCH CHARSET US-ASCII SUBJECT holiday")).untagged, ["SEARCH 4"]);
    const bad = await c.cmd("SEARCH CHARSET X-NOPE ALL");
    assert.equal(bad.status, "NO");
    assert.match(bad.text, /\[BADCHARSET/);
  });

  it("ESEARCH result options (RFC 4731)", async () => {
    const c = await session(box);
    let r = ok(await c.cmd("SEARCH RETURN (MIN MAX COUNT) UNDELETED"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") MIN 1 MAX 4 COUNT 3`]);
    r = ok(await c.cmd("SEARCH RETURN () SEEN"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") ALL 1,4`]);
    r = ok(await c.cmd("UID SEARCH RETURN (ALL) ALL"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") UID ALL ${uids[0]}:${uids[3]}`]);
    r = ok(await c.cmd("SEARCH RETURN (COUNT) KEYWORD $Nothing"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") COUNT 0`]);
    r = ok(await c.cmd("SEARCH RETURN (MIN ALL) KEYWORD $Nothing"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}")`]);
  });

  it("SAVE and $ (RFC 5182)", async () => {
    const c = await session(box);
    // SAVE alone: no ESEARCH response
    assert.deepEqual(ok(await c.cmd("SEARCH RETURN (SAVE) OR FLAGGED ANSWERED")).untagged, []);
    assert.deepEqual(ok(await c.cmd("FETCH $ (UID)")).untagged, [
      `2 FETCH (UID ${uids[1]})`,
      `4 FETCH (UID ${uids[3]})`,
    ]);
    assert.deepEqual(ok(await c.cmd("UID FETCH $ (FLAGS)")).untagged, [
      `2 FETCH (UID ${uids[1]} FLAGS (\\Flagged $Work))`,
      `4 FETCH (UID ${uids[3]} FLAGS (\\Seen \\Answered))`,
    ]);
    assert.deepEqual(ok(await c.cmd("SEARCH $ SEEN")).untagged, ["SEARCH 4"]);
    assert.deepEqual(ok(await c.cmd("SEARCH UID $")).untagged, ["SEARCH 2 4"]);
    // SAVE with MIN only: $ holds the minimum (RFC 9051 §6.4.4.1 table 4)
    const r = ok(await c.cmd("UID SEARCH RETURN (SAVE MIN) SEEN"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") UID MIN ${uids[0]}`]);
    assert.deepEqual(ok(await c.cmd("SEARCH $")).untagged, ["SEARCH 1"]);
    // a search without SAVE leaves $ alone; SAVE with no match empties it
    ok(await c.cmd("SEARCH RETURN (COUNT) ALL"));
    assert.deepEqual(ok(await c.cmd("SEARCH $")).untagged, ["SEARCH 1"]);
    ok(await c.cmd("SEARCH RETURN (SAVE) KEYWORD $Nothing"));
    assert.deepEqual(ok(await c.cmd("FETCH $ (UID)")).untagged, []);
  });

  it("MODSEQ criterion adds the highest modseq (RFC 7162 §3.1.5)", async () => {
    const c = await session(box);
    const r = ok(await c.cmd("SEARCH MODSEQ 1 FLAGGED"));
    assert.match(r.untagged[0]!, /^OK \[HIGHESTMODSEQ \d+\]/);
    assert.match(r.untagged[1]!, /^SEARCH 2 \(MODSEQ \d+\)$/);
    const e = ok(await c.cmd("SEARCH RETURN (COUNT) MODSEQ 1"));
    assert.match(e.untagged[0]!, new RegExp(`^ESEARCH \\(TAG "${e.tag}"\\) COUNT 4 MODSEQ \\d+$`));
  });

  it("IMAP4rev2 sessions always get ESEARCH", async () => {
    const c = await session(box, { enable: "IMAP4rev2" });
    const r = ok(await c.cmd("SEARCH SEEN"));
    assert.deepEqual(r.untagged, [`ESEARCH (TAG "${r.tag}") ALL 1,4`]);
    const u = ok(await c.cmd("UID SEARCH KEYWORD $Nothing"));
    assert.deepEqual(u.untagged, [`ESEARCH (TAG "${u.tag}") UID`]);
  });
});

// ---------------------------------------------------------------------------------------------
// SORT and THREAD

describe("SORT and THREAD", () => {
  let box: string;
  const uids: number[] = [];
  before(async () => {
    box = await newBox();
    const day = (d: number) => new Date(Date.UTC(2024, 2, d, 12));
    const msgs: Array<[string, string, number, string[]]> = [
      ["Beta", "zed@x.org", 3, ["Message-ID: <m1@x>"]],
      ["Re: Alpha", "amy@x.org", 2, ["Message-ID: <m2@x>", "In-Reply-To: <m3@x>", "References: <m3@x>"]],
      ["Alpha", "bob@x.org", 1, ["Message-ID: <m3@x>"]],
      ["Re: Re: alpha", "cat@x.org", 4, ["Message-ID: <m4@x>", "References: <m3@x>", " <m2@x>"]],
      ["Gamma", "dan@x.org", 5, ["Message-ID: <m5@x>"]],
    ];
    for (const [subject, from, d, headers] of msgs) {
      const date = `${["", "Fri", "Sat", "Sun", "Mon", "Tue"][d]}, ${d} Mar 2024 12:00:00 +0000`;
      uids.push(await put(box, message({ subject, from, date, headers }), { date: day(d) }));
    }
  });

  it("SORT by subject, date, reverse date, from, arrival; UID SORT", async () => {
    const c = await session(box);
    assert.deepEqual(ok(await c.cmd("SORT (SUBJECT) UTF-8 ALL")).untagged, ["SORT 2 3 4 1 5"]);
    assert.deepEqual(ok(await c.cmd("SORT (DATE) UTF-8 ALL")).untagged, ["SORT 3 2 1 4 5"]);
    assert.deepEqual(ok(await c.cmd("SORT (REVERSE DATE) UTF-8 ALL")).untagged, ["SORT 5 4 1 2 3"]);
    assert.deepEqual(ok(await c.cmd("SORT (FROM) UTF-8 ALL")).untagged, ["SORT 2 3 4 5 1"]);
    assert.deepEqual(ok(await c.cmd("SORT (ARRIVAL) US-ASCII NOT FROM dan")).untagged, ["SORT 3 2 1 4"]);
    assert.deepEqual(ok(await c.cmd("UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL")).untagged, [
      `SORT ${[uids[3], uids[1], uids[2], uids[0], uids[4]].join(" ")}`,
    ]);
    assert.deepEqual(ok(await c.cmd("SORT (SUBJECT) UTF-8 SUBJECT nothing")).untagged, ["SORT"]);
  });

  it("THREAD=ORDEREDSUBJECT and THREAD=REFERENCES; other algorithms are BAD", async () => {
    const c = await session(box);
    assert.deepEqual(ok(await c.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")).untagged, [
      "THREAD (3 (2)(4))(1)(5)",
    ]);
    assert.deepEqual(ok(await c.cmd("THREAD REFERENCES UTF-8 ALL")).untagged, ["THREAD (3 2 4)(1)(5)"]);
    assert.deepEqual(ok(await c.cmd("UID THREAD REFERENCES UTF-8 ALL")).untagged, [
      `THREAD (${uids[2]} ${uids[1]} ${uids[3]})(${uids[0]})(${uids[4]})`,
    ]);
    assert.deepEqual(ok(await c.cmd("THREAD REFERENCES UTF-8 SUBJECT nothing")).untagged, ["THREAD"]);
    assert.equal((await c.cmd("THREAD XYZ UTF-8 ALL")).status, "BAD");
  });
});

// ---------------------------------------------------------------------------------------------
// EXPUNGE, COPY, MOVE

describe("EXPUNGE", () => {
  it("EXPUNGE removes \\Deleted messages, highest number first; UID EXPUNGE only within its set", async () => {
    const box = await newBox();
    const u: number[] = [];
    for (let i = 0; i < 5; i++) u.push(await put(box, message({ subject: `m${i}` })));
    const c = await session(box);
    ok(await c.cmd("STORE 2,4 +FLAGS.SILENT (\\Deleted)"));
    assert.deepEqual(ok(await c.cmd("EXPUNGE")).untagged, ["4 EXPUNGE", "2 EXPUNGE"]);
    assert.deepEqual(ok(await c.cmd("FETCH 1:* (UID)")).untagged, [
      `1 FETCH (UID ${u[0]})`,
      `2 FETCH (UID ${u[2]})`,
      `3 FETCH (UID ${u[4]})`,
    ]);
    ok(await c.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)"));
    assert.deepEqual(ok(await c.cmd(`UID EXPUNGE ${u[2]}:${u[4]}`)).untagged, ["3 EXPUNGE", "2 EXPUNGE"]);
    assert.deepEqual(ok(await c.cmd("FETCH 1:* (UID FLAGS)")).untagged, [
      `1 FETCH (UID ${u[0]} FLAGS (\\Deleted))`,
    ]);
    assert.deepEqual(ok(await c.cmd("UID EXPUNGE 1000")).untagged, []);
    const ro = await session(box, { examine: true });
    assert.match((await ro.cmd("EXPUNGE")).text, /^NO \[READ-ONLY\]/);
  });
});

describe("COPY and MOVE", () => {
  it("COPY keeps flags and answers COPYUID; missing destination: TRYCREATE", async () => {
    const box = await newBox();
    const dst = await newBox(ALICE.address, "Dst");
    for (let i = 0; i < 3; i++)
      await put(box, message({ subject: `m${i}` }), { flags: i === 0 ? ["\\Flagged"] : [] });
    const v = (await srv.server.store.getMailbox(await accountId(ALICE.address), dst))!.uidValidity;
    const c = await session(box);
    const r = ok(await c.cmd(`COPY 1:2 ${dst}`));
    assert.match(r.text, new RegExp(`^OK \\[COPYUID ${v} 1:2 1:2\\]`));
    assert.deepEqual(await storeFlags(dst), [["\\Flagged"], []]);
    assert.match(ok(await c.cmd(`UID COPY 3 ${dst}`)).text, new RegExp(`^OK \\[COPYUID ${v} 3 3\\]`));
    const none = ok(await c.cmd(`UID COPY 999 ${dst}`));
    assert.doesNotMatch(none.text, /COPYUID/);
    assert.match((await c.cmd("COPY 1 NoSuchBox")).text, /^NO \[TRYCREATE\]/);
    assert.match(ok(await c.cmd("COPY 1 inbox")).text, /^OK \[COPYUID/);
    // COPY in a read-only session is fine, MOVE is not
    const ro = await session(box, { examine: true });
    ok(await ro.cmd(`COPY 1 ${dst}`));
    assert.match((await ro.cmd(`MOVE 1 ${dst}`)).text, /^NO \[READ-ONLY\]/);
  });

  it("MOVE: untagged COPYUID, then EXPUNGE, then the tagged OK (RFC 6851 §4.3)", async () => {
    const box = await newBox();
    const dst = await newBox(ALICE.address, "Dst");
    const u: number[] = [];
    for (let i = 0; i < 4; i++) u.push(await put(box, message({ subject: `m${i}` }), { flags: ["$Keep"] }));
    const v = (await srv.server.store.getMailbox(await accountId(ALICE.address), dst))!.uidValidity;
    const c = await session(box);
    const r = ok(await c.cmd(`MOVE 2:3 ${dst}`));
    assert.deepEqual(r.untagged, [`OK [COPYUID ${v} ${u[1]}:${u[2]} 1:2] Moved`, "3 EXPUNGE", "2 EXPUNGE"]);
    const r2 = ok(await c.cmd(`UID MOVE ${u[3]} ${dst}`));
    assert.deepEqual(r2.untagged, [`OK [COPYUID ${v} ${u[3]} 3] Moved`, "2 EXPUNGE"]);
    assert.deepEqual(ok(await c.cmd("FETCH 1:* (UID)")).untagged, [`1 FETCH (UID ${u[0]})`]);
    assert.deepEqual(await storeFlags(dst), [["$Keep"], ["$Keep"], ["$Keep"]]);
    assert.deepEqual(await storeFlags(box), [["$Keep"]]);
  });

  it("over quota: NO [OVERQUOTA] and nothing copied", async () => {
    const box = await newBox(CAROL.address);
    const dst = await newBox(CAROL.address, "Dst");
    for (let i = 0; i < 2; i++) await put(box, message({ subject: `m${i}` }), { address: CAROL.address });
    const q = await srv.server.store.getQuota(await accountId(CAROL.address));
    await srv.server.store.setQuota(CAROL.address, q.usedBytes + 10);
    const c = await session(box, { user: CAROL });
    assert.match((await c.cmd(`COPY 1:2 ${dst}`)).text, /^NO \[OVERQUOTA\]/);
    assert.deepEqual(await storeFlags(dst, CAROL.address), []);
    // a MOVE within the account does not change its usage
    ok(await c.cmd(`MOVE 1:2 ${dst}`));
    assert.equal((await storeFlags(dst, CAROL.address)).length, 2);
  });
});

// ---------------------------------------------------------------------------------------------
// Two sessions on one mailbox

describe("two sessions on one mailbox", () => {
  it("see new mail, flag changes and expunges at the moments RFC 9051 §7 allows", async () => {
    const box = await newBox();
    const u: number[] = [];
    for (let i = 0; i < 3; i++) u.push(await put(box, message({ subject: `m${i}`, body: `body ${i}` })));
    const a = await session(box);
    const b = await session(box);

    ok(await a.cmd("STORE 1 +FLAGS (\\Flagged)"));
    assert.deepEqual(ok(await b.cmd("NOOP")).untagged, [`1 FETCH (UID ${u[0]} FLAGS (\\Flagged))`]);

    u.push(await put(box, message({ subject: "new" })));
    const n = ok(await b.cmd("NOOP"));
    assert.ok(n.untagged.includes("4 EXISTS"), n.raw);

    // A expunges message 2; B keeps its numbering through FETCH, STORE and SEARCH by number
    ok(await a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"));
    assert.deepEqual(ok(await a.cmd("EXPUNGE")).untagged, ["2 EXPUNGE"]);
    const f = ok(await b.cmd("FETCH 1:* (UID)"));
    assert.ok(!f.untagged.some((l) => /EXPUNGE/.test(l)), f.raw);
    assert.ok(f.untagged.includes(`2 FETCH (UID ${u[1]})`), f.raw);
    // its body is gone: the server says so instead of inventing it
    const gone = await b.cmd("FETCH 2 (BODY.PEEK[TEXT])");
    assert.match(gone.text, /^OK \[EXPUNGEISSUED\]/);
    assert.deepEqual(gone.untagged, []);
    const s = ok(await b.cmd("SEARCH ALL"));
    assert.deepEqual(s.untagged, ["SEARCH 1 2 3 4"]);
    const st = ok(await b.cmd("STORE 3 +FLAGS (\\Seen)"));
    assert.ok(!st.untagged.some((l) => /EXPUNGE/.test(l)), st.raw);
    assert.deepEqual(ok(await b.cmd("NOOP")).untagged, ["2 EXPUNGE"]);
    assert.deepEqual(ok(await b.cmd("FETCH 1:* (UID)")).untagged, [
      `1 FETCH (UID ${u[0]})`,
      `2 FETCH (UID ${u[2]})`,
      `3 FETCH (UID ${u[3]})`,
    ]);

    // UID commands may carry EXPUNGE responses, after their own results
    ok(await a.cmd("UID STORE 1 +FLAGS.SILENT (\\Deleted)"));
    assert.deepEqual(ok(await a.cmd("EXPUNGE")).untagged, ["1 EXPUNGE"]);
    const uf = ok(await b.cmd(`UID FETCH ${u[3]} (UID)`));
    assert.deepEqual(uf.untagged, [`3 FETCH (UID ${u[3]})`, "1 EXPUNGE"]);

    // MOVE in A shows up as an expunge in B
    const dst = await newBox(ALICE.address, "Dst");
    ok(await a.cmd(`MOVE 1 ${dst}`));
    assert.deepEqual(ok(await b.cmd("NOOP")).untagged, ["1 EXPUNGE"]);
  });

  it("\\Recent: a message is recent in the first session that sees it (rev1)", async () => {
    const box = await newBox();
    await put(box, message({ subject: "old" }));
    const a = await session(box);
    await put(box, message({ subject: "new" }));
    const n = ok(await a.cmd("NOOP"));
    assert.ok(n.untagged.includes("2 EXISTS"), n.raw);
    const b = await session(box);
    const r = ok(await b.cmd("FETCH 1:* (FLAGS)"));
    // a's view claimed nothing new after its SELECT; b is the first to select since "new" arrived
    assert.deepEqual(r.untagged, ["1 FETCH (FLAGS ())", "2 FETCH (FLAGS (\\Recent))"]);
    const rev2 = await session(box, { enable: "IMAP4rev2" });
    assert.deepEqual(ok(await rev2.cmd("FETCH 2 (FLAGS)")).untagged, ["2 FETCH (FLAGS ())"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Large messages and broken blobs

describe("streaming", () => {
  it("a 3 MB attachment: BODY[] byte for byte, BINARY decoded in two passes, partials of both", async () => {
    const box = await newBox();
    const data = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    const b64 = data.toString("base64").replace(/.{76}/g, "$&\r\n");
    const msg = Buffer.from(
      [
        "From: big@example.org",
        "Subject: big",
        "MIME-Version: 1.0",
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
        b64,
        "--b--",
        "",
      ].join("\r\n"),
    );
    await put(box, msg);
    const c = await session(box);
    assert.deepEqual(await fetchBytes(c, 1, "BODY.PEEK[]", "BODY[]"), Buffer.concat([PREFIX, msg]));
    const sz = ok(await c.cmd("FETCH 1 (BINARY.SIZE[2])"));
    assert.deepEqual(sz.untagged, [`1 FETCH (BINARY.SIZE[2] ${data.length})`]);
    assert.deepEqual(await fetchBytes(c, 1, "BINARY.PEEK[2]", "BINARY[2]"), data);
    assert.deepEqual(
      await fetchBytes(c, 1, "BINARY.PEEK[2]<1000000.123457>", "BINARY[2]<1000000>"),
      data.subarray(1000000, 1123457),
    );
    assert.deepEqual(
      await fetchBytes(c, 1, "BODY.PEEK[2]<17.5>", "BODY[2]<17>"),
      Buffer.from(b64.slice(17, 22)),
    );
  });

  it("a blob shorter than its record: the connection is closed, not a broken literal left open", async () => {
    const box = await newBox();
    // over 128 KiB, so that the blob is a file (small ones are kept in the database)
    const body = `unique ${Date.now()}\r\n${`${"x".repeat(76)}\r\n`.repeat(1800)}`;
    await put(box, message({ subject: "truncated", body }));
    const store = srv.server.store;
    const mb = await store.getMailbox(await accountId(ALICE.address), box);
    const rec = await store.getMessage(mb!.id, 1);
    const { truncateSync } = await import("node:fs");
    const { join } = await import("node:path");
    truncateSync(join(srv.dir, "blobs", rec!.blobId.slice(0, 2), rec!.blobId.slice(2, 4), rec!.blobId), 100);
    const c = await session(box);
    c.write("A1 FETCH 1 (BODY.PEEK[])\r\n");
    await c.waitClosed();
  });
});

// ---------------------------------------------------------------------------------------------
// QRESYNC paths, through a session driven directly (ENABLE QRESYNC is not offered yet)

describe("QRESYNC (session driven directly)", () => {
  async function direct(box: string, enabled: string[]) {
    const { ImapSession } = await import("../../src/imap/server/session.js");
    const { SelectedMailbox } = await import("../../src/imap/server/selected-mailbox.js");
    const { RecentTracker } = await import("../../src/imap/server/recent.js");
    const { silentLog } = await import("../../src/log/logger.js");
    const out: Buffer[] = [];
    const io = {
      sid: "test",
      listener: "imap",
      remoteAddress: "127.0.0.1",
      remotePort: 1,
      localAddress: "127.0.0.1",
      localPort: 2,
      secure: false,
      tls: null,
      loopback: true,
      log: silentLog(),
      closed: false,
      write: (d: string | Buffer) => out.push(Buffer.isBuffer(d) ? d : Buffer.from(d)),
      drain: async () => undefined,
      pipeFrom: async () => undefined,
      end: () => undefined,
      setIdleTimeout: () => undefined,
    };
    const store = srv.server.store;
    // only what selected-state commands use; the rest of ImapDeps is not touched
    const deps = {
      config: srv.server.config,
      store,
      metrics: srv.server.metrics,
      recent: new RecentTracker(),
      isShuttingDown: () => false,
    } as unknown as ConstructorParameters<typeof ImapSession>[1];
    const s = new ImapSession(io as unknown as ConstructorParameters<typeof ImapSession>[0], deps);
    s.account = await store.getAccount(ALICE.address);
    const mb = await store.getMailbox(s.account!.id, box);
    s.selected = await SelectedMailbox.open(store, mb!.id, false);
    s.state = "selected";
    for (const e of enabled) s.enabled.add(e);
    return async (line: string): Promise<string[]> => {
      out.length = 0;
      await s.ingest(Buffer.from(`${line}\r\n`));
      return Buffer.concat(out).toString("utf8").split("\r\n").slice(0, -1);
    };
  }

  it("UID FETCH (CHANGEDSINCE … VANISHED) reports earlier expunges first", async () => {
    const box = await newBox();
    const u: number[] = [];
    for (let i = 0; i < 5; i++) u.push(await put(box, message({ subject: `m${i}` })));
    const store = srv.server.store;
    const mb = (await store.getMailbox(await accountId(ALICE.address), box))!;
    const since = mb.highestModseq;
    await store.expunge(mb.id, [u[1]!, u[2]!]);
    await store.storeFlags({ mailboxId: mb.id, uids: [u[3]!], op: "add", flags: ["\\Seen"] });
    const cmd = await direct(box, ["QRESYNC"]);
    assert.deepEqual(await cmd(`A1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${since} VANISHED)`), [
      `* VANISHED (EARLIER) ${u[1]}:${u[2]}`,
      `* 2 FETCH (UID ${u[3]} FLAGS (\\Seen) MODSEQ (${since + 3}))`,
      "A1 OK FETCH completed",
    ]);
    // only expunges after the modseq, and only in the set
    assert.deepEqual(await cmd(`A2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${since + 1} VANISHED)`), [
      `* VANISHED (EARLIER) ${u[2]}`,
      `* 2 FETCH (UID ${u[3]} FLAGS (\\Seen) MODSEQ (${since + 3}))`,
      "A2 OK FETCH completed",
    ]);
    assert.deepEqual(await cmd(`A3 UID FETCH ${u[3]}:* (FLAGS) (CHANGEDSINCE ${since} VANISHED)`), [
      `* 2 FETCH (UID ${u[3]} FLAGS (\\Seen) MODSEQ (${since + 3}))`,
      "A3 OK FETCH completed",
    ]);
  });

  it("EXPUNGE, MOVE and other sessions' expunges answer VANISHED; \\Seen FETCH adds UID and MODSEQ", async () => {
    const box = await newBox();
    const dst = await newBox(ALICE.address, "Dst");
    const u: number[] = [];
    for (let i = 0; i < 6; i++) u.push(await put(box, message({ subject: `m${i}` })));
    const cmd = await direct(box, ["QRESYNC"]);
    await cmd("A1 STORE 2,4 +FLAGS.SILENT (\\Deleted)");
    assert.deepEqual(await cmd("A2 EXPUNGE"), [`* VANISHED ${u[1]},${u[3]}`, "A2 OK EXPUNGE completed"]);
    const moved = await cmd(`A3 MOVE 1 ${dst}`);
    assert.match(moved[0]!, /^\* OK \[COPYUID \d+ 1 1\] Moved$/);
    assert.deepEqual(moved.slice(1), [`* VANISHED ${u[0]}`, "A3 OK MOVE completed"]);
    const seen = await cmd("A4 FETCH 1 (BODY[TEXT])");
    assert.match(seen[0]!, /^\* 1 FETCH \(UID 3 BODY\[TEXT\] \{8\}$/);
    assert.match(seen[1]!, /^Hello\.$/);
    assert.match(seen[2]!, /^ FLAGS \(\\Seen\) MODSEQ \(\d+\)\)$/);
    const store = srv.server.store;
    const mb = (await store.getMailbox(await accountId(ALICE.address), box))!;
    await store.expunge(mb.id, [u[5]!]);
    // not during a FETCH by sequence number; with the next UID command
    assert.deepEqual(await cmd("A5 FETCH 1 (UID)"), [`* 1 FETCH (UID ${u[2]})`, "A5 OK FETCH completed"]);
    assert.deepEqual(await cmd("A6 UID SEARCH ALL"), [
      `* SEARCH ${u[2]} ${u[4]} ${u[5]}`,
      `* VANISHED ${u[5]}`,
      "A6 OK SEARCH completed",
    ]);
  });
});
