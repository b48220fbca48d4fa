import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataReceiver, type DataVerdict, dataVerdictReply } from "./data-receiver.js";
import { REPLIES } from "./reply.js";
import { type Received, receiveData, sameForEveryChunking } from "./testkit.js";

const latin1 = (s: string) => Buffer.from(s, "latin1");

function run(input: string, maxSize?: number): Received {
  return sameForEveryChunking(input, (chunks) =>
    receiveData(chunks, maxSize === undefined ? {} : { maxSize }),
  );
}

function verdict(v: Partial<DataVerdict> & { size: number; received: number }): DataVerdict {
  return {
    tooBig: false,
    bareLf: null,
    bareCr: null,
    maxLineLength: 0,
    longLines: false,
    eightBit: false,
    ...v,
  };
}

describe("DataReceiver", () => {
  it("streams a message and returns what follows the terminator", () => {
    const got = run("Subject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n");
    assert.equal(got.done, true);
    assert.equal(got.content.toString(), "Subject: hi\r\n\r\nHello\r\n");
    assert.deepEqual(got.verdict, verdict({ size: 22, received: 25, maxLineLength: 13 }));
    assert.equal(got.remainder.toString(), "QUIT\r\n");
  });

  it('ends at once on "." CRLF right after DATA: the DATA line\'s CRLF is the first CRLF (§4.1.1.4)', () => {
    const got = run(".\r\nMAIL FROM:<e@x.example>\r\n\r\n.\r\nQUIT\r\n");
    assert.equal(got.done, true);
    assert.equal(got.content.length, 0);
    assert.deepEqual(got.verdict, verdict({ size: 0, received: 3 }));
    assert.equal(got.remainder.toString(), "MAIL FROM:<e@x.example>\r\n\r\n.\r\nQUIT\r\n");
  });

  it("un-stuffs dots only at line starts (§4.5.2)", () => {
    const got = run("..leading\r\nmid.dle\r\n...\r\n. \r\n.\r\n");
    assert.equal(got.content.toString(), ".leading\r\nmid.dle\r\n..\r\n \r\n");
    assert.equal(got.verdict?.size, got.content.length);
  });

  it("is not done without the terminator", () => {
    const got = run("Subject: x\r\n\r\nbody\r\n.\r");
    assert.equal(got.done, false);
    assert.equal(got.content.toString(), "Subject: x\r\n\r\nbody\r\n");
  });

  // SMTP smuggling (CVE-2023-51764 and friends): only CRLF "." CRLF ends the data. Each of these
  // sequences is followed by a smuggled command, then the real end.
  const P = "Subject: x\r\n\r\nhello"; // 19 octets
  const TAIL = "MAIL FROM:<e@x.example>\r\n.\r\nQUIT\r\n";
  const SMUGGLED = "MAIL FROM:<e@x.example>\r\n";
  const smuggling: [string, string, string, Partial<DataVerdict>][] = [
    ["LF . LF", `${P}\n.\n`, `${P}\n.\n${SMUGGLED}`, { bareLf: 19 }],
    ["CR . CR", `${P}\r.\r`, `${P}\r.\r${SMUGGLED}`, { bareCr: 19 }],
    ["CRLF . LF", `${P}\r\n.\n`, `${P}\r\n\n${SMUGGLED}`, { bareLf: 22 }],
    ["LF . CRLF", `${P}\n.\r\n`, `${P}\n.\r\n${SMUGGLED}`, { bareLf: 19 }],
    ["CRLF . CR", `${P}\r\n.\r`, `${P}\r\n\r${SMUGGLED}`, { bareCr: 22 }],
    ["CRLF . CR CR LF", `${P}\r\n.\r\r\n`, `${P}\r\n\r\r\n${SMUGGLED}`, { bareCr: 22 }],
    ["LF . LF at the start of the data", "\n.\n", `\n.\n${SMUGGLED}`, { bareLf: 0 }],
    [". LF at the start of the data", ".\n", `\n${SMUGGLED}`, { bareLf: 1 }],
    [". CR at the start of the data", ".\r", `\r${SMUGGLED}`, { bareCr: 1 }],
  ];
  for (const [name, head, content, flags] of smuggling) {
    it(`does not end at ${name}; flags it; ends at the real CRLF.CRLF`, () => {
      const input = head + TAIL;
      const got = run(input);
      assert.equal(got.done, true);
      assert.equal(got.content.toString("latin1"), content);
      assert.equal(got.remainder.toString(), "QUIT\r\n");
      const v = got.verdict!;
      assert.deepEqual(
        { bareLf: v.bareLf, bareCr: v.bareCr, size: v.size, received: v.received },
        { bareLf: null, bareCr: null, ...flags, size: content.length, received: input.length - 6 },
      );
      assert.deepEqual(dataVerdictReply(v), REPLIES.bareNewlineData);
    });
  }

  it("records only the first bare LF and the first bare CR", () => {
    const v = run("a\nb\nc\rd\re\r\n.\r\n").verdict!;
    assert.equal(v.bareLf, 1);
    assert.equal(v.bareCr, 5);
  });

  it("size limit: content stops at the limit, the rest is drained, verdict too-big (552 5.3.4)", () => {
    const body = "0123456789\r\n".repeat(3); // 36 octets
    const got = run(`${body}.\r\nQUIT\r\n`, 20);
    assert.equal(got.content.toString(), body.slice(0, 20));
    assert.equal(got.verdict?.size, 36);
    assert.equal(got.verdict?.tooBig, true);
    assert.equal(got.remainder.toString(), "QUIT\r\n");
    assert.deepEqual(dataVerdictReply(got.verdict!), REPLIES.sizeExceeded);
  });

  it("size limit counts un-stuffed octets; exactly at the limit is fine", () => {
    const got = run("..ab\r\n.\r\n", 5); // content ".ab\r\n" = 5
    assert.equal(got.content.toString(), ".ab\r\n");
    assert.equal(got.verdict?.tooBig, false);
    assert.equal(dataVerdictReply(got.verdict!), null);
  });

  it("bare newline outranks size in the reply", () => {
    const got = run("aaaa\nbbbb\r\n.\r\n", 3);
    assert.deepEqual(dataVerdictReply(got.verdict!), REPLIES.bareNewlineData);
  });

  it("flags lines over 1000 octets incl. CRLF (§4.5.3.1.6) without rejecting; a stuffing dot does not count", () => {
    const ok = `.${".".repeat(998)}\r\n`; // stuffed line: 998 dots + CRLF = 1000
    const long = `${"x".repeat(999)}\r\n`; // 1001
    const a = run(`${ok}.\r\n`).verdict!;
    assert.equal(a.maxLineLength, 1000);
    assert.equal(a.longLines, false);
    const b = run(`${ok}${long}.\r\n`).verdict!;
    assert.equal(b.maxLineLength, 1001);
    assert.equal(b.longLines, true);
    assert.equal(dataVerdictReply(b), null);
  });

  it("records 8-bit content, but not 8-bit bytes after the terminator", () => {
    assert.equal(run("caf\xe9\r\n.\r\n").verdict?.eightBit, true);
    assert.equal(run("cafe\r\n.\r\ncaf\xe9").verdict?.eightBit, false);
    assert.equal(run("cafe\r\n..\xe9\r\n.\r\n").verdict?.eightBit, true);
  });

  it("after the end, further pushes come back whole as remainder", () => {
    const r = new DataReceiver();
    const first = r.push(latin1("x\r\n.\r\n"));
    assert.equal(first.done, true);
    const again = r.push(latin1("NOOP\r\n"));
    assert.equal(again.done && again.remainder.toString(), "NOOP\r\n");
    assert.equal(r.done, true);
  });

  it("passes content on as views of the input, without copying", () => {
    const input = latin1("line one\r\nline two\r\n.\r\n");
    const res = new DataReceiver().push(input);
    assert.equal(res.chunks.length, 1);
    assert.equal(res.chunks[0]!.buffer, input.buffer);
  });

  it("handles a large message pushed in socket-sized pieces", () => {
    const line = `${"abcdefghij".repeat(7)}\r\n`;
    const body = Buffer.from(`..${line}`.repeat(20000)); // ~1.4 MB, every line stuffed
    const input = Buffer.concat([body, Buffer.from(".\r\n")]);
    const r = new DataReceiver();
    let size = 0;
    for (let i = 0; i < input.length; i += 65536) {
      const res = r.push(input.subarray(i, i + 65536));
      for (const c of res.chunks) size += c.length;
      if (res.done) assert.equal(res.verdict.size, size);
    }
    assert.equal(size, body.length - 20000);
  });
});
