// Mailbox names as IMAP clients send them (RFC 9051 §5.1), checked and normalised before they reach
// the store. The hierarchy delimiter is "/". INBOX is case-insensitive, also as the first level of a
// hierarchy ("inbox/x" is "INBOX/x"). Names are never file paths, but anything that could look like
// traversal ("..", ".", empty levels) is refused anyway, and every lookup is within one account.
import type { Mailbox } from "../../store/types.js";
import type { ImapSession } from "./session.js";

export const DELIMITER = "/";

/** RFC 9051 does not cap names; 255 octets is what common servers and file systems allow. */
export const MAX_NAME_OCTETS = 255;

export type NameCheck =
  | { readonly ok: true; readonly name: string }
  | { readonly ok: false; readonly reason: string };

/** "INBOX", or a name whose first level is INBOX in any case. */
export function isInboxName(name: string): boolean {
  return (
    name.length >= 5 &&
    name.slice(0, 5).toUpperCase() === "INBOX" &&
    (name.length === 5 || name[5] === DELIMITER)
  );
}

/** NFC (Net-Unicode, RFC 9051 §5.1) and an upper-case INBOX level; no validation. */
export function canonicalMailboxName(name: string): string {
  const n = name.normalize("NFC");
  return isInboxName(n) ? `INBOX${n.slice(5)}` : n;
}

/** C0, DEL and C1 controls. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The canonical form of a name, or why it can never name a mailbox here. `trailingDelimiter`: one
 * trailing "/" is a declaration that children will follow and is dropped (CREATE, RFC 9051 §6.3.4).
 */
export function checkMailboxName(raw: string, opts: { trailingDelimiter?: boolean } = {}): NameCheck {
  let name = canonicalMailboxName(raw);
  if (opts.trailingDelimiter && name.length > 1 && name.endsWith(DELIMITER)) name = name.slice(0, -1);
  if (name.length === 0) return { ok: false, reason: "empty mailbox name" };
  if (CONTROL.test(name)) return { ok: false, reason: "control characters are not allowed in mailbox names" };
  if (name.includes("*") || name.includes("%")) {
    return { ok: false, reason: 'the wildcards "*" and "%" are not allowed in mailbox names' };
  }
  if (Buffer.byteLength(name, "utf8") > MAX_NAME_OCTETS) {
    return { ok: false, reason: `mailbox names are limited to ${MAX_NAME_OCTETS} octets` };
  }
  for (const part of name.split(DELIMITER)) {
    if (part === "")
      return { ok: false, reason: `empty hierarchy level (leading, trailing or doubled "${DELIMITER}")` };
    if (part === "." || part === "..")
      return { ok: false, reason: `"${part}" is not allowed as a hierarchy level` };
  }
  return { ok: true, name };
}

/** "a/b/c" → ["a", "a/b"]: the superior names, outermost first. */
export function parentNames(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf(DELIMITER); i !== -1; i = name.indexOf(DELIMITER, i + 1))
    out.push(name.slice(0, i));
  return out;
}

/** The account of an authenticated session (the dispatcher guarantees one). */
export function accountId(s: ImapSession): number {
  const a = s.account;
  if (!a) throw new Error("no account: command dispatched before authentication");
  return a.id;
}

/**
 * The session account's selectable mailbox of that name; null when it does not exist, cannot be a
 * name, or is \Noselect (a name kept only for its children: no messages can be in it).
 */
export async function findMailbox(s: ImapSession, name: string): Promise<Mailbox | null> {
  const check = checkMailboxName(name);
  if (!check.ok) return null;
  const box = await s.deps.store.getMailbox(accountId(s), check.name);
  return box && !box.noselect ? box : null;
}
