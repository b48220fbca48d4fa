// COPY / MOVE (RFC 9051 §6.4.7, RFC 6851) and EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, §6.4.9).

import type { Reader } from "../tokenizer.js";
import type { Command, ParseContext } from "../types.js";
import { mailbox } from "./common.js";

/** "COPY"/"MOVE" SP sequence-set SP mailbox */
export function copy(
  r: Reader,
  ctx: ParseContext,
  tag: string,
  uid: boolean,
  name: "COPY" | "MOVE",
): Command {
  r.sp("before the sequence set");
  const set = r.sequenceSet(uid ? "UID set" : "sequence set");
  r.sp("before the mailbox name");
  return { tag, name, uid, set, mailbox: mailbox(r, ctx) };
}

/** "EXPUNGE", or "UID EXPUNGE" SP sequence-set (RFC 4315 §2.1) */
export function expunge(r: Reader, tag: string, uid: boolean): Command {
  if (!uid) return { tag, name: "EXPUNGE", uid: false };
  r.sp("before the UID set");
  return { tag, name: "EXPUNGE", uid: true, set: r.sequenceSet("UID set") };
}
