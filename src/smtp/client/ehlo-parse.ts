// The EHLO reply as the client needs it (RFC 5321 §4.1.1.1): the first line is the server's name and
// greeting, every further line an "ehlo-keyword [SP params]". Keywords are case-insensitive and kept
// upper case; lines that are not keywords are ignored (a server's junk must not stop delivery).
import type { ClientReply } from "./types.js";

export interface EhloInfo {
  /** first line: the server's domain and free text */
  greeting: string;
  /** keyword (upper case) → parameter string ("" when none); the first occurrence wins */
  extensions: Map<string, string>;
}

// ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); old servers also write "AUTH=PLAIN LOGIN".
const KEYWORD = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:(=|[ \t]+)(.*))?$/;

export function parseEhlo(reply: Pick<ClientReply, "lines">): EhloInfo {
  const extensions = new Map<string, string>();
  let legacyAuth: string[] = [];
  for (const raw of reply.lines.slice(1)) {
    const m = KEYWORD.exec(raw.trim());
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    const params = (m[3] ?? "").trim().replace(/[ \t]+/g, " ");
    if (m[2] === "=") {
      // "AUTH=LOGIN" is the pre-RFC 2554 form some servers still send next to "AUTH LOGIN".
      if (keyword === "AUTH") legacyAuth = legacyAuth.concat(params.split(" ").filter(Boolean));
      continue;
    }
    if (!extensions.has(keyword)) extensions.set(keyword, params);
  }
  if (legacyAuth.length > 0) {
    const have = (extensions.get("AUTH") ?? "").split(" ").filter(Boolean);
    const merged = [...have];
    for (const m of legacyAuth) if (!merged.some((x) => x.toUpperCase() === m.toUpperCase())) merged.push(m);
    extensions.set("AUTH", merged.join(" "));
  }
  return { greeting: reply.lines[0] ?? "", extensions };
}

/**
 * The remote's message size limit (RFC 1870 §4): null when SIZE is absent, has no number, or is 0
 * ("no fixed maximum").
 */
export function sizeLimit(extensions: ReadonlyMap<string, string>): number | null {
  const p = extensions.get("SIZE");
  if (p === undefined) return null;
  const m = /^(\d{1,20})(?: |$)/.exec(p);
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 && Number.isFinite(n) ? n : null;
}

/** SASL mechanisms the remote offers (upper case, in its order). */
export function authMechanisms(extensions: ReadonlyMap<string, string>): string[] {
  const p = extensions.get("AUTH");
  if (p === undefined) return [];
  const out: string[] = [];
  for (const m of p.split(" ")) {
    const u = m.toUpperCase();
    if (u && !out.includes(u)) out.push(u);
  }
  return out;
}
