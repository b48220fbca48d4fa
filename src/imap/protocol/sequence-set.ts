// Sequence sets (RFC 9051 §9 sequence-set, "$" of RFC 5182): parse, resolve against a mailbox,
// iterate and format. Resolution never expands ranges: "1:4294967295" is one pair of numbers.

import type { SeqNumber, SeqRange, SequenceSet } from "./types.js";

/** Largest message number or UID (RFC 9051 §9 nz-number: 32-bit). */
export const MAX_UINT32 = 4294967295;

/** Resolved numbers: ascending, non-overlapping, non-adjacent [lo, hi] pairs. */
export type Ranges = readonly (readonly [lo: number, hi: number])[];

const COMMA = 0x2c;
const COLON = 0x3a;
const STAR = 0x2a;
const DOLLAR = 0x24;

/**
 * Parse `bytes[start, end)` as one sequence-set; returns the set and the index after it, or an
 * error text. Stops at the first octet that cannot continue the set (the caller checks what follows).
 */
export function scanSequenceSet(
  bytes: Uint8Array,
  start: number,
  end: number,
): { set: SequenceSet; next: number } | { error: string } {
  if (start < end && bytes[start] === DOLLAR) return { set: SAVED, next: start + 1 };
  const ranges: SeqRange[] = [];
  let p = start;
  for (;;) {
    const a = scanSeqNumber(bytes, p, end);
    if (typeof a === "string") return { error: a };
    p = a.next;
    let to = a.value;
    if (p < end && bytes[p] === COLON) {
      const b = scanSeqNumber(bytes, p + 1, end);
      if (typeof b === "string") return { error: b };
      p = b.next;
      to = b.value;
    }
    ranges.push({ from: a.value, to });
    if (p < end && bytes[p] === COMMA) {
      p++;
      continue;
    }
    return { set: { kind: "set", ranges }, next: p };
  }
}

const SAVED: SequenceSet = Object.freeze({ kind: "saved" });

function scanSeqNumber(
  bytes: Uint8Array,
  start: number,
  end: number,
): { value: SeqNumber; next: number } | string {
  if (start >= end) return "sequence set ends early";
  if (bytes[start] === STAR) return { value: "*", next: start + 1 };
  let p = start;
  let v = 0;
  while (p < end) {
    const d = bytes[p]! - 0x30;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
    if (v > MAX_UINT32) return "number in sequence set out of range";
    p++;
  }
  if (p === start) return "invalid sequence set";
  if (v === 0) return "0 is not a valid message number";
  return { value: v, next: p };
}

/** Parse a whole string/Buffer as a sequence-set; null if anything is wrong. */
export function parseSequenceSet(text: string | Uint8Array): SequenceSet | null {
  const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  const r = scanSequenceSet(bytes, 0, bytes.length);
  return "error" in r || r.next !== bytes.length ? null : r.set;
}

/**
 * The numbers a set names when `*` is `largest` (the message count, or the highest UID — for an
 * empty mailbox RFC 9051 says UIDNEXT, the caller decides). Numbers above `largest` are kept (UIDs
 * that do not exist simply match nothing; for message numbers the caller answers BAD, see
 * `exceeds`). 0 never appears in the result.
 */
export function resolveSequenceSet(set: { readonly ranges: readonly SeqRange[] }, largest: number): Ranges {
  const pairs: [number, number][] = [];
  for (const r of set.ranges) {
    const a = r.from === "*" ? largest : r.from;
    const b = r.to === "*" ? largest : r.to;
    const lo = Math.max(1, Math.min(a, b));
    const hi = Math.max(a, b);
    if (hi >= lo) pairs.push([lo, hi]);
  }
  return normalizeRanges(pairs);
}

/** Sort and merge pairs (overlapping or adjacent) in place; returns the merged list. */
export function normalizeRanges(pairs: [number, number][]): Ranges {
  if (pairs.length <= 1) return pairs;
  let sorted = true;
  for (let i = 1; i < pairs.length; i++) {
    if (pairs[i]![0] < pairs[i - 1]![0]) {
      sorted = false;
      break;
    }
  }
  if (!sorted) pairs.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [pairs[0]!];
  for (let i = 1; i < pairs.length; i++) {
    const last = out[out.length - 1]!;
    const cur = pairs[i]!;
    if (cur[0] <= last[1] + 1) {
      if (cur[1] > last[1]) last[1] = cur[1];
    } else {
      out.push(cur);
    }
  }
  return out;
}

/**
 * True if the set names a message number beyond `count` — RFC 9051 §9 seq-number: the server
 * answers BAD, including for "*" in an empty mailbox. ("$" is checked by the session.)
 */
export function exceeds(set: SequenceSet, count: number): boolean {
  if (set.kind === "saved") return false;
  for (const r of set.ranges) {
    for (const n of [r.from, r.to]) {
      if (n === "*" ? count === 0 : n > count) return true;
    }
  }
  return false;
}

/** Is n in the ranges (binary search)? */
export function rangesHas(ranges: Ranges, n: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (n < r[0]) hi = mid - 1;
    else if (n > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** How many numbers the ranges hold. */
export function rangesCount(ranges: Ranges): number {
  let c = 0;
  for (const [lo, hi] of ranges) c += hi - lo + 1;
  return c;
}

/** Every number, ascending, lazily. */
export function* iterateRanges(ranges: Ranges): Generator<number> {
  for (const [lo, hi] of ranges) for (let n = lo; n <= hi; n++) yield n;
}

/**
 * The members of an ascending array (e.g. a mailbox's UIDs) that lie in the ranges, without
 * visiting numbers that are not in the array: O(array + ranges) at worst.
 */
export function selectSorted(sorted: readonly number[], ranges: Ranges): number[] {
  const out: number[] = [];
  let i = 0;
  for (const [lo, hi] of ranges) {
    i = lowerBound(sorted, lo, i);
    while (i < sorted.length && sorted[i]! <= hi) out.push(sorted[i++]!);
    if (i >= sorted.length) break;
  }
  return out;
}

function lowerBound(a: readonly number[], x: number, from: number): number {
  let lo = from;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Format numbers compactly in the order given, folding runs of consecutive ascending numbers:
 * [1,2,3,5,9,8] → "1:3,5,9,8". Order matters for UIDPLUS (RFC 4315 §3: COPYUID source and
 * destination sets correspond element by element); sort first for ESEARCH ALL.
 */
export function formatNumbers(nums: Iterable<number>): string {
  let out = "";
  let start = -1;
  let prev = -1;
  for (const n of nums) {
    if (start !== -1 && n === prev + 1) {
      prev = n;
      continue;
    }
    if (start !== -1) out += (out ? "," : "") + (prev === start ? `${start}` : `${start}:${prev}`);
    start = prev = n;
  }
  if (start !== -1) out += (out ? "," : "") + (prev === start ? `${start}` : `${start}:${prev}`);
  return out;
}

/** Format resolved ranges: [[1,3],[5,5]] → "1:3,5". */
export function formatRanges(ranges: Ranges): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}:${hi}`)).join(",");
}

/** Format a parsed set back to its wire form. */
export function formatSequenceSet(set: SequenceSet): string {
  if (set.kind === "saved") return "$";
  return set.ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`)).join(",");
}
