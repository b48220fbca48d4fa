// SEARCH / UID SEARCH (RFC 9051 §6.4.4) with ESEARCH result options (RFC 4731), SAVE and "$"
// (RFC 5182), the MODSEQ criterion (RFC 7162 §3.1.5); SORT and THREAD (RFC 5256).
//
// Answer forms: IMAP4rev1 without RETURN gets `* SEARCH n…`; with RETURN, or in an IMAP4rev2
// session, `* ESEARCH (TAG "t") [UID] …` (RFC 9051 §7.3.4). The saved result is kept as UIDs, so
// it survives expunges and serves "$" in sequence-number and UID commands alike.
import { decodeWords, splitHeaderFields } from "../../../mail/header.js";
import { emptyEnvelope } from "../../../mail/envelope.js";
import type { Envelope } from "../../../mail/mime-types.js";
import {
  parseSentDate,
  renderThreads,
  type SortMessage,
  sortMessages,
  type ThreadMessage,
  threadOrderedSubject,
  threadReferences,
} from "../../../mail/sort-thread.js";
import type { MessageRecord } from "../../../store/types.js";
import { string, taggedOk } from "../../protocol/compose.js";
import { formatNumbers } from "../../protocol/sequence-set.js";
import type { SearchKey, SearchReturn } from "../../protocol/types.js";
import { enableCondstore } from "../condstore.js";
import { evaluateSearch } from "../search-eval.js";
import type { SelectedMailbox } from "../selected-mailbox.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

export async function handleSearch(s: ImapSession, cmd: Cmd<"SEARCH">): Promise<void> {
  const view = s.selected!;
  // (An unknown CHARSET was refused with NO [BADCHARSET] by the parser, which decoded the strings.)
  const usesModseq = hasModseq(cmd.criteria);
  if (usesModseq) enableCondstore(s);
  const returns = cmd.returns;
  const save = returns?.includes("SAVE") ?? false;
  const saved = s.savedSearch;
  // RFC 9051 §6.4.4.1: a SEARCH with SAVE that fails leaves the variable empty
  if (save) s.savedSearch = [];

  const uids = await evaluateSearch(cmd.criteria, { store: s.deps.store, view, saved });
  const nums = cmd.uid ? uids : uids.map((u) => view.seqOf(u));
  const modseqOf = (list: readonly number[]): number => {
    let max = 0;
    for (const n of list) {
      const modseq = cmd.uid ? view.modseqOfUid(n) : view.modseqAt(n);
      if (modseq > max) max = modseq;
    }
    return max;
  };

  if (returns === undefined && !s.rev2) {
    let line = nums.length > 0 ? `SEARCH ${nums.join(" ")}` : "SEARCH";
    if (usesModseq && nums.length > 0) line += ` (MODSEQ ${modseqOf(nums)})`; // RFC 7162 §3.1.6
    s.untagged(line);
  } else {
    const opts = new Set<SearchReturn>(returns ?? []);
    const only = new Set([...opts].filter((o) => o !== "SAVE"));
    // RFC 4731 §3.1: no option (or only SAVE's absence of others) means ALL
    if (only.size === 0 && !save) only.add("ALL");
    const min = nums.length > 0 ? nums[0]! : undefined;
    const max = nums.length > 0 ? nums[nums.length - 1]! : undefined;
    // RFC 5182 §2.4 / RFC 9051 Table 4: what "$" holds when SAVE goes with MIN/MAX only
    if (save) {
      const all = only.has("ALL") || only.has("COUNT") || only.size === 0;
      if (all) s.savedSearch = uids;
      else {
        const picked = new Set<number>();
        if (only.has("MIN") && uids.length > 0) picked.add(uids[0]!);
        if (only.has("MAX") && uids.length > 0) picked.add(uids[uids.length - 1]!);
        s.savedSearch = [...picked].sort((a, b) => a - b);
      }
    }
    // SAVE alone: no ESEARCH response at all (RFC 5182 §2.1)
    if (only.size > 0) {
      const parts = [`ESEARCH (TAG ${string(cmd.tag)})`];
      if (cmd.uid) parts.push("UID");
      if (only.has("MIN") && min !== undefined) parts.push(`MIN ${min}`);
      if (only.has("MAX") && max !== undefined) parts.push(`MAX ${max}`);
      if (only.has("ALL") && nums.length > 0) parts.push(`ALL ${formatNumbers(nums)}`);
      if (only.has("COUNT")) parts.push(`COUNT ${nums.length}`);
      if (usesModseq && nums.length > 0) {
        // RFC 4731 §3.2: MIN/MAX alone report the modseq of the returned messages only
        const reported =
          only.has("ALL") || only.has("COUNT")
            ? nums
            : [...(only.has("MIN") ? [min!] : []), ...(only.has("MAX") ? [max!] : [])];
        parts.push(`MODSEQ ${modseqOf(reported)}`);
      }
      s.untagged(parts.join(" "));
    }
  }
  await s.announce(cmd.uid);
  s.send(taggedOk(cmd.tag, "SEARCH completed"));
}

function hasModseq(k: SearchKey): boolean {
  switch (k.key) {
    case "modseq":
      return true;
    case "not":
      return hasModseq(k.operand);
    case "or":
      return hasModseq(k.left) || hasModseq(k.right);
    case "and":
      return k.keys.some(hasModseq);
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// SORT and THREAD (RFC 5256)

export async function handleSort(s: ImapSession, cmd: Cmd<"SORT">): Promise<void> {
  const view = s.selected!;
  const usesModseq = hasModseq(cmd.search);
  if (usesModseq) enableCondstore(s);
  const uids = await evaluateSearch(cmd.search, { store: s.deps.store, view, saved: s.savedSearch });
  // the matches ascend and are all in the view: their sequence numbers in one walk
  const seqs = new Array<number>(uids.length);
  for (let i = 0, q = 1; i < uids.length; i++) {
    while (view.uidAt(q) < uids[i]!) q++;
    seqs[i] = q;
  }
  const ids = cmd.uid ? uids : seqs;
  // dates and sizes come from the view (loaded once per view, from a narrow index), not from records
  const numeric = cmd.criteria.every((c) => NUMERIC_KEYS.has(c.key));
  if (numeric || cmd.criteria.some((c) => NUMERIC_KEYS.has(c.key))) await view.ensureDetails();
  let sorted: number[];
  if (numeric) {
    sorted = sortNumeric(view, seqs, ids, cmd.criteria);
  } else {
    // One read for the whole mailbox: per-message record loads made SORT of 20,000 messages take seconds.
    const envelopes = await s.deps.store.listEnvelopes(view.mailboxId);
    const msgs: SortMessage[] = [];
    for (let i = 0; i < uids.length; i++) {
      const seq = seqs[i]!;
      const sent = view.sentDateAt(seq);
      msgs.push({
        seqOrUid: ids[i]!,
        internalDate: new Date(view.internalDateAt(seq)),
        sentDate: Number.isNaN(sent) ? null : new Date(sent),
        size: view.sizeAt(seq),
        envelope: envelopes.get(uids[i]!) ?? EMPTY_ENVELOPE,
      });
    }
    sorted = sortMessages(msgs, cmd.criteria);
  }
  let line = sorted.length > 0 ? `SORT ${sorted.join(" ")}` : "SORT";
  if (usesModseq && sorted.length > 0) {
    // RFC 7162 §7 (sort-data): the highest modseq of the messages returned
    let max = 0;
    for (const q of seqs) max = Math.max(max, view.modseqAt(q));
    line += ` (MODSEQ ${max})`;
  }
  s.untagged(line);
  await s.announce(cmd.uid);
  s.send(taggedOk(cmd.tag, "SORT completed"));
}

const NUMERIC_KEYS: ReadonlySet<string> = new Set(["ARRIVAL", "DATE", "SIZE"]);

/**
 * SORT by ARRIVAL, DATE and SIZE only (RFC 5256 §3, as sortMessages does it): the keys as numbers in
 * typed arrays, ties by mailbox order. DATE is the sent date, INTERNALDATE when the message has none
 * (§2.2).
 */
function sortNumeric(
  view: SelectedMailbox,
  seqs: readonly number[],
  ids: readonly number[],
  criteria: Cmd<"SORT">["criteria"],
): number[] {
  const n = seqs.length;
  const keys = criteria.map((c) => {
    const k = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const seq = seqs[i]!;
      let v: number;
      if (c.key === "SIZE") v = view.sizeAt(seq);
      else if (c.key === "ARRIVAL") v = view.internalDateAt(seq);
      else {
        v = view.sentDateAt(seq);
        if (Number.isNaN(v)) v = view.internalDateAt(seq);
      }
      k[i] = Number.isNaN(v) ? 0 : v; // a message already expunged elsewhere
    }
    return k;
  });
  // LSD radix: stable passes from the last criterion to the first, so ties fall to the next criterion
  // and finally to the index (seqs ascend with it: mailbox order). No comparator: 100,000 messages
  // sort in a few milliseconds instead of some 50.
  let order: Uint32Array | null = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let j = criteria.length - 1; j >= 0 && order; j--)
    order = radixPass(order, keys[j]!, criteria[j]!.reverse);
  if (order) return Array.from(order, (i) => ids[i]!);
  // keys that are not whole numbers (cannot happen with stored dates and sizes): a comparator sort
  const byCompare = Array.from({ length: n }, (_, i) => i);
  byCompare.sort((a, b) => {
    for (let j = 0; j < keys.length; j++) {
      const r = keys[j]![a]! - keys[j]![b]!;
      if (r !== 0) return criteria[j]!.reverse ? -r : r;
    }
    return a - b;
  });
  return byCompare.map((i) => ids[i]!);
}

/**
 * `order` stably sorted by key (ascending; descending when reverse, ties still in their order): the
 * key's offset from its minimum split into 32-bit halves, then counting passes of 16 bits each, as
 * many as the range needs (dates in ms over decades: 3). null when a key is not a whole number.
 */
function radixPass(order: Uint32Array, key: Float64Array, reverse: boolean): Uint32Array | null {
  const n = order.length;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = key[i]!;
    if (!Number.isInteger(v)) return null;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  if (!(range > 0)) return order;
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const v = reverse ? max - key[i]! : key[i]! - min;
    const l = v % 4294967296;
    lo[i] = l;
    hi[i] = (v - l) / 4294967296;
  }
  const passes = range < 65536 ? 1 : range < 4294967296 ? 2 : range < 281474976710656 ? 3 : 4;
  let from: Uint32Array = order;
  let to: Uint32Array = new Uint32Array(n);
  const count = new Uint32Array(65536);
  for (let p = 0; p < passes; p++) {
    const words = p < 2 ? lo : hi;
    const shift = p % 2 === 0 ? 0 : 16;
    count.fill(0);
    for (let k = 0; k < n; k++) count[(words[from[k]!]! >>> shift) & 0xffff]!++;
    let sum = 0;
    for (let d = 0; d < 65536; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let k = 0; k < n; k++) {
      const i = from[k]!;
      to[count[(words[i]! >>> shift) & 0xffff]!++] = i;
    }
    const t = from;
    from = to;
    to = t;
  }
  return from;
}

export async function handleThread(s: ImapSession, cmd: Cmd<"THREAD">): Promise<void> {
  const view = s.selected!;
  const algorithm = cmd.algorithm;
  if (algorithm !== "ORDEREDSUBJECT" && algorithm !== "REFERENCES") {
    s.bad(cmd.tag, `Unsupported threading algorithm ${algorithm}`);
    return;
  }
  const uids = await evaluateSearch(cmd.search, { store: s.deps.store, view, saved: s.savedSearch });
  const envelopes = await s.deps.store.listEnvelopes(view.mailboxId);
  await view.ensureDetails();
  const msgs: ThreadMessage[] = [];
  for (const uid of uids) {
    const seq = view.seqOf(uid);
    const env = envelopes.get(uid) ?? EMPTY_ENVELOPE;
    // REFERENCES needs the References field, which only the header has.
    const rec = algorithm === "REFERENCES" ? await s.deps.store.getMessage(view.mailboxId, uid) : null;
    msgs.push({
      seqOrUid: cmd.uid ? uid : seq,
      messageId: env.messageId,
      inReplyTo: env.inReplyTo,
      references: rec ? await referencesOf(s, rec) : [],
      subject: decodeWords(env.subject ?? ""),
      date: parseSentDate(env.date) ?? new Date(view.internalDateAt(seq)),
    });
  }
  const roots = algorithm === "REFERENCES" ? threadReferences(msgs) : threadOrderedSubject(msgs);
  const data = renderThreads(roots);
  s.untagged(data.length > 0 ? `THREAD ${data}` : "THREAD");
  await s.announce(cmd.uid);
  s.send(taggedOk(cmd.tag, "THREAD completed"));
}

const EMPTY_ENVELOPE: Envelope = emptyEnvelope();

/** The References field values, read from the message's own header (the envelope lacks them). */
async function referencesOf(s: ImapSession, rec: MessageRecord): Promise<string[]> {
  const head = await s.deps.store.blobs.read(rec.blobId, 0, rec.mime.headerEnd);
  return splitHeaderFields(head)
    .fields.filter((f) => f.key === "references")
    .map((f) => f.value);
}
