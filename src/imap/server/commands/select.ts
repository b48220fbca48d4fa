// SELECT / EXAMINE (RFC 9051 §6.3.2-3, CONDSTORE RFC 7162 §3.1.8), CLOSE, UNSELECT (RFC 3691) and CHECK.
import { Code, flagList, taggedNo, taggedOk } from "../../protocol/compose.js";
import type { Cmd } from "./index.js";
import { canonicalMailboxName } from "../mailbox-names.js";
import { SelectedMailbox } from "../selected-mailbox.js";
import { MAX_UINT32, formatNumbers, rangesHas, resolveSequenceSet } from "../../protocol/sequence-set.js";
import type { ImapSession } from "../session.js";

const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

export async function handleSelect(s: ImapSession, cmd: Cmd<"SELECT" | "EXAMINE">): Promise<void> {
  if (cmd.qresync && !s.qresync) {
    s.bad(cmd.tag, "QRESYNC parameters need ENABLE QRESYNC first");
    return;
  }
  const readOnly = cmd.name === "EXAMINE";
  const wasSelected = s.selected !== null;
  // RFC 9051 §6.3.2: a SELECT, even a failing one, first deselects the current mailbox.
  deselect(s);
  if (wasSelected && s.condstore) s.untagged("OK [CLOSED] Previous mailbox closed");
  const box = await s.deps.store.getMailbox(s.account!.id, canonicalMailboxName(cmd.mailbox));
  if (box?.noselect) {
    s.send(taggedNo(cmd.tag, `${cmd.mailbox} is not selectable (\\Noselect)`, "CANNOT"));
    return;
  }
  if (!box) {
    s.send(taggedNo(cmd.tag, `Mailbox does not exist: ${cmd.mailbox}`, "NONEXISTENT"));
    return;
  }
  const view = await SelectedMailbox.open(s.deps.store, box.id, readOnly);
  if (!view) {
    s.send(taggedNo(cmd.tag, "Mailbox does not exist", "NONEXISTENT"));
    return;
  }
  if (cmd.condstore) s.enabled.add("CONDSTORE");
  if (!readOnly) {
    const before = s.deps.recent.claim(box.id, view.maxUid);
    view.markRecentAbove(before);
  }
  s.selected = view;
  s.state = "selected";
  s.untagged(`${view.exists} EXISTS`);
  if (!s.rev2) {
    s.untagged(`${view.recent.size} RECENT`);
    const firstUnseen = view.firstSeqWithout("\\Seen");
    if (firstUnseen > 0) s.untagged(`OK [${Code.unseen(firstUnseen)}] First unseen`);
  }
  const keywords = view.keywords();
  s.untagged(`FLAGS ${flagList([...SYSTEM_FLAGS, ...keywords])}`);
  s.untagged(
    `OK [${Code.permanentFlags(readOnly ? [] : [...SYSTEM_FLAGS, ...keywords, "\\*"])}] ${readOnly ? "Read-only mailbox" : "Flags permitted"}`,
  );
  s.untagged(`OK [${Code.uidValidity(view.uidValidity)}] UIDs valid`);
  s.untagged(`OK [${Code.uidNext(view.uidNext)}] Predicted next UID`);
  if (s.condstore) s.untagged(`OK [${Code.highestModseq(view.highestModseq)}] Highest`);
  if (cmd.qresync && cmd.qresync.uidValidity === view.uidValidity) await resync(s, view, cmd.qresync);
  s.send(taggedOk(cmd.tag, `${cmd.name} completed`, readOnly ? "READ-ONLY" : "READ-WRITE"));
}

/**
 * QRESYNC (RFC 7162 §3.2.5.2): tell a reconnecting client exactly what changed since its modseq —
 * the UIDs expunged meanwhile (VANISHED (EARLIER)) and the messages whose flags changed (FETCH).
 * The change log is never pruned, so the answer is exact, not a superset.
 */
async function resync(
  s: ImapSession,
  view: SelectedMailbox,
  q: NonNullable<Cmd<"SELECT">["qresync"]>,
): Promise<void> {
  const known =
    q.knownUids && q.knownUids.kind === "set" ? resolveSequenceSet(q.knownUids, MAX_UINT32) : null;
  const changes = await s.deps.store.changesSince(view.mailboxId, q.modSeq);
  const vanished = [
    ...new Set(
      changes.filter((c) => c.kind === "expunge" && (!known || rangesHas(known, c.uid))).map((c) => c.uid),
    ),
  ].sort((a, b) => a - b);
  if (vanished.length > 0) s.untagged(`VANISHED (EARLIER) ${formatNumbers(vanished)}`);
  for (let seq = 1; seq <= view.exists; seq++) {
    const modseq = view.modseqAt(seq);
    if (modseq <= q.modSeq) continue;
    const uid = view.uidAt(seq);
    const flags = view.recent.has(uid) ? [...view.flagsAt(seq), "\\Recent"] : view.flagsAt(seq);
    s.untagged(`${seq} FETCH (UID ${uid} FLAGS ${flagList(flags)} MODSEQ (${modseq}))`);
  }
}

function deselect(s: ImapSession): void {
  s.selected = null;
  s.savedSearch = [];
  if (s.state === "selected") s.state = "authenticated";
}

export async function handleClose(s: ImapSession, cmd: Cmd<"CLOSE">): Promise<void> {
  const view = s.selected!;
  if (!view.readOnly) {
    // RFC 9051 §6.4.1: CLOSE expunges \Deleted messages silently (no EXPUNGE responses).
    const deleted = view.uidsWithFlag("\\Deleted");
    if (deleted.length > 0) await s.deps.store.expunge(view.mailboxId, deleted);
  }
  deselect(s);
  s.send(taggedOk(cmd.tag, "CLOSE completed"));
}

export function handleUnselect(s: ImapSession, cmd: Cmd<"UNSELECT">): void {
  deselect(s);
  s.send(taggedOk(cmd.tag, "UNSELECT completed"));
}

export async function handleCheck(s: ImapSession, cmd: Cmd<"CHECK">): Promise<void> {
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "CHECK completed"));
}
