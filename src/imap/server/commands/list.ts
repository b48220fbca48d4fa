// LIST (RFC 9051 §6.3.9; LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154,
// CHILDREN RFC 3348) and LSUB (RFC 3501 §6.3.9).
//
// The names considered are the account's mailboxes plus their superior names: a superior that does
// not exist (children created by the CLI, or by RENAME into a new hierarchy) is listed only when one
// of its descendants is selected but matches no pattern (§6.3.9.3 rule 2B), as "\NonExistent
// \HasChildren" (§6.3.9.6 note; "\Noselect" for rev1 LIST and LSUB).
import { mailboxName, taggedOk } from "../../protocol/compose.js";
import type { Mailbox } from "../../../store/types.js";
import { accountId, canonicalMailboxName, DELIMITER, isInboxName, parentNames } from "../mailbox-names.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";
import { statusData } from "./status.js";

type ListCmd = Cmd<"LIST">;
type LsubCmd = Cmd<"LSUB">;

// ---------------------------------------------------------------- pattern matching

const STAR = -1;
const PERCENT = -2;
const SLASH = DELIMITER.charCodeAt(0);
/** A pattern with more literal characters than this can match no valid name (255 octets). */
const MAX_LITERALS = 255;

/** A compiled LIST pattern: "*" matches anything, "%" anything but the delimiter (§6.3.9). */
export interface Pattern {
  matches(name: string): boolean;
}

/**
 * Compiles a canonical LIST pattern; null for one that can match nothing (ignored, §6.3.9).
 * Matching simulates the pattern as an NFA over the name: O(name × pattern) whatever the pattern,
 * so no pattern can make it backtrack exponentially.
 */
export function compilePattern(pattern: string): Pattern | null {
  const p = pattern.normalize("NFC");
  const tokens: number[] = [];
  let literals = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    const w = c === 0x2a ? STAR : c === 0x25 ? PERCENT : c;
    if (w < 0 && tokens.length > 0 && tokens[tokens.length - 1]! < 0) {
      // a run of wildcards is one wildcard: "*" if any of them is "*"
      if (w === STAR) tokens[tokens.length - 1] = STAR;
      continue;
    }
    if (w >= 0) literals++;
    tokens.push(w);
  }
  if (literals > MAX_LITERALS) return null;
  const m = tokens.length;
  return {
    matches(name: string): boolean {
      // INBOX is case-insensitive (§6.3.9: the upper-case "INBOX" is what must match)
      const inboxLen = isInboxName(name) ? 5 : 0;
      let cur = new Uint8Array(m + 1);
      let next = new Uint8Array(m + 1);
      const add = (set: Uint8Array, q: number): void => {
        set[q] = 1;
        while (q < m && tokens[q]! < 0) set[++q] = 1;
      };
      add(cur, 0);
      for (let i = 0; i < name.length; i++) {
        const c = name.charCodeAt(i);
        next.fill(0);
        let alive = false;
        for (let q = 0; q < m; q++) {
          if (!cur[q]) continue;
          const t = tokens[q]!;
          if (t === STAR || (t === PERCENT && c !== SLASH)) {
            add(next, q);
            alive = true;
          } else if (t >= 0 && (t === c || (i < inboxLen && upper(t) === c))) {
            add(next, q + 1);
            alive = true;
          }
        }
        if (!alive) return false;
        [cur, next] = [next, cur];
      }
      return cur[m] === 1;
    },
  };
}

function upper(c: number): number {
  return c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
}

/**
 * The canonical LIST pattern (§6.3.9): the reference with the pattern appended. We have no
 * break-out characters, so this is plain concatenation; an INBOX first level is upper-cased.
 */
export function canonicalPattern(reference: string, pattern: string): string {
  return canonicalMailboxName(reference + pattern);
}

// ---------------------------------------------------------------- selecting names

export interface Listed {
  name: string;
  /** null: a superior name that does not exist */
  box: Mailbox | null;
  /** meets the selection criteria itself (else listed for a descendant, rule 2B) */
  selected: boolean;
  hasChildren: boolean;
  /** RECURSIVEMATCH: some descendant meets the selection criteria (CHILDINFO, §6.3.9.6) */
  childInfo: boolean;
}

export type ListMode =
  /** LIST without RECURSIVEMATCH */
  | "plain"
  /** LIST with RECURSIVEMATCH */
  | "recursive"
  /** LSUB: an unsubscribed name with a subscribed descendant is listed with \Noselect (RFC 3501) */
  | "lsub";

/** The names to list, INBOX first, then in name order (parents before their children). */
export function selectNames(
  boxes: readonly Mailbox[],
  patterns: readonly Pattern[],
  meets: (b: Mailbox) => boolean,
  mode: ListMode,
): Listed[] {
  const matchesAny = (name: string): boolean => patterns.some((p) => p.matches(name));
  const byName = new Map<string, Mailbox>();
  const names = new Set<string>();
  const hasChildren = new Set<string>();
  /** superiors of a mailbox that meets the criteria */
  const meetingBelow = new Set<string>();
  /** superiors of a mailbox that meets the criteria and matches no pattern */
  const unlistedBelow = new Set<string>();
  for (const b of boxes) {
    byName.set(b.name, b);
    names.add(b.name);
    const parents = parentNames(b.name);
    for (const p of parents) {
      names.add(p);
      hasChildren.add(p);
    }
    if (!meets(b)) continue;
    const listed = matchesAny(b.name);
    for (const p of parents) {
      meetingBelow.add(p);
      if (!listed) unlistedBelow.add(p);
    }
  }
  const out: Listed[] = [];
  for (const name of [...names].sort(byListOrder)) {
    if (!matchesAny(name)) continue;
    const box = byName.get(name) ?? null;
    const self = box !== null && meets(box);
    const entry = { name, box, selected: self, hasChildren: hasChildren.has(name), childInfo: false };
    if (self) {
      entry.childInfo = mode === "recursive" && meetingBelow.has(name);
      out.push(entry);
    } else if (unlistedBelow.has(name)) {
      if (mode === "recursive") out.push({ ...entry, childInfo: true });
      else if (mode === "lsub" || box === null) out.push(entry);
    }
  }
  return out;
}

function byListOrder(a: string, b: string): number {
  if (a === "INBOX") return -1;
  if (b === "INBOX") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Special-use attributes as LIST shows them (RFC 6154 §2); the store's "\Inbox" is no LIST attribute. */
function specialUseAttr(b: Mailbox | null): string | null {
  return b?.specialUse && b.specialUse !== "\\Inbox" ? b.specialUse : null;
}

// ---------------------------------------------------------------- LIST

export async function handleList(s: ImapSession, cmd: ListCmd): Promise<void> {
  const utf8 = s.utf8;
  const sel = cmd.selection;
  // §6.3.9: in the basic syntax, "" asks for the delimiter and the root of the reference
  if (!cmd.extended && cmd.patterns.length === 1 && cmd.patterns[0] === "") {
    s.untagged(`LIST (\\Noselect) "${DELIMITER}" ""`);
    await s.announce(true);
    s.send(taggedOk(cmd.tag, "LIST completed"));
    return;
  }
  const patterns: Pattern[] = [];
  for (const p of cmd.patterns) {
    if (p === "") continue; // extended syntax: empty patterns are ignored
    const c = compilePattern(canonicalPattern(cmd.reference, p));
    if (c) patterns.push(c);
  }
  const boxes = patterns.length > 0 ? await s.deps.store.listMailboxes(accountId(s)) : [];
  const meets = (b: Mailbox): boolean =>
    (!sel.subscribed || b.subscribed) && (!sel.specialUse || specialUseAttr(b) !== null);
  const listed = selectNames(boxes, patterns, meets, sel.recursiveMatch ? "recursive" : "plain");

  const showSubscribed = sel.subscribed || cmd.returns.subscribed;
  // RFC 5258 §3 defines \NonExistent; a rev1 client using the basic syntax gets \Noselect (RFC 3501)
  const missing = cmd.extended || s.rev2 ? "\\NonExistent" : "\\Noselect";
  const childInfo: string[] = [];
  if (sel.subscribed) childInfo.push('"SUBSCRIBED"');
  if (sel.specialUse) childInfo.push('"SPECIAL-USE"');
  for (const e of listed) {
    const attrs: string[] = [];
    if (!e.box) attrs.push(missing);
    else if (e.box.noselect) attrs.push("\\Noselect"); // deleted while it had children (§6.3.5)
    attrs.push(e.hasChildren ? "\\HasChildren" : "\\HasNoChildren");
    // special use: always (RFC 6154 §2 allows it without the return option; rev2 lists it)
    const use = specialUseAttr(e.box);
    if (use) attrs.push(use);
    if (showSubscribed && e.box?.subscribed) attrs.push("\\Subscribed");
    const ext = e.childInfo ? ` ("CHILDINFO" (${childInfo.join(" ")}))` : "";
    s.untagged(`LIST (${attrs.join(" ")}) "${DELIMITER}" ${mailboxName(e.name, { utf8 })}${ext}`);
    // RFC 5819 / §6.3.9.2: STATUS after each selectable mailbox that meets the selection criteria
    if (cmd.returns.status && e.box && !e.box.noselect && e.selected) {
      s.untagged(await statusData(s, e.box, cmd.returns.status));
    }
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "LIST completed"));
}

// ---------------------------------------------------------------- LSUB

export async function handleLsub(s: ImapSession, cmd: LsubCmd): Promise<void> {
  const utf8 = s.utf8;
  if (cmd.pattern === "") {
    s.untagged(`LSUB (\\Noselect) "${DELIMITER}" ""`);
  } else {
    const p = compilePattern(canonicalPattern(cmd.reference, cmd.pattern));
    const boxes = p ? await s.deps.store.listMailboxes(accountId(s)) : [];
    for (const e of selectNames(boxes, p ? [p] : [], (b) => b.subscribed, "lsub")) {
      // RFC 3501 §6.3.9: with "%", an unsubscribed superior of a subscribed name is \Noselect
      const attrs = e.selected ? "" : "\\Noselect";
      s.untagged(`LSUB (${attrs}) "${DELIMITER}" ${mailboxName(e.name, { utf8 })}`);
    }
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "LSUB completed"));
}
