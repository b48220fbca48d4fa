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
      const m = cmd.uid ? view.byUidGet(n) : view.at(n);
      if (m && m.modseq > max) max = m.modseq;
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
  const needEnvelope = cmd.criteria.some((c) => c.key !== "ARRIVAL" && c.key !== "SIZE");
  // One read for the whole mailbox: per-message record loads made SORT of 20,000 messages take seconds.
  const envelopes = needEnvelope ? await s.deps.store.listEnvelopes(view.mailboxId) : null;
  const msgs: SortMessage[] = [];
  for (const uid of uids) {
    const m = view.byUidGet(uid)!;
    const env = envelopes?.get(uid) ?? EMPTY_ENVELOPE;
    msgs.push({
      seqOrUid: cmd.uid ? uid : view.seqOf(uid),
      internalDate: m.internalDate,
      sentDate: parseSentDate(env.date),
      size: m.size,
      envelope: env,
    });
  }
  const ids = sortMessages(msgs, cmd.criteria);
  let line = ids.length > 0 ? `SORT ${ids.join(" ")}` : "SORT";
  if (usesModseq && ids.length > 0) {
    // RFC 7162 §7 (sort-data): the highest modseq of the messages returned
    let max = 0;
    for (const u of uids) max = Math.max(max, view.byUidGet(u)!.modseq);
    line += ` (MODSEQ ${max})`;
  }
  s.untagged(line);
  await s.announce(cmd.uid);
  s.send(taggedOk(cmd.tag, "SORT completed"));
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
  const msgs: ThreadMessage[] = [];
  for (const uid of uids) {
    const m = view.byUidGet(uid)!;
    const env = envelopes.get(uid) ?? EMPTY_ENVELOPE;
    // REFERENCES needs the References field, which only the header has.
    const rec = algorithm === "REFERENCES" ? await s.deps.store.getMessage(view.mailboxId, uid) : null;
    msgs.push({
      seqOrUid: cmd.uid ? uid : view.seqOf(uid),
      messageId: env.messageId,
      inReplyTo: env.inReplyTo,
      references: rec ? await referencesOf(s, rec) : [],
      subject: decodeWords(env.subject ?? ""),
      date: parseSentDate(env.date) ?? m.internalDate,
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
