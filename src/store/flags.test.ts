import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyFlagOperation, normalizeFlags, sameFlags } from "./flags.js";
import { StoreError } from "./types.js";

describe("flag normalisation", () => {
  it("canonicalises system flags, keeps keyword spelling, dedupes, drops \\Recent", () => {
    assert.deepEqual(normalizeFlags(["work", "\\DRAFT", "\\seen", "Work", "\\Recent", "\\Seen", "$Junk"]), [
      "\\Seen",
      "\\Draft",
      "work",
      "$Junk",
    ]);
    assert.deepEqual(normalizeFlags([]), []);
  });

  it("refuses unknown system flags and keywords that are not atoms", () => {
    for (const bad of ["\\Important", "", "a b", "a(b", "x]", 'q"', "ü", "a*"]) {
      assert.throws(
        () => normalizeFlags([bad]),
        (e: unknown) => e instanceof StoreError && e.code === "invalid",
        bad,
      );
    }
  });

  it("applies add, remove and set", () => {
    assert.deepEqual(applyFlagOperation(["\\Seen", "a"], "add", ["\\Flagged", "A"]), [
      "\\Seen",
      "\\Flagged",
      "a",
    ]);
    assert.deepEqual(applyFlagOperation(["\\Seen", "a"], "remove", ["A", "\\Deleted"]), ["\\Seen"]);
    assert.deepEqual(applyFlagOperation(["\\Seen", "a"], "set", ["b"]), ["b"]);
  });

  it("compares as sets, case-insensitively", () => {
    assert.equal(sameFlags(["\\Seen", "a"], ["A", "\\Seen"]), true);
    assert.equal(sameFlags(["\\Seen"], ["\\Seen", "a"]), false);
    assert.equal(sameFlags(["a"], ["b"]), false);
  });
});
