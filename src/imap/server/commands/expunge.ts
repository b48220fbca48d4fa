// EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): remove the messages marked \Deleted
// (UID EXPUNGE: only those in the UID set) and tell the client, as `* n EXPUNGE` or, under
// QRESYNC, `* VANISHED uids` (RFC 7162 §3.2.7).
import { taggedOk } from "../../protocol/compose.js";
import { uidSetPredicate } from "../message-set.js";
import { compactSet } from "../selected-mailbox.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

export async function handleExpunge(s: ImapSession, cmd: Cmd<"EXPUNGE">): Promise<void> {
  const view = s.selected!;
  if (view.readOnly) {
    s.no(cmd.tag, "The mailbox is read-only", "READ-ONLY");
    return;
  }
  // Catch up with other sessions first (expunges are allowed now), so the \Deleted flags we go
  // by are current.
  await s.announce(true);
  const inSet = cmd.uid ? uidSetPredicate(view, cmd.set, s.savedSearch) : null;
  const doomed: number[] = [];
  for (const uid of view.uidsWithFlag("\\Deleted")) if (inSet === null || inSet(uid)) doomed.push(uid);
  if (doomed.length > 0) {
    const gone = await s.deps.store.expunge(view.mailboxId, doomed);
    reportExpunged(s, gone);
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "EXPUNGE completed"));
}

/**
 * Tells the client about messages this session removed (EXPUNGE, MOVE) and drops them from the
 * view. EXPUNGE responses go highest sequence number first, so every number is right when read
 * (RFC 9051 §7.5.1).
 */
export function reportExpunged(s: ImapSession, uids: readonly number[]): void {
  const view = s.selected!;
  const present = uids.filter((u) => view.seqOf(u) > 0);
  if (present.length === 0) return;
  if (s.qresync) {
    s.untagged(`VANISHED ${compactSet([...present].sort((a, b) => a - b))}`);
  } else {
    const seqs = present.map((u) => view.seqOf(u)).sort((a, b) => b - a);
    for (const seq of seqs) s.untagged(`${seq} EXPUNGE`);
  }
  view.removeOwn(present);
}
