// Framed command (tag SP command [arguments]) → typed Command, or the tagged BAD/NO to answer.
// Syntax only: whether a command is allowed in the current state, or an extension is enabled, is
// the session's decision. Never throws.

import { append } from "./args/append.js";
import { authenticate, login } from "./args/auth.js";
import { copy, expunge } from "./args/copy.js";
import { fetch } from "./args/fetch.js";
import { list, lsub } from "./args/list.js";
import { create, oneMailbox, rename, select, status } from "./args/mailbox.js";
import { getquota, setquota } from "./args/quota.js";
import { search, sort, thread } from "./args/search.js";
import { enable, id } from "./args/session.js";
import { store } from "./args/store.js";
import { ParseError, Reader, readTag } from "./tokenizer.js";
import type { Command, Frame, ParseContext, ParseResult } from "./types.js";

type Args = (r: Reader, ctx: ParseContext, tag: string) => Command;
type UidArgs = (r: Reader, ctx: ParseContext, tag: string, uid: boolean) => Command;

type BareName =
  | "CAPABILITY"
  | "NOOP"
  | "LOGOUT"
  | "STARTTLS"
  | "CHECK"
  | "CLOSE"
  | "UNSELECT"
  | "IDLE"
  | "NAMESPACE";

const bare =
  (name: BareName): Args =>
  (_r, _ctx, tag) => ({ tag, name });

/** Commands that are not under UID. */
const COMMANDS: ReadonlyMap<string, Args> = new Map<string, Args>([
  ["CAPABILITY", bare("CAPABILITY")],
  ["NOOP", bare("NOOP")],
  ["LOGOUT", bare("LOGOUT")],
  ["STARTTLS", bare("STARTTLS")],
  ["CHECK", bare("CHECK")],
  ["CLOSE", bare("CLOSE")],
  ["UNSELECT", bare("UNSELECT")],
  ["IDLE", bare("IDLE")],
  ["NAMESPACE", bare("NAMESPACE")],
  ["AUTHENTICATE", (r, _c, tag) => authenticate(r, tag)],
  ["LOGIN", (r, _c, tag) => login(r, tag)],
  ["ENABLE", (r, _c, tag) => enable(r, tag)],
  ["ID", (r, _c, tag) => id(r, tag)],
  ["SELECT", (r, c, tag) => select(r, c, tag, "SELECT")],
  ["EXAMINE", (r, c, tag) => select(r, c, tag, "EXAMINE")],
  ["CREATE", create],
  ["DELETE", (r, c, tag) => oneMailbox(r, c, tag, "DELETE")],
  ["SUBSCRIBE", (r, c, tag) => oneMailbox(r, c, tag, "SUBSCRIBE")],
  ["UNSUBSCRIBE", (r, c, tag) => oneMailbox(r, c, tag, "UNSUBSCRIBE")],
  ["GETQUOTAROOT", (r, c, tag) => oneMailbox(r, c, tag, "GETQUOTAROOT")],
  ["RENAME", rename],
  ["LIST", list],
  ["LSUB", lsub],
  ["STATUS", status],
  ["APPEND", append],
  ["GETQUOTA", (r, _c, tag) => getquota(r, tag)],
  ["SETQUOTA", (r, _c, tag) => setquota(r, tag)],
]);

/** Commands that also exist as UID <command>. */
const UID_COMMANDS: ReadonlyMap<string, UidArgs> = new Map<string, UidArgs>([
  ["FETCH", (r, _c, tag, uid) => fetch(r, tag, uid)],
  ["STORE", (r, _c, tag, uid) => store(r, tag, uid)],
  ["SEARCH", (r, _c, tag, uid) => search(r, tag, uid)],
  ["COPY", (r, c, tag, uid) => copy(r, c, tag, uid, "COPY")],
  ["MOVE", (r, c, tag, uid) => copy(r, c, tag, uid, "MOVE")],
  ["EXPUNGE", (r, _c, tag, uid) => expunge(r, tag, uid)],
  ["SORT", (r, _c, tag, uid) => sort(r, tag, uid)],
  ["THREAD", (r, _c, tag, uid) => thread(r, tag, uid)],
]);

/** The names parseCommand accepts (upper-case; UID commands under their own name). */
export const COMMAND_NAMES: ReadonlySet<string> = new Set([
  ...COMMANDS.keys(),
  ...UID_COMMANDS.keys(),
  "UID",
]);

/** Parse one framed command (a receiver "request" event is a Frame). Never throws. */
export function parseCommand(frame: Frame, ctx: ParseContext = {}): ParseResult {
  const first = frame.lines[0]!;
  const t = readTag(first);
  if (t === null || (t.end < first.length && first[t.end] !== 0x20)) {
    return {
      ok: false,
      tag: null,
      status: "BAD",
      text: first.length === 0 ? "Empty command line" : "Invalid tag",
    };
  }
  const { tag } = t;
  const r = new Reader(frame);
  r.pos = t.end;
  let name = "";
  try {
    if (r.atEnd()) throw new ParseError("Missing command");
    r.sp();
    name = r.keyword("a command name");
    let command: Command;
    if (name === "UID") {
      r.sp("after UID");
      const sub = r.keyword("a command after UID");
      const parse = UID_COMMANDS.get(sub);
      if (!parse) throw new ParseError(`UID ${sub} is not a command`);
      name = `UID ${sub}`;
      command = parse(r, ctx, tag, true);
    } else {
      const parse = COMMANDS.get(name);
      const uidParse = UID_COMMANDS.get(name);
      if (parse) command = parse(r, ctx, tag);
      else if (uidParse) command = uidParse(r, ctx, tag, false);
      else throw new ParseError(`Unknown command ${name.slice(0, 40)}`);
    }
    r.end();
    return { ok: true, command };
  } catch (e) {
    if (!(e instanceof ParseError)) {
      // a bug, or a stack overflow on pathological input: still a BAD, never a crash
      return {
        ok: false,
        tag,
        status: "BAD",
        text: `${name || "command"}: internal error parsing the command`,
      };
    }
    const text = name && !e.message.startsWith("Unknown command") ? `${name}: ${e.message}` : e.message;
    const res = { ok: false as const, tag, status: e.status, text };
    return e.code ? { ...res, code: e.code } : res;
  }
}

/** Parse a command given as one line without literals (tests, tools). */
export function parseLine(line: string | Buffer, ctx: ParseContext = {}): ParseResult {
  const buf = typeof line === "string" ? Buffer.from(line, "utf8") : line;
  return parseCommand({ lines: [buf], literals: [] }, ctx);
}

/** During IDLE the client's only valid line is "DONE" (RFC 2177 §3, RFC 9051 §6.3.13). */
export function parseIdleDone(line: Uint8Array): boolean {
  return (
    line.length === 4 &&
    (line[0]! | 0x20) === 0x64 &&
    (line[1]! | 0x20) === 0x6f &&
    (line[2]! | 0x20) === 0x6e &&
    (line[3]! | 0x20) === 0x65
  );
}
