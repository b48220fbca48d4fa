// Resolves the sequence set of a selected-state command (FETCH, STORE, COPY, MOVE, UID EXPUNGE)
// against the session's view, to sequence numbers in ascending order. Nothing is expanded
// blindly: "1:4294967295" as a UID set costs one binary search per range.
//
// RFC 9051 §9 (seq-number): a message sequence number beyond the mailbox size is a client error
// (BAD), "*" in an empty mailbox included; in a UID set, numbers that name no message simply match
// nothing. "$" (RFC 5182) is the saved search result, kept as UIDs: messages expunged since then
// drop out (RFC 9051 §6.4.4.1).
import { exceeds, rangesHas, resolveSequenceSet } from "../protocol/sequence-set.js";
import type { SequenceSet } from "../protocol/types.js";
import type { SelectedMailbox } from "./selected-mailbox.js";

export type ResolvedMessages = { ok: true; seqs: number[] } | { ok: false; text: string };

export function resolveMessages(
  view: SelectedMailbox,
  set: SequenceSet,
  uid: boolean,
  saved: readonly number[],
): ResolvedMessages {
  if (set.kind === "saved") {
    const seqs: number[] = [];
    for (const u of saved) {
      const seq = view.seqOf(u);
      if (seq > 0) seqs.push(seq);
    }
    seqs.sort((a, b) => a - b);
    return { ok: true, seqs: dedupeSorted(seqs) };
  }
  if (!uid) {
    if (exceeds(set, view.exists)) return { ok: false, text: "Invalid message sequence number" };
    const seqs: number[] = [];
    for (const [lo, hi] of resolveSequenceSet(set, view.exists)) for (let n = lo; n <= hi; n++) seqs.push(n);
    return { ok: true, seqs };
  }
  const seqs: number[] = [];
  const n = view.exists;
  // "*" is the highest UID in use; in an empty mailbox nothing matches anyway.
  for (const [lo, hi] of resolveSequenceSet(set, view.maxUid)) {
    for (let seq = view.countBelow(lo) + 1; seq <= n && view.uidAt(seq) <= hi; seq++) seqs.push(seq);
  }
  return { ok: true, seqs };
}

/** Membership in a UID set (or "$") for UIDs that may no longer be in the view (VANISHED). */
export function uidSetPredicate(
  view: SelectedMailbox,
  set: SequenceSet,
  saved: readonly number[],
): (uid: number) => boolean {
  if (set.kind === "saved") {
    const s = new Set(saved);
    return (u) => s.has(u);
  }
  // "*" here reaches up to the last UID ever assigned, so expunged UIDs above the current
  // highest one are still covered.
  const ranges = resolveSequenceSet(set, Math.max(view.maxUid, view.uidNext - 1));
  return (u) => rangesHas(ranges, u);
}

function dedupeSorted(a: number[]): number[] {
  let w = 0;
  for (let i = 0; i < a.length; i++) if (i === 0 || a[i] !== a[i - 1]) a[w++] = a[i]!;
  a.length = w;
  return a;
}
