// DATA (RFC 5321 §4.1.1.4): after 354 the session streams the message through the DATA receiver into
// a spool (blob + MIME parse in one pass); the verdict is only acted on at the final CRLF.CRLF.
import { MessageSpool } from "../../../delivery/spool.js";
import type { DataVerdict } from "../../protocol/data-receiver.js";
import { DataReceiver, dataVerdictReply } from "../../protocol/data-receiver.js";
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import { commitMessage, spoolOptions } from "./commit.js";
import type { HandlerResult } from "./index.js";

export function handleData(s: SmtpSession): HandlerResult {
  const txn = s.txn;
  if (!txn) return s.error(withText(REPLIES.badSequence, "Need MAIL command"));
  if (txn.bodyMode === "bdat") return s.error(withText(REPLIES.badSequence, "DATA cannot follow BDAT"));
  if (txn.recipients.length === 0) return s.error(REPLIES.noValidRecipients);
  txn.spool = new MessageSpool(s.deps.store, spoolOptions(s));
  txn.bodyMode = "data";
  s.data = new DataReceiver({ maxSize: s.deps.config.limits.message_size });
  s.mode = "data";
  s.dataStartedAt = Date.now();
  s.reply(REPLIES.startData);
  return "data";
}

export async function finishData(s: SmtpSession, verdict: DataVerdict): Promise<void> {
  const refusal = dataVerdictReply(verdict);
  if (refusal) {
    const reason = verdict.tooBig ? "size" : "bare-newline";
    s.reject(reason);
    s.log.warn("message.rejected", `message refused: ${reason}`, {
      size: verdict.size,
      bareLf: verdict.bareLf,
      bareCr: verdict.bareCr,
    });
    s.abortTransaction();
    s.reply(refusal);
    return;
  }
  await commitMessage(s);
}
