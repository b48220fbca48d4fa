// Evaluates a SEARCH key (RFC 9051 §6.4.4) against the selected mailbox. Cheap keys (flags, UIDs,
// sizes, internal dates) are answered from the session's view; BODY/TEXT from the full-text index
// (never by scanning message files); address and subject keys from the stored envelope; other header
// fields from the message's header bytes only. Message records are loaded once per message, lazily.
import { decodeWords, splitHeaderFields } from "../../mail/header.js";
import type { EnvelopeAddress } from "../../mail/mime-types.js";
import type { MailStore, MessageRecord } from "../../store/types.js";
import { rangesHas, resolveSequenceSet } from "../protocol/sequence-set.js";
import type { ImapDate, SearchKey, SequenceSet } from "../protocol/types.js";
import type { MessageState, SelectedMailbox } from "./selected-mailbox.js";

export interface SearchContext {
  store: MailStore;
  view: SelectedMailbox;
  /** UIDs saved by SEARCH RETURN (SAVE) (RFC 5182), for "$" */
  saved: readonly number[];
}

interface Candidate {
  seq: number;
  msg: MessageState;
  record?: MessageRecord | null;
  header?: Map<string, string[]>;
}

/** Returns the UIDs (ascending) of the messages that match. */
export async function evaluateSearch(key: SearchKey, ctx: SearchContext): Promise<number[]> {
  savedSets.set(ctx, new Set(ctx.saved));
  const textHits = new Map<string, Set<number>>();
  await collectText(key, ctx, textHits);
  const out: number[] = [];
  const all = ctx.view.all();
  for (let i = 0; i < all.length; i++) {
    const c: Candidate = { seq: i + 1, msg: all[i]! };
    if (await matches(key, c, ctx, textHits)) out.push(c.msg.uid);
  }
  return out;
}

/** Runs every BODY/TEXT key against the full-text index once, before the per-message pass. */
async function collectText(
  key: SearchKey,
  ctx: SearchContext,
  hits: Map<string, Set<number>>,
): Promise<void> {
  switch (key.key) {
    case "body":
    case "text": {
      const id = `${key.key}\0${key.value}`;
      if (!hits.has(id)) hits.set(id, new Set(await ctx.store.searchText(ctx.view.mailboxId, key.value)));
      return;
    }
    case "not":
      return collectText(key.operand, ctx, hits);
    case "or":
      await collectText(key.left, ctx, hits);
      return collectText(key.right, ctx, hits);
    case "and":
      for (const k of key.keys) await collectText(k, ctx, hits);
      return;
    default:
      return;
  }
}

async function matches(
  key: SearchKey,
  c: Candidate,
  ctx: SearchContext,
  text: Map<string, Set<number>>,
): Promise<boolean> {
  switch (key.key) {
    case "all":
      return true;
    case "flag": {
      const has = key.flag === "\\Recent" ? ctx.view.recent.has(c.msg.uid) : hasFlag(c.msg.flags, key.flag);
      return has === key.set;
    }
    case "seq":
      return inSet(key.set, c.seq, ctx.view.exists, ctx, false);
    case "uid":
      return inSet(key.set, c.msg.uid, ctx.view.maxUid, ctx, true);
    case "size":
      return key.op === "larger" ? c.msg.size > key.size : c.msg.size < key.size;
    case "date": {
      const d = key.of === "internal" ? c.msg.internalDate : await sentDate(c, ctx);
      if (!d) return false;
      return compareDay(d, key.date, key.op, key.of === "internal");
    }
    case "older":
      return Date.now() - c.msg.internalDate.getTime() > key.seconds * 1000;
    case "younger":
      return Date.now() - c.msg.internalDate.getTime() <= key.seconds * 1000;
    case "modseq":
      return c.msg.modseq >= key.modSeq;
    case "body":
    case "text":
      return text.get(`${key.key}\0${key.value}`)?.has(c.msg.uid) ?? false;
    case "header":
      return headerMatches(c, ctx, key.field, key.value);
    case "not":
      return !(await matches(key.operand, c, ctx, text));
    case "or":
      return (await matches(key.left, c, ctx, text)) || (await matches(key.right, c, ctx, text));
    case "and":
      for (const k of key.keys) if (!(await matches(k, c, ctx, text))) return false;
      return true;
  }
}

function hasFlag(flags: readonly string[], flag: string): boolean {
  const lower = flag.toLowerCase();
  return flags.some((f) => f.toLowerCase() === lower);
}

/** "$" as a Set per search, so each message is an O(1) lookup. */
const savedSets = new WeakMap<SearchContext, Set<number>>();

function inSet(set: SequenceSet, n: number, largest: number, ctx: SearchContext, uid: boolean): boolean {
  if (set.kind === "saved") {
    const saved = savedSets.get(ctx) ?? new Set(ctx.saved);
    if (uid) return saved.has(n);
    const m = ctx.view.at(n);
    return m !== undefined && saved.has(m.uid);
  }
  return rangesHas(resolveSequenceSet(set, largest), n);
}

/** RFC 9051 §6.4.4: dates compare by calendar day, ignoring time and timezone. */
function compareDay(d: Date, day: ImapDate, op: "before" | "on" | "since", utc: boolean): boolean {
  const y = utc ? d.getUTCFullYear() : d.getUTCFullYear();
  const value = y * 10000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
  const target = day.year * 10000 + day.month * 100 + day.day;
  if (op === "before") return value < target;
  if (op === "on") return value === target;
  return value >= target;
}

async function record(c: Candidate, ctx: SearchContext): Promise<MessageRecord | null> {
  if (c.record === undefined) c.record = await ctx.store.getMessage(ctx.view.mailboxId, c.msg.uid);
  return c.record;
}

async function sentDate(c: Candidate, ctx: SearchContext): Promise<Date | null> {
  const r = await record(c, ctx);
  const raw = r?.envelope.date;
  if (!raw) return null;
  const t = Date.parse(raw.replace(/\([^)]*\)/g, "").trim());
  return Number.isNaN(t) ? null : new Date(t);
}

const ENVELOPE_FIELDS: Record<string, "from" | "to" | "cc" | "bcc"> = {
  from: "from",
  to: "to",
  cc: "cc",
  bcc: "bcc",
};

async function headerMatches(
  c: Candidate,
  ctx: SearchContext,
  field: string,
  value: string,
): Promise<boolean> {
  const needle = value.toLowerCase();
  const r = await record(c, ctx);
  if (!r) return false;
  const envField = ENVELOPE_FIELDS[field];
  if (envField && needle !== "") {
    return r.envelope[envField].some((a) => addressText(a).toLowerCase().includes(needle));
  }
  if (field === "subject" && needle !== "") {
    return decodeWords(r.envelope.subject ?? "")
      .toLowerCase()
      .includes(needle);
  }
  const headers = await headerMap(c, r, ctx);
  const values = headers.get(field);
  if (!values) return false;
  return needle === "" || values.some((v) => decodeWords(v).toLowerCase().includes(needle));
}

function addressText(a: EnvelopeAddress): string {
  const name = a.name ? decodeWords(a.name) : "";
  const addr = a.mailbox && a.host !== null ? `${a.mailbox}@${a.host}` : (a.mailbox ?? "");
  return name ? `${name} <${addr}>` : addr;
}

async function headerMap(c: Candidate, r: MessageRecord, ctx: SearchContext): Promise<Map<string, string[]>> {
  if (c.header) return c.header;
  const head = await ctx.store.blobs.read(r.blobId, 0, r.mime.headerEnd);
  const { fields } = splitHeaderFields(Buffer.concat([r.prefix, head]));
  const map = new Map<string, string[]>();
  for (const f of fields) {
    const list = map.get(f.key) ?? [];
    list.push(f.value);
    map.set(f.key, list);
  }
  c.header = map;
  return map;
}
