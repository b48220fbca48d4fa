import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ReplyParseError,
  ReplyParser,
  type ReplyParserOptions,
  parseReplies,
} from "../../src/smtp/client/reply-parser.js";
import type { ClientReply } from "../../src/smtp/client/types.js";
import { RUNS, cutAt, sameForEveryChunking } from "./chunks.js";

interface Outcome {
  replies: ClientReply[];
  error: string | null;
}

/** Feeds chunks like the connection does: push, then read replies until null or an error. */
function feed(chunks: Buffer[], opts?: ReplyParserOptions): Outcome {
  const p = new ReplyParser(opts);
  const replies: ClientReply[] = [];
  try {
    for (const c of chunks) {
      p.push(c);
      for (let r = p.next(); r; r = p.next()) replies.push(r);
    }
  } catch (e) {
    assert.ok(e instanceof ReplyParseError, `unexpected ${e}`);
    return { replies, error: e.message };
  }
  return { replies, error: null };
}

function run(input: string | Buffer, opts?: ReplyParserOptions): Outcome {
  return sameForEveryChunking(input, (chunks) => feed(chunks, opts));
}

const reply = (code: number, enhanced: string | null, lines: string[], text: string): ClientReply => ({
  code,
  enhanced,
  lines,
  text,
});

describe("ReplyParser", () => {
  it("parses a one-line reply with an enhanced code", () => {
    assert.deepEqual(run("250 2.1.0 Ok\r\n"), {
      replies: [reply(250, "2.1.0", ["Ok"], "250 2.1.0 Ok")],
      error: null,
    });
  });

  it("assembles a multi-line reply and strips the repeated enhanced code from every line", () => {
    const got = run(
      "550-5.1.1 The email account that you tried to reach does not exist.\r\n550-5.1.1 Please try\r\n550 5.1.1 double-checking.\r\n",
    );
    assert.equal(got.error, null);
    assert.deepEqual(got.replies, [
      reply(
        550,
        "5.1.1",
        ["The email account that you tried to reach does not exist.", "Please try", "double-checking."],
        "550-5.1.1 The email account that you tried to reach does not exist. / 550-5.1.1 Please try / 550 5.1.1 double-checking.",
      ),
    ]);
  });

  it("reads an EHLO reply and the next reply from one buffer (pipelining)", () => {
    const got = run("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n354 go ahead\r\n");
    assert.equal(got.error, null);
    assert.deepEqual(
      got.replies.map((r) => [r.code, r.enhanced, r.lines]),
      [
        [250, null, ["mx.example", "PIPELINING", "SIZE 1000"]],
        [354, null, ["go ahead"]],
      ],
    );
  });

  it('accepts a bare "250" and "250 " and a continuation with no text', () => {
    const got = run("250\r\n250 \r\n220-\r\n220 x\r\n");
    assert.deepEqual(
      got.replies.map((r) => [r.code, r.lines]),
      [
        [250, [""]],
        [250, [""]],
        [220, ["", "x"]],
      ],
    );
  });

  it("accepts a bare LF line end, dropping the CR only when it is right before the LF", () => {
    const got = run("250-a\n250 b\r\n");
    assert.deepEqual(got.replies[0]!.lines, ["a", "b"]);
    assert.deepEqual(run("250 a\rb\n").replies[0]!.lines, ["a\rb"]);
  });

  it("extracts an enhanced code only when its class matches the reply (RFC 2034 §4) and it is a code", () => {
    assert.equal(run("550 4.1.1 mismatch\r\n").replies[0]!.enhanced, null);
    assert.deepEqual(run("550 4.1.1 mismatch\r\n").replies[0]!.lines, ["4.1.1 mismatch"]);
    assert.equal(run("250 2.0.0\r\n").replies[0]!.enhanced, "2.0.0");
    assert.deepEqual(run("250 2.0.0\r\n").replies[0]!.lines, [""]);
    assert.equal(run("250 2.0.0queued\r\n").replies[0]!.enhanced, null);
    assert.equal(run("250 2.0 ok\r\n").replies[0]!.enhanced, null);
    assert.equal(run("450 4.7.1234 x\r\n").replies[0]!.enhanced, null);
    assert.equal(run("354 End data with <CR><LF>.<CR><LF>\r\n").replies[0]!.enhanced, null);
    // only lines that repeat the first line's code lose it
    assert.deepEqual(run("250-2.0.0 a\r\n250 2.1.0 b\r\n").replies[0]!.lines, ["a", "2.1.0 b"]);
  });

  it("decodes UTF-8 text (RFC 6531 servers)", () => {
    assert.deepEqual(run("250 2.0.0 Grüße\r\n").replies[0]!.lines, ["Grüße"]);
  });

  const garbage: Array<[string, string, RegExp]> = [
    ["no code", "hello\r\n", /not an SMTP reply line/],
    ["short code", "25\r\n", /not an SMTP reply line/],
    ["four digits", "2500 x\r\n", /not an SMTP reply line/],
    ["no separator", "250x\r\n", /not an SMTP reply line/],
    ["first digit 6", "600 x\r\n", /not an SMTP reply line/],
    ["first digit 1", "199 x\r\n", /not an SMTP reply line/],
    ["second digit 6", "260 x\r\n", /not an SMTP reply line/],
    ["empty line", "\r\n", /not an SMTP reply line/],
    ["HTML", "<html>\r\n", /not an SMTP reply line/],
    ["NUL", "250 a\0b\r\n", /NUL/],
    ["code changes mid-reply", "250-a\r\n251 b\r\n", /reply code changed/],
  ];
  for (const [name, input, message] of garbage) {
    it(`fails on garbage: ${name}`, () => {
      const got = run(input);
      assert.deepEqual(got.replies, []);
      assert.match(got.error ?? "", message);
    });
  }

  it("returns the replies before the garbage, then fails, and keeps failing", () => {
    const got = run("250 ok\r\nSSH-2.0-OpenSSH\r\n250 never\r\n");
    assert.equal(got.replies.length, 1);
    assert.match(got.error!, /not an SMTP reply line/);
    const p = new ReplyParser();
    p.push(Buffer.from("junk\r\n"));
    assert.throws(() => p.next(), ReplyParseError);
    p.push(Buffer.from("250 ok\r\n"));
    assert.throws(() => p.next(), ReplyParseError);
  });

  it("tolerates lines over 512 octets up to the limit, and fails beyond it without waiting for LF", () => {
    const long = `250 ${"x".repeat(2000)}\r\n`;
    assert.equal(run(long).replies[0]!.lines[0]!.length, 2000);
    const limit = 64;
    const exact = `250 ${"x".repeat(limit - 6)}\r\n`; // 64 octets with CRLF
    assert.equal(feed([Buffer.from(exact)], { maxLineLength: limit }).error, null);
    const over = `250 ${"x".repeat(limit - 5)}\r\n`;
    assert.match(run(over, { maxLineLength: limit }).error!, /too long/);
    // No LF ever comes: the parser gives up once the partial line reaches the limit.
    const p = new ReplyParser({ maxLineLength: limit });
    p.push(Buffer.from("250 ".padEnd(limit - 1, "y")));
    assert.equal(p.next(), null);
    p.push(Buffer.from("y"));
    assert.throws(() => p.next(), /too long/);
  });

  it("limits the number of lines in one reply", () => {
    const lines = (n: number) => `${"250-x\r\n".repeat(n - 1)}250 end\r\n`;
    assert.equal(run(lines(5), { maxLines: 5 }).error, null);
    assert.match(run(lines(6), { maxLines: 5 }).error!, /more than 5 lines/);
    // default: 100
    assert.equal(feed([Buffer.from(lines(100))]).error, null);
    assert.match(feed([Buffer.from(lines(101))]).error!, /more than 100 lines/);
  });

  it("reports what is buffered and forgets it on reset (STARTTLS)", () => {
    const p = new ReplyParser();
    p.push(Buffer.from("220 go ahead\r\n250-inj"));
    assert.equal(p.next()?.code, 220);
    assert.equal(p.buffered, 7);
    p.reset();
    assert.equal(p.buffered, 0);
    p.push(Buffer.from("250 clean\r\n"));
    assert.deepEqual(p.next()?.lines, ["clean"]);
  });

  it("parseReplies refuses an incomplete tail", () => {
    assert.equal(parseReplies("250 a\r\n354 b\r\n").length, 2);
    assert.throws(() => parseReplies("250 a\r\n250-b\r\n"), /incomplete/);
  });
});

// Text that cannot be mistaken for anything else on a line: printable ASCII and some UTF-8.
const text = fc.stringMatching(/^[ -~äöüß€]{0,40}$/);
const codeArb = fc.tuple(
  fc.integer({ min: 2, max: 5 }),
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: 0, max: 9 }),
);
const replyArb = fc
  .record({
    code: codeArb.map(([a, b, c]) => a * 100 + b * 10 + c),
    enhanced: fc.option(fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }))),
    lines: fc.array(text, { minLength: 1, maxLength: 6 }),
    lf: fc.boolean(),
  })
  .map(({ code, enhanced, lines, lf }) => {
    const cls = Math.floor(code / 100);
    // An enhanced code is only one when its class can be one (2, 4, 5) and matches.
    const enh = enhanced && cls !== 3 ? `${cls}.${enhanced[0]}.${enhanced[1]}` : null;
    // Text that itself starts like an enhanced code would be ambiguous without one: prefix it.
    const safe = lines.map((l) => (enh === null && /^\d/.test(l) ? `x${l}` : l));
    const raw = safe.map((l, i) => {
      const body = enh === null ? l : l === "" ? enh : `${enh} ${l}`;
      return `${code}${i === safe.length - 1 ? " " : "-"}${body}`;
    });
    const wire = raw.map((r) => r + (lf ? "\n" : "\r\n")).join("");
    const expected: ClientReply = { code, enhanced: enh, lines: safe, text: raw.join(" / ") };
    return { wire, expected };
  });

describe("ReplyParser properties", () => {
  it("parses serialised replies back, however the bytes are cut", () => {
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(2000)), (rs, cuts) => {
        const input = Buffer.from(rs.map((r) => r.wire).join(""), "utf8");
        const got = feed(cutAt(input, cuts));
        assert.deepStrictEqual(got, { replies: rs.map((r) => r.expected), error: null });
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("on arbitrary bytes gives the same replies and error for any cutting, and never throws anything else", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // mostly reply-shaped, so the interesting paths are reached
      fc
        .array(
          fc.constantFrom("250", "250-", "250 ", "354 ", "2.0.0 ", "x", "\r", "\n", "\r\n", "5", "\0", "ü"),
          {
            maxLength: 60,
          },
        )
        .map((parts) => Buffer.from(parts.join(""), "utf8")),
    );
    fc.assert(
      fc.property(
        bytes,
        fc.array(fc.nat(220)),
        fc.integer({ min: 8, max: 64 }),
        (input, cuts, maxLineLength) => {
          const buf = Buffer.from(input);
          const whole = feed([buf], { maxLineLength, maxLines: 4 });
          assert.deepStrictEqual(feed(cutAt(buf, cuts), { maxLineLength, maxLines: 4 }), whole);
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });
});
