// RETR and TOP (RFC 1939 §5, §7): the trace prefix, then the blob streamed from the blob store,
// both through the dot-stuffer, written with back-pressure. A message is never held whole in
// memory: at most one read chunk (64 KiB) plus the batch of small responses.
//
// The first chunk is read before "+OK" is sent, so a missing or unreadable blob is still answered
// with -ERR. A read failure after that cannot be reported inside the response (any "-ERR" would be
// message text to the client), so the connection is closed without the terminator: the client
// sees a truncated response, never a wrong one. RETR of a message expunged by another session
// answers "-ERR Message n was deleted" (see maildrop.ts).
import type { Readable } from "node:stream";
import { DotStuffer } from "../protocol/dot-stuff.js";
import type { Pop3Command } from "../protocol/types.js";
import { err, ok } from "../protocol/response.js";
import type { MaildropEntry } from "./maildrop.js";
import type { Pop3Session } from "./session.js";

type Cmd<N extends Pop3Command["name"]> = Extract<Pop3Command, { name: N }>;

export function handleRetr(s: Pop3Session, cmd: Cmd<"RETR">): Promise<void> {
  return send(s, cmd.msg, undefined);
}

export function handleTop(s: Pop3Session, cmd: Cmd<"TOP">): Promise<void> {
  return send(s, cmd.msg, cmd.lines);
}

async function send(s: Pop3Session, n: number, bodyLines: number | undefined): Promise<void> {
  const e = s.message(n);
  if (!e) return;
  const md = s.maildrop!;
  const { store } = s.deps;
  const rec = await store.getMessageSource(md.mailboxId, e.uid);
  if (!rec) {
    md.markGone(e);
    s.reply(err(`Message ${n} was deleted by another session`));
    return;
  }
  // The blob's size is known (MessageSummary.size = prefix + blob, store/types.ts): a bounded
  // stream ends without the extra read that finds EOF (a quarter of the file operations per message).
  const stream = store.blobs.createReadStream(rec.blobId, 0, rec.size - rec.prefix.length);
  try {
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let next: IteratorResult<Buffer>;
    try {
      next = await chunks.next();
    } catch (readErr) {
      s.log.error("internal.error", `cannot read message ${e.uid}`, { err: readErr, blob: rec.blobId });
      s.reply(err("The message cannot be read right now; try again later", "SYS/TEMP"));
      return;
    }
    const stuffer = new DotStuffer(bodyLines === undefined ? {} : { bodyLines });
    s.reply(ok(bodyLines === undefined ? `${e.size} octets` : "Top of message follows"));
    await s.data(stuffer.push(rec.prefix));
    try {
      while (!next.done && !stuffer.done && !s.io.closed) {
        await s.data(stuffer.push(next.value));
        if (stuffer.done) break;
        next = await chunks.next();
      }
    } catch (readErr) {
      s.log.error("internal.error", `reading message ${e.uid} failed mid-response; closing`, {
        err: readErr,
        blob: rec.blobId,
      });
      s.close();
      return;
    }
    if (s.io.closed) return;
    await s.data(stuffer.end());
    if (bodyLines === undefined) retrieved(s, e, rec.id, stuffer.addedCR);
  } finally {
    destroy(stream);
  }
}

/**
 * After a whole RETR: flag for \Seen at QUIT (delete under EXPIRE 0; under EXPIRE n > 0 also
 * record the first retrieval), and learn the CRLF size of a bare-LF message.
 */
function retrieved(s: Pop3Session, e: MaildropEntry, messageId: number, addedCR: number): void {
  e.retrieved = true;
  if (addedCR > 0) {
    e.size = e.storedSize + addedCR;
    s.deps.sizes.learn(messageId, e.storedSize, e.size);
  }
}

function destroy(stream: Readable): void {
  if (!stream.destroyed) stream.destroy();
}
