// Commands that move no mail: RSET, NOOP, QUIT, HELP, VRFY (252: no address harvesting, RFC 5321
// §3.5.3) and EXPN (502: list expansion is not offered, §3.5.2).
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import type { HandlerResult } from "./index.js";

export function handleRset(s: SmtpSession): HandlerResult {
  s.abortTransaction();
  s.reply(REPLIES.resetOk);
  return s.junk() ?? "continue";
}

export function handleNoop(s: SmtpSession): HandlerResult {
  s.reply(REPLIES.ok);
  return s.junk() ?? "continue";
}

export function handleQuit(s: SmtpSession): HandlerResult {
  s.reply(withText(REPLIES.bye, `${s.deps.config.hostname} Bye`));
  return "close";
}

export function handleHelp(s: SmtpSession): HandlerResult {
  s.reply(REPLIES.help);
  return s.junk() ?? "continue";
}

export function handleVrfy(s: SmtpSession): HandlerResult {
  s.reply(REPLIES.cannotVerify);
  return s.junk() ?? "continue";
}

export function handleExpn(s: SmtpSession): HandlerResult {
  s.reply(REPLIES.notImplemented);
  return s.junk() ?? "continue";
}
