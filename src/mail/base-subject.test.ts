// RFC 5256 §2.1 base subject extraction and the i;unicode-casemap collation key.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { baseSubject, compareCodePoints, unicodeCasemap } from "./base-subject.js";

describe("base subject (RFC 5256 §2.1)", () => {
  const cases: [string, string, boolean][] = [
    ["foo", "foo", false],
    ["", "", false],
    ["Re: foo", "foo", true],
    ["RE: Re: re:foo", "foo", true],
    ["Fwd: foo", "foo", true],
    ["FW: foo", "foo", true],
    ["fw : foo", "foo", true],
    ["Re [2]: foo", "foo", true],
    ["Re[2]:foo", "foo", true],
    ["[PATCH] foo", "foo", false],
    ["[PATCH] Re: foo", "foo", true],
    ["[a] [b] Re: foo", "foo", true],
    ["Re: [PATCH]", "[PATCH]", true],
    ["[a][b]", "[b]", false],
    ["Re: Fwd: [foo] [bar] baz", "baz", true],
    ["foo (fwd)", "foo", true],
    ["foo (FWD) (fwd)  ", "foo", true],
    ["[fwd: foo]", "foo", true],
    ["[Fwd: Re: foo (fwd)]", "foo", true],
    ["Re: [fwd: [list] Re: foo]", "foo", true],
    ["[fwd: foo", "[fwd: foo", false],
    ["  multiple   spaces\tand\r\n tabs ", "multiple spaces and tabs", false],
    ["Re:", "", true],
    ["Rework: x", "Rework: x", false],
    ["fwd", "fwd", false],
    ["Réponse: x", "Réponse: x", false],
    ["Re: Grüße aus Köln", "Grüße aus Köln", true],
  ];
  for (const [input, base, reply] of cases) {
    it(JSON.stringify(input), () => {
      assert.deepEqual(baseSubject(input), { base, replyOrForward: reply });
    });
  }
});

describe("i;unicode-casemap", () => {
  it("ASCII upper-cases", () => assert.equal(unicodeCasemap("Hello, World"), "HELLO, WORLD"));
  it("non-ASCII: simple mapping, then canonical decomposition", () => {
    assert.equal(unicodeCasemap("é"), "E\u0301");
    assert.equal(unicodeCasemap("straße"), "STRAßE"); // ß has no single-character uppercase
    assert.equal(unicodeCasemap("ǆ"), "ǅ"); // titlecase, not uppercase
    assert.equal(unicodeCasemap("Ǆemal"), "ǅEMAL");
    assert.equal(unicodeCasemap("𐐨"), "𐐀");
    assert.equal(unicodeCasemap("Köln"), unicodeCasemap("KÖLN"));
  });
  it("compares by code point", () => {
    assert.ok(compareCodePoints("a", "b") < 0);
    assert.ok(compareCodePoints("", "a") < 0);
    assert.ok(compareCodePoints("ab", "a") > 0);
    assert.ok(compareCodePoints("\uffff", "\u{10000}") < 0); // UTF-16 order says the opposite
    assert.ok(compareCodePoints("\u{10000}", "\u{10001}") < 0);
    assert.equal(compareCodePoints("x", "x"), 0);
  });
});
