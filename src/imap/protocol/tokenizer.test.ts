import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EOL, isAstringAtom, isAtom, LIT, MAX_NUMBER64, ParseError, Reader, readTag } from "./tokenizer.js";
import type { Frame, Literal } from "./types.js";

const frame = (lines: string[], literals: Literal[] = []): Frame => ({
  lines: lines.map((l) => Buffer.from(l, "latin1")),
  literals,
});
const reader = (text: string) => new Reader(frame([text]));
const inline = (s: string, binary = false): Literal => ({ kind: "inline", data: Buffer.from(s), binary });

describe("Reader", () => {
  it('quoted strings: escapes \\" and \\\\ only; views when there is no escape', () => {
    const r = reader('"plain" "a\\"b\\\\c" "" "caf\xe9"');
    const first = r.quoted();
    assert.equal(first.toString(), "plain");
    r.sp();
    assert.equal(r.quoted().toString("latin1"), 'a"b\\c');
    r.sp();
    assert.equal(r.quoted().length, 0);
    r.sp();
    assert.equal(r.quoted().toString("latin1"), "caf\xe9");
    assert.equal(r.peek(), EOL);
    assert.throws(() => reader('"a\\nb"').quoted(), /invalid escape/);
    assert.throws(() => reader('"abc').quoted(), /unterminated/);
    assert.throws(() => reader('"a\0b"').quoted(), /NUL/);
    assert.throws(() => reader('"abc\\').quoted(), /invalid escape/);
  });

  it("literals are read where the frame has them", () => {
    const r = new Reader(frame(["x ", " ", ""], [inline("one"), inline("t w o")]));
    assert.equal(r.atom(), "x");
    r.sp();
    assert.equal(r.peek(), LIT);
    assert.equal(r.astring().toString(), "one");
    r.sp();
    assert.equal(r.string().toString(), "t w o");
    r.end();
  });

  it("streamed and binary literals are refused as strings", () => {
    assert.throws(
      () => new Reader(frame(["", ""], [{ kind: "streamed", size: 3, binary: false }])).string("x"),
      /literal not allowed/,
    );
    assert.throws(
      () => new Reader(frame(["", ""], [inline("abc", true)])).string("x"),
      /literal8 not allowed/,
    );
  });

  it("nstring: NIL in any case, or a string", () => {
    assert.equal(reader("nil").nstring(), null);
    assert.equal(reader('"NIL"').nstring()?.toString(), "NIL");
    assert.throws(() => reader("NILS").nstring(), ParseError);
  });

  it("numbers: 32-bit, nz, 64-bit clamped to 2^53-1", () => {
    assert.equal(reader("4294967295").number(), 4294967295);
    assert.throws(() => reader("4294967296").number(), /out of range/);
    assert.throws(() => reader("0").nzNumber(), /must not be 0/);
    assert.equal(reader("9007199254740991").number64(), MAX_NUMBER64);
    assert.equal(reader("9223372036854775807").number64(), MAX_NUMBER64);
    assert.equal(reader("00000000000000000000042").number64(), 42);
    assert.throws(() => reader("9223372036854775808").number64(), /out of range/);
    assert.throws(() => reader("x").number(), /expected a number/);
  });

  it("keywords and atoms", () => {
    const r = reader("fetch BODY[");
    assert.equal(r.eatKeyword("FETC"), false);
    assert.equal(r.eatKeyword("FETCH"), true);
    r.sp();
    assert.equal(r.atom(), "BODY[");
    assert.ok(isAtom("$Forwarded"));
    assert.ok(!isAtom("a]"));
    assert.ok(isAstringAtom("a]"));
    assert.ok(!isAtom(""));
    assert.ok(!isAtom("é"));
  });

  it("lists", () => {
    const r = reader("(a b c) () (x");
    assert.deepEqual(
      r.list(() => r.atom(), "l"),
      ["a", "b", "c"],
    );
    r.sp();
    assert.deepEqual(
      r.list(() => r.atom(), "l"),
      [],
    );
    r.sp();
    assert.throws(() => r.list(() => r.atom(), "l"), /expected a space or "\)"/);
  });

  it("readTag", () => {
    assert.deepEqual(readTag(Buffer.from("A1 NOOP")), { tag: "A1", end: 2 });
    assert.deepEqual(readTag(Buffer.from("1.1]x NOOP")), { tag: "1.1]x", end: 5 });
    assert.equal(readTag(Buffer.from("+x")), null);
    assert.equal(readTag(Buffer.from("")), null);
    assert.deepEqual(readTag(Buffer.from("a+")), { tag: "a", end: 1 });
  });
});
