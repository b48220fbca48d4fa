// RFC 5256 §2.1 base subject extraction, and the i;unicode-casemap collation (RFC 5051) that
// SORT and THREAD compare strings with (RFC 5256 §7).
//
// The subject passed in is already RFC 2047-decoded (step 1 of §2.1 is the caller's; see
// decodeWords in header.ts). All literal tokens of the ABNF ("re", "fw", "fwd", "[fwd:", "(fwd)")
// match case-insensitively (RFC 5234).

export interface BaseSubject {
  /** the base subject, case kept */
  base: string;
  /**
   * the extraction removed a subj-refwd, a "(fwd)" trailer, or a subj-fwd-hdr/subj-fwd-trl pair:
   * the message is a reply or forward (RFC 5256 §3, REFERENCES step 5)
   */
  replyOrForward: boolean;
}

const isWsp = (c: number) => c === 32 || c === 9;

/** RFC 5256 §2.1 steps (1b)-(7) on a decoded subject. */
export function baseSubject(subject: string): BaseSubject {
  // (1) tabs and line breaks to space, runs of spaces to one
  let s = subject.replace(/[\t\r\n]/g, " ").replace(/ {2,}/g, " ");
  let replyOrForward = false;
  for (;;) {
    // (2) subj-trailer = "(fwd)" / WSP, repeatedly
    for (;;) {
      if (s.length > 0 && isWsp(s.charCodeAt(s.length - 1))) s = s.slice(0, -1);
      else if (s.length >= 5 && s.slice(-5).toLowerCase() === "(fwd)") {
        s = s.slice(0, -5);
        replyOrForward = true;
      } else break;
    }
    // (3)-(5): leaders and blobs until nothing matches
    for (;;) {
      const leader = matchLeader(s);
      if (leader > 0) {
        if (!isWsp(s.charCodeAt(0))) replyOrForward = true;
        s = s.slice(leader);
        continue;
      }
      const blob = matchBlob(s, 0);
      if (blob > 0 && hasNonWsp(s, blob)) {
        s = s.slice(blob);
        continue;
      }
      break;
    }
    // (6) "[fwd:" … "]"
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === "[fwd:" && s.endsWith("]")) {
      s = s.slice(5, -1);
      replyOrForward = true;
      continue;
    }
    return { base: s, replyOrForward };
  }
}

/** Length of a subj-blob (`"[" *BLOBCHAR "]" *WSP`) at `i`, or 0. */
function matchBlob(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x5b) return 0;
  let j = i + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 0x5d) break;
    if (c === 0x5b) return 0;
    j++;
  }
  if (j >= s.length) return 0;
  j++;
  while (j < s.length && isWsp(s.charCodeAt(j))) j++;
  return j - i;
}

/** Length of a subj-leader (`(*subj-blob subj-refwd) / WSP`) at the start, or 0. */
function matchLeader(s: string): number {
  if (s.length === 0) return 0;
  if (isWsp(s.charCodeAt(0))) return 1;
  let i = 0;
  for (let b = matchBlob(s, i); b > 0; b = matchBlob(s, i)) i += b;
  const r = matchRefwd(s, i);
  return r > 0 ? i + r : 0;
}

/** Length of a subj-refwd (`("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`) at `i`, or 0. */
function matchRefwd(s: string, i: number): number {
  const two = s.slice(i, i + 2).toLowerCase();
  let j: number;
  if (two === "re") j = i + 2;
  else if (two === "fw") j = i + 2;
  else return 0;
  const tryFrom = (k: number): number => {
    while (k < s.length && isWsp(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === 0x3a) return k + 1 - i;
    const b = matchBlob(s, k);
    if (b > 0 && s.charCodeAt(k + b) === 0x3a) return k + b + 1 - i;
    return 0;
  };
  // "fw" ["d"]: try "fwd" first, then "fw"
  if (two === "fw" && (s.charCodeAt(j) | 0x20) === 0x64) {
    const r = tryFrom(j + 1);
    if (r > 0) return r;
  }
  return tryFrom(j);
}

function hasNonWsp(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) if (!isWsp(s.charCodeAt(i))) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// i;unicode-casemap (RFC 5051 §2): each character to its titlecase (simple mapping), then
// canonical decomposition; strings compare by code point (= UTF-8 octet order).

// The characters whose titlecase differs from their uppercase: the Latin digraphs.
const TITLE = new Map<number, number>([
  [0x1c4, 0x1c5],
  [0x1c5, 0x1c5],
  [0x1c6, 0x1c5],
  [0x1c7, 0x1c8],
  [0x1c8, 0x1c8],
  [0x1c9, 0x1c8],
  [0x1ca, 0x1cb],
  [0x1cb, 0x1cb],
  [0x1cc, 0x1cb],
  [0x1f1, 0x1f2],
  [0x1f2, 0x1f2],
  [0x1f3, 0x1f2],
]);

/**
 * The i;unicode-casemap key of a string. JavaScript only has full case mappings: a character
 * whose uppercase is more than one character (ß → SS) is kept, which approximates the simple
 * titlecase mapping RFC 5051 asks for.
 */
export function unicodeCasemap(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s.toUpperCase();
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const t = TITLE.get(cp);
    if (t !== undefined) {
      out += String.fromCodePoint(t);
      continue;
    }
    const u = ch.toUpperCase();
    // a single code point, or the character itself when its uppercase is several
    out += u.length === String.fromCodePoint(u.codePointAt(0)!).length ? u : ch;
  }
  return out.normalize("NFD");
}

/** Compares two strings by Unicode code point (UTF-16 code unit order differs above U+D7FF). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // surrogates (astral code points) sort after U+E000..U+FFFF
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}
