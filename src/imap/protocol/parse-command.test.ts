import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sameForEveryChunking } from "../../smtp/protocol/testkit.js";
import { parseCommand, parseLine } from "./parse-command.js";
import { ImapReceiver } from "./receiver.js";
import type { ParseContext, ParseResult, SeqRange, SequenceSet } from "./types.js";

/** Frame `input` (CRLF-terminated commands, literals allowed) and parse every command in it. */
function parseAll(chunks: readonly Buffer[], ctx: ParseContext = {}): ParseResult[] {
  const r = new ImapReceiver();
  const out: ParseResult[] = [];
  for (const chunk of chunks) {
    r.push(chunk);
    for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
      if (e.kind === "request") out.push(parseCommand(e, ctx));
      else if (e.kind === "error") assert.fail(`framing error ${e.text}`);
    }
  }
  return out;
}

/** Parse one command through the receiver, for every chunking of its bytes. */
function parse(input: string | Buffer, ctx: ParseContext = {}): ParseResult {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const results = sameForEveryChunking(bytes, (c) => parseAll(c, ctx));
  assert.equal(results.length, 1, "one command");
  return results[0]!;
}

const n = (from: number | "*", to: number | "*" = from): SeqRange => ({ from, to });
const set = (...ranges: SeqRange[]): SequenceSet => ({ kind: "set", ranges });
const SAVED: SequenceSet = { kind: "saved" };

type Expect =
  | Record<string, unknown>
  | { bad: string | RegExp; tag?: string | null; status?: "BAD" | "NO"; code?: string };

function check(input: string | Buffer, expected: Expect, ctx: ParseContext = {}): void {
  const got = parse(
    Buffer.concat([typeof input === "string" ? Buffer.from(input) : input, Buffer.from("\r\n")]),
    ctx,
  );
  if ("bad" in expected) {
    assert.equal(got.ok, false, `expected an error, got ${JSON.stringify(got)}`);
    if (got.ok) return;
    if (expected.bad instanceof RegExp) assert.match(got.text, expected.bad);
    else assert.equal(got.text, expected.bad);
    if (expected.tag !== undefined) assert.equal(got.tag, expected.tag);
    assert.equal(got.status, expected.status ?? "BAD");
    if (expected.code) assert.equal(got.code, expected.code);
    return;
  }
  assert.ok(got.ok, `expected success, got ${JSON.stringify(got)}`);
  if (got.ok) assert.deepEqual(got.command, expected);
}

function table(name: string, cases: [string | Buffer, Expect][], ctx: ParseContext = {}): void {
  describe(name, () => {
    for (const [input, expected] of cases) {
      it(input.toString().replace(/\r\n/g, "⏎"), () => check(input, expected, ctx));
    }
  });
}

const noFlags = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
const noReturn = { subscribed: false, children: false, specialUse: false };

table("commands without arguments", [
  ["a1 CAPABILITY", { tag: "a1", name: "CAPABILITY" }],
  ["a2 noop", { tag: "a2", name: "NOOP" }],
  ["1.1 LOGOUT", { tag: "1.1", name: "LOGOUT" }],
  ["x STARTTLS", { tag: "x", name: "STARTTLS" }],
  ["a CHECK", { tag: "a", name: "CHECK" }],
  ["a CLOSE", { tag: "a", name: "CLOSE" }],
  ["a UNSELECT", { tag: "a", name: "UNSELECT" }],
  ["a EXPUNGE", { tag: "a", name: "EXPUNGE", uid: false }],
  ["a IDLE", { tag: "a", name: "IDLE" }],
  ["a NAMESPACE", { tag: "a", name: "NAMESPACE" }],
  ["a] NOOP", { tag: "a]", name: "NOOP" }],
  ["a NOOP extra", { bad: "NOOP: unexpected space after the arguments" }],
  ["a NOOP ", { bad: "NOOP: unexpected space after the arguments" }],
  ["a  NOOP", { bad: "expected a command name", tag: "a" }],
  ["a", { bad: "Missing command", tag: "a" }],
  ["+a NOOP", { bad: "Invalid tag", tag: null }],
  ["a+ NOOP", { bad: "Invalid tag", tag: null }],
  ["* NOOP", { bad: "Invalid tag", tag: null }],
  ['"a" NOOP', { bad: "Invalid tag", tag: null }],
  ["a FROB", { bad: "Unknown command FROB", tag: "a" }],
  ["a UID", { bad: "UID: expected a space after UID" }],
  ["a UID LIST", { bad: "UID: UID LIST is not a command" }],
  ["a NO\rOP", { bad: "Unknown command NO" }],
]);

table("AUTHENTICATE and LOGIN", [
  ["a AUTHENTICATE plain", { tag: "a", name: "AUTHENTICATE", mechanism: "PLAIN" }],
  [
    "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
    { tag: "a", name: "AUTHENTICATE", mechanism: "PLAIN", initialResponse: Buffer.from("\0alice\0secret") },
  ],
  [
    "a AUTHENTICATE EXTERNAL =",
    { tag: "a", name: "AUTHENTICATE", mechanism: "EXTERNAL", initialResponse: Buffer.alloc(0) },
  ],
  ["a AUTHENTICATE SCRAM-SHA-256", { tag: "a", name: "AUTHENTICATE", mechanism: "SCRAM-SHA-256" }],
  ["a AUTHENTICATE PLAIN AGFs!", { bad: "AUTHENTICATE: initial response is not valid base64" }],
  ["a AUTHENTICATE", { bad: "AUTHENTICATE: expected a space before the mechanism" }],
  ["a LOGIN alice secret", { tag: "a", name: "LOGIN", userid: "alice", password: "secret" }],
  [
    'a LOGIN "alice@example.com" "p\\"a\\\\ss word"',
    { tag: "a", name: "LOGIN", userid: "alice@example.com", password: 'p"a\\ss word' },
  ],
  ["a LOGIN {5}\r\nalice {6+}\r\nsecr t", { tag: "a", name: "LOGIN", userid: "alice", password: "secr t" }],
  ["a LOGIN jürgen geheim", { tag: "a", name: "LOGIN", userid: "jürgen", password: "geheim" }],
  ["a LOGIN alice", { bad: "LOGIN: expected a space before the password" }],
  ['a LOGIN alice "unterminated', { bad: "LOGIN: unterminated quoted string" }],
  ['a LOGIN alice "bad\\escape"', { bad: 'LOGIN: invalid escape in quoted string (only \\" and \\\\)' }],
  ["a LOGIN alice (secret)", { bad: "LOGIN: expected a password" }],
  ["a LOGIN alice {3+}\r\na\0b", { bad: "LOGIN: NUL in literal for a password" }],
  ["a LOGIN alice ~{3+}\r\nabc", { bad: "LOGIN: literal8 not allowed for a password" }],
]);

table("ENABLE and ID", [
  ["a ENABLE CONDSTORE", { tag: "a", name: "ENABLE", capabilities: ["CONDSTORE"] }],
  ["a enable utf8=accept qresync", { tag: "a", name: "ENABLE", capabilities: ["UTF8=ACCEPT", "QRESYNC"] }],
  ["a ENABLE", { bad: "ENABLE: expected a space before a capability name" }],
  ["a ID NIL", { tag: "a", name: "ID", params: null }],
  ["a ID ()", { tag: "a", name: "ID", params: [] }],
  [
    'a ID ("name" "Thunderbird" "version" "115.3.1" "os" NIL)',
    {
      tag: "a",
      name: "ID",
      params: [
        { field: "name", value: "Thunderbird" },
        { field: "version", value: "115.3.1" },
        { field: "os", value: null },
      ],
    },
  ],
  ['a ID ("name")', { bad: "ID: expected a space after the ID field name" }],
  ["a ID", { bad: "ID: expected a space before the ID parameter list" }],
]);

table("SELECT / EXAMINE", [
  ["a SELECT INBOX", { tag: "a", name: "SELECT", mailbox: "INBOX", condstore: false }],
  ['a select "inbox"', { tag: "a", name: "SELECT", mailbox: "INBOX", condstore: false }],
  ["a EXAMINE iNbOx", { tag: "a", name: "EXAMINE", mailbox: "INBOX", condstore: false }],
  ["a SELECT INBOX.Sent", { tag: "a", name: "SELECT", mailbox: "INBOX.Sent", condstore: false }],
  ["a SELECT INBOX (CONDSTORE)", { tag: "a", name: "SELECT", mailbox: "INBOX", condstore: true }],
  ["a SELECT {5}\r\nDraft", { tag: "a", name: "SELECT", mailbox: "Draft", condstore: false }],
  ["a SELECT Entw&APw-rfe", { tag: "a", name: "SELECT", mailbox: "Entwürfe", condstore: false }],
  [
    "a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))",
    {
      tag: "a",
      name: "SELECT",
      mailbox: "INBOX",
      condstore: false,
      // a number64 above 2^53-1 is clamped (tokenizer.ts number64)
      qresync: {
        uidValidity: 67890007,
        modSeq: Number.MAX_SAFE_INTEGER,
        knownUids: set(n(41, 211), n(214, 541)),
      },
    },
  ],
  [
    "a SELECT INBOX (QRESYNC (67890007 90060115 41:211 (1,3:5 41,43:45)) CONDSTORE)",
    {
      tag: "a",
      name: "SELECT",
      mailbox: "INBOX",
      condstore: true,
      qresync: {
        uidValidity: 67890007,
        modSeq: 90060115,
        knownUids: set(n(41, 211)),
        seqMatch: { seqs: set(n(1), n(3, 5)), uids: set(n(41), n(43, 45)) },
      },
    },
  ],
  [
    "a EXAMINE INBOX (QRESYNC (1 2))",
    { tag: "a", name: "EXAMINE", mailbox: "INBOX", condstore: false, qresync: { uidValidity: 1, modSeq: 2 } },
  ],
  ["a SELECT INBOX (QRESYNC (1 2 1:*))", { bad: 'SELECT: known UIDs may not contain "*" or "$"' }],
  ["a SELECT INBOX (QRESYNC (1 2 1:5(1 2)))", { bad: 'SELECT: expected ")" to end the QRESYNC parameters' }],
  ["a SELECT INBOX (QRESYNC (0 2))", { bad: "SELECT: the UIDVALIDITY must not be 0" }],
  ["a SELECT INBOX (CONDSTORE CONDSTORE)", { bad: "SELECT: CONDSTORE given twice" }],
  ["a SELECT INBOX (FOO)", { bad: "SELECT: unknown select parameter FOO" }],
  ["a SELECT INBOX ()", { bad: "SELECT: empty the select parameters" }],
  ["a SELECT", { bad: "SELECT: expected a space before the mailbox name" }],
  ["a SELECT Entw\xc3\xbcrfe", { bad: "SELECT: mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)" }],
  ["a SELECT &AGE-", { bad: "SELECT: mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)" }],
  ["a SELECT a%b", { bad: "SELECT: expected a space before the select parameters" }],
]);

table(
  "mailbox names in UTF-8 mode (IMAP4rev2 / UTF8=ACCEPT)",
  [
    ["a SELECT Entwürfe", { tag: "a", name: "SELECT", mailbox: "Entwürfe", condstore: false }],
    ['a SELECT "Черновики"', { tag: "a", name: "SELECT", mailbox: "Черновики", condstore: false }],
    ["a SELECT Entw&APw-rfe", { tag: "a", name: "SELECT", mailbox: "Entw&APw-rfe", condstore: false }],
    [
      Buffer.from("a CREATE {3+}\r\n\xff\xfe\xfd", "latin1"),
      { bad: "CREATE: mailbox name is not valid UTF-8" },
    ],
  ],
  { utf8: true },
);

table("CREATE / DELETE / RENAME / SUBSCRIBE / UNSUBSCRIBE", [
  ["a CREATE Archive", { tag: "a", name: "CREATE", mailbox: "Archive", specialUse: [] }],
  [
    'a CREATE "Sent Items" (USE (\\Sent))',
    { tag: "a", name: "CREATE", mailbox: "Sent Items", specialUse: ["\\Sent"] },
  ],
  [
    "a CREATE Spam (use (\\junk \\X-Foo))",
    { tag: "a", name: "CREATE", mailbox: "Spam", specialUse: ["\\Junk", "\\X-Foo"] },
  ],
  ["a CREATE Spam (USE ())", { tag: "a", name: "CREATE", mailbox: "Spam", specialUse: [] }],
  ["a CREATE Spam (USE (Junk))", { bad: 'CREATE: expected a special-use attribute ("\\Sent", …)' }],
  ["a CREATE Spam (FOO)", { bad: "CREATE: unknown create parameter FOO" }],
  ["a DELETE Archive", { tag: "a", name: "DELETE", mailbox: "Archive" }],
  ["a RENAME Old New", { tag: "a", name: "RENAME", from: "Old", to: "New" }],
  ['a RENAME "A B" {3}\r\nC D', { tag: "a", name: "RENAME", from: "A B", to: "C D" }],
  ["a RENAME Old", { bad: "RENAME: expected a space before the new mailbox name" }],
  ["a SUBSCRIBE Lists.ietf", { tag: "a", name: "SUBSCRIBE", mailbox: "Lists.ietf" }],
  ["a UNSUBSCRIBE inbox", { tag: "a", name: "UNSUBSCRIBE", mailbox: "INBOX" }],
  ["a DELETE", { bad: "DELETE: expected a space before the mailbox name" }],
  ['a DELETE ""', { tag: "a", name: "DELETE", mailbox: "" }],
]);

table("LIST / LSUB", [
  [
    'a LIST "" ""',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: [""],
      selection: noFlags,
      returns: noReturn,
      extended: false,
    },
  ],
  [
    'a LIST "" *',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["*"],
      selection: noFlags,
      returns: noReturn,
      extended: false,
    },
  ],
  [
    "a LIST ~/Mail/ %",
    {
      tag: "a",
      name: "LIST",
      reference: "~/Mail/",
      patterns: ["%"],
      selection: noFlags,
      returns: noReturn,
      extended: false,
    },
  ],
  [
    'a LIST "" "Entw&APw-rfe/%"',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["Entwürfe/%"],
      selection: noFlags,
      returns: noReturn,
      extended: false,
    },
  ],
  [
    'a LIST (SUBSCRIBED REMOTE RECURSIVEMATCH) "" (INBOX* "Sent/%") RETURN (CHILDREN SUBSCRIBED)',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["INBOX*", "Sent/%"],
      selection: { subscribed: true, remote: true, recursiveMatch: true, specialUse: false },
      returns: { subscribed: true, children: true, specialUse: false },
      extended: true,
    },
  ],
  [
    'a LIST (SPECIAL-USE) "" "*"',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["*"],
      selection: { ...noFlags, specialUse: true },
      returns: noReturn,
      extended: true,
    },
  ],
  [
    'a LIST () "" % RETURN ()',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["%"],
      selection: noFlags,
      returns: noReturn,
      extended: true,
    },
  ],
  [
    'a LIST "" % RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN) STATUS (UNSEEN SIZE))',
    {
      tag: "a",
      name: "LIST",
      reference: "",
      patterns: ["%"],
      selection: noFlags,
      returns: { ...noReturn, specialUse: true, status: ["MESSAGES", "UNSEEN", "SIZE"] },
      extended: true,
    },
  ],
  [
    'a LIST (RECURSIVEMATCH) "" %',
    { bad: "LIST: RECURSIVEMATCH needs another selection option such as SUBSCRIBED" },
  ],
  [
    'a LIST (REMOTE RECURSIVEMATCH) "" %',
    { bad: "LIST: RECURSIVEMATCH needs another selection option such as SUBSCRIBED" },
  ],
  ['a LIST (FOO) "" %', { bad: "LIST: unknown LIST selection option FOO" }],
  ['a LIST "" % RETURN (FOO)', { bad: "LIST: unknown LIST return option FOO" }],
  ['a LIST "" % RETURN (STATUS ())', { bad: "LIST: empty the status item list" }],
  ['a LIST "" % FOO', { bad: 'LIST: expected RETURN, not "FOO"' }],
  ['a LIST "" ()', { bad: "LIST: empty the mailbox pattern list" }],
  ['a LIST ""', { bad: "LIST: expected a space before the mailbox pattern" }],
  ['a LSUB "" *', { tag: "a", name: "LSUB", reference: "", pattern: "*" }],
  ['a LSUB "#news." "comp.mail.%"', { tag: "a", name: "LSUB", reference: "#news.", pattern: "comp.mail.%" }],
]);

table("STATUS", [
  [
    'a STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)',
    { tag: "a", name: "STATUS", mailbox: "Sent", items: ["UIDNEXT", "MESSAGES", "UNSEEN", "RECENT"] },
  ],
  [
    "a STATUS INBOX (messages uidvalidity deleted size highestmodseq appendlimit messages)",
    {
      tag: "a",
      name: "STATUS",
      mailbox: "INBOX",
      items: ["MESSAGES", "UIDVALIDITY", "DELETED", "SIZE", "HIGHESTMODSEQ", "APPENDLIMIT"],
    },
  ],
  ["a STATUS INBOX ()", { bad: "STATUS: empty the status item list" }],
  ["a STATUS INBOX (FOO)", { bad: "STATUS: unknown status item FOO" }],
  ["a STATUS INBOX MESSAGES", { bad: 'STATUS: expected "(" to start the status item list' }],
  ["a STATUS INBOX (MESSAGES", { bad: 'STATUS: expected a space or ")" in the status item list' }],
]);

const seen = ["\\Seen"];
table("APPEND", [
  [
    "a APPEND Sent (\\Seen) {5+}\r\nhello",
    {
      tag: "a",
      name: "APPEND",
      mailbox: "Sent",
      messages: [{ flags: seen, literal: { kind: "streamed", size: 5, binary: false }, utf8: false }],
    },
  ],
  [
    'a APPEND INBOX (\\seen $Forwarded) " 5-Jan-2024 10:00:00 +0130" {3+}\r\nabc',
    {
      tag: "a",
      name: "APPEND",
      mailbox: "INBOX",
      messages: [
        {
          flags: ["\\Seen", "$Forwarded"],
          date: { time: Date.UTC(2024, 0, 5, 8, 30, 0), zone: 90 },
          literal: { kind: "streamed", size: 3, binary: false },
          utf8: false,
        },
      ],
    },
  ],
  [
    'a APPEND INBOX "05-Jan-2024 10:00:00 -0800" {0+}\r\n',
    {
      tag: "a",
      name: "APPEND",
      mailbox: "INBOX",
      messages: [
        {
          flags: [],
          date: { time: Date.UTC(2024, 0, 5, 18, 0, 0), zone: -480 },
          literal: { kind: "streamed", size: 0, binary: false },
          utf8: false,
        },
      ],
    },
  ],
  [
    "a APPEND {4+}\r\nSent () ~{2+}\r\n\0\x01 {1+}\r\nx",
    {
      tag: "a",
      name: "APPEND",
      mailbox: "Sent",
      messages: [
        { flags: [], literal: { kind: "streamed", size: 2, binary: true }, utf8: false },
        { flags: [], literal: { kind: "streamed", size: 1, binary: false }, utf8: false },
      ],
    },
  ],
  [
    "a APPEND INBOX UTF8 (~{2+}\r\nhi)",
    {
      tag: "a",
      name: "APPEND",
      mailbox: "INBOX",
      messages: [{ flags: [], literal: { kind: "streamed", size: 2, binary: true }, utf8: true }],
    },
  ],
  ["a APPEND INBOX UTF8 ({2+}\r\nhi)", { bad: "APPEND: UTF8 needs a literal8 (~{n})" }],
  ["a APPEND INBOX", { bad: "APPEND: expected a space after the mailbox name" }],
  ["a APPEND INBOX (\\Seen)", { bad: "APPEND: expected a space after the flag list" }],
  ['a APPEND INBOX "hello"', { bad: 'APPEND: invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")' }],
  [
    'a APPEND INBOX "31-Feb-2024 10:00:00 +0000" {1+}\r\nx',
    { bad: 'APPEND: invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")' },
  ],
  ['a APPEND INBOX "01-Feb-2024 24:00:00 +0000" {1+}\r\nx', { bad: "APPEND: invalid time in date-time" }],
  ["a APPEND INBOX (\\*) {1+}\r\nx", { bad: 'APPEND: "\\*" is not a flag here' }],
  ["a APPEND INBOX message", { bad: 'APPEND: expected the message as a literal, not "message"' }],
  ["a APPEND INBOX {1+}\r\nx garbage", { bad: 'APPEND: expected the message as a literal, not "garbage"' }],
]);

table("FETCH", [
  [
    "a FETCH 1:* (FLAGS)",
    { tag: "a", name: "FETCH", uid: false, set: set(n(1, "*")), items: [{ type: "FLAGS" }], vanished: false },
  ],
  [
    "a FETCH 2,4:7,9,12:* FAST",
    {
      tag: "a",
      name: "FETCH",
      uid: false,
      set: set(n(2), n(4, 7), n(9), n(12, "*")),
      items: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }],
      vanished: false,
    },
  ],
  [
    "a FETCH $ all",
    {
      tag: "a",
      name: "FETCH",
      uid: false,
      set: SAVED,
      items: [{ type: "FLAGS" }, { type: "INTERNALDATE" }, { type: "RFC822.SIZE" }, { type: "ENVELOPE" }],
      vanished: false,
    },
  ],
  [
    "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
    {
      tag: "a",
      name: "FETCH",
      uid: true,
      set: set(n(1, "*")),
      items: [{ type: "FLAGS" }],
      changedSince: 12345,
      vanished: true,
    },
  ],
  [
    "a FETCH 1 uid",
    { tag: "a", name: "FETCH", uid: false, set: set(n(1)), items: [{ type: "UID" }], vanished: false },
  ],
  [
    "a FETCH 1 BODY[]<0.2048>",
    {
      tag: "a",
      name: "FETCH",
      uid: false,
      set: set(n(1)),
      items: [{ type: "BODY[]", peek: false, section: { part: [] }, partial: { offset: 0, length: 2048 } }],
      vanished: false,
    },
  ],
  ["a FETCH 1 (FLAGS) (VANISHED)", { bad: "FETCH: VANISHED is only allowed in UID FETCH" }],
  ["a UID FETCH 1 (FLAGS) (VANISHED)", { bad: "UID FETCH: VANISHED needs CHANGEDSINCE" }],
  ["a UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)", { bad: "UID FETCH: CHANGEDSINCE given twice" }],
  ["a UID FETCH 1 (FLAGS) (FOO)", { bad: "UID FETCH: unknown fetch modifier FOO" }],
  ["a FETCH 1 (FLAGS FOO)", { bad: "FETCH: unknown fetch item FOO" }],
  ["a FETCH 1 ()", { bad: "FETCH: empty the fetch item list" }],
  ["a FETCH 1 (ALL)", { bad: "FETCH: unknown fetch item ALL" }],
  ["a FETCH 0 FLAGS", { bad: "FETCH: sequence set: 0 is not a valid message number" }],
  ["a FETCH 1:4294967296 FLAGS", { bad: "FETCH: sequence set: number in sequence set out of range" }],
  ["a FETCH 1, FLAGS", { bad: "FETCH: sequence set: invalid sequence set" }],
  ["a FETCH FLAGS", { bad: "FETCH: sequence set: invalid sequence set" }],
  ["a FETCH 1,$ FLAGS", { bad: "FETCH: sequence set: invalid sequence set" }],
  ["a FETCH 1", { bad: "FETCH: expected a space before the fetch items" }],
  ["a FETCH 1 (FLAGS", { bad: 'FETCH: expected a space or ")" in the fetch item list' }],
  ["a FETCH 1 BODY[TEXT", { bad: 'FETCH: expected "]" to end the section' }],
  ["a FETCH 1 BODY[]<0>", { bad: 'FETCH: expected "." in the partial range' }],
  ["a FETCH 1 BODY[]<0.0>", { bad: "FETCH: the partial length must not be 0" }],
]);

table("STORE", [
  [
    "a STORE 2:4 +FLAGS (\\Deleted)",
    {
      tag: "a",
      name: "STORE",
      uid: false,
      set: set(n(2, 4)),
      op: "add",
      silent: false,
      flags: ["\\Deleted"],
    },
  ],
  [
    "a UID STORE 34 +FLAGS.SILENT (\\Seen)",
    { tag: "a", name: "STORE", uid: true, set: set(n(34)), op: "add", silent: true, flags: ["\\Seen"] },
  ],
  [
    "a uid store 123 +Flags (\\Seen)",
    { tag: "a", name: "STORE", uid: true, set: set(n(123)), op: "add", silent: false, flags: ["\\Seen"] },
  ],
  [
    "a STORE 1 -flags.silent \\flagged $Junk",
    {
      tag: "a",
      name: "STORE",
      uid: false,
      set: set(n(1)),
      op: "remove",
      silent: true,
      flags: ["\\Flagged", "$Junk"],
    },
  ],
  [
    "a STORE 1:* FLAGS ()",
    { tag: "a", name: "STORE", uid: false, set: set(n(1, "*")), op: "set", silent: false, flags: [] },
  ],
  [
    "a UID STORE 1,3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
    {
      tag: "a",
      name: "STORE",
      uid: true,
      set: set(n(1), n(3)),
      unchangedSince: 320162338,
      op: "add",
      silent: true,
      flags: ["\\Deleted"],
    },
  ],
  [
    "a STORE $ (UNCHANGEDSINCE 0) FLAGS (\\X-Ext)",
    {
      tag: "a",
      name: "STORE",
      uid: false,
      set: SAVED,
      unchangedSince: 0,
      op: "set",
      silent: false,
      flags: ["\\X-Ext"],
    },
  ],
  ["a STORE 1 FLAGS (\\*)", { bad: 'STORE: "\\*" is not a flag here' }],
  ["a STORE 1 FLAGS", { bad: "STORE: expected a space after FLAGS" }],
  [
    "a STORE 1 FLAGS.LOUD (\\Seen)",
    { bad: 'STORE: expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT), not "FLAGS.LOUD"' },
  ],
  [
    "a STORE 1 *FLAGS (\\Seen)",
    { bad: 'STORE: expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT), not "*FLAGS (\\Seen)"' },
  ],
  ["a STORE 1 (FOO 1) FLAGS ()", { bad: "STORE: unknown store modifier FOO" }],
  ["a STORE 1 +FLAGS (\\Seen", { bad: 'STORE: expected a space or ")" in the flag list' }],
  ["a STORE 1 +FLAGS (\\)", { bad: "STORE: expected a flag name after \\" }],
  ["a STORE 1 +FLAGS (a%b)", { bad: 'STORE: expected a space or ")" in the flag list' }],
]);

table("COPY / MOVE / EXPUNGE", [
  ["a COPY 2:4 MEETING", { tag: "a", name: "COPY", uid: false, set: set(n(2, 4)), mailbox: "MEETING" }],
  ['a UID COPY 1:3 "Trash"', { tag: "a", name: "COPY", uid: true, set: set(n(1, 3)), mailbox: "Trash" }],
  ["a MOVE 1 inbox", { tag: "a", name: "MOVE", uid: false, set: set(n(1)), mailbox: "INBOX" }],
  ["a UID MOVE 42:69 foo", { tag: "a", name: "MOVE", uid: true, set: set(n(42, 69)), mailbox: "foo" }],
  ["a UID MOVE $ Archive", { tag: "a", name: "MOVE", uid: true, set: SAVED, mailbox: "Archive" }],
  ["a UID EXPUNGE 3000:3002", { tag: "a", name: "EXPUNGE", uid: true, set: set(n(3000, 3002)) }],
  ["a UID EXPUNGE", { bad: "UID EXPUNGE: expected a space before the UID set" }],
  ["a EXPUNGE 1", { bad: "EXPUNGE: unexpected space after the arguments" }],
  ["a COPY 1", { bad: "COPY: expected a space before the mailbox name" }],
]);

table("SEARCH / SORT / THREAD", [
  ["a SEARCH ALL", { tag: "a", name: "SEARCH", uid: false, criteria: { key: "all" } }],
  [
    "a UID SEARCH 1:* NOT DELETED",
    {
      tag: "a",
      name: "SEARCH",
      uid: true,
      criteria: {
        key: "and",
        keys: [
          { key: "seq", set: set(n(1, "*")) },
          { key: "not", operand: { key: "flag", flag: "\\Deleted", set: true } },
        ],
      },
    },
  ],
  [
    "a SEARCH RETURN () FLAGGED",
    {
      tag: "a",
      name: "SEARCH",
      uid: false,
      returns: [],
      criteria: { key: "flag", flag: "\\Flagged", set: true },
    },
  ],
  [
    "a UID SEARCH RETURN (SAVE MIN max) CHARSET utf-8 TEXT {4+}\r\nnäh",
    {
      tag: "a",
      name: "SEARCH",
      uid: true,
      returns: ["SAVE", "MIN", "MAX"],
      charset: "utf-8",
      criteria: { key: "text", value: "näh" },
    },
  ],
  ["a SEARCH RETURN (FOO) ALL", { bad: "SEARCH: unknown search return option FOO" }],
  ["a SEARCH", { bad: "SEARCH: expected a space before the search criteria" }],
  ["a SEARCH FOO", { bad: "SEARCH: unknown search key FOO" }],
  [
    "a SEARCH CHARSET X-UNKNOWN SUBJECT x",
    { bad: "SEARCH: unsupported charset X-UNKNOWN", status: "NO", code: "BADCHARSET (US-ASCII UTF-8)" },
  ],
  [
    // the UTF-8 octets of "é" read as ISO-8859-1: the charset is applied
    "a SEARCH CHARSET ISO-8859-1 SUBJECT {5+}\r\ncafé",
    {
      tag: "a",
      name: "SEARCH",
      uid: false,
      charset: "ISO-8859-1",
      criteria: { key: "header", field: "subject", value: "cafÃ©" },
    },
  ],
  [
    "a SORT (REVERSE DATE subject) UTF-8 ALL",
    {
      tag: "a",
      name: "SORT",
      uid: false,
      criteria: [
        { key: "DATE", reverse: true },
        { key: "SUBJECT", reverse: false },
      ],
      charset: "UTF-8",
      search: { key: "all" },
    },
  ],
  [
    "a UID SORT (ARRIVAL) US-ASCII UNSEEN SINCE 1-Jan-2024",
    {
      tag: "a",
      name: "SORT",
      uid: true,
      criteria: [{ key: "ARRIVAL", reverse: false }],
      charset: "US-ASCII",
      search: {
        key: "and",
        keys: [
          { key: "flag", flag: "\\Seen", set: false },
          { key: "date", of: "internal", op: "since", date: { year: 2024, month: 1, day: 1 } },
        ],
      },
    },
  ],
  ["a SORT () UTF-8 ALL", { bad: "SORT: empty the sort criteria" }],
  ["a SORT (REVERSE) UTF-8 ALL", { bad: "SORT: expected a space after REVERSE" }],
  ["a SORT (REVERSE REVERSE DATE) UTF-8 ALL", { bad: "SORT: unknown sort key REVERSE" }],
  ["a SORT (DATE) ALL", { bad: "SORT: expected a space after the charset" }],
  [
    "a THREAD REFERENCES UTF-8 ALL",
    {
      tag: "a",
      name: "THREAD",
      uid: false,
      algorithm: "REFERENCES",
      charset: "UTF-8",
      search: { key: "all" },
    },
  ],
  [
    'a UID THREAD orderedsubject "UTF-8" SINCE 5-MAR-2000',
    {
      tag: "a",
      name: "THREAD",
      uid: true,
      algorithm: "ORDEREDSUBJECT",
      charset: "UTF-8",
      search: { key: "date", of: "internal", op: "since", date: { year: 2000, month: 3, day: 5 } },
    },
  ],
  ["a THREAD REFERENCES UTF-8", { bad: "THREAD: expected a space after the charset" }],
]);

table("QUOTA", [
  ['a GETQUOTA ""', { tag: "a", name: "GETQUOTA", root: "" }],
  ["a GETQUOTAROOT INBOX", { tag: "a", name: "GETQUOTAROOT", mailbox: "INBOX" }],
  [
    'a SETQUOTA "" (STORAGE 512 message 1000)',
    {
      tag: "a",
      name: "SETQUOTA",
      root: "",
      limits: [
        { resource: "STORAGE", limit: 512 },
        { resource: "MESSAGE", limit: 1000 },
      ],
    },
  ],
  ['a SETQUOTA "" ()', { tag: "a", name: "SETQUOTA", root: "", limits: [] }],
  ['a SETQUOTA "" (STORAGE)', { bad: "SETQUOTA: expected a space after the resource name" }],
  ['a SETQUOTA "" (STORAGE 1 STORAGE 2)', { bad: "SETQUOTA: resource STORAGE given twice" }],
]);

describe("real client transcripts", () => {
  const transcripts: [string, string, string[]][] = [
    [
      "Thunderbird",
      [
        "1 capability",
        '2 ID ("name" "Thunderbird" "version" "115.3.1")',
        '3 login "alice@example.com" "secret"',
        '4 list (SPECIAL-USE) "" "*"',
        '5 lsub "" "*"',
        '6 select "INBOX" (CONDSTORE)',
        "7 UID fetch 1:* (FLAGS) (CHANGEDSINCE 1234)",
        "8 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
        "9 UID fetch 123 (UID RFC822.SIZE BODY.PEEK[])",
        "10 uid store 123 +Flags (\\Seen)",
        '11 UID MOVE 123 "Trash"',
        "12 IDLE",
        '13 STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)',
        '14 append "Sent" (\\Seen) {11}\r\nhello world',
        '15 getquotaroot "INBOX"',
        "16 namespace",
        "17 uid expunge 5:7",
      ].join("\r\n"),
      [
        "CAPABILITY",
        "ID",
        "LOGIN",
        "LIST",
        "LSUB",
        "SELECT",
        "FETCH",
        "FETCH",
        "FETCH",
        "STORE",
        "MOVE",
        "IDLE",
        "STATUS",
        "APPEND",
        "GETQUOTAROOT",
        "NAMESPACE",
        "EXPUNGE",
      ],
    ],
    [
      "Apple Mail",
      [
        "1.1 CAPABILITY",
        '2.1 ID ("name" "Mac OS X Mail" "version" "16.0 (3731.500.231)" "os" "macOS" "os-version" "13.4 (22F66)" "vendor" "Apple Inc.")',
        '3.1 LIST "" ""',
        "4.1 SELECT INBOX (CONDSTORE)",
        "5.1 UID FETCH 1:* (FLAGS UID) (CHANGEDSINCE 2)",
        "6.1 UID FETCH 34 (BODYSTRUCTURE BODY.PEEK[HEADER] INTERNALDATE RFC822.SIZE FLAGS)",
        "7.1 UID SEARCH 1:* NOT DELETED",
        "8.1 UID FETCH 1:100 (INTERNALDATE UID RFC822.SIZE FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (date subject from to cc message-id in-reply-to references content-type x-priority x-uniform-type-identifier x-universally-unique-identifier list-id list-unsubscribe bimi-indicator bimi-location x-bimi-indicator-hash authentication-results dkim-signature)])",
        "9.1 UID STORE 34 +FLAGS.SILENT (\\Seen)",
        "10.1 UID FETCH 34 (BODY.PEEK[1.2]<0.4096> BINARY.PEEK[2] BINARY.SIZE[2])",
      ].join("\r\n"),
      ["CAPABILITY", "ID", "LIST", "SELECT", "FETCH", "FETCH", "SEARCH", "FETCH", "STORE", "FETCH"],
    ],
    [
      "Outlook",
      [
        "hiln CAPABILITY",
        "hilo AUTHENTICATE XOAUTH2 dXNlcj1hbGljZUBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB0b2tlbgEB",
        'hilp LIST "" "*"',
        'hilq SELECT "INBOX"',
        "hilr UID FETCH 1:* (UID FLAGS)",
        "hils UID FETCH 5 (UID RFC822.SIZE BODY.PEEK[])",
        "hilt UID STORE 5 +FLAGS (\\Seen)",
        "hilu EXPUNGE",
        "hilv LOGOUT",
      ].join("\r\n"),
      ["CAPABILITY", "AUTHENTICATE", "LIST", "SELECT", "FETCH", "FETCH", "STORE", "EXPUNGE", "LOGOUT"],
    ],
    [
      "imapflow",
      [
        "1 CAPABILITY",
        '2 ID ("name" "imapflow" "version" "1.0.164" "vendor" "Postal Systems" "support-url" "https://github.com/postalsys/imapflow/issues")',
        "3 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==",
        "4 ENABLE CONDSTORE UTF8=ACCEPT",
        '5 LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED)',
        "6 SELECT INBOX (CONDSTORE)",
        "7 FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE)",
        "8 UID SEARCH RETURN (ALL) SINCE 1-Jan-2024",
        "9 APPEND INBOX (\\Seen) {5+}\r\nhello",
        "10 UID MOVE 1:2 Archive",
        "11 UID FETCH 1:* (UID FLAGS MODSEQ) (CHANGEDSINCE 5 VANISHED)",
      ].join("\r\n"),
      [
        "CAPABILITY",
        "ID",
        "AUTHENTICATE",
        "ENABLE",
        "LIST",
        "SELECT",
        "FETCH",
        "SEARCH",
        "APPEND",
        "MOVE",
        "FETCH",
      ],
    ],
    [
      "mbsync",
      [
        "1 CAPABILITY",
        "2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
        '3 LIST "" "*"',
        '4 SELECT "INBOX"',
        "5 UID FETCH 1:1000000000 (UID FLAGS)",
        "6 UID FETCH *:* (UID)",
        "7 UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])",
        '8 APPEND "INBOX" (\\Seen) {3+}\r\nabc',
        "9 UID STORE 4 +FLAGS.SILENT (\\Deleted)",
        "10 UID EXPUNGE 4",
        '11 CREATE "Archive"',
        "12 CLOSE",
      ].join("\r\n"),
      [
        "CAPABILITY",
        "AUTHENTICATE",
        "LIST",
        "SELECT",
        "FETCH",
        "FETCH",
        "FETCH",
        "APPEND",
        "STORE",
        "EXPUNGE",
        "CREATE",
        "CLOSE",
      ],
    ],
  ];
  for (const [client, text, names] of transcripts) {
    it(client, () => {
      const results = sameForEveryChunking(Buffer.from(`${text}\r\n`), (c) => parseAll(c));
      for (const r of results) assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(
        results.map((r) => r.ok && r.command.name),
        names,
      );
    });
  }
});

describe("parseLine / parseCommand", () => {
  it("parseLine parses a line without literals", () => {
    assert.deepEqual(parseLine("a NOOP"), { ok: true, command: { tag: "a", name: "NOOP" } });
  });
  it("an empty frame is an untagged BAD", () => {
    assert.deepEqual(parseLine(""), { ok: false, tag: null, status: "BAD", text: "Empty command line" });
  });
  it("NUL in a line", () => {
    const r = parseLine("a LOGIN a\0b c");
    assert.equal(r.ok, false);
  });
});
