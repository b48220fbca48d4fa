// SORT (RFC 5256 §3, plus DISPLAYFROM/DISPLAYTO of RFC 5957) and THREAD=ORDEREDSUBJECT /
// THREAD=REFERENCES (RFC 5256 §3) over message metadata, and the THREAD response rendering
// (RFC 5256 §4). Strings collate with i;unicode-casemap; ties fall back to mailbox order
// (sequence number, equivalently UID).

import { baseSubject, compareCodePoints, unicodeCasemap } from "./base-subject.js";
import { decodeWords } from "./header.js";
import type { Envelope, EnvelopeAddress } from "./mime-types.js";

// ---------------------------------------------------------------------------------------------
// Sent date (RFC 5256 §2.2)

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// RFC 5322 §4.3 obsolete zones; military letters mean nothing reliable: treated as +0000
const ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/**
 * The Date: header value as a UTC instant (RFC 5322 §3.3 with the obsolete forms of §4.3), or null
 * when no date can be read (the caller then uses INTERNALDATE, RFC 5256 §2.2). An unreadable zone
 * counts as UTC, an unreadable time as 00:00:00 (§2.2).
 */
export function parseSentDate(value: string | null | undefined): Date | null {
  if (value === null || value === undefined) return null;
  const s = value.replace(/\([^)]*\)/g, " ").trim();
  const m =
    /^(?:[A-Za-z]+\s*,?\s*)?(\d{1,2})\s*[\s-]\s*([A-Za-z]{3})[A-Za-z]*\s*[\s-]\s*(\d{2,4})\b\s*(.*)$/.exec(s);
  if (m === null) return null;
  const day = Number(m[1]);
  const mon = m[2]!.toLowerCase();
  const month = Object.hasOwn(MONTHS, mon) ? MONTHS[mon] : undefined;
  let year = Number(m[3]);
  if (month === undefined || day < 1 || day > 31) return null;
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  let h = 0;
  let min = 0;
  let sec = 0;
  let offset = 0;
  const rest = m[4]!;
  const t = /^(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?\s*(.*)$/.exec(rest);
  if (t !== null && Number(t[1]) < 24 && Number(t[2]) < 60 && Number(t[3] ?? 0) <= 60) {
    h = Number(t[1]);
    min = Number(t[2]);
    sec = Math.min(59, Number(t[3] ?? 0));
    const zone = t[4]!.trim();
    const num = /^([+-])(\d{2})(\d{2})\b/.exec(zone);
    if (num !== null && Number(num[3]) < 60) {
      offset = (num[1] === "-" ? -1 : 1) * (Number(num[2]) * 60 + Number(num[3]));
    } else {
      const name = zone.split(/\s/)[0]!.toLowerCase();
      offset = Object.hasOwn(ZONES, name) ? ZONES[name]! : 0;
    }
  }
  const base = new Date(0);
  base.setUTCFullYear(year, month, day); // not Date.UTC: it maps years below 100 to 19xx
  if (base.getUTCDate() !== day) return null; // 31 Apr and such
  return new Date(base.getTime() + ((h * 60 + min) * 60 + sec) * 1000 - offset * 60_000);
}

// ---------------------------------------------------------------------------------------------
// SORT

export type SortKey =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM" // RFC 5957
  | "DISPLAYTO"; // RFC 5957

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

export interface SortMessage {
  /** sequence number or UID: what the response lists, and the final tie-breaker */
  seqOrUid: number;
  internalDate: Date;
  /** the Date: header parsed (parseSentDate); null: INTERNALDATE stands in (RFC 5256 §2.2) */
  sentDate: Date | null;
  /** RFC822.SIZE */
  size: number;
  envelope: Envelope;
}

/** addr-mailbox of the first address (group markers skipped); "" when there is none. */
function firstMailbox(addrs: readonly EnvelopeAddress[]): string {
  for (const a of addrs) if (a.host !== null) return a.mailbox ?? "";
  return "";
}

/** RFC 5957 §3: the decoded display name of the first address, else its addr-spec. */
function displayName(addrs: readonly EnvelopeAddress[]): string {
  for (const a of addrs) {
    if (a.host === null) continue;
    const name = a.name === null ? "" : decodeWords(a.name).trim();
    if (name.length > 0) return name;
    return a.host === "" ? (a.mailbox ?? "") : `${a.mailbox ?? ""}@${a.host}`;
  }
  return "";
}

function keyOf(m: SortMessage, key: SortKey): number | string {
  const env = m.envelope;
  switch (key) {
    case "ARRIVAL":
      return m.internalDate.getTime();
    case "DATE":
      return (m.sentDate ?? m.internalDate).getTime();
    case "SIZE":
      return m.size;
    case "SUBJECT":
      return unicodeCasemap(baseSubject(decodeWords(env.subject ?? "")).base);
    case "FROM":
      return unicodeCasemap(firstMailbox(env.from));
    case "TO":
      return unicodeCasemap(firstMailbox(env.to));
    case "CC":
      return unicodeCasemap(firstMailbox(env.cc));
    case "DISPLAYFROM":
      return unicodeCasemap(displayName(env.from));
    case "DISPLAYTO":
      return unicodeCasemap(displayName(env.to));
  }
}

function compareKeys(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return compareCodePoints(String(a), String(b));
}

/** SORT: the seqOrUid of every message, ordered by the criteria, then by mailbox order. */
export function sortMessages(msgs: readonly SortMessage[], criteria: readonly SortCriterion[]): number[] {
  // keys are computed once per message and criterion (decoding and casemapping are not free)
  const rows = msgs.map((m) => ({ id: m.seqOrUid, keys: criteria.map((c) => keyOf(m, c.key)) }));
  rows.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const r = compareKeys(a.keys[i]!, b.keys[i]!);
      if (r !== 0) return criteria[i]!.reverse ? -r : r;
    }
    return a.id - b.id;
  });
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// THREAD

export interface ThreadMessage {
  seqOrUid: number;
  /** Message-ID header value (raw) */
  messageId: string | null;
  /** In-Reply-To header value (raw) */
  inReplyTo: string | null;
  /** References header value(s), raw or already split: every msg-id found is used, in order */
  references: readonly string[];
  /** the Subject, RFC 2047-decoded */
  subject: string;
  /** the sent date, INTERNALDATE when the Date: header is missing or unreadable */
  date: Date;
}

/** A thread tree node; `id` null is a dummy (a parent that is not among the messages). */
export interface ThreadNode {
  id: number | null;
  children: ThreadNode[];
}

/**
 * All msg-ids in a header value, normalised (RFC 5256 §3 REFERENCES: quoting removed, so
 * `<"a b"@x>` and `<a b@x>` match; whitespace and comments dropped). Invalid ones (no "@", empty
 * sides) are skipped.
 */
export function parseMsgIds(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    const lt = value.indexOf("<", i);
    if (lt < 0) break;
    let id = "";
    let j = lt + 1;
    let closed = false;
    while (j < value.length) {
      const c = value[j]!;
      if (c === ">") {
        closed = true;
        j++;
        break;
      }
      if (c === "<") break; // a new msg-id starts: this one was not closed
      if (c === '"') {
        j++;
        while (j < value.length && value[j] !== '"') {
          if (value[j] === "\\" && j + 1 < value.length) j++;
          id += value[j++];
        }
        j++;
      } else if (c === "(") {
        let depth = 0;
        while (j < value.length) {
          const d = value[j++];
          if (d === "\\") j++;
          else if (d === "(") depth++;
          else if (d === ")" && --depth === 0) break;
        }
      } else {
        if (c !== " " && c !== "\t" && c !== "\r" && c !== "\n") id += c;
        j++;
      }
    }
    i = j;
    const at = id.lastIndexOf("@");
    if (closed && at > 0 && at < id.length - 1) out.push(id);
  }
  return out;
}

/** THREAD=ORDEREDSUBJECT (RFC 5256 §3). */
export function threadOrderedSubject(msgs: readonly ThreadMessage[]): ThreadNode[] {
  const rows = msgs.map((m) => ({
    m,
    subj: unicodeCasemap(baseSubject(m.subject).base),
    t: m.date.getTime(),
  }));
  rows.sort((a, b) => compareCodePoints(a.subj, b.subj) || a.t - b.t || a.m.seqOrUid - b.m.seqOrUid);
  const threads: { first: (typeof rows)[number]; node: ThreadNode }[] = [];
  for (let i = 0; i < rows.length; ) {
    const first = rows[i]!;
    const node: ThreadNode = { id: first.m.seqOrUid, children: [] };
    let j = i + 1;
    // the second and later messages are all children of the first: no grandchildren
    for (; j < rows.length && rows[j]!.subj === first.subj; j++) {
      node.children.push({ id: rows[j]!.m.seqOrUid, children: [] });
    }
    threads.push({ first, node });
    i = j;
  }
  threads.sort((a, b) => a.first.t - b.first.t || a.first.m.seqOrUid - b.first.m.seqOrUid);
  return threads.map((t) => t.node);
}

interface Container {
  msg: ThreadMessage | null;
  parent: Container | null;
  children: Container[];
  /** REFERENCES step 5 data, for messages */
  subject: string;
  replyOrForward: boolean;
}

function newContainer(msg: ThreadMessage | null): Container {
  return { msg, parent: null, children: [], subject: "", replyOrForward: false };
}

/** Whether `a` is `b` or one of its ancestors. */
function isAncestorOrSelf(a: Container, b: Container): boolean {
  for (let c: Container | null = b; c !== null; c = c.parent) if (c === a) return true;
  return false;
}

function unlink(c: Container): void {
  const p = c.parent;
  if (p === null) return;
  const i = p.children.indexOf(c);
  if (i >= 0) p.children.splice(i, 1);
  c.parent = null;
}

/** Links child under parent unless that makes a loop; returns whether it did. */
function link(parent: Container, child: Container): boolean {
  // a childless container cannot be an ancestor of the parent: no walk needed
  if (child === parent || (child.children.length > 0 && isAncestorOrSelf(child, parent))) return false;
  unlink(child);
  child.parent = parent;
  parent.children.push(child);
  return true;
}

/** Sort key of a node: its message, or (dummy) its first child's. */
function firstMsg(c: Container): ThreadMessage | null {
  let n: Container | undefined = c;
  while (n !== undefined && n.msg === null) n = n.children[0];
  return n?.msg ?? null;
}

function compareByDate(a: Container, b: Container): number {
  const x = firstMsg(a);
  const y = firstMsg(b);
  if (x === null || y === null) return (x === null ? 1 : 0) - (y === null ? 1 : 0);
  return x.date.getTime() - y.date.getTime() || x.seqOrUid - y.seqOrUid;
}

/** References used per message: the nearest ancestors (mailers trim the list the same way). */
const MAX_REFERENCES = 200;

/** THREAD=REFERENCES (RFC 5256 §3), steps 1-6. */
export function threadReferences(msgs: readonly ThreadMessage[]): ThreadNode[] {
  const ordered = [...msgs].sort((a, b) => a.seqOrUid - b.seqOrUid);
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const get = (id: string): Container => {
    let c = byId.get(id);
    if (c === undefined) {
      c = newContainer(null);
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };

  // (1) link messages along their references
  for (const m of ordered) {
    const ownId = parseMsgIds(m.messageId ?? "")[0];
    let own: Container;
    const existing = ownId === undefined ? undefined : byId.get(ownId);
    if (ownId !== undefined && (existing === undefined || existing.msg === null)) {
      own = get(ownId);
      own.msg = m;
    } else {
      // no usable Message-ID, or a duplicate of an earlier message's: a unique one
      own = newContainer(m);
      all.push(own);
    }
    const b = baseSubject(m.subject);
    own.subject = unicodeCasemap(b.base);
    own.replyOrForward = b.replyOrForward;

    let refs = m.references.flatMap(parseMsgIds);
    if (refs.length === 0 && m.inReplyTo !== null) refs = parseMsgIds(m.inReplyTo).slice(0, 1);
    // every link checks for loops by walking up: bound the work one header can cause
    if (refs.length > MAX_REFERENCES) refs = refs.slice(-MAX_REFERENCES);
    // (1A) chain the references; existing parents stay (the header may be truncated)
    for (let i = 0; i + 1 < refs.length; i++) {
      const parent = get(refs[i]!);
      const child = get(refs[i + 1]!);
      if (child.parent === null) link(parent, child);
    }
    // (1B) the last reference is the parent of this message
    unlink(own);
    if (refs.length > 0) link(get(refs[refs.length - 1]!), own);
  }

  // (2) the root set; (3) prune dummies
  let roots = prune(all.filter((c) => c.parent === null));
  // (4) sort the root set by date
  for (const r of roots) if (r.msg === null) r.children.sort(compareByDate);
  roots.sort(compareByDate);
  // (5) merge threads by base subject
  roots = mergeBySubject(roots);
  // (6) sort every sibling set, deepest first
  sortTree(roots);
  return toNodes(roots);
}

/**
 * Step 3: dummies without children go; dummies with children are replaced by them (at the root
 * only when there is exactly one). Iterative, children before parents: a deep tree (one message
 * can name hundreds of missing ancestors) must not exhaust the stack.
 */
function prune(roots: Container[]): Container[] {
  const order = preOrder(roots);
  for (let i = order.length - 1; i >= 0; i--) {
    const c = order[i]!;
    c.children = pruneList(c.children, c, false);
  }
  return pruneList(roots, null, true);
}

function pruneList(list: Container[], parent: Container | null, atRoot: boolean): Container[] {
  const out: Container[] = [];
  for (const c of list) {
    if (c.msg === null && c.children.length === 0) continue;
    if (c.msg === null && (!atRoot || c.children.length === 1)) {
      for (const k of c.children) {
        k.parent = parent;
        out.push(k);
      }
      continue;
    }
    c.parent = parent;
    out.push(c);
  }
  return out;
}

/** Every container under `roots`, each before its descendants. */
function preOrder(roots: Container[]): Container[] {
  const order: Container[] = [];
  const stack = [...roots];
  while (stack.length > 0) {
    const c = stack.pop()!;
    order.push(c);
    for (const k of c.children) stack.push(k);
  }
  return order;
}

/** The thread subject of a root member: its own, or its first child's for a dummy. */
function threadSubject(c: Container): { subject: string; dummy: boolean; replyOrForward: boolean } {
  if (c.msg !== null) return { subject: c.subject, dummy: false, replyOrForward: c.replyOrForward };
  const first = c.children[0];
  return { subject: first?.subject ?? "", dummy: true, replyOrForward: false };
}

/** Step 5. */
function mergeBySubject(roots: Container[]): Container[] {
  const table = new Map<string, Container>();
  // (5B)
  for (const c of roots) {
    const t = threadSubject(c);
    if (t.subject === "") continue;
    const old = table.get(t.subject);
    if (old === undefined) table.set(t.subject, c);
    else if (old.msg !== null && (t.dummy || (old.replyOrForward && !t.replyOrForward)))
      table.set(t.subject, c);
  }
  // (5C)
  const removed = new Set<Container>();
  const replaced = new Map<Container, Container>();
  for (const c of roots) {
    if (removed.has(c) || c.parent !== null) continue; // merged, or adopted by a new dummy
    const t = threadSubject(c);
    if (t.subject === "") continue;
    const old = table.get(t.subject)!;
    if (old === c) continue;
    if (old.msg === null && c.msg === null) {
      for (const k of c.children) {
        k.parent = old;
        old.children.push(k);
      }
      c.children = [];
      removed.add(c);
    } else if (old.msg === null || (c.replyOrForward && c.msg !== null && !old.replyOrForward)) {
      c.parent = old;
      old.children.push(c);
      removed.add(c);
    } else {
      const dummy = newContainer(null);
      dummy.children.push(old, c);
      old.parent = dummy;
      c.parent = dummy;
      removed.add(c);
      replaced.set(old, dummy);
      table.set(t.subject, dummy);
    }
  }
  const out: Container[] = [];
  for (const c of roots) {
    if (removed.has(c)) continue;
    out.push(replaced.get(c) ?? c);
  }
  return out;
}

/** Step 6: every sibling set by date, children before their parents (dummies sort by them). */
function sortTree(roots: Container[]): void {
  const order = preOrder(roots);
  for (let i = order.length - 1; i >= 0; i--) order[i]!.children.sort(compareByDate);
  roots.sort(compareByDate);
}

function toNodes(roots: Container[]): ThreadNode[] {
  const make = (c: Container): ThreadNode => ({ id: c.msg === null ? null : c.msg.seqOrUid, children: [] });
  const out = roots.map(make);
  const stack: [Container, ThreadNode][] = roots.map((c, i) => [c, out[i]!]);
  while (stack.length > 0) {
    const [c, n] = stack.pop()!;
    for (const k of c.children) {
      const kn = make(k);
      n.children.push(kn);
      stack.push([k, kn]);
    }
  }
  return out;
}

/**
 * The THREAD response data (RFC 5256 §4): `(1)(2 3 (4)(5))`, without the leading "THREAD ".
 * A chain of only children is written as one member list; siblings nest.
 */
export function renderThreads(roots: readonly ThreadNode[]): string {
  const out: string[] = [];
  // iterative: ")" markers and subtrees still to write, in reverse
  const stack: (ThreadNode | string)[] = [...roots].reverse();
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === "string") {
      out.push(item);
      continue;
    }
    out.push("(");
    let cur = item;
    let members = 0;
    for (;;) {
      if (cur.id !== null) out.push(members++ > 0 ? ` ${cur.id}` : String(cur.id));
      if (cur.children.length !== 1) break;
      cur = cur.children[0]!;
    }
    if (cur.children.length === 0) {
      out.push(")");
      continue;
    }
    if (members > 0) out.push(" ");
    stack.push(")");
    for (let i = cur.children.length - 1; i >= 0; i--) stack.push(cur.children[i]!);
  }
  return out.join("");
}
