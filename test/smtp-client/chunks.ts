// Re-running a resumable parser over every way its input can arrive.
import assert from "node:assert/strict";

/** Whole, cut in two at every boundary, and one byte at a time. */
export function* chunkings(input: Buffer): Generator<Buffer[]> {
  yield [input];
  for (let k = 1; k < input.length; k++) yield [input.subarray(0, k), input.subarray(k)];
  if (input.length > 1) yield Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}

/** Cut `input` at the given offsets (any order, repeats and out-of-range values allowed). */
export function cutAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(input.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(input.subarray(prev, p));
    prev = p;
  }
  out.push(input.subarray(prev));
  return out;
}

/** Runs `run` over every chunking; all must deep-equal the whole-input result, which is returned. */
export function sameForEveryChunking<T>(input: Buffer | string, run: (chunks: Buffer[]) => T): T {
  const buf = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const expected = run([buf]);
  for (const chunks of chunkings(buf))
    assert.deepStrictEqual(run(chunks), expected, `chunk sizes ${chunks.map((c) => c.length).join(",")}`);
  return expected;
}

export const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);
