// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: several messages), literal8 (BINARY,
// RFC 3516 §4.4) and UTF8 (literal8) (UTF8=ACCEPT, RFC 6855 §4).
//
// The message literals are normally "streamed" placeholders (the receiver already handed their
// bytes to the session, see receiver.ts); the head of a command up to a message literal parses as
// a complete APPEND, which is how the session learns the mailbox, flags and date of the message
// whose bytes are about to arrive.

import { LIT, ParseError, type Reader } from "../tokenizer.js";
import type { AppendMessage, Command, Flag, ImapDateTime, Literal, ParseContext } from "../types.js";
import { dateTime, flagList, mailbox } from "./common.js";

/** "APPEND" SP mailbox 1*append-message; append-message = [SP flag-list] [SP date-time] SP append-data */
export function append(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the mailbox name");
  const mbox = mailbox(r, ctx);
  const messages: AppendMessage[] = [];
  do {
    r.sp(messages.length === 0 ? "after the mailbox name" : "before the next message");
    let flags: Flag[] = [];
    let date: ImapDateTime | undefined;
    if (r.peek() === 0x28) {
      flags = flagList(r);
      r.sp("after the flag list");
    }
    if (r.peek() === 0x22) {
      date = dateTime(r);
      r.sp("after the date-time");
    }
    let utf8 = false;
    if (r.eatKeyword("UTF8")) {
      utf8 = true;
      r.sp("after UTF8");
      r.expect(0x28, '"(" after UTF8');
    }
    const literal = messageLiteral(r);
    if (utf8) {
      if (!literal.binary) throw new ParseError("UTF8 needs a literal8 (~{n})");
      r.expect(0x29, '")" after the UTF8 literal');
    }
    messages.push(date ? { flags, date, literal, utf8 } : { flags, literal, utf8 });
  } while (!r.atEnd());
  return { tag, name: "APPEND", mailbox: mbox, messages };
}

function messageLiteral(r: Reader): Literal {
  if (r.peek() !== LIT) throw new ParseError(`expected the message as a literal, not "${r.excerpt()}"`);
  const lit = r.literal();
  if (lit.kind === "inline" && !lit.binary && lit.data.indexOf(0) !== -1) {
    throw new ParseError("NUL in a literal: send the message as literal8 (~{n})");
  }
  return lit;
}
