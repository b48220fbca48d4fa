import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COMMAND_LINE_LIMIT, SASL_LINE_LIMIT } from "./extensions.js";
import { LineReader } from "./line-reader.js";
import { type Framed, frameLines, sameForEveryChunking } from "./testkit.js";

const line = (l: string): Framed => ({ kind: "line", line: l });
const BARE_LF: Framed = { kind: "bare-lf" };
const BARE_CR: Framed = { kind: "bare-cr" };
const TOO_LONG: Framed = { kind: "too-long" };

describe("LineReader", () => {
  const cases: [string, string, Framed[], string][] = [
    [
      "two commands",
      "EHLO a.example\r\nMAIL FROM:<>\r\n",
      [line("EHLO a.example"), line("MAIL FROM:<>")],
      "",
    ],
    ["empty line", "\r\n", [line("")], ""],
    ["unfinished line stays pending", "NOOP\r\nQUI", [line("NOOP")], "QUI"],
    ["CR at the end waits for LF", "NOOP\r", [], "NOOP\r"],
    ["bare LF ends at that LF, next line in sync", "NOOP\nRSET\r\n", [BARE_LF, line("RSET")], ""],
    ["lone LF", "\n", [BARE_LF], ""],
    ["bare CR inside a line", "NOOP\rRSET\r\n", [BARE_CR], ""],
    ["CR CR LF", "NOOP\r\r\n", [BARE_CR], ""],
    ["bare CR before a bare LF: first violation wins", "A\rB\nC\r\n", [BARE_CR, line("C")], ""],
    ["LF CR LF", "\n\r\n", [BARE_LF, line("")], ""],
    ["smuggled DATA end in a command line", "NOOP\n.\nRSET\r\n", [BARE_LF, BARE_LF, line("RSET")], ""],
    ["8-bit bytes pass through", "NOOP caf\xe9\r\n", [line("NOOP caf\xe9")], ""],
    ["NUL passes through (parser decides)", "NO\0OP\r\n", [line("NO\0OP")], ""],
  ];
  for (const [name, input, lines, pending] of cases) {
    it(name, () => {
      const got = sameForEveryChunking(input, (chunks) => frameLines(chunks));
      assert.deepEqual(got, { lines, after: null, pending });
    });
  }

  it("accepts exactly 512 octets including CRLF, rejects 513", () => {
    const ok = "x".repeat(COMMAND_LINE_LIMIT - 2);
    const input = `${ok}\r\n${ok}y\r\nNOOP\r\n`;
    const got = sameForEveryChunking(input, (chunks) => frameLines(chunks));
    assert.deepEqual(got.lines, [line(ok), TOO_LONG, line("NOOP")]);
  });

  it("reports an over-long line once, after discarding it up to its LF", () => {
    const input = `${"y".repeat(2000)}\r\nQUIT\r\n`;
    const got = sameForEveryChunking(input, (chunks) => frameLines(chunks));
    assert.deepEqual(got.lines, [TOO_LONG, line("QUIT")]);
  });

  it("an over-long line ending in a bare LF is still just too long", () => {
    const got = sameForEveryChunking(`${"y".repeat(600)}\nQUIT\r\n`, (chunks) => frameLines(chunks));
    assert.deepEqual(got.lines, [TOO_LONG, line("QUIT")]);
  });

  it("takes a per-call limit (SASL lines, RFC 4954 §4)", () => {
    const b64 = "QUFB".repeat(1000);
    const r = new LineReader();
    r.push(Buffer.from(`${b64}\r\n${b64}\r\n`));
    assert.deepEqual(r.next(SASL_LINE_LIMIT), { kind: "line", line: Buffer.from(b64) });
    assert.deepEqual(r.next(), { kind: "too-long" });
    assert.equal(r.next(), null);
  });

  it("a custom default limit", () => {
    const got = sameForEveryChunking("12345678\r\n123456\r\n", (chunks) => frameLines(chunks, { limit: 8 }));
    assert.deepEqual(got.lines, [TOO_LONG, line("123456")]);
  });

  it("never buffers more than the limit of an unterminated line", () => {
    const r = new LineReader();
    const piece = Buffer.alloc(65536, 0x41);
    for (let i = 0; i < 32; i++) {
      r.push(piece);
      assert.equal(r.next(), null);
      assert.ok(r.pending < COMMAND_LINE_LIMIT, `pending ${r.pending}`);
    }
    r.push(Buffer.from("\r\nNOOP\r\n"));
    assert.deepEqual(r.next(), { kind: "too-long" });
    assert.deepEqual(r.next(), { kind: "line", line: Buffer.from("NOOP") });
  });

  it("hands back the bytes after DATA (pipelining, RFC 2920)", () => {
    const input = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n";
    const got = sameForEveryChunking(input, (chunks) =>
      frameLines(chunks, { switchAfter: (l) => l === "DATA" }),
    );
    assert.deepEqual(got.lines, [
      line("MAIL FROM:<a@b.example>"),
      line("RCPT TO:<c@d.example>"),
      line("DATA"),
    ]);
    assert.equal(got.after, "Subject: x\r\n\r\nhi\r\n.\r\n");
  });

  it("hands back bytes pipelined after STARTTLS, for the session to discard (RFC 3207 §4.2)", () => {
    const input = "STARTTLS\r\nMAIL FROM:<evil@x.example>\r\n";
    const got = sameForEveryChunking(input, (chunks) =>
      frameLines(chunks, { switchAfter: (l) => l === "STARTTLS" }),
    );
    assert.deepEqual(got.lines, [line("STARTTLS")]);
    assert.equal(got.after, "MAIL FROM:<evil@x.example>\r\n");
  });

  it("takeRemainder empties the reader; an empty push is a no-op", () => {
    const r = new LineReader();
    r.push(Buffer.from("NOOP\r\nRSET\r\nQU"));
    r.push(Buffer.alloc(0));
    assert.deepEqual(r.next(), { kind: "line", line: Buffer.from("NOOP") });
    assert.equal(r.takeRemainder().toString(), "RSET\r\nQU");
    assert.equal(r.pending, 0);
    assert.equal(r.next(), null);
  });
});
