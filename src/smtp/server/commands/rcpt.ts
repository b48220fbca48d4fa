// RCPT TO (RFC 5321 §4.1.1.3): each recipient is decided by the recipient policy (local lookup,
// relay rules, quota) and counted against limits.recipients (452 4.5.3, RFC 5321 §4.5.3.1.10).
import { decideRecipient } from "../../../policy/recipients.js";
import type { Command } from "../../protocol/command-parser.js";
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import type { HandlerResult } from "./index.js";

export async function handleRcpt(
  s: SmtpSession,
  cmd: Extract<Command, { verb: "RCPT" }>,
): Promise<HandlerResult> {
  const txn = s.txn;
  if (!txn) return s.error(withText(REPLIES.badSequence, "Need MAIL before RCPT"));
  if (txn.bodyMode) return s.error(withText(REPLIES.badSequence, "RCPT after the message content started"));
  if (txn.rcptCount >= s.deps.config.limits.recipients) {
    s.reject("too-many-recipients");
    s.reply(REPLIES.tooManyRecipients);
    return "continue";
  }
  // The null sender sends bounces: one recipient per bounce is all a real bounce needs (backscatter).
  if (txn.from === null && txn.rcptCount >= s.deps.config.limits.null_sender_recipients && s.role === "smtp") {
    s.reject("too-many-recipients");
    s.reply(withText(REPLIES.tooManyRecipients, "Too many recipients for a bounce"));
    return "continue";
  }
  if (s.role === "smtp" && s.client) {
    const refusal = await s.deps.policy.rcptClient(s.client);
    if (refusal) {
      const reason = refusal.code === 554 ? "dnsbl" : "recipient-rate";
      s.reject(reason);
      s.log.info("policy.limit", `recipient refused: ${reason}`, { rcpt: cmd.to.address, remote: s.io.remoteAddress });
      s.reply(refusal);
      return "continue";
    }
  }
  const n = cmd.params.notify;
  const notify = n
    ? n.never
      ? ["NEVER"]
      : [n.success && "SUCCESS", n.failure && "FAILURE", n.delay && "DELAY"].filter((x): x is string => !!x)
    : undefined;
  const decision = await decideRecipient(cmd.to, {
    store: s.deps.store,
    mayRelay: s.role !== "smtp" && s.account !== null,
    declaredSize: txn.params.size ?? 0,
    hostname: s.deps.config.hostname,
    nullSender: txn.from === null && s.role === "smtp",
    notify,
    orcpt: cmd.params.orcpt ? `${cmd.params.orcpt.type};${cmd.params.orcpt.address}` : undefined,
  });
  if (!decision.ok) {
    s.reject(decision.reason);
    s.log.info("message.rejected", `recipient refused: ${decision.reason}`, { rcpt: cmd.to.address });
    // Unknown users and relay attempts count as errors, so address harvesting ends in a 421.
    if (decision.reason === "unknown-user" || decision.reason === "relay-denied")
      return s.error(decision.reply);
    s.reply(decision.reply);
    return "continue";
  }
  if (s.role === "smtp" && s.client) {
    const grey = await s.deps.policy.rcptAccepted(s.client, txn.from?.address ?? "", cmd.to.address);
    if (grey) {
      s.reject("greylisted");
      s.log.info("policy.limit", "recipient greylisted", { rcpt: cmd.to.address, remote: s.io.remoteAddress });
      s.reply(grey);
      return "continue";
    }
  } else if (s.account) {
    const limit = s.deps.policy.submissionRcpt(s.account.id);
    if (limit) {
      s.reject("send-limit");
      s.log.warn("policy.limit", `${s.account.address} reached its daily recipient limit`, { account: s.account.address });
      s.reply(limit);
      return "continue";
    }
  }
  txn.recipients.push(...decision.recipients);
  txn.rcptCount++;
  s.reply(REPLIES.recipientOk);
  return "continue";
}
