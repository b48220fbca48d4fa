// Evaluates a SEARCH key (RFC 9051 §6.4.4) against the selected mailbox. Cheap keys (flags, UIDs,
// sizes, internal dates) are answered from the session's view; BODY/TEXT from the full-text index
// (never by scanning message files); address and subject keys from the stored envelope; other header
// fields from the message's header bytes only. Message records are loaded once per message, lazily.
// A key that needs no record is evaluated synchronously: no promise per message, which is what
// SEARCH TEXT and SORT … ALL over 100,000 messages would otherwise pay.
import { decodeWords, splitHeaderFields } from "../../mail/header.js";
import type { Envelope, EnvelopeAddress } from "../../mail/mime-types.js";
import type { MailStore, MessageRecord } from "../../store/types.js";
import { type Ranges, rangesHas, resolveSequenceSet } from "../protocol/sequence-set.js";
import type { ImapDate, SearchKey, SequenceSet } from "../protocol/types.js";
import type { SelectedMailbox } from "./selected-mailbox.js";

export interface SearchContext {
  store: MailStore;
  view: SelectedMailbox;
  /** UIDs saved by SEARCH RETURN (SAVE) (RFC 5182), for "$" */
  saved: readonly number[];
}

interface Candidate {
  seq: number;
  uid: number;
  record?: MessageRecord | null;
  header?: Map<string, string[]>;
}

/** what one evaluation prepared: full-text hits, resolved sets, "$" */
interface Evaluation {
  ctx: SearchContext;
  /**
   * Every message's ENVELOPE, read in one query when the key searches From/To/Cc/Bcc/Subject or
   * the Date: header: a record read per message (its MIME tree and envelope JSON) made SEARCH FROM
   * half the server's CPU in the imap-mixed benchmark.
   */
  envelopes: Map<number, Envelope> | null;
  text: Map<string, Set<number>>;
  sets: Map<SequenceSet, Ranges>;
  saved: Set<number>;
}

type Result = boolean | Promise<boolean>;

/** Returns the UIDs (ascending) of the messages that match. */
export async function evaluateSearch(key: SearchKey, ctx: SearchContext): Promise<number[]> {
  const view = ctx.view;
  const n = view.exists;
  const out: number[] = [];
  if (key.key === "all") {
    for (let seq = 1; seq <= n; seq++) out.push(view.uidAt(seq));
    return out;
  }
  const ev: Evaluation = {
    ctx,
    envelopes: needsEnvelopes(key) ? await ctx.store.listEnvelopes(view.mailboxId) : null,
    text: new Map(),
    sets: new Map(),
    saved: new Set(ctx.saved),
  };
  await collectText(key, ctx, ev.text);
  if (needsDetails(key)) await view.ensureDetails();
  for (let seq = 1; seq <= n; seq++) {
    const c: Candidate = { seq, uid: view.uidAt(seq) };
    const r = matches(key, c, ev);
    if (r === true || (r !== false && (await r))) out.push(c.uid);
  }
  return out;
}

/** keys answered from the envelope (see Evaluation.envelopes) */
function needsEnvelopes(k: SearchKey): boolean {
  switch (k.key) {
    case "header":
      return (ENVELOPE_FIELDS[k.field] !== undefined || k.field === "subject") && k.value !== "";
    case "date":
      return k.of !== "internal";
    case "not":
      return needsEnvelopes(k.operand);
    case "or":
      return needsEnvelopes(k.left) || needsEnvelopes(k.right);
    case "and":
      return k.keys.some(needsEnvelopes);
    default:
      return false;
  }
}

/** sizes or internal dates: loaded for the whole view before the pass */
function needsDetails(k: SearchKey): boolean {
  switch (k.key) {
    case "size":
    case "older":
    case "younger":
      return true;
    case "date":
      return k.of === "internal";
    case "not":
      return needsDetails(k.operand);
    case "or":
      return needsDetails(k.left) || needsDetails(k.right);
    case "and":
      return k.keys.some(needsDetails);
    default:
      return false;
  }
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

/** true/false for keys answered from the view; a promise only where a record or header is read */
function matches(key: SearchKey, c: Candidate, ev: Evaluation): Result {
  const view = ev.ctx.view;
  switch (key.key) {
    case "all":
      return true;
    case "flag": {
      const has = key.flag === "\\Recent" ? view.recent.has(c.uid) : view.hasFlagAt(c.seq, key.flag);
      return has === key.set;
    }
    case "seq":
      return inSet(key.set, c.seq, view.exists, ev, false, c);
    case "uid":
      return inSet(key.set, c.uid, view.maxUid, ev, true, c);
    case "size": {
      const size = view.sizeAt(c.seq);
      return key.op === "larger" ? size > key.size : size < key.size;
    }
    case "date": {
      if (key.of === "internal") {
        const t = view.internalDateAt(c.seq);
        return !Number.isNaN(t) && compareDay(new Date(t), key.date, key.op, true);
      }
      const op = key.op;
      const date = key.date;
      if (ev.envelopes) {
        const d = parseSentDate(ev.envelopes.get(c.uid)?.date ?? null);
        return d !== null && compareDay(d, date, op, false);
      }
      return sentDate(c, ev.ctx).then((d) => d !== null && compareDay(d, date, op, false));
    }
    case "older":
      return Date.now() - view.internalDateAt(c.seq) > key.seconds * 1000;
    case "younger":
      return Date.now() - view.internalDateAt(c.seq) <= key.seconds * 1000;
    case "modseq":
      return view.modseqAt(c.seq) >= key.modSeq;
    case "body":
    case "text":
      return ev.text.get(`${key.key}\0${key.value}`)?.has(c.uid) ?? false;
    case "header": {
      const env = ev.envelopes?.get(c.uid);
      if (env) {
        const fromEnvelope = envelopeMatches(env, key.field, key.value);
        if (fromEnvelope !== null) return fromEnvelope;
      }
      return headerMatches(c, ev.ctx, key.field, key.value);
    }
    case "not": {
      const r = matches(key.operand, c, ev);
      return typeof r === "boolean" ? !r : r.then((x) => !x);
    }
    case "or": {
      const right = key.right;
      const l = matches(key.left, c, ev);
      if (l === true) return true;
      if (l === false) return matches(right, c, ev);
      return l.then((x) => x || matches(right, c, ev));
    }
    case "and":
      return allFrom(key.keys, 0, c, ev);
  }
}

function allFrom(keys: readonly SearchKey[], from: number, c: Candidate, ev: Evaluation): Result {
  for (let i = from; i < keys.length; i++) {
    const r = matches(keys[i]!, c, ev);
    if (r === false) return false;
    if (r !== true) return r.then((x) => x && allFrom(keys, i + 1, c, ev));
  }
  return true;
}

/** A sequence or UID set ("$" included); each set is resolved once per search, not per message. */
function inSet(
  set: SequenceSet,
  n: number,
  largest: number,
  ev: Evaluation,
  uid: boolean,
  c: Candidate,
): boolean {
  if (set.kind === "saved") return ev.saved.has(uid ? n : c.uid);
  let ranges = ev.sets.get(set);
  if (ranges === undefined) {
    ranges = resolveSequenceSet(set, largest);
    ev.sets.set(set, ranges);
  }
  return rangesHas(ranges, n);
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

/** header: read the stored header section too (for HEADER keys), when this is the first read */
async function record(c: Candidate, ctx: SearchContext, header = false): Promise<MessageRecord | null> {
  if (c.record === undefined) {
    c.record = await ctx.store.getMessage(ctx.view.mailboxId, c.uid, header ? { header } : undefined);
  }
  return c.record;
}

async function sentDate(c: Candidate, ctx: SearchContext): Promise<Date | null> {
  const r = await record(c, ctx);
  return parseSentDate(r?.envelope.date ?? null);
}

function parseSentDate(raw: string | null): Date | null {
  if (!raw) return null;
  const t = Date.parse(raw.replace(/\([^)]*\)/g, "").trim());
  return Number.isNaN(t) ? null : new Date(t);
}

/** FROM/TO/CC/BCC/SUBJECT answered from the envelope; null when the key needs the header itself */
function envelopeMatches(env: Envelope, field: string, value: string): boolean | null {
  const needle = value.toLowerCase();
  if (needle === "") return null;
  const envField = ENVELOPE_FIELDS[field];
  if (envField) return env[envField].some((a) => addressText(a).toLowerCase().includes(needle));
  if (field === "subject") return decodeWords(env.subject ?? "").toLowerCase().includes(needle);
  return null;
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
  const envField = ENVELOPE_FIELDS[field];
  const fromEnvelope = (envField !== undefined || field === "subject") && needle !== "";
  const r = await record(c, ctx, !fromEnvelope);
  if (!r) return false;
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
  // the stored header section when the record came with it (schema 7), else the blob's first bytes
  const head = r.header ?? (await ctx.store.blobs.read(r.blobId, 0, r.mime.headerEnd));
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
