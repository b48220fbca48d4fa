// STORE / UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3). The store applies
// the change in one transaction and normalises the flags (\Recent cannot be stored and is
// dropped). Each changed message is recorded in the view so it is not announced back as a
// change by "someone else".
import { Code, flagList, modseqValue, taggedNo, taggedOk } from "../../protocol/compose.js";
import { enableCondstore } from "../condstore.js";
import { resolveMessages } from "../message-set.js";
import { compactSet } from "../selected-mailbox.js";
import type { ImapSession } from "../session.js";
import { StoreError, type StoreFlagsResult } from "../../../store/types.js";
import type { Cmd } from "./index.js";

export async function handleStore(s: ImapSession, cmd: Cmd<"STORE">): Promise<void> {
  const view = s.selected!;
  const resolved = resolveMessages(view, cmd.set, cmd.uid, s.savedSearch);
  if (!resolved.ok) {
    s.bad(cmd.tag, resolved.text);
    return;
  }
  if (view.readOnly) {
    s.no(cmd.tag, "The mailbox is read-only", "READ-ONLY");
    return;
  }
  const conditional = cmd.unchangedSince !== undefined;
  if (conditional) enableCondstore(s);
  const seqs = resolved.seqs;
  const uids = seqs.map((q) => view.at(q)!.uid);

  let result: StoreFlagsResult = { updated: [], modified: [], highestModseq: view.highestModseq };
  if (uids.length > 0) {
    try {
      result = await s.deps.store.storeFlags({
        mailboxId: view.mailboxId,
        uids,
        op: cmd.op,
        flags: cmd.flags.filter((f) => f.toLowerCase() !== "\\recent"),
        ...(conditional ? { unchangedSince: cmd.unchangedSince } : {}),
      });
    } catch (err) {
      if (err instanceof StoreError && err.code === "invalid") {
        s.send(taggedNo(cmd.tag, `Cannot store that flag: ${err.message}`, "CANNOT"));
        return;
      }
      throw err;
    }
  }
  for (const u of result.updated) view.applyOwnFlags(u.uid, u.flags, u.modseq);

  // Without .SILENT every message of the set gets its (new) flags, as a FETCH would show them.
  // With UNCHANGEDSINCE the ones that passed the test get a FETCH with MODSEQ even when .SILENT
  // (RFC 7162 §3.1.3); the ones that failed are left to the unsolicited updates of announce().
  const failed = new Set(result.modified);
  const condstore = s.condstore;
  const withUid = cmd.uid || s.qresync; // RFC 7162 §3.2.4
  for (const seq of seqs) {
    const m = view.at(seq)!;
    if (failed.has(m.uid)) continue;
    if (cmd.silent && !conditional) continue;
    const items: string[] = [];
    if (withUid) items.push(`UID ${m.uid}`);
    if (!cmd.silent) {
      const flags = !s.rev2 && view.recent.has(m.uid) ? [...m.flags, "\\Recent"] : m.flags;
      items.push(`FLAGS ${flagList(flags)}`);
    }
    if (condstore) items.push(`MODSEQ ${modseqValue(m.modseq)}`);
    s.untagged(`${seq} FETCH (${items.join(" ")})`);
  }

  // MODIFIED lists UIDs for UID STORE, sequence numbers otherwise (RFC 7162 §3.1.3)
  const modified = cmd.uid
    ? [...result.modified]
    : result.modified.map((u) => view.seqOf(u)).filter((q) => q > 0);
  modified.sort((a, b) => a - b);
  await s.announce(cmd.uid);
  if (modified.length > 0) {
    s.send(
      taggedOk(cmd.tag, "Conditional STORE failed for some messages", Code.modified(compactSet(modified))),
    );
    return;
  }
  s.send(taggedOk(cmd.tag, "STORE completed"));
}
