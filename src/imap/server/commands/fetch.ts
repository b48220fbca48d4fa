// FETCH / UID FETCH (RFC 9051 §6.4.5, §7.5.2) with CHANGEDSINCE (RFC 7162 §3.1.4.1) and VANISHED
// (RFC 7162 §3.2.6). Responses go out in sequence order; bodies stream from the blob store with
// back-pressure. Non-PEEK body items set \Seen first, in one store call for all messages, so each
// response already carries the new FLAGS.
import { FetchFramingError, taggedOk } from "../../protocol/compose.js";
import { enableCondstore } from "../condstore.js";
import {
  BatchSink,
  type FetchContext,
  planFetch,
  prepareMessage,
  viewResponse,
  writeMessage,
} from "../fetch-items.js";
import { resolveMessages, uidSetPredicate } from "../message-set.js";
import { compactSet } from "../selected-mailbox.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

export async function handleFetch(s: ImapSession, cmd: Cmd<"FETCH">): Promise<void> {
  const view = s.selected!;
  const store = s.deps.store;
  if (cmd.vanished && !s.qresync) {
    s.bad(cmd.tag, "VANISHED needs ENABLE QRESYNC"); // RFC 7162 §3.2.6
    return;
  }
  const plan = planFetch(cmd.items, { uid: cmd.uid, changedSince: cmd.changedSince !== undefined });
  if ("error" in plan) {
    s.bad(cmd.tag, plan.error);
    return;
  }
  const resolved = resolveMessages(view, cmd.set, cmd.uid, s.savedSearch);
  if (!resolved.ok) {
    s.bad(cmd.tag, resolved.text);
    return;
  }
  if (plan.modseq) enableCondstore(s);

  let seqs = resolved.seqs;
  const since = cmd.changedSince;
  if (since !== undefined) seqs = seqs.filter((q) => view.modseqAt(q) > since);

  // RFC 7162 §3.2.6: VANISHED (EARLIER) before any FETCH response. Expunges still in the view are
  // announced as plain VANISHED at the end of the command.
  if (cmd.vanished && since !== undefined) {
    const inSet = uidSetPredicate(view, cmd.set, s.savedSearch);
    const gone = new Set<number>();
    for (const c of await store.changesSince(view.mailboxId, since)) {
      if (c.kind === "expunge" && inSet(c.uid) && view.seqOf(c.uid) === 0) gone.add(c.uid);
    }
    if (gone.size > 0) s.untagged(`VANISHED (EARLIER) ${compactSet([...gone].sort((a, b) => a - b))}`);
  }

  // \Seen for non-PEEK body fetches (never in a read-only mailbox).
  const seenNow = new Set<number>();
  if (plan.setsSeen && !view.readOnly) {
    const unseen: number[] = [];
    for (const q of seqs) if (!view.hasFlagAt(q, "\\Seen")) unseen.push(view.uidAt(q));
    if (unseen.length > 0) {
      const r = await store.storeFlags({
        mailboxId: view.mailboxId,
        uids: unseen,
        op: "add",
        flags: ["\\Seen"],
      });
      view.applyOwnStore(r.updated);
      for (const u of r.updated) seenNow.add(u.uid);
    }
  }

  const ctx: FetchContext = {
    store,
    utf8: s.utf8,
    rev1: !s.rev2,
    recent: view.recent,
    condstore: s.condstore,
    qresync: s.qresync,
  };
  // sizes and dates: read for the messages asked on first need, in one read (then kept by the view
  // and the mailbox's snapshot)
  if (plan.details) await view.ensureDetails(seqs);
  const sink = new BatchSink((b) => s.write(b));
  let expunged = false;
  if (!plan.needsRecord) {
    // only items of the view (FETCH 1:* (FLAGS)): one string per message, nothing awaited per message
    for (const seq of seqs) {
      if (s.io.closed) return;
      if (plan.details && !view.detailsAt(seq)) {
        expunged = true; // gone from the store already (RFC 2180 §4.1.1): skip it
        continue;
      }
      const written = sink.text(viewResponse(ctx, plan, view, seq));
      if (written) await written;
    }
  }
  // Records and eagerly read sections (HEADER.FIELDS, small ranges) of the next few messages are
  // loaded concurrently while the responses go out in order: one message's blob read no longer waits
  // for the previous one's (file reads go through libuv's thread pool, shared by every session).
  type Loaded =
    | { kind: "skip" }
    | { kind: "ok"; m: NonNullable<ReturnType<typeof view.at>>; values: Awaited<ReturnType<typeof prepareMessage>> }
    | { kind: "error"; err: unknown };
  const readOpts = plan.header ? { header: true } : undefined;
  const load = async (seq: number): Promise<Loaded> => {
    try {
      if (plan.details && !view.detailsAt(seq)) return { kind: "skip" };
      const m = view.at(seq)!;
      // header sections come with the record (stored in the database, no blob read)
      const rec = await store.getMessage(view.mailboxId, m.uid, readOpts);
      // expunged by another session meanwhile (RFC 2180 §4.1.1): skip it
      if (rec === null) return { kind: "skip" };
      const prepared = prepareMessage(ctx, plan, m, rec, seenNow.has(m.uid));
      return { kind: "ok", m, values: prepared instanceof Promise ? await prepared : prepared };
    } catch (err) {
      return { kind: "error", err };
    }
  };
  const recordSeqs = plan.needsRecord ? seqs : [];
  const window: Array<Promise<Loaded>> = [];
  let next = 0;
  const fill = () => {
    while (window.length < PREFETCH && next < recordSeqs.length) window.push(load(recordSeqs[next++]!));
  };
  for (const seq of recordSeqs) {
    if (s.io.closed) return;
    fill();
    const loaded = await window.shift()!;
    if (loaded.kind === "skip") {
      expunged = true;
      continue;
    }
    if (loaded.kind === "error") throw loaded.err;
    const { m, values } = loaded;
    if ("fail" in values) {
      if (!(await flushOrClose(s, sink))) return;
      s.no(cmd.tag, values.fail.text, values.fail.code);
      return;
    }
    try {
      const written = writeMessage(sink, seq, values);
      if (written) await written;
    } catch (err) {
      // Part of a literal is on the wire: the response cannot be completed, only the connection ended.
      const what =
        err instanceof FetchFramingError ? "message content is shorter than its record says" : "read failed";
      s.log.error("internal.error", `FETCH of UID ${m.uid}: ${what}; closing the connection`, { err });
      s.close();
      return;
    }
  }
  if (!(await flushOrClose(s, sink))) return;
  await s.announce(cmd.uid);
  s.send(
    expunged
      ? taggedOk(cmd.tag, "Some messages were expunged meanwhile", "EXPUNGEISSUED")
      : taggedOk(cmd.tag, "FETCH completed"),
  );
}

/** messages whose records and small sections are loaded ahead of the one being written */
const PREFETCH = 8;

async function flushOrClose(s: ImapSession, sink: BatchSink): Promise<boolean> {
  try {
    await sink.flush();
    return true;
  } catch (err) {
    s.log.error("internal.error", "FETCH response write failed; closing the connection", { err });
    s.close();
    return false;
  }
}
