// STORE / UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3). The store applies
// the change in one transaction and normalises the flags (\Recent cannot be stored and is
// dropped). Each changed message is recorded in the view so it is not announced back as a
// change by "someone else".
import { Code, flagList, modseqValue, taggedNo, taggedOk } from "../../protocol/compose.js";
import { enableCondstore } from "../condstore.js";
import { BatchSink } from "../fetch-items.js";
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
  const uids = seqs.map((q) => view.uidAt(q));

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
  view.applyOwnStore(result.updated);

  // Without .SILENT every message of the set gets its (new) flags, as a FETCH would show them.
  // With UNCHANGEDSINCE the ones that passed the test get a FETCH with MODSEQ even when .SILENT
  // (RFC 7162 §3.1.3); the ones that failed are left to the unsolicited updates of announce().
  // Streamed in 64 KiB batches: STORE 1:* on 100,000 messages is 100,000 responses.
  if (!cmd.silent || conditional) {
    const failed = new Set(result.modified);
    const condstore = s.condstore;
    const withUid = cmd.uid || s.qresync; // RFC 7162 §3.2.4
    const rev1 = !s.rev2;
    const flagTexts = new Map<number, string>();
    const sink = new BatchSink((b) => s.write(b));
    for (const seq of seqs) {
      if (s.io.closed) return;
      const uid = view.uidAt(seq);
      if (failed.has(uid)) continue;
      let line = `* ${seq} FETCH (`;
      if (withUid) line += `UID ${uid}`;
      if (!cmd.silent) {
        let flags: string;
        if (rev1 && view.recent.has(uid)) flags = flagList([...view.flagsAt(seq), "\\Recent"]);
        else {
          const id = view.flagIdAt(seq);
          flags = flagTexts.get(id) ?? flagList(view.flagsAt(seq));
          flagTexts.set(id, flags);
        }
        line += withUid ? ` FLAGS ${flags}` : `FLAGS ${flags}`;
      }
      if (condstore) line += `${withUid || !cmd.silent ? " " : ""}MODSEQ ${modseqValue(view.modseqAt(seq))}`;
      const flushed = sink.text(`${line})\r\n`);
      if (flushed) await flushed;
    }
    await sink.flush();
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
