// STORE / UID STORE (RFC 9051 §6.4.6) with the UNCHANGEDSINCE modifier (RFC 7162 §3.1.3).

import { ParseError, type Reader } from "../tokenizer.js";
import type { Command, Flag } from "../types.js";
import { flag, flagList } from "./common.js";

/**
 * "STORE" SP sequence-set [SP "(" store-modifier *(SP store-modifier) ")"] SP store-att-flags;
 * store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
 */
export function store(r: Reader, tag: string, uid: boolean): Command {
  r.sp("before the sequence set");
  const set = r.sequenceSet(uid ? "UID set" : "sequence set");
  r.sp("after the sequence set");
  let unchangedSince: number | undefined;
  if (r.peek() === 0x28) {
    r.list(
      () => {
        const m = r.keyword("a store modifier");
        if (m !== "UNCHANGEDSINCE") throw new ParseError(`unknown store modifier ${m}`);
        if (unchangedSince !== undefined) throw new ParseError("UNCHANGEDSINCE given twice");
        r.sp("after UNCHANGEDSINCE");
        unchangedSince = r.number64("a mod-sequence"); // mod-sequence-valzer: 0 allowed
      },
      "the store modifiers",
      true,
    );
    r.sp("after the store modifiers");
  }
  const op = r.eat(0x2b) ? "add" : r.eat(0x2d) ? "remove" : "set";
  const item = r.label();
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") {
    throw new ParseError(
      `expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT), not "${item || r.excerpt()}"`,
    );
  }
  r.sp(`after ${item}`);
  let flags: Flag[];
  if (r.peek() === 0x28) {
    flags = flagList(r);
  } else {
    flags = [flag(r)];
    while (r.eat(0x20)) flags.push(flag(r));
  }
  const silent = item === "FLAGS.SILENT";
  return unchangedSince === undefined
    ? { tag, name: "STORE", uid, set, op, silent, flags }
    : { tag, name: "STORE", uid, set, unchangedSince, op, silent, flags };
}
