// ENABLE (RFC 5161, RFC 9051 §6.3.1) and ID (RFC 2971).

import type { Reader } from "../tokenizer.js";
import { utf8 } from "../tokenizer.js";
import type { Command } from "../types.js";

/** "ENABLE" 1*(SP capability); names upper-cased. */
export function enable(r: Reader, tag: string): Command {
  const capabilities: string[] = [];
  do {
    r.sp("before a capability name");
    capabilities.push(r.keyword("a capability name"));
  } while (!r.atEnd());
  return { tag, name: "ENABLE", capabilities };
}

/**
 * "ID" SP ("(" [string SP nstring *(SP string SP nstring)] ")" / NIL). Leniencies: a field may be
 * an atom, and RFC 2971 §3.3's limits (30 pairs, 30/1024-octet strings) are the client's
 * obligations, not checked (the values are informational; the line limits bound them).
 */
export function id(r: Reader, tag: string): Command {
  r.sp("before the ID parameter list");
  if (r.eatKeyword("NIL")) return { tag, name: "ID", params: null };
  const params: { field: string; value: string | null }[] = [];
  r.expect(0x28, '"(" or NIL');
  if (!r.eat(0x29)) {
    for (;;) {
      const field = utf8(r.astring("an ID field name"), "ID field name");
      r.sp("after the ID field name");
      const v = r.nstring("an ID value or NIL");
      params.push({ field, value: v === null ? null : utf8(v, "ID value") });
      if (r.eat(0x29)) break;
      r.sp('or ")" in the ID parameter list');
    }
  }
  return { tag, name: "ID", params };
}
