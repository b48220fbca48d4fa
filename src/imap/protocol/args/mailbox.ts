// Mailbox commands: SELECT/EXAMINE with CONDSTORE/QRESYNC (RFC 7162 §3.1.8, §3.2.5), CREATE with
// USE (RFC 6154 §3), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS (RFC 9051 §6.3).

import { ParseError, type Reader } from "../tokenizer.js";
import type { Command, ParseContext, QresyncParams, SequenceSet } from "../types.js";
import { mailbox, statusItems } from "./common.js";

/** "SELECT"/"EXAMINE" SP mailbox [SP "(" select-param *(SP select-param) ")"] (RFC 4466) */
export function select(r: Reader, ctx: ParseContext, tag: string, name: "SELECT" | "EXAMINE"): Command {
  r.sp("before the mailbox name");
  const mbox = mailbox(r, ctx);
  let condstore = false;
  let qresync: QresyncParams | undefined;
  if (!r.atEnd()) {
    r.sp("before the select parameters");
    const seen = new Set<string>();
    r.list(
      () => {
        const p = r.keyword("a select parameter");
        if (seen.has(p)) throw new ParseError(`${p} given twice`);
        seen.add(p);
        if (p === "CONDSTORE") condstore = true;
        else if (p === "QRESYNC") {
          r.sp("after QRESYNC");
          qresync = qresyncParams(r);
        } else throw new ParseError(`unknown select parameter ${p}`);
      },
      "the select parameters",
      true,
    );
  }
  return qresync ? { tag, name, mailbox: mbox, condstore, qresync } : { tag, name, mailbox: mbox, condstore };
}

/** A set without "*" or "$" (known-uids, seq-match-data: RFC 7162 §7). */
function knownSet(r: Reader, what: string): SequenceSet {
  const set = r.sequenceSet(what);
  if (set.kind === "saved" || set.ranges.some((x) => x.from === "*" || x.to === "*")) {
    throw new ParseError(`${what} may not contain "*" or "$"`);
  }
  return set;
}

/** seq-match-data = "(" known-sequence-set SP known-uid-set ")" */
function seqMatchData(r: Reader): { seqs: SequenceSet; uids: SequenceSet } {
  r.expect(0x28, '"(" to start the sequence match data');
  const seqs = knownSet(r, "known sequence set");
  r.sp("in the sequence match data");
  const uids = knownSet(r, "known UID set");
  r.expect(0x29, '")" to end the sequence match data');
  return { seqs, uids };
}

/** "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")" */
function qresyncParams(r: Reader): QresyncParams {
  r.expect(0x28, '"(" after QRESYNC');
  const uidValidity = r.nzNumber("the UIDVALIDITY");
  r.sp("after the UIDVALIDITY");
  const modSeq = r.nzNumber64("the mod-sequence");
  let knownUids: SequenceSet | undefined;
  let seqMatch: QresyncParams["seqMatch"];
  if (r.eat(0x20)) {
    if (r.peek() !== 0x28) {
      knownUids = knownSet(r, "known UIDs");
      if (r.eat(0x20)) seqMatch = seqMatchData(r);
    } else {
      seqMatch = seqMatchData(r);
    }
  }
  r.expect(0x29, '")" to end the QRESYNC parameters');
  const p: { -readonly [K in keyof QresyncParams]: QresyncParams[K] } = { uidValidity, modSeq };
  if (knownUids) p.knownUids = knownUids;
  if (seqMatch) p.seqMatch = seqMatch;
  return p;
}

const USE_ATTRS = new Map(
  ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"].map((a) => [
    a.toUpperCase(),
    a,
  ]),
);

/** "CREATE" SP mailbox [SP "(" create-param *(SP create-param) ")"]; only USE is known (RFC 6154 §3). */
export function create(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the mailbox name");
  const mbox = mailbox(r, ctx);
  const specialUse: string[] = [];
  if (!r.atEnd()) {
    r.sp("before the create parameters");
    let seen = false;
    r.list(
      () => {
        const p = r.keyword("a create parameter");
        if (p !== "USE") throw new ParseError(`unknown create parameter ${p}`);
        if (seen) throw new ParseError("USE given twice");
        seen = true;
        r.sp("after USE");
        for (const a of r.list(() => useAttr(r), "the USE list"))
          if (!specialUse.includes(a)) specialUse.push(a);
      },
      "the create parameters",
      true,
    );
  }
  return { tag, name: "CREATE", mailbox: mbox, specialUse };
}

/** use-attr = "\All" / … / "\" atom (use-attr-ext) */
function useAttr(r: Reader): string {
  r.expect(0x5c, 'a special-use attribute ("\\Sent", …)');
  const a = `\\${r.atom("a special-use attribute")}`;
  return USE_ATTRS.get(a.toUpperCase()) ?? a;
}

/** DELETE / SUBSCRIBE / UNSUBSCRIBE / GETQUOTAROOT SP mailbox */
export function oneMailbox(
  r: Reader,
  ctx: ParseContext,
  tag: string,
  name: "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETQUOTAROOT",
): Command {
  r.sp("before the mailbox name");
  return { tag, name, mailbox: mailbox(r, ctx) };
}

/** "RENAME" SP mailbox SP mailbox */
export function rename(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the mailbox name");
  const from = mailbox(r, ctx, "the existing mailbox name");
  r.sp("before the new mailbox name");
  const to = mailbox(r, ctx, "the new mailbox name");
  return { tag, name: "RENAME", from, to };
}

/** "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")" */
export function status(r: Reader, ctx: ParseContext, tag: string): Command {
  r.sp("before the mailbox name");
  const mbox = mailbox(r, ctx);
  r.sp("before the status items");
  return { tag, name: "STATUS", mailbox: mbox, items: statusItems(r) };
}
