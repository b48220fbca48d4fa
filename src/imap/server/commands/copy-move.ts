// COPY / UID COPY (RFC 9051 §6.4.7) and MOVE / UID MOVE (RFC 6851, RFC 9051 §6.4.8), with
// COPYUID (RFC 4315 §3). The store copies (or moves) all messages in one transaction: nothing is
// half-done. MOVE sends COPYUID in an untagged OK before the EXPUNGE/VANISHED responses (RFC 6851
// §4.3), so the client learns the new UIDs before the old messages disappear.
import { Code, sequenceSet, taggedNo, taggedOk, untaggedOk } from "../../protocol/compose.js";
import { StoreError } from "../../../store/types.js";
import { canonicalMailboxName } from "../mailbox-names.js";
import { resolveMessages } from "../message-set.js";
import type { ImapSession } from "../session.js";
import { reportExpunged } from "./expunge.js";
import type { Cmd } from "./index.js";

export async function handleCopyMove(s: ImapSession, cmd: Cmd<"COPY" | "MOVE">): Promise<void> {
  const view = s.selected!;
  const store = s.deps.store;
  const move = cmd.name === "MOVE";
  const resolved = resolveMessages(view, cmd.set, cmd.uid, s.savedSearch);
  if (!resolved.ok) {
    s.bad(cmd.tag, resolved.text);
    return;
  }
  if (move && view.readOnly) {
    s.no(cmd.tag, "The mailbox is read-only", "READ-ONLY");
    return;
  }
  const dest = await store.getMailbox(s.account!.id, canonicalMailboxName(cmd.mailbox));
  if (!dest || dest.noselect) {
    s.send(taggedNo(cmd.tag, "The destination mailbox does not exist", "TRYCREATE"));
    return;
  }
  const uids = resolved.seqs.map((q) => view.uidAt(q));
  if (uids.length === 0) {
    // e.g. a UID set that names no message: nothing to do, and no COPYUID (it needs a set)
    await s.announce(true);
    s.send(taggedOk(cmd.tag, `${cmd.name} completed, no messages`));
    return;
  }
  let mapping: Array<[number, number]>;
  let uidValidity: number;
  try {
    const r = move
      ? await store.moveMessages(view.mailboxId, uids, dest.id)
      : await store.copyMessages(view.mailboxId, uids, dest.id);
    mapping = r.mapping;
    uidValidity = r.uidValidity;
  } catch (err) {
    if (err instanceof StoreError && err.code === "quota") {
      s.send(taggedNo(cmd.tag, "Not enough room in the destination's quota", "OVERQUOTA"));
      return;
    }
    if (err instanceof StoreError && err.code === "not-found") {
      s.send(taggedNo(cmd.tag, "The destination mailbox does not exist", "TRYCREATE"));
      return;
    }
    throw err;
  }
  // mapping is in source UID order; the destination UIDs ascend with it (RFC 4315 §3: the sets
  // correspond element by element).
  const copyUid =
    mapping.length > 0
      ? Code.copyUid(
          uidValidity,
          sequenceSet(mapping.map((p) => p[0])),
          sequenceSet(mapping.map((p) => p[1])),
        )
      : undefined;
  if (move) {
    if (copyUid !== undefined) s.send(untaggedOk("Moved", copyUid));
    reportExpunged(
      s,
      mapping.map((p) => p[0]),
    );
    await s.announce(true);
    s.send(taggedOk(cmd.tag, "MOVE completed"));
    return;
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "COPY completed", copyUid));
}
