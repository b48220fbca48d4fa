import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sameForEveryChunking } from "../../smtp/protocol/testkit.js";
import { parseCommand } from "./parse-command.js";
import { ImapReceiver } from "./receiver.js";
import {
  exceeds,
  formatNumbers,
  formatRanges,
  formatSequenceSet,
  iterateRanges,
  parseSequenceSet,
  rangesCount,
  rangesHas,
  resolveSequenceSet,
  selectSorted,
} from "./sequence-set.js";
import type { SeqRange, SequenceSet } from "./types.js";

const n = (from: number | "*", to: number | "*" = from): SeqRange => ({ from, to });
const set = (...ranges: SeqRange[]): Extract<SequenceSet, { kind: "set" }> => ({ kind: "set", ranges });

/** The set as FETCH reads it, through the receiver, for every chunking. */
function viaFetch(text: string): SequenceSet | string {
  return sameForEveryChunking(`a FETCH ${text} FLAGS\r\n`, (chunks) => {
    const r = new ImapReceiver();
    let out: SequenceSet | string = "none";
    for (const c of chunks) {
      r.push(c);
      for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
        if (e.kind !== "request") continue;
        const p = parseCommand(e);
        out = p.ok ? (p.command as { set: SequenceSet }).set : p.text;
      }
    }
    return out;
  });
}

describe("parseSequenceSet", () => {
  const ok: [string, SequenceSet][] = [
    ["1", set(n(1))],
    ["1:*", set(n(1, "*"))],
    ["*", set(n("*"))],
    ["*:4,5:7", set(n("*", 4), n(5, 7))],
    ["2,4:7,9,12:*", set(n(2), n(4, 7), n(9), n(12, "*"))],
    ["4294967295", set(n(4294967295))],
    ["1:4294967295", set(n(1, 4294967295))],
    ["007", set(n(7))],
    ["$", { kind: "saved" }],
  ];
  for (const [text, expected] of ok) {
    it(text, () => {
      assert.deepEqual(parseSequenceSet(text), expected);
      assert.deepEqual(viaFetch(text), expected);
    });
  }
  const bad = [
    "",
    "0",
    "1:0",
    "4294967296",
    "1,",
    ",1",
    "1::2",
    "1:",
    ":1",
    "a",
    "1 2",
    "$,1",
    "1,$",
    "$$",
    "-1",
    "**",
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.equal(parseSequenceSet(text), null));
  }
});

describe("resolveSequenceSet", () => {
  it("'*' is the largest number; ranges in either order; overlaps merged", () => {
    assert.deepEqual(resolveSequenceSet(set(n("*", 4), n(5, 7)), 10), [[4, 10]]);
    assert.deepEqual(resolveSequenceSet(set(n(2), n(4, 7), n(9), n(12, "*")), 15), [
      [2, 2],
      [4, 7],
      [9, 9],
      [12, 15],
    ]);
    assert.deepEqual(resolveSequenceSet(set(n(9, 3), n(1), n(2)), 100), [[1, 9]]);
  });
  it("UID n:* includes the last UID even when it is below n (RFC 9051 §9 seq-range)", () => {
    assert.deepEqual(resolveSequenceSet(set(n(3291, "*")), 3000), [[3000, 3291]]);
  });
  it("never expands: 1:4294967295 is one pair", () => {
    const r = resolveSequenceSet(set(n(1, 4294967295)), 5);
    assert.deepEqual(r, [[1, 4294967295]]);
    assert.equal(rangesCount(r), 4294967295);
    assert.ok(rangesHas(r, 4000000000));
    const it3 = iterateRanges(r);
    assert.deepEqual([it3.next().value, it3.next().value, it3.next().value], [1, 2, 3]);
  });
  it("an empty mailbox: '*' resolves to the given largest (0), never to 0 itself", () => {
    assert.deepEqual(resolveSequenceSet(set(n("*")), 0), []);
    assert.deepEqual(resolveSequenceSet(set(n(1, "*")), 0), [[1, 1]]);
  });
  it("rangesHas / selectSorted", () => {
    const r = resolveSequenceSet(set(n(2, 4), n(10, 20), n(100)), 1000);
    assert.deepEqual(
      [1, 2, 4, 5, 10, 20, 21, 100, 101].map((x) => rangesHas(r, x)),
      [false, true, true, false, true, true, false, true, false],
    );
    assert.deepEqual(selectSorted([1, 3, 5, 15, 99, 100, 4000], r), [3, 15, 100]);
    assert.deepEqual(selectSorted([], r), []);
  });
  it("exceeds: message numbers beyond the count, '*' in an empty mailbox", () => {
    assert.equal(exceeds(set(n(1, 5)), 5), false);
    assert.equal(exceeds(set(n(1, 6)), 5), true);
    assert.equal(exceeds(set(n(1, "*")), 5), false);
    assert.equal(exceeds(set(n("*")), 0), true);
    assert.equal(exceeds({ kind: "saved" }, 0), false);
  });
});

describe("formatting", () => {
  it("formatNumbers keeps the order (UIDPLUS) and folds ascending runs", () => {
    assert.equal(formatNumbers([1, 2, 3, 5, 9, 8, 10, 11]), "1:3,5,9,8,10:11");
    assert.equal(formatNumbers([304, 319, 320]), "304,319:320");
    assert.equal(formatNumbers([]), "");
    assert.equal(formatNumbers([7]), "7");
  });
  it("formatRanges / formatSequenceSet", () => {
    assert.equal(
      formatRanges([
        [1, 3],
        [5, 5],
      ]),
      "1:3,5",
    );
    assert.equal(formatSequenceSet(set(n(1, "*"), n(4))), "1:*,4");
    assert.equal(formatSequenceSet({ kind: "saved" }), "$");
  });
});
