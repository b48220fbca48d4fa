// QUOTA (RFC 9208 §4): GETQUOTA, GETQUOTAROOT (in mailbox.ts), SETQUOTA.

import { ParseError, type Reader, utf8 } from "../tokenizer.js";
import type { Command } from "../types.js";

/** quota-root-name = astring */
function root(r: Reader): string {
  return utf8(r.astring("a quota root name"), "quota root name");
}

/** "GETQUOTA" SP quota-root-name */
export function getquota(r: Reader, tag: string): Command {
  r.sp("before the quota root");
  return { tag, name: "GETQUOTA", root: root(r) };
}

/** "SETQUOTA" SP quota-root-name SP "(" [resource-name SP resource-limit *(SP …)] ")" */
export function setquota(r: Reader, tag: string): Command {
  r.sp("before the quota root");
  const name = root(r);
  r.sp("before the quota limits");
  const seen = new Set<string>();
  const limits = r.list(() => {
    const resource = r.keyword("a resource name");
    if (seen.has(resource)) throw new ParseError(`resource ${resource} given twice`);
    seen.add(resource);
    r.sp("after the resource name");
    return { resource, limit: r.number64("a resource limit") };
  }, "the quota limits");
  return { tag, name: "SETQUOTA", root: name, limits };
}
