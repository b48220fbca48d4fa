// The message spool of one SMTP transaction (DESIGN.md §5 step 2): DATA/BDAT bytes go into a blob
// writer and through the streaming MIME parser in the same pass, so a message is never held whole
// in memory and never read back. Memory: the parser's bounded state plus the extracted text
// (capped by textLimit characters).
//
// Failure: the first error of the blob writer (ENOSPC, EIO, …) aborts the writer, which removes
// its temporary file; that same error object is then what every later write()/finish() rejects
// with, so the session can map err.code (ENOSPC → 452 4.3.1, else 451 4.3.0).

import { decodeWords } from "../mail/header.js";
import { MimeParser } from "../mail/mime-parser.js";
import type { EnvelopeAddress, MimeLimits, MimeNode } from "../mail/mime-types.js";
import { type BlobWriter, type MailStore, MAX_STORED_HEADER } from "../store/types.js";
import type { SpooledMessage } from "./types.js";

/** default cap on the decoded text kept for the full-text index (characters) */
export const DEFAULT_TEXT_LIMIT = 1024 * 1024;

export interface SpoolOptions {
  limits?: Partial<MimeLimits>;
  /** most characters of decoded body text for the index; default 1 MiB */
  textLimit?: number;
  /** rewrites the stream before it is stored and parsed (e.g. removes forged Authentication-Results) */
  transform?: ChunkTransform;
}

/** A resumable byte filter: push returns what may pass now, end what was still held back. */
export interface ChunkTransform {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
}

type State = "open" | "finishing" | "finished" | "failed" | "aborted";

export class MessageSpool {
  private readonly writer: BlobWriter;
  private readonly parser: MimeParser;
  private readonly text: string[] = [];
  private lastTextNode: MimeNode | null = null;
  /** copies of the first MAX_STORED_HEADER bytes: the top-level header section, when it fits */
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private bytes = 0;
  private state: State = "open";
  private error: unknown = null;
  private finishing: Promise<SpooledMessage> | null = null;
  private readonly transform: ChunkTransform | undefined;

  constructor(store: MailStore, opts: SpoolOptions = {}) {
    this.transform = opts.transform;
    this.writer = store.blobs.createWriter();
    this.parser = new MimeParser({
      limits: opts.limits,
      textLimit: opts.textLimit ?? DEFAULT_TEXT_LIMIT,
      onText: (chunk, node) => {
        // parts are separated so words of adjacent parts do not run together
        if (node !== this.lastTextNode && this.text.length > 0) this.text.push("\n");
        this.lastTextNode = node;
        this.text.push(chunk);
      },
    });
  }

  /** bytes written so far */
  get size(): number {
    return this.bytes;
  }

  /**
   * Appends a chunk. Resolves once the blob writer has taken it (back-pressure); the caller may
   * reuse the buffer afterwards. The parser runs while the write is in flight.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.state !== "open") throw this.stateError("write to");
    if (this.transform) chunk = this.transform.push(chunk);
    await this.store(chunk);
  }

  private async store(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.bytes += chunk.length;
    if (this.headBytes < MAX_STORED_HEADER) {
      // copied: the caller may reuse its buffer once write() resolves
      const take = Buffer.from(chunk.subarray(0, MAX_STORED_HEADER - this.headBytes));
      this.head.push(take);
      this.headBytes += take.length;
    }
    const written = this.writer.write(chunk);
    this.parser.push(chunk);
    try {
      await written;
    } catch (err) {
      throw await this.fail(err);
    }
  }

  /** Makes the blob durable (fsync) and returns it with its parse result. Idempotent. */
  finish(): Promise<SpooledMessage> {
    if (this.finishing !== null) return this.finishing;
    if (this.state !== "open") return Promise.reject(this.stateError("finish"));
    this.state = "finishing";
    this.finishing = this.doFinish();
    return this.finishing;
  }

  /**
   * Drops the temporary file. Safe to call twice, after a failure and after finish(): a finished
   * blob is left alone (it may be shared; unreferenced blobs are garbage-collected).
   */
  async abort(): Promise<void> {
    if (this.state === "finishing") await this.finishing?.catch(() => undefined);
    if (this.state !== "open") return;
    this.state = "aborted";
    await this.writer.abort();
  }

  private async doFinish(): Promise<SpooledMessage> {
    // what the transform still held back (a header section without a body) goes in first
    if (this.transform) await this.store(this.transform.end());
    const parsed = this.parser.end();
    let blob: { id: string; size: number };
    try {
      blob = await this.writer.finish();
    } catch (err) {
      throw await this.fail(err);
    }
    if (blob.size !== this.bytes) {
      // cannot happen with a correct writer; never deliver a blob that is not what we received
      throw await this.fail(new Error(`blob ${blob.id} has ${blob.size} bytes, ${this.bytes} were written`));
    }
    this.state = "finished";
    const env = parsed.envelope;
    const head = [
      parsed.subject ?? "",
      addressText(env.from),
      addressText(env.to),
      addressText(env.cc),
    ].filter((s) => s !== "");
    const body = this.text.join("");
    this.text.length = 0;
    const out: SpooledMessage = {
      blobId: blob.id,
      size: blob.size,
      mime: parsed.root,
      envelope: env,
      searchText: body === "" ? head.join("\n") : `${head.join("\n")}\n${body}`,
      defects: parsed.defects,
    };
    const headerEnd = parsed.root.headerEnd;
    if (headerEnd <= this.headBytes) {
      const kept = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head, this.headBytes);
      out.header = kept.length === headerEnd ? kept : Buffer.from(kept.subarray(0, headerEnd));
    }
    this.head.length = 0;
    return out;
  }

  /** Records the first failure, removes the temporary file, returns the error to throw. */
  private async fail(err: unknown): Promise<unknown> {
    if (this.state === "failed" || this.state === "aborted") return this.error ?? err;
    this.state = "failed";
    this.error = err;
    await this.writer.abort().catch(() => undefined);
    return err;
  }

  private stateError(what: string): unknown {
    if (this.state === "failed") return this.error;
    return new Error(`cannot ${what} a message spool that is ${this.state}`);
  }
}

/** Display names (RFC 2047 decoded) and addresses, for the index. */
function addressText(list: EnvelopeAddress[]): string {
  const out: string[] = [];
  for (const a of list) {
    if (a.name !== null && a.name !== "") out.push(decodeWords(a.name));
    if (a.mailbox !== null && a.host !== null) out.push(`${a.mailbox}@${a.host}`);
  }
  return out.join(" ");
}
