import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { chunkings, cutAt } from "../../smtp/protocol/testkit.js";
import { COMMAND_LINE_LIMIT, LineFramer, SASL_LINE_LIMIT } from "./line-framer.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

type Framed = string | "<too-long>";

/** Feeds the chunks like a session does and returns the lines (latin1) and what is left pending. */
function frame(chunks: readonly Buffer[], limit?: number): { lines: Framed[]; pending: number } {
  const f = new LineFramer(limit);
  const lines: Framed[] = [];
  for (const c of chunks) {
    f.push(c);
    for (let r = f.next(); r !== null; r = f.next()) {
      lines.push(r.kind === "line" ? r.line.toString("latin1") : "<too-long>");
    }
  }
  return { lines, pending: f.pending };
}

/** The result for every chunking of the input must equal the whole-input one. */
function everyChunking(input: string, limit?: number): { lines: Framed[]; pending: number } {
  const buf = Buffer.from(input, "latin1");
  const expected = frame([buf], limit);
  for (const chunks of chunkings(buf)) {
    const got = frame(chunks, limit);
    assert.deepEqual(got.lines, expected.lines, `chunk sizes ${chunks.map((c) => c.length).join(",")}`);
  }
  return expected;
}

describe("POP3 LineFramer", () => {
  const cases: [string, string, Framed[], number][] = [
    ["two commands", "USER a@b.test\r\nPASS x y\r\n", ["USER a@b.test", "PASS x y"], 0],
    ["empty line", "\r\n", [""], 0],
    ["unfinished line stays pending", "STAT\r\nLI", ["STAT"], 2],
    ["CR at the end waits for LF", "NOOP\r", [], 5],
    ["bare LF ends a line (Dovecot compatible)", "NOOP\nSTAT\r\n", ["NOOP", "STAT"], 0],
    ["lone LF is an empty line", "\n", [""], 0],
    ["CR inside a line stays (the parser rejects it)", "NO\rOP\r\n", ["NO\rOP"], 0],
    ["CR CR LF strips one CR", "NOOP\r\r\n", ["NOOP\r"], 0],
    ["8-bit bytes pass through", "PASS caf\xe9\r\n", ["PASS caf\xe9"], 0],
    ["NUL passes through", "NO\0OP\r\n", ["NO\0OP"], 0],
    [
      "pipelined",
      "RETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n",
      ["RETR 1", "DELE 1", "RETR 2", "DELE 2", "QUIT"],
      0,
    ],
  ];
  for (const [name, input, lines, pending] of cases) {
    it(name, () => {
      const got = everyChunking(input);
      assert.deepEqual(got, { lines, pending });
    });
  }

  it("accepts 255 octets including CRLF (RFC 2449 §4), rejects 256, and resynchronises", () => {
    const max = `NOOP ${"x".repeat(COMMAND_LINE_LIMIT - 7)}`; // + CRLF = 255
    assert.equal(max.length + 2, 255);
    assert.deepEqual(everyChunking(`${max}\r\nSTAT\r\n`).lines, [max, "STAT"]);
    const over = `${max}x`;
    assert.deepEqual(everyChunking(`${over}\r\nSTAT\r\n`).lines, ["<too-long>", "STAT"]);
    // an LF-only line may be one octet longer: the limit counts the octets sent
    assert.deepEqual(everyChunking(`${over}\nSTAT\n`).lines, [over, "STAT"]);
  });

  it("never buffers more than the limit of an over-long line", () => {
    const f = new LineFramer();
    for (let i = 0; i < 100; i++) {
      f.push(Buffer.alloc(1000, 0x41));
      assert.equal(f.next(), null);
      assert.ok(f.pending < COMMAND_LINE_LIMIT);
    }
    f.push(Buffer.from("\r\nQUIT\r\n"));
    assert.deepEqual(f.next(), { kind: "too-long" });
    assert.equal(f.next()?.kind, "line");
  });

  it("takes a larger limit per line (SASL responses)", () => {
    const long = "A".repeat(4000);
    const f = new LineFramer();
    f.push(Buffer.from(`${long}\r\n`));
    const r = f.next(SASL_LINE_LIMIT);
    assert.equal(r?.kind === "line" && r.line.toString(), long);
  });

  it("discard() drops pipelined plaintext (STLS, RFC 2595 §4)", () => {
    const f = new LineFramer();
    f.push(Buffer.from("STLS\r\nUSER evil\r\nPASS x\r\n"));
    assert.equal(f.next()?.kind, "line");
    f.discard();
    assert.equal(f.pending, 0);
    assert.equal(f.next(), null);
    f.push(Buffer.from("CAPA\r\n"));
    const r = f.next();
    assert.equal(r?.kind === "line" && r.line.toString(), "CAPA");
  });

  it("property: never throws, and every cut gives the lines of the whole input", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 300 }),
        (input, cuts, limit) => {
          const whole = frame([input], limit);
          const cut = frame(cutAt(input, cuts), limit);
          assert.deepEqual(cut.lines, whole.lines);
          for (const l of whole.lines) if (l !== "<too-long>") assert.ok(l.length < limit);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
