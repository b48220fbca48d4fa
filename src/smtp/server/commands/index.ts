// Dispatches a parsed command to its handler. Handlers reply through the session and return what
// the reader does next: "continue", "close", "starttls", or "data" (the next bytes are message content).
import type { Command } from "../../protocol/command-parser.js";
import type { IngestResult } from "../../../net/session-runner.js";
import type { SmtpSession } from "../session.js";
import { handleAuth } from "./auth.js";
import { handleBdat } from "./bdat.js";
import { handleData } from "./data.js";
import { handleEhlo, handleHelo } from "./ehlo.js";
import { handleMail } from "./mail.js";
import { handleRcpt } from "./rcpt.js";
import { handleExpn, handleHelp, handleNoop, handleQuit, handleRset, handleVrfy } from "./simple.js";
import { handleStartTls } from "./starttls.js";

export type HandlerResult = IngestResult | "data";

export function handleCommand(s: SmtpSession, cmd: Command): HandlerResult | Promise<HandlerResult> {
  switch (cmd.verb) {
    case "EHLO":
      return handleEhlo(s, cmd.domain);
    case "HELO":
      return handleHelo(s, cmd.domain);
    case "MAIL":
      return handleMail(s, cmd);
    case "RCPT":
      return handleRcpt(s, cmd);
    case "DATA":
      return handleData(s);
    case "BDAT":
      return handleBdat(s, cmd);
    case "RSET":
      return handleRset(s);
    case "NOOP":
      return handleNoop(s);
    case "QUIT":
      return handleQuit(s);
    case "HELP":
      return handleHelp(s);
    case "VRFY":
      return handleVrfy(s);
    case "EXPN":
      return handleExpn(s);
    case "STARTTLS":
      return handleStartTls(s);
    case "AUTH":
      return handleAuth(s, cmd);
  }
}
