// FETCH data items (RFC 9051 §6.4.5, §7.5.2; BINARY of RFC 3516; MODSEQ of RFC 7162) for one
// message: which items a request needs (the plan), each item's value prepared before anything of
// the message is written (so a failure such as UNKNOWN-CTE never leaves half a response on the
// wire), and the writing itself, streaming section bodies from ranged blob reads.
//
// FLAGS, UID, INTERNALDATE, RFC822.SIZE and MODSEQ come from the session's view; only ENVELOPE,
// BODYSTRUCTURE/BODY and section items need the stored record.
import { body, bodyStructure } from "../../mail/bodystructure.js";
import { imapEnvelope } from "../../mail/imap-envelope.js";
import {
  applyPartial,
  type ByteRange,
  createByteDecoder,
  decodeAll,
  decodedSize,
  filterHeaderFields,
  rangeSource,
  resolveBinarySection,
  resolveSection,
  splitRange,
} from "../../mail/sections.js";
import type { MailStore, MessageRecord } from "../../store/types.js";
import {
  type ByteSink,
  dateTime,
  FetchResponseWriter,
  flagList,
  modseqValue,
  withOrigin,
} from "../protocol/compose.js";
import { formatSection } from "../protocol/fetch-items.js";
import type { FetchItem, Section } from "../protocol/types.js";
import type { MessageState, SelectedMailbox } from "./selected-mailbox.js";

export interface FetchPlan {
  /** the items to answer, deduplicated, in the order asked (UID first for UID FETCH) */
  items: readonly FetchItem[];
  /** some item needs the message record (envelope, MIME tree or content) */
  needsRecord: boolean;
  /** some item implicitly sets \Seen (BODY[…], BINARY[…], RFC822, RFC822.TEXT) */
  setsSeen: boolean;
  /** MODSEQ asked for, or implied by CHANGEDSINCE: a CONDSTORE enabling command */
  modseq: boolean;
  flags: boolean;
  uid: boolean;
  /** RFC822.SIZE or INTERNALDATE: the view's sizes and dates must be loaded */
  details: boolean;
  /**
   * some item reads the top-level header section (BODY[HEADER], HEADER.FIELDS[.NOT], RFC822.HEADER,
   * 1.MIME): the record is read with the stored header section (MessageRecord.header)
   */
  header: boolean;
}

const RECORD_ITEMS = new Set<string>([
  "ENVELOPE",
  "BODYSTRUCTURE",
  "BODY",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
  "BODY[]",
  "BINARY[]",
  "BINARY.SIZE[]",
]);

/** The plan of a FETCH, or the reason for a BAD. */
export function planFetch(
  requested: readonly FetchItem[],
  opts: { uid: boolean; changedSince: boolean },
): FetchPlan | { error: string } {
  const items: FetchItem[] = [];
  const seen = new Set<string>();
  const add = (it: FetchItem): void => {
    const key = JSON.stringify(it);
    if (seen.has(key)) return;
    seen.add(key);
    items.push(it);
  };
  // Dovecot and most servers put UID first; RFC 9051 §6.4.9: UID FETCH always returns it.
  if (opts.uid) add({ type: "UID" });
  for (const it of requested) {
    if (it.type === "BODY[]") {
      const sec = it.section;
      if (sec.text === "MIME" && sec.part.length === 0) return { error: "MIME needs a part number" };
      if (
        (sec.text === "HEADER.FIELDS" || sec.text === "HEADER.FIELDS.NOT") &&
        (sec.fields?.length ?? 0) === 0
      ) {
        return { error: `${sec.text} needs field names` };
      }
    }
    add(it);
  }
  // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ
  if (opts.changedSince) add({ type: "MODSEQ" });
  let needsRecord = false;
  let setsSeen = false;
  for (const it of items) {
    if (RECORD_ITEMS.has(it.type)) needsRecord = true;
    if (
      it.type === "RFC822" ||
      it.type === "RFC822.TEXT" ||
      ((it.type === "BODY[]" || it.type === "BINARY[]") && !it.peek)
    ) {
      setsSeen = true;
    }
  }
  return {
    items,
    needsRecord,
    setsSeen,
    modseq: items.some((i) => i.type === "MODSEQ"),
    flags: items.some((i) => i.type === "FLAGS"),
    uid: items.some((i) => i.type === "UID"),
    details: items.some((i) => i.type === "RFC822.SIZE" || i.type === "INTERNALDATE"),
    header: items.some(readsHeader),
  };
}

const HEADER_TEXTS = new Set(["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"]);

/**
 * Whether an item may be answered from the top-level header section: RFC822.HEADER, [HEADER…] of the
 * message, and 1.MIME (of a message that is not multipart, the top-level header too). Sections of
 * nested messages lie outside it and are read from the blob.
 */
function readsHeader(it: FetchItem): boolean {
  if (it.type === "RFC822.HEADER") return true;
  if (it.type !== "BODY[]") return false;
  const { part, text } = it.section;
  if (part.length === 0) return text != null && HEADER_TEXTS.has(text);
  return part.length === 1 && part[0] === 1 && text === "MIME";
}

export interface FetchContext {
  store: MailStore;
  /** UTF-8 strings allowed (IMAP4rev2 / UTF8=ACCEPT) */
  utf8: boolean;
  /** IMAP4rev1 session: FLAGS include \Recent */
  rev1: boolean;
  recent: ReadonlySet<number>;
  /** CONDSTORE is on: every FETCH with FLAGS carries MODSEQ (RFC 7162 §3.1) */
  condstore: boolean;
  /** QRESYNC is on: FETCH responses the server adds FLAGS to carry UID (RFC 7162 §3.2.4) */
  qresync: boolean;
}

/** One item's value, ready to write. */
export type Prepared =
  | { kind: "text"; name: string; text: string }
  | { kind: "bytes"; name: string; data: Buffer; literal8: boolean }
  | { kind: "stream"; name: string; size: number; open: () => AsyncIterable<Uint8Array>; literal8: boolean };

export interface FetchFailure {
  text: string;
  code?: string;
}

/** Parts decoded in memory up to this encoded size; larger ones are decoded twice while streaming. */
const DECODE_IN_MEMORY = 1024 * 1024;

type Outcome = Prepared[] | { fail: FetchFailure };

/**
 * Every value of one message's response. `flagsChanged`: this FETCH just set \Seen, so FLAGS is
 * added (RFC 9051 §6.4.5) — with UID and MODSEQ where CONDSTORE/QRESYNC want them. Synchronous
 * when no item needs the record: `FETCH 1:* (FLAGS)` on a large mailbox never waits per message.
 */
export function prepareMessage(
  ctx: FetchContext,
  plan: FetchPlan,
  m: MessageState,
  rec: MessageRecord | null,
  flagsChanged: boolean,
): Outcome | Promise<Outcome> {
  if (!plan.needsRecord) {
    return finish(
      ctx,
      plan,
      m,
      plan.items.map((it) => viewItem(ctx, it, m)!),
      flagsChanged,
    );
  }
  return prepareWithRecord(ctx, plan, m, rec!, flagsChanged);
}

async function prepareWithRecord(
  ctx: FetchContext,
  plan: FetchPlan,
  m: MessageState,
  rec: MessageRecord,
  flagsChanged: boolean,
): Promise<Outcome> {
  const out: Prepared[] = [];
  for (const it of plan.items) {
    const v = viewItem(ctx, it, m) ?? (await recordItem(ctx, it, rec));
    if ("fail" in v) return v;
    out.push(v);
  }
  return finish(ctx, plan, m, out, flagsChanged);
}

function finish(
  ctx: FetchContext,
  plan: FetchPlan,
  m: MessageState,
  out: Prepared[],
  flagsChanged: boolean,
): Outcome {
  const withFlags = plan.flags || flagsChanged;
  if (flagsChanged && !plan.flags) out.push(text("FLAGS", flagsValue(ctx, m)));
  if (flagsChanged && ctx.qresync && !plan.uid) out.unshift(text("UID", String(m.uid)));
  if (withFlags && ctx.condstore && !plan.modseq) out.push(text("MODSEQ", modseqValue(m.modseq)));
  return out;
}

function text(name: string, value: string): Prepared {
  return { kind: "text", name, text: value };
}

export function flagsValue(ctx: Pick<FetchContext, "rev1" | "recent">, m: MessageState): string {
  return flagsText(ctx, m.uid, m.flags);
}

function flagsText(
  ctx: Pick<FetchContext, "rev1" | "recent">,
  uid: number,
  flags: readonly string[],
): string {
  if (ctx.rev1 && ctx.recent.has(uid)) return flagList([...flags, "\\Recent"]);
  // the view's flag lists are interned (one array per distinct list): render each once
  let text = flagTexts.get(flags);
  if (text === undefined) {
    text = flagList(flags);
    flagTexts.set(flags, text);
  }
  return text;
}

/**
 * `* seq FETCH (…)` CRLF for a plan whose items all come from the view (no record, so no \Seen
 * change either), as prepareMessage and writeMessage would make it, without an object per message:
 * FETCH 1:* (FLAGS) on a big mailbox. Sizes and dates must have been loaded (plan.details).
 */
export function viewResponse(ctx: FetchContext, plan: FetchPlan, view: SelectedMailbox, seq: number): string {
  const uid = view.uidAt(seq);
  let line = `* ${seq} FETCH (`;
  const items = plan.items;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (i > 0) line += " ";
    switch (it.type) {
      case "FLAGS":
        line += `FLAGS ${flagsText(ctx, uid, view.flagsAt(seq))}`;
        break;
      case "UID":
        line += `UID ${uid}`;
        break;
      case "INTERNALDATE":
        line += `INTERNALDATE ${dateTime(new Date(view.internalDateAt(seq)))}`;
        break;
      case "RFC822.SIZE":
        line += `RFC822.SIZE ${view.sizeAt(seq)}`;
        break;
      case "MODSEQ":
        line += `MODSEQ ${modseqValue(view.modseqAt(seq))}`;
        break;
      default:
        throw new Error(`${it.type} needs the message record`);
    }
  }
  // as finish(): FLAGS under CONDSTORE carry MODSEQ (RFC 7162 §3.1)
  if (plan.flags && ctx.condstore && !plan.modseq) line += ` MODSEQ ${modseqValue(view.modseqAt(seq))}`;
  return `${line})\r\n`;
}

const flagTexts = new WeakMap<readonly string[], string>();

/** An item answered from the view, or undefined when it needs the record. */
function viewItem(ctx: FetchContext, it: FetchItem, m: MessageState): Prepared | undefined {
  switch (it.type) {
    case "FLAGS":
      return text("FLAGS", flagsValue(ctx, m));
    case "UID":
      return text("UID", String(m.uid));
    case "INTERNALDATE":
      return text("INTERNALDATE", dateTime(m.internalDate));
    case "RFC822.SIZE":
      return text("RFC822.SIZE", String(m.size));
    case "MODSEQ":
      return text("MODSEQ", modseqValue(m.modseq));
    default:
      return undefined;
  }
}

async function recordItem(
  ctx: FetchContext,
  it: FetchItem,
  rec: MessageRecord,
): Promise<Prepared | { fail: FetchFailure }> {
  switch (it.type) {
    case "ENVELOPE":
      return text("ENVELOPE", imapEnvelope(rec.envelope, { utf8: ctx.utf8 }));
    case "BODYSTRUCTURE":
      return text("BODYSTRUCTURE", bodyStructure(rec.mime, { utf8: ctx.utf8 }));
    case "BODY":
      return text("BODY", body(rec.mime, { utf8: ctx.utf8 }));
    // RFC 9051 §6.4.5 (RFC 3501): RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER], RFC822.TEXT = BODY[TEXT]
    case "RFC822":
      return bodySection(ctx, rec, "RFC822", { part: [] });
    case "RFC822.HEADER":
      return bodySection(ctx, rec, "RFC822.HEADER", { part: [], text: "HEADER" });
    case "RFC822.TEXT":
      return bodySection(ctx, rec, "RFC822.TEXT", { part: [], text: "TEXT" });
    case "BODY[]":
      return bodySection(
        ctx,
        rec,
        withOrigin(`BODY[${formatSection(it.section)}]`, it.partial?.offset),
        it.section,
        it.partial,
      );
    case "BINARY[]":
      return binarySection(ctx, rec, it.part, it.partial);
    case "BINARY.SIZE[]":
      return binarySize(ctx, rec, it.part);
    default:
      throw new Error(`${it.type} is answered from the view`);
  }
}

// ---------------------------------------------------------------------------------------------
// BODY[section]

function blobReader(
  ctx: FetchContext,
  rec: MessageRecord,
): (a: number, b: number) => AsyncIterable<Uint8Array> {
  return (a, b) => ctx.store.blobs.createReadStream(rec.blobId, a, b);
}

/** A range of the full message (prefix + blob) read into memory: only for bounded ranges. */
async function readRange(ctx: FetchContext, rec: MessageRecord, range: ByteRange): Promise<Buffer> {
  const held = heldRange(rec, range);
  if (held !== null) return held;
  const { prefix, blob } = splitRange(range, rec.prefix.length);
  const parts: Buffer[] = [];
  if (prefix) parts.push(rec.prefix.subarray(prefix.start, prefix.end));
  if (blob) parts.push(await ctx.store.blobs.read(rec.blobId, blob.start, blob.end));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * A range of the full message that the record holds in memory: within the trace prefix and the
 * stored top-level header section (MessageRecord.header, the blob's first bytes), so no blob read.
 * null: some of it is only in the blob (or the record came without a stored header).
 */
function heldRange(rec: MessageRecord, range: ByteRange): Buffer | null {
  const p = rec.prefix.length;
  if (range.end > p + (rec.header?.length ?? 0)) return null;
  const { prefix, blob } = splitRange(range, p);
  const a = prefix ? rec.prefix.subarray(prefix.start, prefix.end) : null;
  const b = blob ? rec.header!.subarray(blob.start, blob.end) : null;
  if (a && b) return Buffer.concat([a, b]);
  return a ?? b ?? Buffer.alloc(0);
}

async function bodySection(
  ctx: FetchContext,
  rec: MessageRecord,
  name: string,
  section: Section,
  partial?: { offset: number; length: number },
): Promise<Prepared> {
  const res = resolveSection(rec.mime, rec.prefix.length, section);
  switch (res.kind) {
    case "empty":
    case "invalid": // refused by planFetch already
      return text(name, '""');
    case "range": {
      const r = applyPartial(res.range.end - res.range.start, partial);
      const abs = { start: res.range.start + r.start, end: res.range.start + r.end };
      // BODY[HEADER], RFC822.HEADER: from the stored header section when the record has it
      const held = heldRange(rec, abs);
      if (held !== null) return { kind: "bytes", name, data: held, literal8: false };
      return {
        kind: "stream",
        name,
        size: abs.end - abs.start,
        open: () => rangeSource(rec.prefix, abs, blobReader(ctx, rec)),
        literal8: false,
      };
    }
    case "fields": {
      // The header block is bounded by the parser's header limit; the partial applies after
      // subsetting (RFC 9051 §6.4.5 note).
      const filtered = filterHeaderFields(await readRange(ctx, rec, res.range), res.fields, res.not);
      const r = applyPartial(filtered.length, partial);
      return { kind: "bytes", name, data: filtered.subarray(r.start, r.end), literal8: false };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BINARY[part] and BINARY.SIZE[part] (RFC 3516, RFC 9051 §6.4.5)

const IDENTITY = new Set(["7bit", "8bit", "binary"]);

type BinaryLeaf = { range: ByteRange; encoding: string; literal8: boolean };

function binaryLeaf(rec: MessageRecord, part: readonly number[]): BinaryLeaf | null | { fail: FetchFailure } {
  const res = resolveBinarySection(rec.mime, rec.prefix.length, part);
  switch (res.kind) {
    case "empty":
      return null;
    case "unknown-cte":
      return { fail: { text: `Unknown Content-Transfer-Encoding ${res.encoding}`, code: "UNKNOWN-CTE" } };
    case "not-leaf":
      return { fail: { text: "BINARY is only for leaf body parts" } };
    case "range":
      return res;
  }
}

async function binarySection(
  ctx: FetchContext,
  rec: MessageRecord,
  part: readonly number[],
  partial?: { offset: number; length: number },
): Promise<Prepared | { fail: FetchFailure }> {
  const name = withOrigin(`BINARY[${part.join(".")}]`, partial?.offset);
  const leaf = binaryLeaf(rec, part);
  if (leaf === null) return text(name, '""');
  if ("fail" in leaf) return leaf;
  const { range, encoding } = leaf;
  const encodedSize = range.end - range.start;
  if (IDENTITY.has(encoding)) {
    const r = applyPartial(encodedSize, partial);
    const abs = { start: range.start + r.start, end: range.start + r.end };
    return {
      kind: "stream",
      name,
      size: abs.end - abs.start,
      open: () => rangeSource(rec.prefix, abs, blobReader(ctx, rec)),
      literal8: leaf.literal8,
    };
  }
  if (encodedSize <= DECODE_IN_MEMORY) {
    const decoded = decodeAll(await readRange(ctx, rec, range), encoding)!;
    const r = applyPartial(decoded.length, partial);
    const data = decoded.subarray(r.start, r.end);
    // RFC 9051 §7.5.2: data without NUL SHOULD go as a plain string rather than literal8
    return { kind: "bytes", name, data, literal8: data.includes(0) };
  }
  // Large encoded part: one pass to count the decoded size, a second one to stream it.
  const size = await decodedSize(rangeSource(rec.prefix, range, blobReader(ctx, rec)), encoding);
  const r = applyPartial(size ?? 0, partial);
  return {
    kind: "stream",
    name,
    size: r.end - r.start,
    open: () => decodeSlice(rangeSource(rec.prefix, range, blobReader(ctx, rec)), encoding, r.start, r.end),
    literal8: true,
  };
}

async function binarySize(
  ctx: FetchContext,
  rec: MessageRecord,
  part: readonly number[],
): Promise<Prepared | { fail: FetchFailure }> {
  const name = `BINARY.SIZE[${part.join(".")}]`;
  const leaf = binaryLeaf(rec, part);
  if (leaf === null) return text(name, "0");
  if ("fail" in leaf) return leaf;
  const { range, encoding } = leaf;
  const encodedSize = range.end - range.start;
  let size: number;
  if (IDENTITY.has(encoding)) size = encodedSize;
  else if (encodedSize <= DECODE_IN_MEMORY)
    size = decodeAll(await readRange(ctx, rec, range), encoding)!.length;
  else size = (await decodedSize(rangeSource(rec.prefix, range, blobReader(ctx, rec)), encoding)) ?? 0;
  return text(name, String(size));
}

/** The decoded bytes [start, end) of an encoded stream. */
export async function* decodeSlice(
  source: AsyncIterable<Uint8Array>,
  encoding: string,
  start: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  const dec = createByteDecoder(encoding);
  if (dec === null || end <= start) return;
  let pos = 0;
  function* clip(out: Buffer): Generator<Uint8Array> {
    const from = pos;
    pos += out.length;
    if (pos <= start || from >= end) return;
    yield out.subarray(Math.max(0, start - from), Math.min(out.length, end - from));
  }
  for await (const chunk of source) {
    yield* clip(dec.push(chunk));
    if (pos >= end) return;
  }
  yield* clip(dec.end());
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Collects small responses in a 64 KiB buffer and writes it through `out` (which waits for the
 * socket to drain) when full: `FETCH 1:* (FLAGS)` on a large mailbox is a few dozen writes, not one
 * per message. Text is joined as a string and encoded some 16 K characters at a time (one encoding
 * call per batch, not per response). Large chunks (literal data) pass straight through, in order.
 */
export class BatchSink implements ByteSink {
  private buf = Buffer.allocUnsafe(BATCH);
  private pos = 0;
  /** text queued but not yet encoded into buf */
  private str = "";

  constructor(private readonly out: (b: Buffer) => Promise<void>) {}

  /** Queues text (UTF-8); a promise when the batch had to be written first. */
  text(t: string): Promise<void> | undefined {
    this.str += t;
    return this.str.length < TEXT_BATCH ? undefined : this.encode();
  }

  write(b: Buffer): Promise<void> | undefined {
    const encoded = this.encode();
    if (encoded) return encoded.then(() => this.writeBytes(b));
    return this.writeBytes(b);
  }

  async flush(): Promise<void> {
    const encoded = this.encode();
    if (encoded) await encoded;
    await this.flushBuffer();
  }

  /** moves the queued text into the buffer (writing the buffer out first when it has no room) */
  private encode(): Promise<void> | undefined {
    const t = this.str;
    if (t === "") return undefined;
    this.str = "";
    // a UTF-16 code unit takes at most 3 UTF-8 bytes
    if (t.length * 3 <= BATCH - this.pos) {
      this.pos += this.buf.write(t, this.pos);
      return undefined;
    }
    return this.flushBuffer().then(() => {
      if (t.length * 3 > BATCH) return this.out(Buffer.from(t, "utf8"));
      this.pos += this.buf.write(t, this.pos);
      return undefined;
    });
  }

  private writeBytes(b: Buffer): Promise<void> | undefined {
    if (b.length < PASS_THROUGH && b.length <= BATCH - this.pos) {
      b.copy(this.buf, this.pos);
      this.pos += b.length;
      return undefined;
    }
    return this.flushBuffer().then(() => {
      if (b.length >= PASS_THROUGH) return this.out(b);
      b.copy(this.buf, 0);
      this.pos = b.length;
      return undefined;
    });
  }

  private async flushBuffer(): Promise<void> {
    if (this.pos === 0) return;
    const full = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(BATCH);
    this.pos = 0;
    await this.out(full);
  }
}

/** characters of text joined before they are encoded into the batch (×3 fits any batch) */
const TEXT_BATCH = 16 * 1024;
const BATCH = 64 * 1024;
const PASS_THROUGH = 16 * 1024;

/**
 * Writes `* seq FETCH (…)`; throws FetchFramingError when a streamed section came up short. A
 * response of text items only is queued synchronously (a promise only when the batch is flushed).
 */
export function writeMessage(
  sink: BatchSink,
  seq: number,
  values: readonly Prepared[],
): Promise<void> | undefined {
  let line = `* ${seq} FETCH (`;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v.kind !== "text") return writeWithLiterals(sink, seq, values);
    line += i > 0 ? ` ${v.name} ${v.text}` : `${v.name} ${v.text}`;
  }
  return sink.text(`${line})\r\n`);
}

async function writeWithLiterals(sink: BatchSink, seq: number, values: readonly Prepared[]): Promise<void> {
  const w = new FetchResponseWriter(sink, seq);
  for (const v of values) {
    if (v.kind === "text") w.item(v.name, v.text);
    else if (v.kind === "bytes") w.bytes(v.name, v.data, { literal8: v.literal8 });
    else await w.literalStream(v.name, v.size, v.open(), { literal8: v.literal8 });
  }
  await w.end();
}
