// BDAT (RFC 3030 §2): every chunk is read in full, whatever the state, because the client sends it
// without waiting; errors are answered after the chunk, and a failed BDAT sequence stays failed
// until RSET, so client and server never disagree about where a chunk ends.
import { MessageSpool } from "../../../delivery/spool.js";
import type { Command } from "../../protocol/command-parser.js";
import { BdatReceiver } from "../../protocol/bdat-receiver.js";
import { REPLIES, type Reply, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import { commitMessage, spoolOptions } from "./commit.js";
import type { HandlerResult } from "./index.js";

export async function handleBdat(
  s: SmtpSession,
  cmd: Extract<Command, { verb: "BDAT" }>,
): Promise<HandlerResult> {
  if (!s.extensions.has("CHUNKING"))
    return s.error(withText(REPLIES.badSequence, "Send EHLO first: BDAT needs CHUNKING"));
  const txn = s.txn;
  let refusal: Reply | null = null;
  if (!txn) refusal = withText(REPLIES.badSequence, "Need MAIL command");
  else if (txn.bodyMode === "data") refusal = withText(REPLIES.badSequence, "BDAT cannot follow DATA");
  else if (txn.bdatFailed) refusal = withText(REPLIES.badSequence, "Earlier BDAT failed; send RSET");
  else if (txn.recipients.length === 0) refusal = REPLIES.noValidRecipients;
  if (txn && !refusal && txn.bodyMode === null) {
    txn.bodyMode = "bdat";
    txn.spool = new MessageSpool(s.deps.store, spoolOptions(s));
    s.bdat = new BdatReceiver({ maxSize: s.deps.config.limits.message_size });
    s.dataStartedAt = Date.now();
  }
  // A refused chunk is still read in full, within the same deadline as any transfer.
  if (refusal) s.dataStartedAt = Date.now();
  s.bdatRefusal = refusal;
  s.bdatLast = cmd.last;
  const receiver = refusal ? new BdatReceiver({ maxSize: 0 }) : s.bdat!;
  if (refusal) s.bdat = receiver;
  receiver.begin(cmd.size);
  if (cmd.size === 0) {
    await finishBdatChunk(s);
    return "continue";
  }
  s.mode = "bdat";
  return "data";
}

export async function finishBdatChunk(s: SmtpSession): Promise<void> {
  const txn = s.txn;
  if (s.bdatRefusal) {
    const refusal = s.bdatRefusal;
    s.bdatRefusal = null;
    if (txn && txn.bodyMode === "bdat") s.bdat = null;
    s.error(refusal);
    return;
  }
  if (!txn || !s.bdat) return;
  const verdict = s.bdat.verdict;
  if (verdict.tooBig) {
    s.reject("size");
    txn.bdatFailed = true;
    await txn.spool?.abort();
    txn.spool = null;
    s.reply(REPLIES.sizeExceeded);
    return;
  }
  if (!s.bdatLast) {
    s.reply({ code: 250, enhanced: "2.0.0", lines: [`${verdict.size} octets received`] });
    return;
  }
  s.bdat = null;
  await commitMessage(s);
}
