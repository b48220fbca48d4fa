// IMAP flag normalisation shared by every store backend. System flags are matched
// case-insensitively and stored in their canonical spelling; keywords keep the spelling they were
// first given but compare case-insensitively (as IMAP flag names do). \Recent is session state
// (RFC 9051 dropped it; RFC 3501 derives it per session) and is never stored.

import { type Flag, type FlagOperation, StoreError } from "./types.js";

export const SYSTEM_FLAGS: readonly Flag[] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

const SYSTEM_BY_LOWER = new Map(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));
/** atom-char minus the atom-specials, list-wildcards, quoted-specials and "]" (RFC 9051 §9) */
const KEYWORD = /^[^\x00-\x20\x7f-\uffff(){%*"\\\]]+$/;

/** The canonical spelling of one flag; null for \Recent; throws "invalid" for anything unusable. */
export function canonicalFlag(flag: string): Flag | null {
  if (flag.startsWith("\\")) {
    const lower = flag.toLowerCase();
    if (lower === "\\recent") return null;
    const system = SYSTEM_BY_LOWER.get(lower);
    if (system === undefined) throw new StoreError("invalid", `unknown system flag ${flag}`);
    return system;
  }
  if (!KEYWORD.test(flag)) throw new StoreError("invalid", `invalid keyword ${JSON.stringify(flag)}`);
  return flag;
}

/** Canonical, deduplicated list: system flags first (in SYSTEM_FLAGS order), then keywords. */
export function normalizeFlags(flags: Iterable<string>): Flag[] {
  const system = new Set<Flag>();
  const keywords = new Map<string, Flag>();
  for (const raw of flags) {
    const flag = canonicalFlag(raw);
    if (flag === null) continue;
    if (flag.startsWith("\\")) system.add(flag);
    else if (!keywords.has(flag.toLowerCase())) keywords.set(flag.toLowerCase(), flag);
  }
  return [...SYSTEM_FLAGS.filter((f) => system.has(f)), ...keywords.values()];
}

/** The flags after applying op; inputs must already be normalised. */
export function applyFlagOperation(
  current: readonly Flag[],
  op: FlagOperation,
  flags: readonly Flag[],
): Flag[] {
  if (op === "set") return [...flags];
  if (op === "add") return normalizeFlags([...current, ...flags]);
  const remove = new Set(flags.map((f) => f.toLowerCase()));
  return current.filter((f) => !remove.has(f.toLowerCase()));
}

/** Equal as sets (case-insensitively, like IMAP): a no-op STORE must not bump the modseq. */
export function sameFlags(a: readonly Flag[], b: readonly Flag[]): boolean {
  if (a.length !== b.length) return false;
  const lower = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => lower.has(f.toLowerCase()));
}
