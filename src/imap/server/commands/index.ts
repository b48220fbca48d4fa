// Which commands are valid in which state (RFC 9051 §6), and the handler of each. A handler answers
// with the tagged response itself; before a tagged OK it calls s.announce() so the client hears about
// changes to the selected mailbox.
import type { Command } from "../../protocol/types.js";
import type { ImapSession, ImapState } from "../session.js";
import { handleAppend } from "./append.js";
import { handleAuthenticate, handleLogin, handleStartTls } from "./auth.js";
import { handleCapability, handleEnable, handleId, handleLogout, handleNoop } from "./any.js";
import { handleCopyMove } from "./copy-move.js";
import { handleExpunge } from "./expunge.js";
import { handleFetch } from "./fetch.js";
import { handleIdle } from "./idle.js";
import { handleList, handleLsub } from "./list.js";
import { handleCreate, handleDelete, handleRename, handleSubscribe } from "./mailboxes.js";
import { handleGetQuota, handleGetQuotaRoot, handleNamespace, handleSetQuota } from "./namespace-quota.js";
import { handleSearch, handleSort, handleThread } from "./search.js";
import { handleCheck, handleClose, handleSelect, handleUnselect } from "./select.js";
import { handleStatus } from "./status.js";
import { handleStore } from "./store.js";

// biome-ignore lint/suspicious/noConfusingVoidType: handlers that answer and return nothing are the common case
export type HandlerResult = void | "starttls";

type Name = Command["name"];
/** The command with this name. (Extract<> fails for union members that share several names.) */
export type Cmd<N extends Name> = Command & { readonly name: N };
type Handler<N extends Name> = (s: ImapSession, cmd: Cmd<N>) => Promise<HandlerResult> | HandlerResult;

const ANY: ImapState[] = ["not-authenticated", "authenticated", "selected"];
const NOT_AUTH: ImapState[] = ["not-authenticated"];
const AUTH: ImapState[] = ["authenticated", "selected"];
const SELECTED: ImapState[] = ["selected"];

const TABLE: { [N in Name]: { states: ImapState[]; handler: Handler<N> } } = {
  CAPABILITY: { states: ANY, handler: handleCapability },
  NOOP: { states: ANY, handler: handleNoop },
  LOGOUT: { states: ANY, handler: handleLogout },
  ID: { states: ANY, handler: handleId },
  STARTTLS: { states: NOT_AUTH, handler: handleStartTls },
  AUTHENTICATE: { states: NOT_AUTH, handler: handleAuthenticate },
  LOGIN: { states: NOT_AUTH, handler: handleLogin },
  ENABLE: { states: AUTH, handler: handleEnable },
  SELECT: { states: AUTH, handler: handleSelect },
  EXAMINE: { states: AUTH, handler: handleSelect },
  CREATE: { states: AUTH, handler: handleCreate },
  DELETE: { states: AUTH, handler: handleDelete },
  RENAME: { states: AUTH, handler: handleRename },
  SUBSCRIBE: { states: AUTH, handler: handleSubscribe },
  UNSUBSCRIBE: { states: AUTH, handler: handleSubscribe },
  LIST: { states: AUTH, handler: handleList },
  LSUB: { states: AUTH, handler: handleLsub },
  NAMESPACE: { states: AUTH, handler: handleNamespace },
  STATUS: { states: AUTH, handler: handleStatus },
  APPEND: { states: AUTH, handler: handleAppend },
  IDLE: { states: AUTH, handler: handleIdle },
  GETQUOTA: { states: AUTH, handler: handleGetQuota },
  GETQUOTAROOT: { states: AUTH, handler: handleGetQuotaRoot },
  SETQUOTA: { states: AUTH, handler: handleSetQuota },
  CHECK: { states: SELECTED, handler: handleCheck },
  CLOSE: { states: SELECTED, handler: handleClose },
  UNSELECT: { states: SELECTED, handler: handleUnselect },
  EXPUNGE: { states: SELECTED, handler: handleExpunge },
  SEARCH: { states: SELECTED, handler: handleSearch },
  FETCH: { states: SELECTED, handler: handleFetch },
  STORE: { states: SELECTED, handler: handleStore },
  COPY: { states: SELECTED, handler: handleCopyMove },
  MOVE: { states: SELECTED, handler: handleCopyMove },
  SORT: { states: SELECTED, handler: handleSort },
  THREAD: { states: SELECTED, handler: handleThread },
};

const STATE_TEXT: Record<ImapState, string> = {
  "not-authenticated": "before login",
  authenticated: "without a selected mailbox",
  selected: "with a selected mailbox",
  logout: "after LOGOUT",
};

export async function dispatch(s: ImapSession, cmd: Command): Promise<HandlerResult> {
  const entry = TABLE[cmd.name] as { states: ImapState[]; handler: Handler<Name> };
  if (!entry.states.includes(s.state)) {
    const want =
      entry.states.includes("selected") && !entry.states.includes("authenticated")
        ? "Select a mailbox first"
        : s.state === "not-authenticated"
          ? "Log in first"
          : `Not allowed ${STATE_TEXT[s.state]}`;
    s.bad(cmd.tag, `${cmd.name}: ${want}`);
    return;
  }
  return entry.handler(s, cmd as never);
}
