// Which command may run in which state (RFC 1939 §4–§7, RFC 2449 §5, RFC 2595 §4, RFC 5034), and
// the handler that runs it. A command in the wrong state is a bad command: -ERR, counted.
import type { Pop3Command } from "../protocol/types.js";
import { multiline } from "../protocol/response.js";
import { handleAuth, handlePass, handleStls, handleUser } from "./auth.js";
import { capabilities } from "./capabilities.js";
import { handleRetr, handleTop } from "./retrieve.js";
import type { Pop3Session } from "./session.js";
import { handleDele, handleList, handleQuit, handleRset, handleStat, handleUidl } from "./transaction.js";

export type DispatchResult = "starttls" | undefined;

const AUTHORIZATION: ReadonlySet<Pop3Command["name"]> = new Set([
  "USER",
  "PASS",
  "AUTH",
  "STLS",
  "CAPA",
  "QUIT",
]);

export async function dispatch(s: Pop3Session, cmd: Pop3Command): Promise<DispatchResult> {
  if (s.state === "authorization") {
    if (!AUTHORIZATION.has(cmd.name)) {
      s.bad(`${cmd.name} is not valid before login`);
      return undefined;
    }
  } else if (cmd.name === "USER" || cmd.name === "PASS" || cmd.name === "AUTH" || cmd.name === "STLS") {
    s.bad(`${cmd.name} is not valid after login`);
    return undefined;
  } else {
    // another session may have expunged messages since the last command (maildrop.ts)
    await s.maildrop!.refresh();
  }
  switch (cmd.name) {
    case "CAPA":
      s.reply(multiline("Capability list follows", capabilities(s)));
      return undefined;
    case "STLS":
      return handleStls(s);
    case "USER":
      handleUser(s, cmd);
      return undefined;
    case "PASS":
      await handlePass(s, cmd);
      return undefined;
    case "AUTH":
      await handleAuth(s, cmd);
      return undefined;
    case "QUIT":
      await handleQuit(s);
      return undefined;
    case "STAT":
      handleStat(s);
      return undefined;
    case "LIST":
      handleList(s, cmd);
      return undefined;
    case "UIDL":
      handleUidl(s, cmd);
      return undefined;
    case "RETR":
      await handleRetr(s, cmd);
      return undefined;
    case "TOP":
      await handleTop(s, cmd);
      return undefined;
    case "DELE":
      handleDele(s, cmd);
      return undefined;
    case "RSET":
      handleRset(s);
      return undefined;
    case "NOOP":
      s.reply("+OK\r\n");
      return undefined;
  }
}
