// MAIL FROM (RFC 5321 §4.1.1.2): opens a transaction. On submission the sender must be the
// authenticated account's own address or one of its aliases (RFC 6409 §6.1 lets the MSA enforce it).
import { addressBelongsTo } from "../../../policy/recipients.js";
import type { Command } from "../../protocol/command-parser.js";
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession, Transaction } from "../session.js";
import type { HandlerResult } from "./index.js";

export async function handleMail(
  s: SmtpSession,
  cmd: Extract<Command, { verb: "MAIL" }>,
): Promise<HandlerResult> {
  if (s.helo === null) return s.error(withText(REPLIES.badSequence, "Send HELO/EHLO first"));
  if (s.txn) return s.error(withText(REPLIES.badSequence, "Nested MAIL command"));
  if (s.shuttingDown) {
    s.reply(withText(REPLIES.shuttingDown, `${s.deps.config.hostname} Service shutting down`));
    return s.close();
  }
  if (s.role !== "smtp" && !s.account) {
    s.reject("auth-required");
    return s.error(REPLIES.authRequired);
  }
  const max = s.deps.config.limits.message_size;
  if (cmd.params.size !== undefined && cmd.params.size > max) {
    s.reject("size");
    s.reply(withText(REPLIES.sizeExceeded, `Message size exceeds fixed limit of ${max} bytes`));
    return "continue";
  }
  if (s.account && cmd.from && !(await addressBelongsTo(s.deps.store, cmd.from.address, s.account))) {
    s.reject("sender-mismatch");
    s.reply({
      code: 553,
      enhanced: "5.7.1",
      lines: [`<${cmd.from.address}>: Sender address rejected: not owned by user ${s.account.address}`],
    });
    return "continue";
  }
  let spf: Transaction["spf"] = null;
  let heloSpf: Transaction["spf"] = null;
  if (s.role === "smtp" && s.client) {
    const r = await s.deps.policy.mail(s.client, s.helo, cmd.from?.address ?? "");
    if (r.reply) {
      const reason = r.reply.code === 451 ? "message-rate" : "spf";
      s.reject(reason);
      s.log.info("policy.limit", `sender refused: ${reason}`, { from: cmd.from?.address ?? "<>", remote: s.io.remoteAddress });
      s.reply(r.reply);
      return "continue";
    }
    spf = r.spf;
    heloSpf = r.heloSpf ?? null;
  } else if (s.account) {
    const limit = s.deps.policy.submissionMail(s.account.id);
    if (limit) {
      s.reject("send-limit");
      s.log.warn("policy.limit", `${s.account.address} reached its hourly message limit`, { account: s.account.address });
      s.reply(limit);
      return "continue";
    }
  }
  s.txn = {
    spf,
    heloSpf,
    from: cmd.from,
    params: cmd.params,
    recipients: [],
    rcptCount: 0,
    spool: null,
    bodyMode: null,
    bdatFailed: false,
  };
  s.reply(REPLIES.senderOk);
  return "continue";
}
