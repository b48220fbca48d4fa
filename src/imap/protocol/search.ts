// SEARCH criteria (RFC 9051 §6.4.4, RFC 3501 §6.4.4, MODSEQ of RFC 7162 §3.1.5, OLDER/YOUNGER of
// RFC 5032, "$" of RFC 5182) → the SearchKey AST of types.ts. Evaluation is the server's job.

import { TextDecoder } from "node:util";
import { canonicalFlag, charset as readCharset, date } from "./args/common.js";
import { LIT, ParseError, type Reader } from "./tokenizer.js";
import type { SearchKey, SearchReturn } from "./types.js";

/** Deepest nesting of NOT/OR/parentheses accepted (keeps recursion far from the stack limit). */
export const MAX_SEARCH_DEPTH = 1000;

/** Turns a string argument into text in the search's charset. */
export type Decoder = (bytes: Buffer) => string;

const utf8: Decoder = (b) => b.toString("utf8");

/**
 * The decoder for a CHARSET. US-ASCII and UTF-8 (which every server supports, RFC 9051 §6.4.4)
 * decode as UTF-8; any other charset the runtime's TextDecoder knows is decoded with it. Invalid
 * octets become U+FFFD (a search string, unlike a password, may be approximate). Unknown charset:
 * NO [BADCHARSET (US-ASCII UTF-8)].
 */
export function decoderFor(charset: string | undefined): Decoder {
  if (charset === undefined) return utf8;
  const lower = charset.toLowerCase();
  if (lower === "utf-8" || lower === "us-ascii" || lower === "utf8" || lower === "ascii") return utf8;
  let td: TextDecoder;
  try {
    td = new TextDecoder(lower);
  } catch {
    throw new ParseError(`unsupported charset ${charset}`, "NO", "BADCHARSET (US-ASCII UTF-8)");
  }
  return (b) => td.decode(b);
}

/** search-return-opts after "RETURN" SP: "(" [opt *(SP opt)] ")" (RFC 4731 §3.1, RFC 5182 §2). */
export function searchReturns(r: Reader): SearchReturn[] {
  const opts = r.list(() => {
    const o = r.keyword("a search return option");
    if (o !== "MIN" && o !== "MAX" && o !== "ALL" && o !== "COUNT" && o !== "SAVE") {
      throw new ParseError(`unknown search return option ${o}`);
    }
    return o as SearchReturn;
  }, "the search return options");
  return [...new Set(opts)];
}

/**
 * search-program = ["CHARSET" SP charset SP] search-key *(SP search-key): reads to the end of the
 * command. The keys of the top level are an implicit AND.
 */
export function searchProgram(r: Reader): { charset?: string; criteria: SearchKey } {
  let charset: string | undefined;
  if (r.eatKeyword("CHARSET")) {
    r.sp("after CHARSET");
    charset = readCharset(r);
    r.sp("after the charset");
  }
  const criteria = searchCriteria(r, decoderFor(charset));
  return charset === undefined ? { criteria } : { charset, criteria };
}

/** 1*(SP-separated search-key) up to the end of the command. */
export function searchCriteria(r: Reader, decode: Decoder): SearchKey {
  const keys: SearchKey[] = [searchKey(r, decode, 0)];
  while (!r.atEnd()) {
    r.sp("between search keys");
    keys.push(searchKey(r, decode, 0));
  }
  return keys.length === 1 ? keys[0]! : { key: "and", keys };
}

const FLAG_KEYS: Record<string, [flag: string, set: boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  RECENT: ["\\Recent", true],
  OLD: ["\\Recent", false],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

const HEADER_KEYS: Record<string, string> = {
  BCC: "bcc",
  CC: "cc",
  FROM: "from",
  SUBJECT: "subject",
  TO: "to",
};

const DATE_KEYS: Record<string, [of: "internal" | "sent", op: "before" | "on" | "since"]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

function searchKey(r: Reader, decode: Decoder, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) throw new ParseError("search criteria nested too deeply");
  const c = r.peek();
  if (c === 0x28) {
    // "(" search-key *(SP search-key) ")"
    const keys = r.list(() => searchKey(r, decode, depth + 1), "the parenthesised search keys", true);
    return keys.length === 1 ? keys[0]! : { key: "and", keys };
  }
  if (r.atSequenceSet()) return { key: "seq", set: r.sequenceSet() };
  if (c === LIT || c === 0x22) throw new ParseError("expected a search key, not a string");
  const name = r.keyword("a search key");
  const flag = FLAG_KEYS[name];
  if (flag) return { key: "flag", flag: flag[0], set: flag[1] };
  const header = HEADER_KEYS[name];
  if (header) {
    r.sp(`after ${name}`);
    return { key: "header", field: header, value: decode(r.astring(`the ${name} string`)) };
  }
  const dk = DATE_KEYS[name];
  if (dk) {
    r.sp(`after ${name}`);
    return { key: "date", of: dk[0], op: dk[1], date: date(r, name) };
  }
  switch (name) {
    case "ALL":
      return { key: "all" };
    case "NEW":
      return {
        key: "and",
        keys: [
          { key: "flag", flag: "\\Recent", set: true },
          { key: "flag", flag: "\\Seen", set: false },
        ],
      };
    case "BODY":
    case "TEXT":
      r.sp(`after ${name}`);
      return { key: name === "BODY" ? "body" : "text", value: decode(r.astring(`the ${name} string`)) };
    case "HEADER": {
      r.sp("after HEADER");
      const field = r.fieldName("header field name for HEADER");
      r.sp("after the header field name");
      return { key: "header", field: field.toLowerCase(), value: decode(r.astring("the HEADER string")) };
    }
    case "KEYWORD":
    case "UNKEYWORD":
      r.sp(`after ${name}`);
      return { key: "flag", flag: r.atom("a keyword"), set: name === "KEYWORD" };
    case "LARGER":
    case "SMALLER":
      r.sp(`after ${name}`);
      return { key: "size", op: name === "LARGER" ? "larger" : "smaller", size: r.number64("a size") };
    case "NOT":
      r.sp("after NOT");
      return { key: "not", operand: searchKey(r, decode, depth + 1) };
    case "OR": {
      r.sp("after OR");
      const left = searchKey(r, decode, depth + 1);
      r.sp("between the keys of OR");
      return { key: "or", left, right: searchKey(r, decode, depth + 1) };
    }
    case "UID":
      r.sp("after UID");
      return { key: "uid", set: r.sequenceSet("UID set") };
    case "MODSEQ":
      return modseq(r);
    case "OLDER":
    case "YOUNGER":
      r.sp(`after ${name}`);
      return { key: name === "OLDER" ? "older" : "younger", seconds: r.nzNumber("an interval in seconds") };
    default:
      throw new ParseError(`unknown search key ${name}`);
  }
}

/** "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer (RFC 7162 §7). */
function modseq(r: Reader): SearchKey {
  r.sp("after MODSEQ");
  if (r.peek() === 0x22) {
    const entry = r.quoted().toString("latin1");
    if (!entry.toLowerCase().startsWith("/flags/"))
      throw new ParseError('MODSEQ entry name must be "/flags/<flag>"');
    const flag = canonicalFlag(entry.slice(7));
    if (flag === null) throw new ParseError("invalid flag in MODSEQ entry name");
    r.sp("after the MODSEQ entry name");
    const type = r.keyword("an entry type (priv, shared or all)").toLowerCase();
    if (type !== "priv" && type !== "shared" && type !== "all") {
      throw new ParseError("MODSEQ entry type must be priv, shared or all");
    }
    r.sp("after the MODSEQ entry type");
    return { key: "modseq", modSeq: r.number64("a mod-sequence"), entry: { flag, type } };
  }
  return { key: "modseq", modSeq: r.number64("a mod-sequence") };
}
