// Arguments shared by several commands: mailbox names, flags, dates, STATUS items (RFC 9051 §9).

import { isUtf8 } from "node:buffer";
import { decodeMutf7 } from "../mutf7.js";
import { isAtom, latin1, ParseError, type Reader } from "../tokenizer.js";
import type { Flag, ImapDate, ImapDateTime, ParseContext, StatusItem } from "../types.js";

/**
 * Decode a mailbox name or LIST pattern: UTF-8 once UTF8=ACCEPT/IMAP4rev2 is in effect (RFC 9051
 * §5.1, RFC 6855 §3), modified UTF-7 otherwise (RFC 3501 §5.1.3), both strictly.
 */
export function decodeMailboxName(bytes: Buffer, ctx: ParseContext): string {
  if (ctx.utf8) {
    if (!isUtf8(bytes)) throw new ParseError("mailbox name is not valid UTF-8");
    return bytes.toString("utf8");
  }
  const name = decodeMutf7(latin1(bytes, 0, bytes.length));
  if (name === null) throw new ParseError("mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)");
  return name;
}

/** mailbox = "INBOX" / astring; INBOX in any case is INBOX (RFC 9051 §9). */
export function mailbox(r: Reader, ctx: ParseContext, what = "a mailbox name"): string {
  const name = decodeMailboxName(r.astring(what), ctx);
  return name.length === 5 && name.toUpperCase() === "INBOX" ? "INBOX" : name;
}

const SYSTEM_FLAGS = new Map(
  ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\Recent"].map((f) => [f.toUpperCase(), f]),
);
/** system flag name without "\\", upper-cased → canonical flag */
const SYSTEM_BY_WORD = new Map([...SYSTEM_FLAGS.values()].map((f) => [f.slice(1).toUpperCase(), f]));

/** "\" atom or atom; system flags canonically spelled; `star` also accepts "\*" (flag-perm). */
export function flag(r: Reader, star = false): Flag {
  if (r.eat(0x5c)) {
    if (r.eat(0x2a)) {
      if (star) return "\\*";
      throw new ParseError('"\\*" is not a flag here');
    }
    const m = r.mark();
    const sys = SYSTEM_BY_WORD.get(r.keyword("a flag name after \\"));
    if (sys) return sys;
    r.reset(m);
    return `\\${r.atom("a flag name after \\")}`;
  }
  return r.atom("a flag");
}

/** flag-list = "(" [flag *(SP flag)] ")" */
export function flagList(r: Reader): Flag[] {
  return r.list(() => flag(r), "the flag list");
}

/** Canonical system flag spelling for a flag given as a string (MODSEQ entry names). */
export function canonicalFlag(f: string): Flag | null {
  if (f.startsWith("\\")) {
    const sys = SYSTEM_FLAGS.get(f.toUpperCase());
    if (sys) return sys;
    return isAtom(f.slice(1)) ? f : null;
  }
  return isAtom(f) ? f : null;
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS[month - 1]!;
}

/** date-text = date-day "-" date-month "-" date-year; `text` already isolated. */
function dateText(text: string): ImapDate | null {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  if (!m) return null;
  const day = Number(m[1]);
  const month = MONTHS.indexOf(m[2]!.toUpperCase()) + 1;
  const year = Number(m[3]);
  if (month === 0 || day < 1 || day > daysIn(year, month)) return null;
  return { year, month, day };
}

/** date = date-text / DQUOTE date-text DQUOTE (SEARCH). */
export function date(r: Reader, what: string): ImapDate {
  const raw = r.peek() === 0x22 ? r.quoted() : r.astring(what);
  const d = dateText(raw.toString("latin1"));
  if (!d) throw new ParseError(`invalid date for ${what} (expected e.g. 1-Feb-2024)`);
  return d;
}

/**
 * date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE.
 * Leniency: a day without its leading space ("5-Jan-2024 …") is accepted too.
 */
export function dateTime(r: Reader): ImapDateTime {
  const text = r.quoted().toString("latin1");
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(text);
  const day = m ? dateText(`${m[1]}-${m[2]}-${m[3]}`) : null;
  if (!m || !day) throw new ParseError('invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")');
  const [hh, mm, ss, zh, zm] = [m[4], m[5], m[6], m[8], m[9]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59) throw new ParseError("invalid time in date-time");
  const zone = (m[7] === "-" ? -1 : 1) * (zh * 60 + zm);
  // a leap second (":60") is read as the last second of its minute
  const time = Date.UTC(day.year, day.month - 1, day.day, hh, mm, Math.min(ss, 59)) - zone * 60_000;
  return { time, zone };
}

const STATUS_ITEMS = new Set<StatusItem>([
  "MESSAGES",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "DELETED",
  "SIZE",
  "RECENT",
  "HIGHESTMODSEQ",
  "APPENDLIMIT",
]);

/** "(" status-att *(SP status-att) ")", duplicates dropped (STATUS, LIST RETURN (STATUS …)). */
export function statusItems(r: Reader): StatusItem[] {
  const items = r.list(
    () => {
      const a = r.keyword("a status item");
      if (!STATUS_ITEMS.has(a as StatusItem)) throw new ParseError(`unknown status item ${a}`);
      return a as StatusItem;
    },
    "the status item list",
    true,
  );
  return [...new Set(items)];
}

/** charset = atom / quoted (SEARCH/SORT/THREAD); a charset name is printable US-ASCII. */
export function charset(r: Reader): string {
  const s = r.peek() === 0x22 ? r.quoted().toString("latin1") : r.atom("a charset name");
  if (!/^[\x21-\x7e]+$/.test(s)) throw new ParseError("invalid charset name");
  return s;
}
