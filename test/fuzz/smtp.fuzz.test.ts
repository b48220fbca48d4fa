// Property tests of the pure SMTP protocol layer. Bounded for CI: FUZZ_RUNS runs per property
// (default 200); `npm run fuzz` runs many more.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BdatReceiver } from "../../src/smtp/protocol/bdat-receiver.js";
import {
  type ParseContext,
  parseCommand,
  parseSaslResponse,
} from "../../src/smtp/protocol/command-parser.js";
import { MAX_TEXT_LINE } from "../../src/smtp/protocol/data-receiver.js";
import type { Extension } from "../../src/smtp/protocol/extensions.js";
import { xtextDecode, xtextDecodeBytes, xtextEncode } from "../../src/smtp/protocol/params.js";
import { formatReply, MAX_REPLY_LINE, type Reply } from "../../src/smtp/protocol/reply.js";
import { cutAt, type Framed, frameLines, receiveData } from "../../src/smtp/protocol/testkit.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

const ALL = new Set<Extension>(["SIZE", "8BITMIME", "SMTPUTF8", "CHUNKING", "BINARYMIME", "DSN", "AUTH"]);
const CONTEXTS: ParseContext[] = [
  { extensions: ALL },
  { extensions: ALL, utf8: true },
  { extensions: new Set() },
];

/** Bytes drawn mostly from the characters that matter to framing. */
const framingBytes = (maxLength: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(CR, LF, DOT) },
        { weight: 4, arbitrary: fc.constantFrom(0x41, 0x20, 0x3c, 0x40) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      { maxLength },
    )
    .map((a) => Buffer.from(a));

const cuts = fc.array(fc.nat(), { maxLength: 12 });

/** Pieces that make command lines interesting to the parser. */
const commandLine = fc
  .tuple(
    fc.constantFrom(
      "MAIL FROM:",
      "RCPT TO:",
      "EHLO ",
      "HELO ",
      "AUTH ",
      "BDAT ",
      "VRFY ",
      "NOOP ",
      "DATA",
      "",
    ),
    fc.array(
      fc.oneof(
        fc.constantFrom(
          "<",
          ">",
          "@",
          ":",
          ",",
          ".",
          '"',
          "\\",
          " ",
          "=",
          "+",
          ";",
          "[",
          "]",
          "IPv6:",
          "::",
          "δ",
          "\xe9",
        ),
        fc.constantFrom(
          "a",
          "b.example",
          "postmaster",
          "SIZE=",
          "BODY=",
          "SMTPUTF8",
          "NOTIFY=",
          "ORCPT=rfc822;",
        ),
        fc.constantFrom("AUTH=", "ENVID=", "RET=", "LAST", "0", "12", "1.2.3.4", "PLAIN", "AAAA", "xn--"),
        fc.string({ unit: "binary", maxLength: 3 }),
      ),
      { maxLength: 14 },
    ),
  )
  .map(([verb, parts]) => verb + parts.join(""));

/** MAIL/RCPT lines built from plausible parts, so that many parse and some nearly do. */
const addressLine = (() => {
  const atext = "abcxyzABC019!#$%&'*+-/=?^_`{|}~".split("");
  const atom = fc.string({ unit: fc.constantFrom(...atext, "δ", "é"), minLength: 1, maxLength: 5 });
  const dotString = fc.array(atom, { minLength: 1, maxLength: 3 }).map((a) => a.join("."));
  const quoted = fc
    .string({
      unit: fc.constantFrom("a", " ", '\\"', "\\\\", "@", ">", "<", ",", "δ", "\\a", "(", "."),
      maxLength: 5,
    })
    .map((q) => `"${q}"`);
  const label = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom("a", "b2", "x-y", "example", "xn--bcher-kva", "bücher", "例え") },
    { weight: 1, arbitrary: fc.constantFrom("_u", "-bad", "") },
  );
  const name = fc.array(label, { minLength: 1, maxLength: 3 }).map((a) => a.join("."));
  const literal = fc.constantFrom(
    "[192.0.2.1]",
    "[IPv6:2001:db8::1]",
    "[IPv6:::]",
    "[x:y]",
    "[300.1.1.1]",
    "[IPv6:1::2::3]",
  );
  const domain = fc.oneof({ weight: 4, arbitrary: name }, { weight: 1, arbitrary: literal });
  const mailbox = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.oneof(dotString, quoted), domain).map(([l, d]) => `${l}@${d}`) },
    { weight: 1, arbitrary: fc.constantFrom("postmaster", "Postmaster", "", "a", "@") },
  );
  const route = fc.option(
    fc.array(name, { minLength: 1, maxLength: 2 }).map((a) => `${a.map((d) => `@${d}`).join(",")}:`),
    {
      freq: 4,
    },
  );
  const bad = fc.constantFrom("FOO", "SIZE=x", "NOTIFY=NEVER,DELAY", "RET=", "X=\u00e9");
  const params = (good: string[]) =>
    fc.array(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: bad }), {
      maxLength: 3,
    });
  const mailParams = params([
    "SIZE=10",
    "BODY=8BITMIME",
    "SMTPUTF8",
    "RET=HDRS",
    "ENVID=a+2Bb",
    "AUTH=<>",
    "AUTH=a+40b.example",
  ]);
  const rcptParams = params([
    "NOTIFY=NEVER",
    "NOTIFY=SUCCESS,DELAY",
    "ORCPT=rfc822;a@b",
    "ORCPT=utf-8;\\x{E9}",
  ]);
  const line = (verb: string, ps: fc.Arbitrary<string[]>) =>
    fc
      .tuple(fc.constantFrom(verb, verb.toLowerCase(), `${verb} `), route, mailbox, ps)
      .map(([v, r, m, p]) => `${v}<${r ?? ""}${m}>${p.map((x) => ` ${x}`).join("")}`);
  return fc.oneof(line("MAIL FROM:", mailParams), line("RCPT TO:", rcptParams));
})();

function assertReply(r: Reply): void {
  assert.ok(r.code >= 500 && r.code < 600, `code ${r.code}`);
  assert.ok(r.enhanced?.startsWith("5."), `enhanced ${r.enhanced}`);
  assert.ok(formatReply(r).endsWith("\r\n"));
}

describe("fuzz: command parser", () => {
  it("never throws; errors are typed 5xx replies (arbitrary strings, bytes and command-like lines)", () => {
    const line = fc.oneof(
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
      commandLine,
      commandLine.map((s) => Buffer.from(s, "latin1")),
      addressLine,
    );
    fc.assert(
      fc.property(line, fc.constantFrom(...CONTEXTS), (l, ctx) => {
        const r = parseCommand(l, ctx);
        if (!r.ok) assertReply(r.reply);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("a parsed address re-parses to itself from its canonical form", () => {
    fc.assert(
      fc.property(
        fc.oneof(commandLine, addressLine, addressLine, addressLine),
        fc.constantFrom(...CONTEXTS),
        (l, ctx) => {
          const r = parseCommand(l, ctx);
          if (!r.ok || (r.command.verb !== "MAIL" && r.command.verb !== "RCPT")) return;
          const mb = r.command.verb === "MAIL" ? r.command.from : r.command.to;
          if (mb === null) return;
          // MAIL enables UTF-8 with its own parameter, RCPT through the transaction (ctx.utf8)
          const again =
            r.command.verb === "MAIL"
              ? parseCommand(`MAIL FROM:<${mb.address}>${mb.utf8 ? " SMTPUTF8" : ""}`, { extensions: ALL })
              : parseCommand(`RCPT TO:<${mb.address}>`, { extensions: ALL, utf8: mb.utf8 });
          assert.ok(again.ok, `${l} → ${mb.address}`);
          const mb2 =
            again.command.verb === "MAIL"
              ? again.command.from
              : again.command.verb === "RCPT"
                ? again.command.to
                : null;
          assert.deepEqual(mb2, mb);
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  it("SASL response lines never throw", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii", maxLength: 40 }), (s) => {
        const r = parseSaslResponse(s);
        if (r.kind === "error") assertReply(r.reply);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Naive model of the line reader: split at every LF. */
function referenceLines(input: Buffer, limit: number): { lines: Framed[]; pending: string } {
  const lines: Framed[] = [];
  let start = 0;
  for (let lf = input.indexOf(LF); lf !== -1; lf = input.indexOf(LF, start)) {
    const seg = input.subarray(start, lf + 1);
    const cr = seg.indexOf(CR);
    if (seg.length > limit) lines.push({ kind: "too-long" });
    else if (cr !== -1 && cr < seg.length - 2) lines.push({ kind: "bare-cr" });
    else if (cr === -1) lines.push({ kind: "bare-lf" });
    else lines.push({ kind: "line", line: seg.subarray(0, -2).toString("latin1") });
    start = lf + 1;
  }
  const rest = input.subarray(start);
  return { lines, pending: rest.length >= limit ? "" : rest.toString("latin1") };
}

describe("fuzz: line reader", () => {
  it("matches the naive model for any chunking", () => {
    fc.assert(
      fc.property(framingBytes(300), cuts, fc.integer({ min: 3, max: 40 }), (input, c, limit) => {
        const got = frameLines(cutAt(input, c), { limit });
        assert.deepEqual({ lines: got.lines, pending: got.pending }, referenceLines(input, limit));
      }),
      { numRuns: RUNS },
    );
  });
});

interface DataModel {
  done: boolean;
  content?: Buffer;
  received?: number;
  bareLf?: number | null;
  bareCr?: number | null;
}

/** Naive byte-at-a-time model of the DATA receiver (complete inputs only). */
function referenceData(raw: Buffer): DataModel {
  const content: number[] = [];
  let bareLf: number | null = null;
  let bareCr: number | null = null;
  let lineStart = true;
  let i = 0;
  while (i < raw.length) {
    if (lineStart && raw[i] === DOT) {
      if (raw[i + 1] === CR && raw[i + 2] === LF) {
        return { done: true, content: Buffer.from(content), received: i + 3, bareLf, bareCr };
      }
      i++; // stuffing
      if (i >= raw.length) break;
    }
    const b = raw[i]!;
    if (b === CR && raw[i + 1] === LF) {
      content.push(CR, LF);
      i += 2;
      lineStart = true;
      continue;
    }
    if (b === CR && i + 1 < raw.length) bareCr ??= i;
    if (b === LF) bareLf ??= i;
    content.push(b);
    i++;
    lineStart = false;
  }
  return { done: false };
}

function maxLine(content: Buffer): number {
  let max = 0;
  let start = 0;
  for (let lf = content.indexOf(LF); lf !== -1; lf = content.indexOf(LF, start)) {
    max = Math.max(max, lf + 1 - start);
    start = lf + 1;
  }
  return max;
}

/** Dot-stuff `content` (RFC 5321 §4.5.2) and terminate it; returns the wire form and what it carries. */
function stuff(content: Buffer): { wire: Buffer; carried: Buffer } {
  const carried =
    content.length === 0 || content.subarray(-2).equals(Buffer.from("\r\n"))
      ? content
      : Buffer.concat([content, Buffer.from("\r\n")]);
  const parts: Buffer[] = [];
  let start = 0;
  let lineStart = 0;
  for (;;) {
    if (carried[lineStart] === DOT) {
      parts.push(carried.subarray(start, lineStart), Buffer.from("."));
      start = lineStart;
    }
    const crlf = carried.indexOf("\r\n", lineStart);
    if (crlf === -1) break;
    lineStart = crlf + 2;
  }
  parts.push(carried.subarray(start), Buffer.from(".\r\n"));
  return { wire: Buffer.concat(parts), carried };
}

describe("fuzz: DATA receiver", () => {
  it("matches the naive model, whatever the chunking and the size limit", () => {
    const input = fc
      .tuple(framingBytes(200), framingBytes(20))
      .map(([a, b]) => Buffer.concat([a, Buffer.from("\r\n.\r\n"), b]));
    fc.assert(
      fc.property(input, cuts, fc.option(fc.nat({ max: 250 })), (raw, c, max) => {
        const got = receiveData(cutAt(raw, c), max === null ? {} : { maxSize: max });
        const want = referenceData(raw);
        assert.equal(got.done, want.done);
        if (!want.done) return;
        const v = got.verdict!;
        const content = want.content!;
        assert.deepEqual(got.content, max === null ? content : content.subarray(0, max));
        assert.deepEqual(got.remainder, raw.subarray(want.received));
        assert.deepEqual(
          { size: v.size, tooBig: v.tooBig, bareLf: v.bareLf, bareCr: v.bareCr, received: v.received },
          {
            size: content.length,
            tooBig: max !== null && content.length > max,
            bareLf: want.bareLf,
            bareCr: want.bareCr,
            received: want.received,
          },
        );
        assert.equal(v.maxLineLength, maxLine(content));
        assert.equal(v.longLines, v.maxLineLength > MAX_TEXT_LINE);
        assert.equal(
          v.eightBit,
          content.some((b) => b >= 0x80),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it("dot-stuffing round trip: any content comes back exactly", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          framingBytes(300),
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        ),
        framingBytes(10),
        cuts,
        (content, tail, c) => {
          const { wire, carried } = stuff(content);
          const got = receiveData(cutAt(Buffer.concat([wire, tail]), c));
          assert.ok(got.done);
          assert.deepEqual(got.content, carried);
          assert.deepEqual(got.remainder, tail);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("never throws and is chunking-independent on arbitrary bytes", () => {
    fc.assert(
      fc.property(framingBytes(300), cuts, cuts, (raw, c1, c2) => {
        assert.deepEqual(
          receiveData(cutAt(raw, c1), { maxSize: 50 }),
          receiveData(cutAt(raw, c2), { maxSize: 50 }),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: BDAT receiver", () => {
  it("takes exactly n octets for any chunking", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 220 }),
        cuts,
        fc.nat({ max: 220 }),
        (a, n, c, max) => {
          const input = Buffer.from(a);
          const r = new BdatReceiver({ maxSize: max });
          r.begin(n);
          const content: Buffer[] = [];
          let rest: Buffer[] | null = null;
          for (const chunk of cutAt(input, c)) {
            if (rest) {
              rest.push(chunk);
              continue;
            }
            const res = r.push(chunk);
            content.push(...res.chunks);
            if (res.done) rest = [res.remainder];
          }
          const take = Math.min(n, input.length);
          assert.deepEqual(Buffer.concat(content), input.subarray(0, Math.min(take, max)));
          assert.equal(rest !== null, n <= input.length);
          if (rest) assert.deepEqual(Buffer.concat(rest), input.subarray(n));
          assert.deepEqual(r.verdict, {
            size: take,
            tooBig: take > max,
            eightBit: input.subarray(0, take).some((b) => b >= 0x80),
          });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: xtext", () => {
  it("round-trips strings and bytes; encoded form is pure xchar/hexchar", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (s, b) => {
        const enc = xtextEncode(s);
        assert.match(enc, /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/);
        assert.equal(xtextDecode(enc), s);
        assert.deepEqual(xtextDecodeBytes(xtextEncode(b)), Buffer.from(b));
      }),
      { numRuns: RUNS },
    );
  });

  it("decoding never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), fc.boolean(), (s, u) => {
        xtextDecode(s, u);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("fuzz: replies", () => {
  it("every formatted line ≤ 512 octets, correctly prefixed, no stray CR/LF", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "binary", maxLength: 1200 }), { maxLength: 4 }),
        fc.boolean(),
        (lines, enh) => {
          const out = formatReply({ code: 451, ...(enh && { enhanced: "4.3.0" }), lines });
          assert.ok(out.endsWith("\r\n"));
          const ls = out.slice(0, -2).split("\r\n");
          for (const [i, l] of ls.entries()) {
            assert.ok(Buffer.byteLength(l) + 2 <= MAX_REPLY_LINE);
            assert.ok(!/[\r\n]/.test(l));
            assert.ok(l.startsWith(i === ls.length - 1 ? "451" : "451-"));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
