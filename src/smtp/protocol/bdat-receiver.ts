// The BDAT receiver (RFC 3030 §2): each chunk is exactly n octets of binary data, with no dot
// stuffing and no terminator. One receiver lives for a whole transaction so that the size limit
// applies to the sum of its chunks; the session handles LAST and RSET.

import { isAscii } from "node:buffer";

export interface BdatReceiverOptions {
  /** Largest message (sum of chunks) to pass on; beyond it content is drained. Default: none. */
  readonly maxSize?: number;
}

export interface BdatVerdict {
  /** Octets received in all chunks so far (counted in full even when too big). */
  readonly size: number;
  /** size > maxSize: answer 552 5.3.4 after the chunk has been drained (RFC 3030 §2). */
  readonly tooBig: boolean;
  /** Octets ≥ 0x80 seen (not allowed with BODY=7BIT). */
  readonly eightBit: boolean;
}

export type BdatPushResult =
  | { readonly done: false; readonly chunks: Buffer[] }
  /** The current chunk is complete; remainder: the bytes after it (next command). */
  | { readonly done: true; readonly chunks: Buffer[]; readonly remainder: Buffer };

export class BdatReceiver {
  private readonly maxSize: number;
  private left = 0;
  private size = 0;
  private eightBit = false;

  constructor(opts: BdatReceiverOptions = {}) {
    this.maxSize = opts.maxSize ?? Number.POSITIVE_INFINITY;
  }

  /** Start a chunk of `chunkSize` octets (from "BDAT chunkSize [LAST]"). */
  begin(chunkSize: number): void {
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 0)
      throw new RangeError(`bad BDAT chunk size ${chunkSize}`);
    this.left = chunkSize;
  }

  /** Octets of the current chunk still expected. */
  get remaining(): number {
    return this.left;
  }

  get verdict(): BdatVerdict {
    return { size: this.size, tooBig: this.size > this.maxSize, eightBit: this.eightBit };
  }

  /** Forget everything (RSET, or a new transaction). */
  reset(): void {
    this.left = 0;
    this.size = 0;
    this.eightBit = false;
  }

  /** Feed bytes; once the chunk is complete the rest comes back as remainder. Never throws. */
  push(chunk: Buffer): BdatPushResult {
    const take = Math.min(this.left, chunk.length);
    const chunks: Buffer[] = [];
    if (take > 0) {
      const data = take === chunk.length ? chunk : chunk.subarray(0, take);
      if (!this.eightBit && !isAscii(data)) this.eightBit = true;
      const room = this.maxSize - this.size;
      if (room >= take) chunks.push(data);
      else if (room > 0) chunks.push(data.subarray(0, room));
      this.size += take;
      this.left -= take;
    }
    if (this.left > 0) return { done: false, chunks };
    return { done: true, chunks, remainder: take === chunk.length ? Buffer.alloc(0) : chunk.subarray(take) };
  }
}
