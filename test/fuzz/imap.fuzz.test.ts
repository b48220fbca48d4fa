// Property tests of the pure IMAP request side. Bounded for CI: FUZZ_RUNS runs per property
// (default 200); `npm run fuzz` runs many more.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeMutf7, encodeMutf7 } from "../../src/imap/protocol/mutf7.js";
import { parseCommand } from "../../src/imap/protocol/parse-command.js";
import { ImapReceiver, type ReceiverLimits } from "../../src/imap/protocol/receiver.js";
import {
  formatNumbers,
  formatSequenceSet,
  parseSequenceSet,
  resolveSequenceSet,
} from "../../src/imap/protocol/sequence-set.js";
import type { ParseContext, ParseResult, SeqRange } from "../../src/imap/protocol/types.js";
import { cutAt } from "../../src/smtp/protocol/testkit.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

/** Small limits so that random input reaches every refusal path. */
const LIMITS: Partial<ReceiverLimits> = {
  maxLine: 120,
  maxLiteral: 40,
  maxCommand: 200,
  maxStreamedLiteral: 60,
  maxLiterals: 4,
  maxDiscard: 400,
};
const CONTEXTS: ParseContext[] = [{}, { utf8: true }];

/** Everything observable from feeding `chunks`: events (literal chunks merged) and parse results. */
function run(chunks: readonly Buffer[], limits: Partial<ReceiverLimits>, ctx: ParseContext): unknown[] {
  const r = new ImapReceiver(limits);
  const out: unknown[] = [];
  let streamed: Buffer[] | null = null;
  for (const chunk of chunks) {
    r.push(chunk);
    for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
      switch (e.kind) {
        case "literal-start":
          streamed = [];
          out.push({ kind: e.kind, size: e.size, sync: e.sync, head: parse(parseCommand(e.head, ctx)) });
          break;
        case "literal-chunk":
          assert.ok(streamed, "literal-chunk only inside a literal");
          streamed.push(e.data);
          break;
        case "literal-end":
          assert.ok(streamed);
          out.push({ kind: e.kind, data: Buffer.concat(streamed).toString("latin1"), nul: e.nul });
          streamed = null;
          break;
        case "request":
          out.push({ kind: e.kind, tag: e.tag, result: parse(parseCommand(e, ctx)) });
          break;
        default:
          out.push(e);
      }
    }
  }
  return out;
}

/** A parse result with Buffers made comparable; internal errors fail the property. */
function parse(r: ParseResult): unknown {
  if (!r.ok) {
    assert.doesNotMatch(r.text, /internal error/, "a parser bug");
    assert.ok(r.status === "BAD" || r.status === "NO");
    return r;
  }
  return JSON.parse(JSON.stringify(r.command));
}

/** Bytes drawn mostly from what matters to framing and literals. */
const framingBytes = fc
  .array(
    fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom(..."\r\n{}+~ 0123456789".split("").map((c) => c.charCodeAt(0))),
      },
      {
        weight: 3,
        arbitrary: fc.constantFrom(...'aAX()[]"\\*%$:,.<>'.split("").map((c) => c.charCodeAt(0))),
      },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
    ),
    { maxLength: 300 },
  )
  .map((a) => Buffer.from(a));

/** Command-like text: plausible pieces joined, so many commands parse and many nearly do. */
const commandText = fc
  .array(
    fc.tuple(
      fc.constantFrom("a1", "A.2", "*", "+", "", "x]"),
      fc.constantFrom(
        " FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)",
        " UID FETCH 1,3:5 (UID) (CHANGEDSINCE 5 VANISHED)",
        " SEARCH RETURN (MIN) CHARSET UTF-8 OR FROM {3+}\r\nabc NOT (SEEN 1:2)",
        " APPEND INBOX (\\Seen) {5}\r\nhello",
        " APPEND {4+}\r\nSent ~{3+}\r\na\0b {2+}\r\nxy",
        " LOGIN {5+}\r\nalice {3}\r\npw!",
        ' LIST (SUBSCRIBED) "" ("%" *) RETURN (STATUS (MESSAGES))',
        " STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Deleted $x)",
        " SELECT &ZeVnLIqe- (QRESYNC (1 2 1:3 (1 2)))",
        " STATUS INBOX (MESSAGES UNSEEN)",
        " SORT (REVERSE DATE) UTF-8 ALL",
        " ID NIL",
        " NOOP",
      ),
      fc.array(
        fc.oneof(
          fc.constantFrom(
            " ",
            "(",
            ")",
            "{",
            "}",
            "{3}",
            "{2+}",
            "~{1}",
            '"',
            "\\",
            "\r\n",
            "\n",
            "\r",
            "NIL",
            "1:*",
            "$",
          ),
          fc.string({ unit: "binary", maxLength: 4 }),
        ),
        { maxLength: 4 },
      ),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((cmds) => Buffer.from(cmds.map(([t, c, junk]) => `${t}${c}${junk.join("")}\r\n`).join(""), "latin1"));

/** Tokens that build literal announcements of every size class around the small LIMITS. */
const literalStream = fc
  .array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          "A1 ",
          "a ",
          "APPEND INBOX ",
          "LOGIN ",
          "NOOP",
          "UID FETCH 1 ",
          "(",
          ")",
          '"',
          " ",
        ),
      },
      {
        weight: 3,
        arbitrary: fc
          .tuple(fc.constantFrom("{", "~{", " {"), fc.nat({ max: 500 }), fc.constantFrom("}", "+}", "-}"))
          .map(([a, n, b]) => `${a}${n}${b}`),
      },
      { weight: 3, arbitrary: fc.constantFrom("\r\n", "\n", "\r") },
      { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
    ),
    { maxLength: 40 },
  )
  .map((t) => Buffer.from(t.join(""), "latin1"));

const input = fc.oneof(framingBytes, commandText, literalStream);
const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe("fuzz: receiver and parser", () => {
  it("never throw, and the result does not depend on how the input is cut", () => {
    fc.assert(
      fc.property(input, cuts, fc.constantFrom(...CONTEXTS), fc.boolean(), (bytes, cs, ctx, small) => {
        const limits = small ? LIMITS : {};
        const whole = run([bytes], limits, ctx);
        assert.deepStrictEqual(run(cutAt(bytes, cs), limits, ctx), whole);
        const bytewise = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
        assert.deepStrictEqual(run(bytewise, limits, ctx), whole);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("holds no more than the limits while framing", () => {
    fc.assert(
      fc.property(input, cuts, (bytes, cs) => {
        const r = new ImapReceiver(LIMITS);
        for (const chunk of cutAt(bytes, cs)) {
          r.push(chunk);
          for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
            // text of one command ≤ maxLine (+1 for a CR, + one chunk before the check), literals ≤ maxCommand
            assert.ok(
              r.holding <= LIMITS.maxCommand! + LIMITS.maxLine! + 1 + chunk.length,
              `holding ${r.holding}`,
            );
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("streamed literals deliver exactly the announced bytes, whatever the cuts", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 50 }), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        cuts,
        (messages, sync, cs) => {
          const parts = messages.map((m) =>
            Buffer.concat([Buffer.from(` ~{${m.length}${sync ? "" : "+"}}\r\n`), m]),
          );
          const bytes = Buffer.concat([Buffer.from("A1 APPEND INBOX"), ...parts, Buffer.from("\r\n")]);
          const events = run(cutAt(bytes, cs), {}, {});
          const data = events.filter((e) => (e as { kind: string }).kind === "literal-end");
          assert.deepEqual(
            data.map((e) => (e as { data: string }).data),
            messages.map((m) => Buffer.from(m).toString("latin1")),
          );
          const last = events[events.length - 1] as { kind: string; result: { name: string } };
          assert.equal(last.kind, "request");
          assert.equal(last.result.name, "APPEND");
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: modified UTF-7", () => {
  it("decode(encode(s)) = s for any well-formed string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), (s) => {
        const wire = encodeMutf7(s);
        assert.match(wire, /^[\x20-\x7e]*$/);
        assert.equal(decodeMutf7(wire), s);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("what decodes re-encodes to the same octets (one spelling per name)", () => {
    const wire = fc.string({
      unit: fc.constantFrom(
        "&",
        "-",
        "A",
        "a",
        "Z",
        "0",
        "+",
        ",",
        "/",
        "=",
        "G",
        "E",
        "w",
        "\x7f",
        "é",
        " ",
      ),
      maxLength: 16,
    });
    fc.assert(
      fc.property(wire, (w) => {
        const name = decodeMutf7(w);
        if (name !== null) assert.equal(encodeMutf7(name), w);
      }),
      { numRuns: RUNS * 10 },
    );
  });
});

describe("fuzz: sequence sets", () => {
  const seq = fc.oneof(fc.integer({ min: 1, max: 4294967295 }), fc.constant("*" as const));
  const set = fc.array(
    fc.tuple(seq, seq).map(([from, to]): SeqRange => ({ from, to })),
    { minLength: 1, maxLength: 8 },
  );

  it("format then parse gives the same numbers", () => {
    fc.assert(
      fc.property(set, fc.integer({ min: 0, max: 4294967295 }), (ranges, largest) => {
        const text = formatSequenceSet({ kind: "set", ranges });
        const back = parseSequenceSet(text);
        assert.ok(back && back.kind === "set", text);
        assert.deepEqual(resolveSequenceSet(back, largest), resolveSequenceSet({ ranges }, largest));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("formatNumbers is compact and names exactly the numbers", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 60 }), (nums) => {
        const text = formatNumbers(nums);
        if (nums.length === 0) return assert.equal(text, "");
        const back = parseSequenceSet(text);
        assert.ok(back && back.kind === "set");
        const expected = [...new Set(nums)].sort((a, b) => a - b);
        const got: number[] = [];
        for (const [lo, hi] of resolveSequenceSet(back, 0)) for (let k = lo; k <= hi; k++) got.push(k);
        assert.deepEqual(got, expected);
        // order kept: expanding the text's ranges in order gives the input with runs folded
        const flat = back.ranges.flatMap((r) => {
          const a = r.from as number;
          const b = r.to as number;
          return Array.from({ length: b - a + 1 }, (_, i) => a + i);
        });
        assert.deepEqual(flat, nums);
      }),
      { numRuns: RUNS * 5 },
    );
  });
});
