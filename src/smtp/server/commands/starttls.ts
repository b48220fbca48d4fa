// STARTTLS (RFC 3207): only before TLS, with no argument; the runner swaps in TLS after our 220 and
// the session forgets everything (onTlsStarted), so the client must EHLO again.
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import type { HandlerResult } from "./index.js";

export function handleStartTls(s: SmtpSession): HandlerResult {
  if (s.io.secure) return s.error(withText(REPLIES.badSequence, "TLS is already active"));
  if (!s.extensions.has("STARTTLS")) return s.error(withText(REPLIES.badSequence, "Send EHLO first"));
  if (s.txn)
    return s.error(withText(REPLIES.badSequence, "STARTTLS is not allowed inside a mail transaction"));
  s.reply(REPLIES.startTls);
  return "starttls";
}
