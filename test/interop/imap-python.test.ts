// Interop: Python's imaplib (through scripts/imap_session.py, which runs a list of imaplib calls and
// prints JSON) against a real server: IMAP4 in plaintext from loopback, starttls(), IMAP4_SSL; LOGIN
// and AUTHENTICATE PLAIN; LIST, SELECT/EXAMINE, SEARCH, FETCH (RFC822 byte for byte against the
// store, BODY.PEEK[HEADER], BODYSTRUCTURE, FLAGS), STORE, COPY, EXPUNGE, APPEND with flags and a
// date, the UID forms, STATUS, LOGOUT. imaplib has no IDLE before Python 3.14 (imapflow covers it).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import {
  ALICE,
  attachmentMessage,
  BOB,
  deliver,
  headerOf,
  startImapServer,
  stored,
  storedByUid,
  textMessage,
} from "./helpers/imap.js";
import { assertSameBytes, buildMessage, describeRun, runTool, scriptPath } from "./helpers/interop.js";

/** imaplib's data: bytes came as latin1 strings, (literal) tuples as arrays. */
type PyData = Array<string | null | [string, string] | boolean>;

interface PyStep {
  op: string;
  typ?: string;
  data?: PyData;
  error?: { type: string; text: string };
  state: string;
}

interface PyResult {
  welcome: string | null;
  capabilities: string[] | null;
  capabilities_end: string[] | null;
  tls: string | null;
  results: PyStep[];
  error?: { type: string; text: string };
}

type Step = [string, ...Array<string | boolean | null>];

async function imaplib(
  t: TestServer,
  mode: "plain" | "starttls" | "ssl",
  steps: Step[],
): Promise<PyResult & { trace: string; step(i: number): PyStep }> {
  const port = mode === "ssl" ? t.port("imaps") : t.port("imap");
  const input = JSON.stringify({ host: "127.0.0.1", port, mode, steps });
  const r = await runTool("python3", [scriptPath("imap_session.py")], { input, timeoutMs: 20_000 });
  assert.equal(r.code, 0, describeRun(r));
  const result = JSON.parse(r.stdout) as PyResult;
  assert.equal(result.error, undefined, `${JSON.stringify(result.error)}\n${r.stderr}`);
  assert.equal(result.results.length, steps.length);
  return {
    ...result,
    trace: r.stderr,
    step(i) {
      return result.results[i]!;
    },
  };
}

/** An OK step's data, or a failure showing imaplib's trace. */
function ok(r: { trace: string; step(i: number): PyStep }, i: number): PyData {
  const s = r.step(i);
  assert.equal(s.typ, "OK", `step ${i} (${s.op}): ${JSON.stringify(s.error ?? s.data)}\n${r.trace}`);
  return s.data!;
}

/** The literal of a FETCH response (the first [prefix, literal] pair), as bytes. */
function literal(data: PyData, index = 0): { prefix: string; bytes: Buffer; rest: string[] } {
  const pairs = data.filter((d): d is [string, string] => Array.isArray(d));
  const pair = pairs[index];
  assert.ok(pair, `a literal in ${JSON.stringify(data).slice(0, 300)}`);
  return {
    prefix: pair[0],
    bytes: Buffer.from(pair[1], "latin1"),
    rest: data.filter((d): d is string => typeof d === "string"),
  };
}

/** "1 2 3" → [1, 2, 3] */
function numbers(data: PyData): number[] {
  const text = data[0];
  assert.equal(typeof text, "string");
  return (text as string).split(" ").filter(Boolean).map(Number);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An IMAP date-time ("01-Mar-2024 12:34:56 +0000") as a Date. */
function imapDate(text: string): Date {
  const m = /^ ?(\d{1,2})-([A-Z][a-z]{2})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(text);
  assert.ok(m, `an IMAP date-time: ${JSON.stringify(text)}`);
  const offset = (m[7] === "-" ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  const utc = Date.UTC(
    Number(m[3]),
    MONTHS.indexOf(m[2]!),
    Number(m[1]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  return new Date(utc - offset * 60_000);
}

describe("interop: Python imaplib", { skip: missingTools(TOOLS.python3) }, () => {
  let t: TestServer;
  const report = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Quarterly report",
    body: "The numbers look good.\r\nzebra crossing\r\n",
  });
  const photos = attachmentMessage({
    from: "Dave <dave@remote.test>",
    to: "alice@example.test",
    subject: "Holiday photos",
    text: "Here are the photos.",
    filename: "photo.bin",
  });
  const lunch = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Lunch?",
    body: "Pizza at noon.\r\n.leading dot\r\n",
  });

  before(async () => {
    t = await startImapServer();
    for (const m of [report, photos, lunch])
      await deliver(t, "alice@example.test", m.raw, "carol@remote.test");
    for (let n = 1; n <= 3; n++) {
      const m = textMessage({
        from: "carol@remote.test",
        to: "bob@example.test",
        subject: `bob ${n}`,
        body: `n=${n}\r\n`,
      });
      await deliver(t, "bob@example.test", m.raw);
    }
  });
  after(() => t.stop());

  it("IMAP4 in plaintext from loopback: LOGIN, LIST, SELECT, SEARCH, FETCH, LOGOUT", async () => {
    const r = await imaplib(t, "plain", [
      ["capability"], // 0
      ["login", ALICE.user, ALICE.pass], // 1
      ["list"], // 2
      ["select", "INBOX"], // 3
      ["search", "ALL"], // 4
      ["search", "UNSEEN"], // 5
      ["search", "FROM", "carol"], // 6
      ["search", "SUBJECT", '"holiday photos"'], // 7
      ["search", "BODY", "zebra"], // 8
      ["fetch", "1", "(BODY.PEEK[HEADER])"], // 9
      ["fetch", "2", "(BODYSTRUCTURE)"], // 10
      ["fetch", "1:3", "(FLAGS)"], // 11
      ["fetch", "3", "(RFC822)"], // 12: not PEEK: sets \Seen
      ["search", "UNSEEN"], // 13
      ["search", "SEEN"], // 14
      ["fetch", "1:3", "(UID RFC822.SIZE)"], // 15
      ["logout"], // 16
    ]);
    assert.equal(r.tls, null, "no TLS on this session");
    assert.ok(r.capabilities!.includes("STARTTLS"));
    assert.ok(r.capabilities!.includes("AUTH=PLAIN"), "loopback may authenticate in plaintext");
    assert.ok(!r.capabilities!.includes("LOGINDISABLED"));
    assert.match(r.welcome ?? "", /^\* OK /);
    assert.match(String(ok(r, 1)[0]), /^\[CAPABILITY .*\bIDLE\b.*\] /);
    const list = ok(r, 2) as string[];
    assert.deepEqual(list, [
      '(\\HasNoChildren) "/" INBOX',
      '(\\HasNoChildren \\Archive) "/" Archive',
      '(\\HasNoChildren \\Drafts) "/" Drafts',
      '(\\HasNoChildren \\Junk) "/" Junk',
      '(\\HasNoChildren \\Sent) "/" Sent',
      '(\\HasNoChildren \\Trash) "/" Trash',
    ]);
    assert.deepEqual(ok(r, 3), ["3"], "SELECT: imaplib returns the EXISTS count");
    assert.deepEqual(numbers(ok(r, 4)), [1, 2, 3]);
    assert.deepEqual(numbers(ok(r, 5)), [1, 2, 3]);
    assert.deepEqual(numbers(ok(r, 6)), [1, 3]);
    assert.deepEqual(numbers(ok(r, 7)), [2]);
    assert.deepEqual(numbers(ok(r, 8)), [1]);

    const inbox = await stored(t, "alice@example.test");
    const header = literal(ok(r, 9));
    assert.match(header.prefix, /^1 \(BODY\[HEADER\] \{\d+\}$/);
    assertSameBytes(
      header.bytes,
      headerOf(inbox[0]!.full),
      "BODY[HEADER]: trace prefix and header, blank line included",
    );

    const structure = String(ok(r, 10)[0]);
    assert.match(
      structure,
      /^2 \(BODYSTRUCTURE \(\("text" "plain" \("charset" "utf-8"\) NIL NIL "8bit" 20 0 NIL NIL NIL NIL\)\("application" "octet-stream" \("name" "photo\.bin"\) NIL NIL "base64" \d+ NIL \("attachment" \("filename" "photo\.bin"\)\) NIL NIL\) "mixed" \("boundary" "=_interop_boundary_42"\) NIL NIL NIL\)\)$/,
    );

    assert.deepEqual(ok(r, 11), ["1 (FLAGS ())", "2 (FLAGS ())", "3 (FLAGS ())"]);
    const rfc822 = literal(ok(r, 12));
    assert.equal(rfc822.prefix, `3 (RFC822 {${inbox[2]!.full.length}}`);
    assertSameBytes(rfc822.bytes, inbox[2]!.full, "RFC822 is the stored message, trace prefix first");
    assert.ok(
      rfc822.bytes.subarray(inbox[2]!.prefix.length).equals(lunch.raw),
      "after the prefix: what SMTP sent",
    );
    assert.deepEqual(rfc822.rest, [" FLAGS (\\Seen))"], "the implicit \\Seen is reported in the same FETCH");
    assert.deepEqual(numbers(ok(r, 13)), [1, 2]);
    assert.deepEqual(numbers(ok(r, 14)), [3]);
    assert.deepEqual(
      ok(r, 15),
      inbox.map((m, i) => `${i + 1} (UID ${m.uid} RFC822.SIZE ${m.full.length})`),
    );
    const bye = r.step(16);
    assert.equal(bye.typ, "BYE", r.trace);
    assert.equal(bye.state, "LOGOUT");
    assert.match(r.trace, /< b'\* BYE /);
  });

  it("starttls() then LOGIN: STORE, COPY (COPYUID), EXPUNGE, STATUS and the UID commands", async () => {
    const before = await stored(t, "bob@example.test");
    const r = await imaplib(t, "starttls", [
      ["starttls"], // 0
      ["capability"], // 1
      ["login", BOB.user, BOB.pass], // 2
      ["select", "INBOX"], // 3
      ["uid", "SEARCH", "ALL"], // 4
      ["store", "1", "+FLAGS", "(\\Flagged $Work)"], // 5
      ["fetch", "1", "(FLAGS)"], // 6
      ["store", "1", "-FLAGS.SILENT", "(\\Flagged)"], // 7
      ["uid", "FETCH", String(before[0]!.uid), "(FLAGS)"], // 8
      ["copy", "1:2", "Archive"], // 9
      ["uid", "COPY", String(before[2]!.uid), "Archive"], // 10
      ["response", "COPYUID"], // 11: the codes of both COPYs, as imaplib collected them
      ["copy", "1", "Nonexistent"], // 12
      ["store", "2", "+FLAGS", "(\\Deleted)"], // 13
      ["expunge"], // 14
      ["uid", "SEARCH", "ALL"], // 15
      ["uid", "STORE", String(before[2]!.uid), "+FLAGS", "(\\Seen)"], // 16
      ["uid", "FETCH", "1:*", "(FLAGS)"], // 17
      ["status", "Archive", "(MESSAGES UIDNEXT UNSEEN)"], // 18
      ["status", "INBOX", "(MESSAGES UNSEEN)"], // 19
      ["examine", "Archive"], // 20
      ["uid", "FETCH", "1:*", "(BODY.PEEK[])"], // 21
      ["logout"], // 22
    ]);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    ok(r, 0);
    assert.match(r.trace, /> b'\w+ STARTTLS'/);
    // after STARTTLS the server no longer offers it (RFC 9051 §6.2.1)
    assert.ok(!String(ok(r, 1)[0]).includes("STARTTLS"), String(ok(r, 1)[0]));
    ok(r, 2);
    assert.deepEqual(ok(r, 3), ["3"]);
    assert.deepEqual(
      numbers(ok(r, 4)),
      before.map((m) => m.uid),
    );
    assert.deepEqual(ok(r, 5), ["1 (FLAGS (\\Flagged $Work))"]);
    assert.deepEqual(ok(r, 6), ["1 (FLAGS (\\Flagged $Work))"]);
    assert.deepEqual(ok(r, 7), [null], ".SILENT: no untagged FETCH");
    assert.deepEqual(ok(r, 8), [`1 (UID ${before[0]!.uid} FLAGS ($Work))`]);
    assert.match(String(ok(r, 9)[0]), /^\[COPYUID \d+ 1:2 1:2\] /);
    ok(r, 10);
    assert.equal(r.step(11).typ, "COPYUID", "response() answers with the code's name");
    const copyuid = r.step(11).data!.map(String);
    assert.equal(copyuid.length, 2, JSON.stringify(copyuid));
    assert.match(copyuid[0]!, /^\d+ 1:2 1:2$/);
    assert.match(copyuid[1]!, /^\d+ 3 3$/);
    const missing = r.step(12);
    assert.equal(missing.typ, "NO", r.trace);
    assert.match(String(missing.data?.[0]), /^\[TRYCREATE\] /);
    assert.deepEqual(ok(r, 13), ["2 (FLAGS (\\Deleted))"]);
    assert.deepEqual(ok(r, 14), ["2"], "EXPUNGE: imaplib returns the expunged sequence numbers");
    assert.deepEqual(numbers(ok(r, 15)), [before[0]!.uid, before[2]!.uid]);
    assert.deepEqual(ok(r, 16), [`2 (UID ${before[2]!.uid} FLAGS (\\Seen))`]);
    assert.deepEqual(ok(r, 17), [
      `1 (UID ${before[0]!.uid} FLAGS ($Work))`,
      `2 (UID ${before[2]!.uid} FLAGS (\\Seen))`,
    ]);
    assert.deepEqual(ok(r, 18), ["Archive (MESSAGES 3 UIDNEXT 4 UNSEEN 3)"]);
    assert.deepEqual(ok(r, 19), ["INBOX (MESSAGES 2 UNSEEN 1)"]);
    assert.deepEqual(ok(r, 20), ["3"]);
    const copies = ok(r, 21);
    for (let i = 0; i < 3; i++) {
      const l = literal(copies, i);
      assert.match(l.prefix, new RegExp(`^${i + 1} \\(UID ${i + 1} BODY\\[\\] \\{\\d+\\}$`));
      assertSameBytes(l.bytes, before[i]!.full, `the copy of message ${i + 1}`);
    }
    assert.equal(r.step(22).typ, "BYE");
    assert.equal((await stored(t, "bob@example.test")).length, 2);
    assert.equal((await stored(t, "bob@example.test", "Archive")).length, 3);
  });

  it("IMAP4_SSL: AUTHENTICATE PLAIN, APPEND with flags and a date (APPENDUID), fetched back exactly", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "imaplib draft",
      headers: [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
      ],
      body: "Entwurf: Grüße ✓\r\n.leading dot\r\n",
    });
    const r = await imaplib(t, "ssl", [
      ["authenticate_plain", ALICE.user, ALICE.pass], // 0
      ["status", "Drafts", "(UIDVALIDITY UIDNEXT)"], // 1
      [
        "append",
        "Drafts",
        "(\\Draft \\Seen $Pending)",
        "2024-03-01T12:34:56+01:00",
        message.toString("base64"),
      ], // 2
      ["select", "Drafts"], // 3
      ["uid", "SEARCH", "DRAFT", "KEYWORD", "$Pending"], // 4
      ["uid", "FETCH", "1", "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"], // 5
      ["search", "SENTON", "6-Jan-2025"], // 6
      ["search", "BEFORE", "2-Mar-2024"], // 7
      ["close"], // 8
      ["logout"], // 9
    ]);
    assert.match(r.tls ?? "", /^TLSv1\.[23]$/);
    assert.match(r.trace, /> b'\w+ AUTHENTICATE PLAIN'/);
    assert.match(String(ok(r, 0)[0]), /^\[CAPABILITY /);
    const status = /^Drafts \(UIDVALIDITY (\d+) UIDNEXT (\d+)\)$/.exec(String(ok(r, 1)[0]));
    assert.ok(status, String(ok(r, 1)[0]));
    assert.match(
      r.trace,
      /APPEND Drafts \(\\\\Draft \\\\Seen \$Pending\) "01-Mar-2024 12:34:56 \+0100" \{\d+\}/,
    );
    assert.equal(String(ok(r, 2)[0]), `[APPENDUID ${status[1]} ${status[2]}] APPEND completed`);
    assert.deepEqual(ok(r, 3), ["1"]);
    assert.deepEqual(numbers(ok(r, 4)), [1]);
    const fetched = literal(ok(r, 5));
    const m =
      /^1 \(UID 1 FLAGS \(([^)]*)\) INTERNALDATE "([^"]+)" RFC822\.SIZE (\d+) BODY\[\] \{(\d+)\}$/.exec(
        fetched.prefix,
      );
    assert.ok(m, fetched.prefix);
    assert.deepEqual(m[1]!.split(" ").sort(), ["$Pending", "\\Draft", "\\Seen"]);
    assert.equal(
      imapDate(m[2]!).toISOString(),
      "2024-03-01T11:34:56.000Z",
      "INTERNALDATE is the APPEND date",
    );
    assert.equal(Number(m[3]), message.length);
    assertSameBytes(fetched.bytes, message, "APPENDed bytes come back unchanged");
    assertSameBytes(
      (await storedByUid(t, "alice@example.test", "Drafts", 1)).blob,
      message,
      "the stored blob",
    );
    assert.deepEqual(numbers(ok(r, 6)), [1], "SENTON uses the Date: header");
    assert.deepEqual(numbers(ok(r, 7)), [1], "BEFORE uses the internal date");
    ok(r, 8);
    assert.equal(r.step(9).typ, "BYE");
  });

  it("refuses wrong passwords with [AUTHENTICATIONFAILED] (LOGIN and AUTHENTICATE PLAIN)", async () => {
    const r = await imaplib(t, "ssl", [
      ["login", ALICE.user, "wrong-secret"],
      ["authenticate_plain", ALICE.user, "wrong-secret"],
      ["select", "INBOX"],
      ["login", ALICE.user, ALICE.pass],
      ["logout"],
    ]);
    for (const i of [0, 1]) {
      const s = r.step(i);
      assert.equal(s.error?.type, "error", r.trace);
      assert.match(s.error!.text, /\[AUTHENTICATIONFAILED\]/, r.trace);
      assert.equal(s.state, "NONAUTH");
    }
    assert.match(r.step(2).error?.text ?? "", /SELECT illegal in state NONAUTH/, "imaplib refuses it itself");
    ok(r, 3);
    assert.equal(r.step(4).typ, "BYE");
  });

  it("EXAMINE is read-only: FETCH RFC822 does not set \\Seen, STORE gets NO [READ-ONLY]", async () => {
    const r = await imaplib(t, "plain", [
      ["login", ALICE.user, ALICE.pass],
      ["examine", "INBOX"],
      ["fetch", "1", "(RFC822)"],
      ["store", "1", "+FLAGS", "(\\Flagged)"],
      ["fetch", "1", "(FLAGS)"],
      ["logout"],
    ]);
    assert.deepEqual(ok(r, 1), ["3"]);
    const l = literal(ok(r, 2));
    assertSameBytes(l.bytes, (await stored(t, "alice@example.test"))[0]!.full, "RFC822 in EXAMINE");
    assert.deepEqual(l.rest, [")"], "no FLAGS change reported");
    assert.equal(r.step(3).typ, "NO", r.trace);
    assert.match(String(r.step(3).data?.[0]), /^\[READ-ONLY\] /);
    assert.deepEqual(ok(r, 4), ["1 (FLAGS ())"]);
  });

  it("IDLE", {
    skip: "imaplib has no idle() before Python 3.14; IDLE is covered by imap-imapflow",
  }, () => {});
});
