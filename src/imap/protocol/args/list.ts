// LIST, basic (RFC 9051 §6.3.9) and extended (RFC 5258: selection options, several patterns,
// RETURN; RFC 5819 RETURN (STATUS …); RFC 6154 SPECIAL-USE), and LSUB (RFC 3501 §6.3.9).

import { ParseError, type Reader } from "../tokenizer.js";
import type { Command, ListReturn, ListSelection, ParseContext, StatusItem } from "../types.js";
import { decodeMailboxName, mailbox, statusItems } from "./common.js";

/** list-mailbox, decoded like a mailbox name (wildcards are printable ASCII in both encodings). */
function pattern(r: Reader, ctx: ParseContext): string {
  return decodeMailboxName(r.listMailbox(), ctx);
}

/** "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts] */
export function list(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the LIST arguments");
  let extended = false;
  const selection = { subscribed: false, remote: false, recursiveMatch: false, specialUse: false };
  if (r.peek() === 0x28) {
    extended = true;
    r.list(() => {
      const o = r.keyword("a LIST selection option");
      if (o === "SUBSCRIBED") selection.subscribed = true;
      else if (o === "REMOTE") selection.remote = true;
      else if (o === "RECURSIVEMATCH") selection.recursiveMatch = true;
      else if (o === "SPECIAL-USE") selection.specialUse = true;
      else throw new ParseError(`unknown LIST selection option ${o}`);
    }, "the LIST selection options");
    // RFC 5258 §3.1: RECURSIVEMATCH needs a base option (of the known ones, SUBSCRIBED)
    if (selection.recursiveMatch && !selection.subscribed) {
      throw new ParseError("RECURSIVEMATCH needs another selection option such as SUBSCRIBED");
    }
    r.sp("after the selection options");
  }
  const reference = mailbox(r, ctx, "a reference name");
  r.sp("before the mailbox pattern");
  let patterns: string[];
  if (r.peek() === 0x28) {
    extended = true;
    patterns = r.list(() => pattern(r, ctx), "the mailbox pattern list", true);
  } else {
    patterns = [pattern(r, ctx)];
  }
  const returns: { -readonly [K in keyof ListReturn]: ListReturn[K] } = {
    subscribed: false,
    children: false,
    specialUse: false,
  };
  if (!r.atEnd()) {
    r.sp("before RETURN");
    if (!r.eatKeyword("RETURN")) throw new ParseError(`expected RETURN, not "${r.excerpt()}"`);
    extended = true;
    r.sp("after RETURN");
    let status: StatusItem[] | undefined;
    r.list(() => {
      const o = r.keyword("a LIST return option");
      if (o === "SUBSCRIBED") returns.subscribed = true;
      else if (o === "CHILDREN") returns.children = true;
      else if (o === "SPECIAL-USE") returns.specialUse = true;
      else if (o === "STATUS") {
        r.sp("after STATUS");
        const items = statusItems(r);
        status = [...new Set([...(status ?? []), ...items])];
      } else throw new ParseError(`unknown LIST return option ${o}`);
    }, "the LIST return options");
    if (status) returns.status = status;
  }
  return { tag, name: "LIST", reference, patterns, selection: selection as ListSelection, returns, extended };
}

/** "LSUB" SP mailbox SP list-mailbox */
export function lsub(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the reference name");
  const reference = mailbox(r, ctx, "a reference name");
  r.sp("before the mailbox pattern");
  return { tag, name: "LSUB", reference, pattern: pattern(r, ctx) };
}
