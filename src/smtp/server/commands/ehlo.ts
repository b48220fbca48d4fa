// EHLO and HELO (RFC 5321 §4.1.1.1): greet, reset the transaction, and (EHLO) list the extensions.
import { ehloReply, heloReply } from "../../protocol/ehlo.js";
import type { SmtpSession } from "../session.js";
import type { HandlerResult } from "./index.js";

export function handleEhlo(s: SmtpSession, domain: string): HandlerResult {
  s.setGreeted(domain, true);
  s.reply(ehloReply(s.capabilities()));
  return "continue";
}

export function handleHelo(s: SmtpSession, domain: string): HandlerResult {
  s.setGreeted(domain, false);
  s.reply(heloReply(s.capabilities()));
  return "continue";
}
