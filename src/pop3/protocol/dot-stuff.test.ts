import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, it } from "node:test";
import fc from "fast-check";
import { chunkings, cutAt } from "../../smtp/protocol/testkit.js";
import { DotStuffer, type StuffOptions, dotStuffTransform } from "./dot-stuff.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

function stuff(chunks: readonly Buffer[], opts?: StuffOptions): { out: string; addedCR: number } {
  const s = new DotStuffer(opts);
  const parts: Buffer[] = [];
  for (const c of chunks) {
    if (s.done) break;
    parts.push(s.push(c));
  }
  parts.push(s.end());
  return { out: Buffer.concat(parts).toString("latin1"), addedCR: s.addedCR };
}

/** Obviously-correct reference on strings: normalise, cut for TOP, stuff, terminate. */
function reference(input: string, bodyLines?: number): string {
  const lines = input.split("\n"); // the last element: the unterminated tail ("" if none)
  const tail = lines.pop()!;
  let keep = lines.map((l) => (l.endsWith("\r") ? l : `${l}\r`));
  let rest = tail;
  if (bodyLines !== undefined) {
    const blank = keep.indexOf("\r");
    if (blank !== -1 && blank + 1 + bodyLines < keep.length + (tail ? 1 : 0)) {
      keep = keep.slice(0, blank + 1 + bodyLines);
      rest = "";
    }
  }
  let out = keep.map((l) => (l.startsWith(".") ? `.${l}\n` : `${l}\n`)).join("");
  if (rest) out += `${rest.startsWith(".") ? "." : ""}${rest}${rest.endsWith("\r") ? "\n" : "\r\n"}`;
  return `${out}.\r\n`;
}

function everyChunking(input: string, opts?: StuffOptions): string {
  const buf = Buffer.from(input, "latin1");
  const expected = stuff([buf], opts).out;
  for (const chunks of chunkings(buf)) {
    assert.equal(stuff(chunks, opts).out, expected, `chunk sizes ${chunks.map((c) => c.length).join(",")}`);
  }
  return expected;
}

describe("DotStuffer (RETR)", () => {
  const cases: [string, string, string][] = [
    ["plain message", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n.\r\n"],
    ["empty message", "", ".\r\n"],
    ["leading dot on the first line", ".hidden\r\n", "..hidden\r\n.\r\n"],
    ["dot lines in the body", "A\r\n\r\n.\r\n..\r\n.x\r\nx.\r\n", "A\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n.\r\n"],
    ["bare LF becomes CRLF", "A\nB\n", "A\r\nB\r\n.\r\n"],
    ["LF-only message with a dot line", "S: x\n\n.\nbody\n", "S: x\r\n\r\n..\r\nbody\r\n.\r\n"],
    ["a terminator hidden behind a bare LF is stuffed", "a\n.\r\nQUIT\r\n", "a\r\n..\r\nQUIT\r\n.\r\n"],
    ["bare CR is left alone", "a\rb\r\n", "a\rb\r\n.\r\n"],
    ["no final line end: CRLF added", "body", "body\r\n.\r\n"],
    ["final CR: only LF added", "body\r", "body\r\n.\r\n"],
    ["final dot without line end", "a\r\n.", "a\r\n..\r\n.\r\n"],
    ["8-bit bytes", "caf\xe9\r\n", "caf\xe9\r\n.\r\n"],
  ];
  for (const [name, input, output] of cases) {
    it(name, () => {
      assert.equal(everyChunking(input), output);
      assert.equal(reference(input), output);
    });
  }

  it("passes a chunk that needs no change through as the same Buffer", () => {
    const s = new DotStuffer();
    const chunk = Buffer.from("Subject: x\r\n\r\nline\r\n");
    assert.equal(s.push(chunk), chunk);
  });

  it("counts the CRs it adds (the CRLF form's extra size)", () => {
    assert.equal(stuff([Buffer.from("a\nb\r\nc\n")]).addedCR, 2);
    assert.equal(stuff([Buffer.from("a\r"), Buffer.from("\nb\n")]).addedCR, 1);
  });
});

describe("DotStuffer (TOP)", () => {
  const msg = "From: a\r\nSubject: s\r\n\r\nl1\r\n.l2\r\nl3\r\n";
  const cases: [string, string, number, string][] = [
    ["TOP 0: header and the empty line", msg, 0, "From: a\r\nSubject: s\r\n\r\n.\r\n"],
    ["TOP 1", msg, 1, "From: a\r\nSubject: s\r\n\r\nl1\r\n.\r\n"],
    ["TOP 2 stuffs", msg, 2, "From: a\r\nSubject: s\r\n\r\nl1\r\n..l2\r\n.\r\n"],
    ["TOP beyond the end: everything", msg, 50, `${msg.replace("\n.l2", "\n..l2")}.\r\n`],
    ["no empty line: all header", "From: a\r\nSubject: s\r\n", 0, "From: a\r\nSubject: s\r\n.\r\n"],
    ["LF-only header end", "From: a\n\nb1\nb2\n", 1, "From: a\r\n\r\nb1\r\n.\r\n"],
    ["empty header", "\r\nbody\r\n", 0, "\r\n.\r\n"],
    ["body without final line end", "H: v\r\n\r\nlast", 5, "H: v\r\n\r\nlast\r\n.\r\n"],
    ["a line of just CR is not the empty line", "H: v\r\r\n\r\nb\r\n", 0, "H: v\r\r\n\r\n.\r\n"],
  ];
  for (const [name, input, n, output] of cases) {
    it(name, () => {
      assert.equal(everyChunking(input, { bodyLines: n }), output);
      assert.equal(reference(input, n), output);
    });
  }

  it("reports done so the reader can stop", () => {
    const s = new DotStuffer({ bodyLines: 0 });
    s.push(Buffer.from("A: b\r\n\r\nbody"));
    assert.equal(s.done, true);
    assert.equal(s.push(Buffer.from("more")).length, 0);
  });
});

describe("dotStuffTransform", () => {
  it("streams the same bytes as the class", async () => {
    const input = ["Subj", "ect: x\n", "\n.", "dot\r", "\nend"].map((s) => Buffer.from(s));
    const out = await buffer(Readable.from(input).pipe(dotStuffTransform()));
    assert.equal(out.toString("latin1"), "Subject: x\r\n\r\n..dot\r\nend\r\n.\r\n");
    const top = await buffer(Readable.from(input).pipe(dotStuffTransform({ bodyLines: 0 })));
    assert.equal(top.toString("latin1"), "Subject: x\r\n\r\n.\r\n");
  });
});

describe("DotStuffer properties", () => {
  const bytes = fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(0x0d, 0x0a, 0x2e) },
        { weight: 3, arbitrary: fc.constantFrom(0x41, 0x20, 0x3a) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
      ),
      { maxLength: 400 },
    )
    .map((a) => Buffer.from(a));

  it("never throws and equals the reference for any cuts, RETR and TOP", () => {
    fc.assert(
      fc.property(
        bytes,
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.option(fc.nat({ max: 8 }), { nil: undefined }),
        (input, cuts, bodyLines) => {
          const opts = bodyLines === undefined ? {} : { bodyLines };
          const got = stuff(cutAt(input, cuts), opts).out;
          assert.equal(got, reference(input.toString("latin1"), bodyLines));
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  it("the output ends the response exactly once: un-stuffing gives back the CRLF form", () => {
    fc.assert(
      fc.property(bytes, fc.array(fc.nat(), { maxLength: 6 }), (input, cuts) => {
        const out = stuff(cutAt(input, cuts)).out;
        const lines = out.split("\r\n");
        assert.equal(lines.pop(), "");
        assert.equal(lines.pop(), ".");
        // no line before the end is a lone "." and every line is free of bare LF
        for (const l of lines) {
          assert.notEqual(l, ".");
          assert.ok(!l.includes("\n"));
        }
        const unstuffed = lines.map((l) => `${l.startsWith(".") ? l.slice(1) : l}\r\n`).join("");
        let crlf = input.toString("latin1").replace(/\r?\n/g, "\r\n");
        if (crlf.length > 0 && !crlf.endsWith("\n")) crlf += crlf.endsWith("\r") ? "\n" : "\r\n";
        assert.equal(unstuffed, crlf);
      }),
      { numRuns: RUNS * 5 },
    );
  });
});
