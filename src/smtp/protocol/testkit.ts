// Test support for the resumable parsers: run an input whole, split at every byte boundary and
// one byte at a time, and insist on one answer. Used by the *.test.ts files and the fuzz tests.

import assert from "node:assert/strict";
import { DataReceiver, type DataReceiverOptions, type DataVerdict } from "./data-receiver.js";
import { LineReader, type LineResult } from "./line-reader.js";

/** Every chunking the table tests try: whole, cut in two at each boundary, and byte by byte. */
export function* chunkings(input: Buffer): Generator<Buffer[]> {
  yield [input];
  for (let k = 1; k < input.length; k++) yield [input.subarray(0, k), input.subarray(k)];
  if (input.length > 1) yield Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}

/** Cut `input` at the given (sorted or not, possibly repeated) offsets. */
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

/** Run `run` over every chunking of `input`; all results must deep-equal the whole-input one. */
export function sameForEveryChunking<T>(input: Buffer | string, run: (chunks: Buffer[]) => T): T {
  const buf = typeof input === "string" ? Buffer.from(input, "latin1") : input;
  const expected = run([buf]);
  for (const chunks of chunkings(buf)) {
    assert.deepStrictEqual(run(chunks), expected, `chunk sizes ${chunks.map((c) => c.length).join(",")}`);
  }
  return expected;
}

export type Framed = { kind: LineResult["kind"]; line?: string };

/**
 * Feed chunks to a LineReader like a session does: after each push read lines until null; when
 * `switchAfter(line)` is true, take the remainder and send all later bytes to `after` (DATA,
 * STARTTLS). Returns the framed lines, the switched-away bytes and the unconsumed tail.
 */
export function frameLines(
  chunks: readonly Buffer[],
  opts: { limit?: number; switchAfter?: (line: string) => boolean } = {},
): { lines: Framed[]; after: string | null; pending: string } {
  const reader = new LineReader(opts.limit);
  const lines: Framed[] = [];
  let after: Buffer[] | null = null;
  for (const chunk of chunks) {
    if (after) {
      after.push(chunk);
      continue;
    }
    reader.push(chunk);
    for (let r = reader.next(); r !== null; r = reader.next()) {
      const line = r.kind === "line" ? r.line.toString("latin1") : undefined;
      lines.push(line === undefined ? { kind: r.kind } : { kind: r.kind, line });
      if (line !== undefined && opts.switchAfter?.(line)) {
        after = [reader.takeRemainder()];
        break;
      }
    }
  }
  return {
    lines,
    after: after ? Buffer.concat(after).toString("latin1") : null,
    pending: after ? "" : reader.takeRemainder().toString("latin1"),
  };
}

export interface Received {
  done: boolean;
  content: Buffer;
  verdict: DataVerdict | null;
  remainder: Buffer;
}

/** Push chunks through a DataReceiver; content and remainder concatenated. */
export function receiveData(chunks: readonly Buffer[], opts: DataReceiverOptions = {}): Received {
  const r = new DataReceiver(opts);
  const content: Buffer[] = [];
  const remainder: Buffer[] = [];
  let verdict: DataVerdict | null = null;
  for (const chunk of chunks) {
    const res = r.push(chunk);
    content.push(...res.chunks);
    if (res.done) {
      verdict = res.verdict;
      remainder.push(res.remainder);
    }
  }
  return {
    done: verdict !== null,
    content: Buffer.concat(content),
    verdict,
    remainder: Buffer.concat(remainder),
  };
}
