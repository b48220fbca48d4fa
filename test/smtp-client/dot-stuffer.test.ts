import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  ContentEncoder,
  DotStuffer,
  type OutboundContentOptions,
  crlfNormalizer,
  encodeContent,
} from "../../src/smtp/client/dot-stuffer.js";
// The server's own DATA reader, as the receiving end of the round trip.
import { DataReceiver } from "../../src/smtp/protocol/data-receiver.js";
import { RUNS, cutAt, sameForEveryChunking } from "./chunks.js";

const latin1 = (s: string) => Buffer.from(s, "latin1");

function encode(chunks: Buffer[], opts?: OutboundContentOptions): string {
  const e = new ContentEncoder(opts);
  return Buffer.concat([...chunks.map((c) => e.push(c)), e.end()]).toString("latin1");
}

/** A reference model written the obvious way, on whole strings. */
function model(input: string, opts: OutboundContentOptions = {}): string {
  let s = input.replace(/\r\n|\r|\n/g, "\r\n");
  if (s !== "" && !s.endsWith("\r\n")) s += "\r\n";
  if (opts.dotStuff ?? true) s = s.replace(/(^|\r\n)\./g, "$1..");
  return (opts.terminate ?? true) ? `${s}.\r\n` : s;
}

describe("ContentEncoder (DATA)", () => {
  const table: Array<[string, string, string]> = [
    ["empty message: only the terminator (§4.1.1.4)", "", ".\r\n"],
    ["plain CRLF lines", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"],
    ["no final CRLF", "a\r\nb", "a\r\nb\r\n.\r\n"],
    ["leading dots doubled (§4.5.2)", ".a\r\n..b\r\nc.d\r\n.\r\n", "..a\r\n...b\r\nc.d\r\n..\r\n.\r\n"],
    ["first line a dot", ".", "..\r\n.\r\n"],
    ["bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"],
    ["bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"],
    ["dot after a bare LF (smuggling shape)", "a\n.\nMAIL FROM:<x>\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"],
    ["dot after a bare CR", "a\r.\r", "a\r\n..\r\n.\r\n"],
    ["CR CR LF", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"],
    ["LF CR", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"],
    ["ends in a bare CR", "a\r", "a\r\n.\r\n"],
    ["8-bit octets pass", "caf\xe9\r\n", "caf\xe9\r\n.\r\n"],
    ["NUL passes", "a\0b", "a\0b\r\n.\r\n"],
  ];
  for (const [name, input, want] of table) {
    it(`${name}, split anywhere`, () => {
      assert.equal(
        sameForEveryChunking(latin1(input), (chunks) => encode(chunks)),
        want,
      );
    });
  }
});

describe("ContentEncoder (BDAT: no stuffing, no terminator)", () => {
  const opts = { dotStuff: false, terminate: false };
  const table: Array<[string, string]> = [
    ["", ""],
    [".a\nb", ".a\r\nb\r\n"],
    ["a\r\n.\r\n", "a\r\n.\r\n"],
    ["x\ry", "x\r\ny\r\n"],
  ];
  for (const [input, want] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}, split anywhere`, () => {
      assert.equal(
        sameForEveryChunking(latin1(input), (chunks) => encode(chunks, opts)),
        want,
      );
    });
  }
});

describe("DotStuffer stream", () => {
  it("encodes a stream of chunks, including strings", async () => {
    const out = await buffer(
      Readable.from([latin1(".one\r"), "\n.two", latin1("\nthree")]).pipe(new DotStuffer()),
    );
    assert.equal(out.toString("latin1"), "..one\r\n..two\r\nthree\r\n.\r\n");
  });

  it("crlfNormalizer does not stuff or terminate", async () => {
    const out = await buffer(Readable.from([latin1(".one\n.")]).pipe(crlfNormalizer()));
    assert.equal(out.toString("latin1"), ".one\r\n.\r\n");
  });

  it("keeps up with a large message (no quadratic work)", async () => {
    const n = 2 ** 21;
    const big = Buffer.from(".\n".repeat(n), "latin1"); // 4 MiB of lines that each need stuffing
    const started = Date.now();
    const out = await buffer(
      Readable.from([big.subarray(0, 1000), big.subarray(1000)]).pipe(new DotStuffer()),
    );
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    assert.equal(out.length, 4 * n + 3); // "..\r\n" per line, then ".\r\n"
  });
});

// Random messages: mostly line-shaped with dots, CR and LF, plus arbitrary octets.
const messageArb = fc.oneof(
  fc
    .array(fc.constantFrom(".", "..", "\r\n", "\n", "\r", "a", "MAIL", " ", "\xe9", "\0"), { maxLength: 40 })
    .map((p) => latin1(p.join(""))),
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
);

describe("ContentEncoder properties", () => {
  it("matches the reference model, however the input is cut", () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.nat(300)), fc.boolean(), (msg, cuts, stuff) => {
        const opts = { dotStuff: stuff, terminate: stuff };
        assert.equal(encode(cutAt(msg, cuts), opts), model(msg.toString("latin1"), opts));
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("never contains a bare CR or LF, and the only CRLF.CRLF is the end", () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        const out = encodeContent(msg).toString("latin1");
        assert.doesNotMatch(out.replace(/\r\n/g, ""), /[\r\n]/);
        const wire = `\r\n${out}`; // the CRLF of the DATA line comes first
        assert.equal(wire.indexOf("\r\n.\r\n"), wire.length - 5);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  it("round-trips through the server's DATA reader to the CRLF-normalised message", () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.nat(400)), (msg, cuts) => {
        const wire = encodeContent(msg);
        const r = new DataReceiver({});
        const got: Buffer[] = [];
        let done = false;
        for (const chunk of cutAt(wire, cuts).filter((c) => c.length > 0)) {
          assert.equal(done, false, "ended before the end");
          const res = r.push(chunk);
          got.push(...res.chunks);
          if (res.done) {
            done = true;
            assert.equal(res.remainder.length, 0);
          }
        }
        assert.ok(done, "the terminator was recognised");
        assert.equal(
          Buffer.concat(got).toString("latin1"),
          model(msg.toString("latin1"), { dotStuff: false, terminate: false }),
        );
      }),
      { numRuns: RUNS * 5 },
    );
  });
});
