import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sameForEveryChunking } from "../../smtp/protocol/testkit.js";
import { parseCommand, parseLine } from "./parse-command.js";
import { ImapReceiver } from "./receiver.js";
import { decoderFor, MAX_SEARCH_DEPTH } from "./search.js";
import type { SearchKey } from "./types.js";

/** `a SEARCH <criteria>` through the receiver for every chunking: the criteria, or the error text. */
function criteria(text: string): SearchKey | string {
  return sameForEveryChunking(Buffer.from(`a SEARCH ${text}\r\n`), (chunks) => {
    const r = new ImapReceiver();
    let out: SearchKey | string = "none";
    for (const c of chunks) {
      r.push(c);
      for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
        if (e.kind !== "request") continue;
        const p = parseCommand(e);
        out = p.ok ? (p.command as { criteria: SearchKey }).criteria : p.text;
      }
    }
    return out;
  });
}

const flag = (f: string, set = true): SearchKey => ({ key: "flag", flag: f, set });
const header = (field: string, value: string): SearchKey => ({ key: "header", field, value });
const d = (year: number, month: number, day: number) => ({ year, month, day });

describe("search keys (RFC 9051 §6.4.4)", () => {
  const cases: [string, SearchKey | string][] = [
    ["ALL", { key: "all" }],
    ["ANSWERED", flag("\\Answered")],
    ["DELETED", flag("\\Deleted")],
    ["DRAFT", flag("\\Draft")],
    ["FLAGGED", flag("\\Flagged")],
    ["SEEN", flag("\\Seen")],
    ["RECENT", flag("\\Recent")],
    ["OLD", flag("\\Recent", false)],
    ["NEW", { key: "and", keys: [flag("\\Recent"), flag("\\Seen", false)] }],
    ["UNANSWERED", flag("\\Answered", false)],
    ["UNDELETED", flag("\\Deleted", false)],
    ["UNDRAFT", flag("\\Draft", false)],
    ["UNFLAGGED", flag("\\Flagged", false)],
    ["unseen", flag("\\Seen", false)],
    ["KEYWORD $Forwarded", flag("$Forwarded")],
    ["UNKEYWORD $Junk", flag("$Junk", false)],
    ["BCC bob", header("bcc", "bob")],
    ["CC {3}\r\nbob", header("cc", "bob")],
    ['FROM "Alice Smith"', header("from", "Alice Smith")],
    ["SUBJECT hello", header("subject", "hello")],
    ["TO carol@example.com", header("to", "carol@example.com")],
    ['HEADER Message-ID "<abc@example.com>"', header("message-id", "<abc@example.com>")],
    ['HEADER X-Spam ""', header("x-spam", "")],
    ["BODY lunch", { key: "body", value: "lunch" }],
    ['TEXT "grüße"', { key: "text", value: "grüße" }],
    ["BEFORE 1-Feb-2024", { key: "date", of: "internal", op: "before", date: d(2024, 2, 1) }],
    ['ON "29-feb-2024"', { key: "date", of: "internal", op: "on", date: d(2024, 2, 29) }],
    ["SINCE 01-Jan-1999", { key: "date", of: "internal", op: "since", date: d(1999, 1, 1) }],
    ["SENTBEFORE 1-Feb-2024", { key: "date", of: "sent", op: "before", date: d(2024, 2, 1) }],
    ["SENTON 1-Feb-2024", { key: "date", of: "sent", op: "on", date: d(2024, 2, 1) }],
    ["SENTSINCE 1-Feb-2024", { key: "date", of: "sent", op: "since", date: d(2024, 2, 1) }],
    ["LARGER 1024", { key: "size", op: "larger", size: 1024 }],
    ["SMALLER 99999999999", { key: "size", op: "smaller", size: 99999999999 }],
    [
      "UID 1:100,200",
      {
        key: "uid",
        set: {
          kind: "set",
          ranges: [
            { from: 1, to: 100 },
            { from: 200, to: 200 },
          ],
        },
      },
    ],
    ["UID $", { key: "uid", set: { kind: "saved" } }],
    ["$", { key: "seq", set: { kind: "saved" } }],
    ["2:4", { key: "seq", set: { kind: "set", ranges: [{ from: 2, to: 4 }] } }],
    ["*", { key: "seq", set: { kind: "set", ranges: [{ from: "*", to: "*" }] } }],
    ["MODSEQ 620162338", { key: "modseq", modSeq: 620162338 }],
    ["MODSEQ 0", { key: "modseq", modSeq: 0 }],
    [
      'MODSEQ "/flags/\\\\draft" all 620162338',
      { key: "modseq", modSeq: 620162338, entry: { flag: "\\Draft", type: "all" } },
    ],
    ['MODSEQ "/flags/$Junk" PRIV 5', { key: "modseq", modSeq: 5, entry: { flag: "$Junk", type: "priv" } }],
    ["OLDER 3600", { key: "older", seconds: 3600 }],
    ["YOUNGER 60", { key: "younger", seconds: 60 }],
    ["NOT SEEN", { key: "not", operand: flag("\\Seen") }],
    ["OR SEEN FLAGGED", { key: "or", left: flag("\\Seen"), right: flag("\\Flagged") }],
    ["(SEEN)", flag("\\Seen")],
    ["(SEEN FLAGGED)", { key: "and", keys: [flag("\\Seen"), flag("\\Flagged")] }],
    [
      "OR (FROM a TO b) NOT (OR 1:3 UID 7)",
      {
        key: "or",
        left: { key: "and", keys: [header("from", "a"), header("to", "b")] },
        right: {
          key: "not",
          operand: {
            key: "or",
            left: { key: "seq", set: { kind: "set", ranges: [{ from: 1, to: 3 }] } },
            right: { key: "uid", set: { kind: "set", ranges: [{ from: 7, to: 7 }] } },
          },
        },
      },
    ],
    [
      "OR OR OR FROM x TO x CC x SUBJECT x",
      {
        key: "or",
        left: {
          key: "or",
          left: { key: "or", left: header("from", "x"), right: header("to", "x") },
          right: header("cc", "x"),
        },
        right: header("subject", "x"),
      },
    ],
    // errors
    ["", "SEARCH: expected a search key"],
    ["FOO", "SEARCH: unknown search key FOO"],
    ["SEEN  FLAGGED", "SEARCH: expected a search key"],
    ["SEEN ", "SEARCH: expected a search key"],
    ["()", "SEARCH: empty the parenthesised search keys"],
    ["(SEEN", 'SEARCH: expected a space or ")" in the parenthesised search keys'],
    ["SEEN)", "SEARCH: expected a space between search keys"],
    ["FROM", "SEARCH: expected a space after FROM"],
    ["OR SEEN", "SEARCH: expected a space between the keys of OR"],
    ["NOT", "SEARCH: expected a space after NOT"],
    ["BEFORE 31-Feb-2024", "SEARCH: invalid date for BEFORE (expected e.g. 1-Feb-2024)"],
    ["BEFORE 1-Foo-2024", "SEARCH: invalid date for BEFORE (expected e.g. 1-Feb-2024)"],
    ["BEFORE 1-Feb-24", "SEARCH: invalid date for BEFORE (expected e.g. 1-Feb-2024)"],
    ["LARGER x", "SEARCH: expected a size"],
    ["LARGER 99999999999999999999", "SEARCH: a size out of range"],
    ["KEYWORD \\Seen", "SEARCH: expected a keyword"],
    ["HEADER Subj:ect x", "SEARCH: invalid header field name for HEADER"],
    ["HEADER Subject", "SEARCH: expected a space after the header field name"],
    ['MODSEQ "/foo/bar" all 1', 'SEARCH: MODSEQ entry name must be "/flags/<flag>"'],
    ['MODSEQ "/flags/\\\\seen" both 1', "SEARCH: MODSEQ entry type must be priv, shared or all"],
    ["OLDER 0", "SEARCH: an interval in seconds must not be 0"],
    ['"SEEN"', "SEARCH: expected a search key, not a string"],
    ["UID x", "SEARCH: UID set: invalid sequence set"],
  ];
  for (const [text, expected] of cases) {
    it(text.replace(/\r\n/g, "⏎") || "(empty)", () => assert.deepEqual(criteria(text), expected));
  }

  it(`nesting up to ${MAX_SEARCH_DEPTH} levels, refused beyond (no stack overflow)`, () => {
    // long inputs: parsed whole (the chunked framing is covered above)
    const search = (t: string) => {
      const p = parseLine(`a SEARCH ${t}`);
      return p.ok ? (p.command as { criteria: SearchKey }).criteria : p.text;
    };
    assert.equal(typeof search(`${"NOT ".repeat(MAX_SEARCH_DEPTH)}SEEN`), "object");
    const deep = `${"(".repeat(MAX_SEARCH_DEPTH + 5)}SEEN${")".repeat(MAX_SEARCH_DEPTH + 5)}`;
    assert.equal(search(deep), "SEARCH: search criteria nested too deeply");
    assert.equal(search(`${"NOT ".repeat(15000)}SEEN`), "SEARCH: search criteria nested too deeply");
    assert.equal(search(`${"OR SEEN ".repeat(15000)}SEEN`), "SEARCH: search criteria nested too deeply");
  });

  it("charsets: UTF-8 and US-ASCII always; others via TextDecoder; unknown → NO [BADCHARSET]", () => {
    assert.equal(decoderFor(undefined)(Buffer.from("é")), "é");
    assert.equal(decoderFor("us-ascii")(Buffer.from("abc")), "abc");
    assert.equal(decoderFor("ISO-8859-1")(Buffer.from([0xe9])), "é");
    assert.equal(decoderFor("KOI8-R")(Buffer.from([0xc1])), "а");
    assert.throws(() => decoderFor("x-klingon"), /unsupported charset/);
  });
});
