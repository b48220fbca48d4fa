// Response encoding: strings, atoms, mailbox names, codes, status lines, date-time and the
// streaming FETCH writer (framing and back-pressure with a slow sink).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import {
  astring,
  atom,
  type ByteSink,
  bye,
  Code,
  continuation,
  dateTime,
  FetchFramingError,
  FetchResponseWriter,
  flagList,
  isAtom,
  listLine,
  literal,
  mailboxName,
  modseqValue,
  nstring,
  quoted,
  sequenceSet,
  string,
  taggedBad,
  taggedNo,
  taggedOk,
  untagged,
  untaggedOk,
  withOrigin,
} from "./compose.js";

/** A sink that keeps everything (small responses). */
function memorySink(): ByteSink & { text(): string; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return {
    chunks,
    write(b: Buffer) {
      chunks.push(Buffer.from(b)); // copy: the writer may hand out views
    },
    text: () => Buffer.concat(chunks).toString("latin1"),
  };
}

describe("strings", () => {
  const cases: [string, string, boolean | undefined, string][] = [
    ["plain", "hello", undefined, '"hello"'],
    ["empty", "", undefined, '""'],
    ["quote", 'say "hi"', undefined, '"say \\"hi\\""'],
    ["backslash", "a\\b", undefined, '"a\\\\b"'],
    ["both", '\\"', undefined, '"\\\\\\""'],
    ["tab and controls stay quoted", "a\tb\x01", undefined, '"a\tb\x01"'],
    ["CR → literal", "a\rb", undefined, "{3}\r\na\rb"],
    ["LF → literal", "a\nb", undefined, "{3}\r\na\nb"],
    ["CRLF → literal", "line\r\n", undefined, "{6}\r\nline\r\n"],
    ["8-bit → literal, octets counted", "café", undefined, "{5}\r\ncafé"],
    ["8-bit quoted for UTF-8 sessions", "café", true, '"café"'],
    ["astral counted in octets", "😀", undefined, "{4}\r\n😀"],
    ["CR stays a literal with UTF-8", "a\rb", true, "{3}\r\na\rb"],
    ["NUL becomes U+FFFD", "a\0b", undefined, "{5}\r\na\ufffdb"],
  ];
  for (const [name, input, utf8, want] of cases) {
    it(name, () => assert.equal(string(input, { utf8: utf8 === true }), want));
  }

  it("long values become literals", () => {
    const s = "x".repeat(5000);
    assert.equal(string(s), `{5000}\r\n${s}`);
    assert.equal(string("x".repeat(4096)), `"${"x".repeat(4096)}"`);
  });

  it("quoted and literal helpers", () => {
    assert.equal(quoted('a"b'), '"a\\"b"');
    assert.equal(literal("ü"), "{2}\r\nü");
  });

  it("nstring", () => {
    assert.equal(nstring(null), "NIL");
    assert.equal(nstring(undefined), "NIL");
    assert.equal(nstring(""), '""');
    assert.equal(nstring("NIL"), '"NIL"');
  });

  it("astring uses atoms where it can", () => {
    assert.equal(astring("INBOX"), "INBOX");
    assert.equal(astring("Sent]"), "Sent]"); // resp-specials are ASTRING-CHARs
    assert.equal(astring("a b"), '"a b"');
    assert.equal(astring(""), '""');
    assert.equal(astring("a*"), '"a*"');
    assert.equal(astring("a%"), '"a%"');
    assert.equal(astring("(x)"), '"(x)"');
    assert.equal(astring("{3}"), '"{3}"');
    assert.equal(astring("nil"), '"nil"');
    assert.equal(astring("NILS"), "NILS");
    assert.equal(astring("\x7f"), '"\x7f"');
  });

  it("atoms", () => {
    assert.equal(isAtom("FLAGS"), true);
    assert.equal(isAtom("a]"), false);
    assert.equal(isAtom(""), false);
    assert.equal(atom("$Forwarded"), "$Forwarded");
    assert.throws(() => atom("a b"), RangeError);
  });

  it("lists and flags", () => {
    assert.equal(flagList([]), "()");
    assert.equal(flagList(["\\Seen", "\\Answered", "$Junk"]), "(\\Seen \\Answered $Junk)");
  });
});

describe("mailbox names", () => {
  it("INBOX in any case is INBOX", () => {
    assert.equal(mailboxName("inbox"), "INBOX");
    assert.equal(mailboxName("InBoX", { utf8: true }), "INBOX");
  });
  it("modified UTF-7 for rev1, UTF-8 for UTF-8 sessions", () => {
    assert.equal(mailboxName("Entwürfe"), "Entw&APw-rfe");
    assert.equal(mailboxName("Entwürfe", { utf8: true }), '"Entwürfe"');
    assert.equal(mailboxName("A&B"), "A&-B");
    assert.equal(mailboxName("Sent Items"), '"Sent Items"');
    assert.equal(mailboxName("Archive/2024"), "Archive/2024");
    assert.equal(mailboxName("日本語", {}), "&ZeVnLIqe-");
  });
  it("LIST lines", () => {
    assert.equal(listLine(["\\HasNoChildren"], "/", "INBOX"), '* LIST (\\HasNoChildren) "/" INBOX\r\n');
    assert.equal(
      listLine(["\\Sent"], "/", "Gesendete Elemente"),
      '* LIST (\\Sent) "/" "Gesendete Elemente"\r\n',
    );
    assert.equal(listLine(["\\Noselect"], null, ""), '* LIST (\\Noselect) NIL ""\r\n');
    assert.equal(listLine([], "/", "Foo", { verb: "LSUB" }), '* LSUB () "/" Foo\r\n');
  });
});

describe("sets, codes and status lines", () => {
  it("sequence sets keep order and merge ascending runs", () => {
    assert.equal(sequenceSet([]), "");
    assert.equal(sequenceSet([1]), "1");
    assert.equal(sequenceSet([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
    assert.equal(sequenceSet([5, 4, 3]), "5,4,3");
    assert.equal(sequenceSet([3, 4, 1, 2]), "3:4,1:2");
  });

  it("response codes", () => {
    assert.equal(Code.uidNext(5), "UIDNEXT 5");
    assert.equal(Code.uidValidity(3857529045), "UIDVALIDITY 3857529045");
    assert.equal(Code.highestModseq(90060115205545359n), "HIGHESTMODSEQ 90060115205545359");
    assert.equal(Code.copyUid(38505, "304,319:320", "3956:3958"), "COPYUID 38505 304,319:320 3956:3958");
    assert.equal(Code.appendUid(38505, "3955"), "APPENDUID 38505 3955");
    assert.equal(Code.simple("TOOBIG"), "TOOBIG");
    assert.equal(
      Code.permanentFlags(["\\Deleted", "\\Seen", "\\*"]),
      "PERMANENTFLAGS (\\Deleted \\Seen \\*)",
    );
    assert.equal(Code.capability(["IMAP4rev2", "IDLE"]), "CAPABILITY IMAP4rev2 IDLE");
    assert.equal(Code.badCharset(), "BADCHARSET");
    assert.equal(Code.badCharset(["UTF-8", "US-ASCII"]), "BADCHARSET (UTF-8 US-ASCII)");
    assert.equal(Code.modified("7,9"), "MODIFIED 7,9");
    assert.equal(Code.other("X-FOO", "a]b"), "X-FOO a b");
    assert.equal(Code.other("X-BAR"), "X-BAR");
  });

  it("tagged and untagged lines", () => {
    assert.equal(taggedOk("a1", "SELECT completed", "READ-WRITE"), "a1 OK [READ-WRITE] SELECT completed\r\n");
    assert.equal(
      taggedNo("a2", "No such mailbox", Code.simple("NONEXISTENT")),
      "a2 NO [NONEXISTENT] No such mailbox\r\n",
    );
    assert.equal(taggedBad("a3", "bad\r\nline"), "a3 BAD bad  line\r\n");
    assert.equal(taggedOk("a4", ""), "a4 OK done\r\n");
    assert.equal(untagged("18 EXISTS"), "* 18 EXISTS\r\n");
    assert.equal(
      untaggedOk("UIDs valid", Code.uidValidity(3857529045)),
      "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
    );
    assert.equal(bye("shutting down"), "* BYE shutting down\r\n");
    assert.equal(continuation(), "+ \r\n");
    assert.equal(continuation("Ready"), "+ Ready\r\n");
  });
});

describe("date-time", () => {
  it("RFC 9051 example", () => {
    assert.equal(dateTime(new Date("1996-07-17T09:44:25Z"), -420), '"17-Jul-1996 02:44:25 -0700"');
  });
  it("day padded with a space, zones east and west, half hours", () => {
    assert.equal(dateTime(new Date("2024-01-05T00:00:00Z"), 0), '" 5-Jan-2024 00:00:00 +0000"');
    assert.equal(dateTime(new Date("2024-01-05T00:00:00Z"), 330), '" 5-Jan-2024 05:30:00 +0530"');
    assert.equal(dateTime(new Date("2024-01-01T02:00:00Z"), -180), '"31-Dec-2023 23:00:00 -0300"');
  });
  it("defaults to the local zone", () => {
    const d = new Date("2024-06-01T12:00:00Z");
    assert.equal(dateTime(d), dateTime(d, -d.getTimezoneOffset()));
  });
});

describe("FetchResponseWriter", () => {
  it("writes the RFC 9051 §8 FETCH FULL example", async () => {
    const sink = memorySink();
    const w = new FetchResponseWriter(sink, 12);
    w.item("FLAGS", flagList(["\\Seen"]))
      .item("INTERNALDATE", dateTime(new Date("1996-07-17T09:44:25Z"), -420))
      .item("RFC822.SIZE", "4286")
      .item("BODY", '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)');
    await w.end();
    assert.equal(
      sink.text(),
      '* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286 ' +
        'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n',
    );
  });

  it("streams literals between items", async () => {
    const sink = memorySink();
    const w = new FetchResponseWriter(sink, 3);
    w.item("UID", "7");
    await w.literalStream("BODY[1]", 11, [Buffer.from("hello "), Buffer.from("world")]);
    w.item("MODSEQ", modseqValue(12n));
    w.bytes(withOrigin("BODY[HEADER.FIELDS (FROM)]", 0), Buffer.from("From: a\r\n\r\n"));
    await w.literalStream("BINARY[2]", 3, [Uint8Array.of(0, 1, 2)], { literal8: true });
    await w.literalStream("BODY[9]", 0, []);
    await w.end();
    assert.equal(
      sink.text(),
      "* 3 FETCH (UID 7 BODY[1] {11}\r\nhello world MODSEQ (12) BODY[HEADER.FIELDS (FROM)]<0> {11}\r\n" +
        'From: a\r\n\r\n BINARY[2] ~{3}\r\n\x00\x01\x02 BODY[9] "")\r\n',
    );
  });

  it("cuts a source that gives too much, and releases it", async () => {
    const sink = memorySink();
    let released = false;
    function* src() {
      try {
        yield Buffer.from("abc");
        yield Buffer.from("defgh");
        yield Buffer.from("never");
      } finally {
        released = true;
      }
    }
    const w = new FetchResponseWriter(sink, 1);
    await w.literalStream("BODY[]", 5, src());
    await w.end();
    assert.equal(sink.text(), "* 1 FETCH (BODY[] {5}\r\nabcde)\r\n");
    assert.equal(released, true);
  });

  it("fails when the source gives too little (the connection must close)", async () => {
    const sink = memorySink();
    const w = new FetchResponseWriter(sink, 1);
    await assert.rejects(w.literalStream("BODY[]", 10, [Buffer.from("abc")]), (e: unknown) => {
      assert.ok(e instanceof FetchFramingError);
      assert.equal(e.expected, 10);
      assert.equal(e.actual, 3);
      return true;
    });
  });

  it("NUL cannot travel in a {n} literal: it becomes 0x80, the size stays", async () => {
    const sink = memorySink();
    const w = new FetchResponseWriter(sink, 1);
    w.bytes("BODY[1]", Uint8Array.of(0x61, 0, 0x62));
    const src = Buffer.from([0, 0x63, 0]);
    await w.literalStream("BODY[2]", 3, [src]);
    await w.literalStream("BINARY[2]", 3, [src], { literal8: true });
    await w.end();
    assert.equal(
      sink.text(),
      "* 1 FETCH (BODY[1] {3}\r\na\x80b BODY[2] {3}\r\n\x80c\x80 BINARY[2] ~{3}\r\n\x00c\x00)\r\n",
    );
    assert.deepEqual(src, Buffer.from([0, 0x63, 0])); // the source buffer is not modified
  });

  it("refuses items after end()", async () => {
    const w = new FetchResponseWriter(memorySink(), 1);
    await w.end();
    assert.throws(() => w.item("UID", "1"));
  });

  it("pipes 10 MB through a slow sink with bounded memory and exact framing", async () => {
    const SIZE = 10 * 1024 * 1024;
    const CHUNK = 64 * 1024;
    let produced = 0;
    let offset = 0;
    const expectHash = createHash("sha256");
    const source = new Readable({
      highWaterMark: CHUNK,
      read() {
        if (offset >= SIZE) {
          this.push(null);
          return;
        }
        const n = Math.min(CHUNK, SIZE - offset);
        const chunk = Buffer.alloc(n, (offset / CHUNK) % 251);
        expectHash.update(chunk);
        offset += n;
        produced += n;
        this.push(chunk);
      },
    });

    // the sink keeps only a hash, the first and last bytes, and waits a tick on every write
    // live memory, sampled after a forced collection every 16 writes
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    gc();
    const startMem = process.memoryUsage().arrayBuffers;
    let peakMem = startMem;
    let writes = 0;
    const gotHash = createHash("sha256");
    let head = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let total = 0;
    let bodySeen = 0;
    let maxInFlight = 0;
    const headLine = "* 1 FETCH (UID 9 BODY[1] {10485760}\r\n";
    const sink: ByteSink = {
      async write(b: Buffer) {
        if (head.length < 64) head = Buffer.concat([head, b.subarray(0, 64)]);
        tail = Buffer.concat([tail, b.subarray(-64)]).subarray(-64);
        total += b.length;
        const before = Math.max(0, Math.min(SIZE, total - headLine.length));
        bodySeen = before;
        maxInFlight = Math.max(maxInFlight, produced - bodySeen);
        if (++writes % 16 === 0) {
          // backing stores are released by a sweeper after the collection: give it a turn
          gc();
          await new Promise((r) => setImmediate(r));
          gc();
          peakMem = Math.max(peakMem, process.memoryUsage().arrayBuffers);
        }
        await new Promise((r) => setImmediate(r));
      },
    };
    const w = new FetchResponseWriter(sink, 1);
    w.item("UID", "9");
    // the body goes through the hash check separately from the framing
    const tee = async function* () {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        gotHash.update(chunk);
        yield chunk;
      }
    };
    await w.literalStream("BODY[1]", SIZE, tee());
    await w.end();

    assert.equal(head.subarray(0, headLine.length).toString("latin1"), headLine);
    assert.equal(tail.subarray(-3).toString("latin1"), ")\r\n");
    assert.equal(total, headLine.length + SIZE + 3);
    assert.equal(gotHash.digest("hex"), expectHash.digest("hex"));
    // back-pressure: the source is never more than a few chunks ahead of the sink
    assert.ok(maxInFlight <= 4 * CHUNK, `source ran ${maxInFlight} bytes ahead`);
    assert.ok(peakMem - startMem < 2 * 1024 * 1024, `live buffers grew by ${peakMem - startMem}`);
  });
});
