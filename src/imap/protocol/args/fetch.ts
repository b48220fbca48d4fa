// FETCH / UID FETCH (RFC 9051 §6.4.5) with the CHANGEDSINCE and VANISHED modifiers (RFC 7162
// §3.1.4, §3.2.6).

import { fetchItems } from "../fetch-items.js";
import { ParseError, type Reader } from "../tokenizer.js";
import type { Command } from "../types.js";

/** "FETCH" SP sequence-set SP items [SP "(" fetch-modifier *(SP fetch-modifier) ")"] */
export function fetch(r: Reader, tag: string, uid: boolean): Command {
  r.sp("before the sequence set");
  const set = r.sequenceSet(uid ? "UID set" : "sequence set");
  r.sp("before the fetch items");
  const items = fetchItems(r);
  let changedSince: number | undefined;
  let vanished = false;
  if (!r.atEnd()) {
    r.sp("before the fetch modifiers");
    r.list(
      () => {
        const m = r.keyword("a fetch modifier");
        if (m === "CHANGEDSINCE") {
          if (changedSince !== undefined) throw new ParseError("CHANGEDSINCE given twice");
          r.sp("after CHANGEDSINCE");
          changedSince = r.number64("a mod-sequence"); // leniency: 0 (= everything) accepted
        } else if (m === "VANISHED") {
          // RFC 7162 §3.2.6: UID FETCH only, and only together with CHANGEDSINCE
          if (!uid) throw new ParseError("VANISHED is only allowed in UID FETCH");
          if (vanished) throw new ParseError("VANISHED given twice");
          vanished = true;
        } else throw new ParseError(`unknown fetch modifier ${m}`);
      },
      "the fetch modifiers",
      true,
    );
    if (vanished && changedSince === undefined) throw new ParseError("VANISHED needs CHANGEDSINCE");
  }
  return changedSince === undefined
    ? { tag, name: "FETCH", uid, set, items, vanished }
    : { tag, name: "FETCH", uid, set, items, changedSince, vanished };
}
