// POP3 command line → typed command (RFC 1939 §3, RFC 2449 §3). Pure and total: every input gives a
// ParseResult, never an exception.
//
// Grammar: keyword *(SP param); keywords are case-insensitive. Arguments are separated by spaces;
// runs of spaces and trailing spaces are tolerated (clients differ), except for PASS, whose
// argument is the rest of the line exactly as sent (RFC 1939 §7: a password may contain spaces).
// USER and PASS are decoded as UTF-8 (addresses and passwords may be international); everything
// else must be printable ASCII.
import type { ParseResult, Pop3Command } from "./types.js";

/** Largest message number or line count we parse (more digits can only be nonsense). */
const MAX_NUMBER_DIGITS = 15;
const DIGITS = /^[0-9]+$/;
/** printable ASCII without space: what a keyword or an ordinary argument may hold */
const VCHARS = /^[\x21-\x7e]+$/;

function fail(kind: "unknown" | "syntax", text: string): ParseResult {
  return { ok: false, kind, text };
}

function ok(command: Pop3Command): ParseResult {
  return { ok: true, command };
}

/** A client-supplied word, made safe to echo in a response line. */
export function echo(word: string): string {
  const clean = word.replace(/[^\x21-\x7e]/g, "?");
  return clean.length > 40 ? `${clean.slice(0, 40)}…` : clean;
}

function parseNumber(arg: string): number | null {
  if (!DIGITS.test(arg) || arg.length > MAX_NUMBER_DIGITS) return null;
  return Number(arg);
}

export function parseCommand(line: Buffer): ParseResult {
  const sp = line.indexOf(0x20);
  const keyword = line.subarray(0, sp === -1 ? line.length : sp).toString("latin1");
  if (keyword.length === 0) return fail("syntax", "Empty command");
  if (!VCHARS.test(keyword)) return fail("unknown", "Unknown command");
  const name = keyword.toUpperCase();
  const rest = sp === -1 ? null : line.subarray(sp + 1);

  if (name === "PASS") {
    if (rest === null || rest.length === 0) return fail("syntax", "PASS needs a password");
    return ok({ name: "PASS", password: rest.toString("utf8") });
  }
  if (name === "USER") {
    const user = rest === null ? "" : rest.toString("utf8").trim();
    if (user.length === 0) return fail("syntax", "USER needs a user name");
    if (/[\x00-\x20\x7f]/.test(user)) return fail("syntax", "Invalid user name");
    return ok({ name: "USER", user });
  }

  const text = rest === null ? "" : rest.toString("latin1");
  const args = text.split(" ").filter((a) => a.length > 0);
  for (const a of args) {
    if (!VCHARS.test(a)) return fail("syntax", "Invalid characters in the arguments");
  }
  const none = (command: Pop3Command): ParseResult =>
    args.length === 0 ? ok(command) : fail("syntax", `${name} takes no arguments`);
  /** LIST and UIDL: an optional message number */
  const optionalMsg = (cmd: "LIST" | "UIDL"): ParseResult => {
    if (args.length === 0) return ok({ name: cmd, msg: null });
    if (args.length > 1) return fail("syntax", `Too many arguments for ${cmd}`);
    const msg = parseNumber(args[0]!);
    return msg === null ? fail("syntax", "Invalid message number") : ok({ name: cmd, msg });
  };
  const oneMsg = (cmd: "RETR" | "DELE"): ParseResult => {
    if (args.length !== 1) return fail("syntax", `${cmd} needs one message number`);
    const msg = parseNumber(args[0]!);
    return msg === null ? fail("syntax", "Invalid message number") : ok({ name: cmd, msg });
  };

  switch (name) {
    case "QUIT":
    case "STAT":
    case "NOOP":
    case "RSET":
    case "CAPA":
    case "STLS":
      return none({ name });
    case "LIST":
    case "UIDL":
      return optionalMsg(name);
    case "RETR":
    case "DELE":
      return oneMsg(name);
    case "TOP": {
      if (args.length !== 2) return fail("syntax", "TOP needs a message number and a line count");
      const msg = parseNumber(args[0]!);
      const lines = parseNumber(args[1]!);
      if (msg === null) return fail("syntax", "Invalid message number");
      if (lines === null) return fail("syntax", "Invalid line count");
      return ok({ name: "TOP", msg, lines });
    }
    case "AUTH": {
      if (args.length === 0) return ok({ name: "AUTH", mechanism: null, initialResponse: null });
      if (args.length > 2) return fail("syntax", "Too many arguments for AUTH");
      return ok({ name: "AUTH", mechanism: args[0]!.toUpperCase(), initialResponse: args[1] ?? null });
    }
    default:
      // APOP is deliberately unknown: passwords are stored as scrypt hashes, so the shared secret
      // APOP needs does not exist (RFC 2449 §6: clients find APOP by the greeting's timestamp,
      // which we never send).
      return fail("unknown", `Unknown command: ${echo(keyword)}`);
  }
}
