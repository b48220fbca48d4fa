// SEARCH (RFC 9051 §6.4.4, RETURN of RFC 4731/5182), SORT and THREAD (RFC 5256 §5).

import { decoderFor, searchCriteria, searchProgram, searchReturns } from "../search.js";
import { ParseError, type Reader } from "../tokenizer.js";
import type { Command, SearchReturn, SortCriterion, SortKey } from "../types.js";
import { charset as readCharset } from "./common.js";

/** "SEARCH" [SP "RETURN" SP "(" …")"] SP search-program */
export function search(r: Reader, tag: string, uid: boolean): Command {
  r.sp("before the search criteria");
  let returns: SearchReturn[] | undefined;
  if (r.eatKeyword("RETURN")) {
    r.sp("after RETURN");
    returns = searchReturns(r);
    r.sp("after the search return options");
  }
  const { charset, criteria } = searchProgram(r);
  const cmd: {
    -readonly [K in keyof Extract<Command, { name: "SEARCH" }>]: Extract<Command, { name: "SEARCH" }>[K];
  } = { tag, name: "SEARCH", uid, criteria };
  if (returns) cmd.returns = returns;
  if (charset !== undefined) cmd.charset = charset;
  return cmd;
}

const SORT_KEYS = new Set<string>([
  "ARRIVAL",
  "CC",
  "DATE",
  "FROM",
  "SIZE",
  "SUBJECT",
  "TO",
  "DISPLAYFROM", // RFC 5957
  "DISPLAYTO",
]);

/** "SORT" SP sort-criteria SP charset 1*(SP search-key) */
export function sort(r: Reader, tag: string, uid: boolean): Command {
  r.sp("before the sort criteria");
  const criteria = r.list(
    (): SortCriterion => {
      let k = r.keyword("a sort key");
      const reverse = k === "REVERSE";
      if (reverse) {
        r.sp("after REVERSE");
        k = r.keyword("a sort key");
      }
      if (!SORT_KEYS.has(k)) throw new ParseError(`unknown sort key ${k}`);
      return { key: k as SortKey, reverse };
    },
    "the sort criteria",
    true,
  );
  r.sp("after the sort criteria");
  const charset = readCharset(r);
  r.sp("after the charset");
  return { tag, name: "SORT", uid, criteria, charset, search: searchCriteria(r, decoderFor(charset)) };
}

/** "THREAD" SP thread-alg SP charset 1*(SP search-key) */
export function thread(r: Reader, tag: string, uid: boolean): Command {
  r.sp("before the thread algorithm");
  const algorithm = r.keyword("a thread algorithm");
  r.sp("after the thread algorithm");
  const charset = readCharset(r);
  r.sp("after the charset");
  return { tag, name: "THREAD", uid, algorithm, charset, search: searchCriteria(r, decoderFor(charset)) };
}
