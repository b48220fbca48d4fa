// NAMESPACE (RFC 9051 §6.3.10, RFC 2342) and QUOTA (RFC 9208): one personal namespace without a
// prefix, and one quota root "" per account covering all its mailboxes (resource STORAGE only).
import { Code, mailboxName, string, taggedNo, taggedOk } from "../../protocol/compose.js";
import type { Quota } from "../../../store/types.js";
import { accountId, checkMailboxName, DELIMITER } from "../mailbox-names.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

/** The account's quota root. */
const ROOT = "";

export async function handleNamespace(s: ImapSession, cmd: Cmd<"NAMESPACE">): Promise<void> {
  s.untagged(`NAMESPACE ((${string("")} ${string(DELIMITER)})) NIL NIL`);
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "NAMESPACE completed"));
}

/** `QUOTA "" (STORAGE used limit)` in KiB (RFC 9208 §5.1); `()` when unlimited (§4.2.1). */
function quotaData(q: Quota): string {
  if (q.limitBytes === null) return `QUOTA ${string(ROOT)} ()`;
  const used = Math.ceil(q.usedBytes / 1024);
  const limit = Math.floor(q.limitBytes / 1024);
  return `QUOTA ${string(ROOT)} (STORAGE ${used} ${limit})`;
}

export async function handleGetQuota(s: ImapSession, cmd: Cmd<"GETQUOTA">): Promise<void> {
  if (cmd.root !== ROOT) {
    s.send(taggedNo(cmd.tag, `No such quota root; the only one is ""`, Code.simple("NONEXISTENT")));
    return;
  }
  s.untagged(quotaData(await s.deps.store.getQuota(accountId(s))));
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "GETQUOTA completed"));
}

export async function handleGetQuotaRoot(s: ImapSession, cmd: Cmd<"GETQUOTAROOT">): Promise<void> {
  // RFC 9208 §4.1.2: the mailbox need not exist (the root a new mailbox would get); it must be a name
  const check = checkMailboxName(cmd.mailbox);
  if (!check.ok) {
    s.send(taggedNo(cmd.tag, `Invalid mailbox name: ${check.reason}`, Code.simple("CANNOT")));
    return;
  }
  s.untagged(`QUOTAROOT ${mailboxName(check.name, { utf8: s.utf8 })} ${string(ROOT)}`);
  s.untagged(quotaData(await s.deps.store.getQuota(accountId(s))));
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "GETQUOTAROOT completed"));
}

export function handleSetQuota(s: ImapSession, cmd: Cmd<"SETQUOTA">): void {
  // QUOTASET is not advertised (RFC 9208 §4.1.3): limits are the administrator's
  s.send(
    taggedNo(
      cmd.tag,
      "Quotas are set by the administrator (postamt user quota <email> <size>)",
      Code.simple("NOPERM"),
    ),
  );
}
