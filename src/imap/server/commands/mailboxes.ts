// CREATE (with USE, RFC 6154 §3), DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.4–8).
// Names are checked and normalised by mailbox-names.ts; everything happens within the session's
// account.
import { Code, mailboxName, taggedNo, taggedOk } from "../../protocol/compose.js";
import { type SpecialUse, StoreError } from "../../../store/types.js";
import { accountId, checkMailboxName, findMailbox, parentNames } from "../mailbox-names.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

/** The special uses a mailbox can be created with (the store's, without \Inbox). */
const CREATABLE_USES: ReadonlySet<string> = new Set(["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"]);

/** A StoreError as a tagged NO; anything else is rethrown (the session answers [SERVERBUG]). */
function refuse(
  s: ImapSession,
  tag: string,
  err: unknown,
  texts: Partial<Record<string, string>> = {},
): void {
  if (!(err instanceof StoreError)) throw err;
  switch (err.code) {
    case "exists":
      s.send(taggedNo(tag, texts.exists ?? "Mailbox already exists", Code.simple("ALREADYEXISTS")));
      return;
    case "not-found":
      s.send(taggedNo(tag, texts["not-found"] ?? "No such mailbox", Code.simple("NONEXISTENT")));
      return;
    case "in-use":
      s.send(taggedNo(tag, texts["in-use"] ?? "Mailbox is in use", Code.simple("INUSE")));
      return;
    case "invalid":
      s.send(taggedNo(tag, err.message, Code.simple("CANNOT")));
      return;
    default:
      throw err;
  }
}

/** Creates the superior names of `name` that do not exist yet (RFC 9051 §6.3.4, §6.3.6: SHOULD). */
async function createParents(s: ImapSession, name: string): Promise<void> {
  const id = accountId(s);
  for (const parent of parentNames(name)) {
    if (await s.deps.store.getMailbox(id, parent)) continue;
    try {
      await s.deps.store.createMailbox(id, parent);
    } catch (err) {
      // another session created it meanwhile: fine
      if (!(err instanceof StoreError && err.code === "exists")) throw err;
    }
  }
}

export async function handleCreate(s: ImapSession, cmd: Cmd<"CREATE">): Promise<void> {
  // §6.3.4: a trailing delimiter only declares that children will follow
  const check = checkMailboxName(cmd.mailbox, { trailingDelimiter: true });
  if (!check.ok) {
    s.send(taggedNo(cmd.tag, `Invalid mailbox name: ${check.reason}`, Code.simple("CANNOT")));
    return;
  }
  const name = check.name;
  if (name === "INBOX") {
    s.send(taggedNo(cmd.tag, "INBOX always exists", Code.simple("ALREADYEXISTS")));
    return;
  }
  // RFC 6154 §3: a use we cannot give the mailbox means no mailbox, NO [USEATTR]
  let specialUse: SpecialUse | null = null;
  if (cmd.specialUse.length > 1) {
    s.send(taggedNo(cmd.tag, "A mailbox can have only one special use", Code.other("USEATTR")));
    return;
  }
  const use = cmd.specialUse[0];
  if (use !== undefined) {
    if (!CREATABLE_USES.has(use)) {
      const known = [...CREATABLE_USES].join(" ");
      s.send(taggedNo(cmd.tag, `Special use ${use} is not supported (only ${known})`, Code.other("USEATTR")));
      return;
    }
    specialUse = use as SpecialUse;
  }
  const id = accountId(s);
  const existing = await s.deps.store.getMailbox(id, name);
  // A \Noselect name may be created: it becomes a real mailbox again (the store revives it).
  if (existing && !existing.noselect) {
    s.send(taggedNo(cmd.tag, "Mailbox already exists", Code.simple("ALREADYEXISTS")));
    return;
  }
  try {
    await createParents(s, name);
    await s.deps.store.createMailbox(id, name, { specialUse });
  } catch (err) {
    refuse(s, cmd.tag, err);
    return;
  }
  // §6.3.4: a name we normalised (NFC) is announced with OLDNAME (an IMAP4rev2 / UTF-8 notion)
  const sent = cmd.mailbox.endsWith("/") ? cmd.mailbox.slice(0, -1) : cmd.mailbox;
  if (s.utf8 && sent !== name && sent.normalize("NFC") === name) {
    const opts = { utf8: true };
    s.untagged(`LIST () "/" ${mailboxName(name, opts)} ("OLDNAME" (${mailboxName(sent, opts)}))`);
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "CREATE completed"));
}

export async function handleDelete(s: ImapSession, cmd: Cmd<"DELETE">): Promise<void> {
  const check = checkMailboxName(cmd.mailbox);
  if (!check.ok) {
    s.send(taggedNo(cmd.tag, "No such mailbox", Code.simple("NONEXISTENT")));
    return;
  }
  if (check.name === "INBOX") {
    s.send(taggedNo(cmd.tag, "INBOX cannot be deleted", Code.simple("CANNOT")));
    return;
  }
  // Deleting the selected mailbox is allowed; the session finds it gone at its next poll.
  try {
    await s.deps.store.deleteMailbox(accountId(s), check.name);
  } catch (err) {
    if (err instanceof StoreError && err.code === "in-use") {
      // RFC 9051 §6.3.5: a server that keeps children refuses with HASCHILDREN
      s.send(
        taggedNo(
          cmd.tag,
          "Mailbox has child mailboxes: delete or move them first, then delete this one",
          Code.simple("HASCHILDREN"),
        ),
      );
      return;
    }
    refuse(s, cmd.tag, err);
    return;
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "DELETE completed"));
}

export async function handleRename(s: ImapSession, cmd: Cmd<"RENAME">): Promise<void> {
  const from = checkMailboxName(cmd.from);
  const id = accountId(s);
  const source = from.ok ? await s.deps.store.getMailbox(id, from.name) : null;
  if (!from.ok || !source) {
    s.send(taggedNo(cmd.tag, "No such mailbox", Code.simple("NONEXISTENT")));
    return;
  }
  const to = checkMailboxName(cmd.to);
  if (!to.ok) {
    s.send(taggedNo(cmd.tag, `Invalid new mailbox name: ${to.reason}`, Code.simple("CANNOT")));
    return;
  }
  if (to.name === "INBOX" || (await s.deps.store.getMailbox(id, to.name))) {
    s.send(taggedNo(cmd.tag, "A mailbox with the new name already exists", Code.simple("ALREADYEXISTS")));
    return;
  }
  // INBOX is special (§6.3.6): its messages move and its children stay, so "INBOX/old" is fine
  if (source.name !== "INBOX" && to.name.startsWith(`${source.name}/`)) {
    s.send(taggedNo(cmd.tag, "A mailbox cannot be moved into its own hierarchy", Code.simple("CANNOT")));
    return;
  }
  try {
    await createParents(s, to.name);
    await s.deps.store.renameMailbox(id, source.name, to.name);
  } catch (err) {
    refuse(s, cmd.tag, err, { exists: "A mailbox with the new name already exists" });
    return;
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "RENAME completed"));
}

/** SUBSCRIBE and UNSUBSCRIBE (§6.3.7–8). Subscriptions belong to existing mailboxes in our store. */
export async function handleSubscribe(s: ImapSession, cmd: Cmd<"SUBSCRIBE" | "UNSUBSCRIBE">): Promise<void> {
  const box = await findMailbox(s, cmd.mailbox);
  const subscribe = cmd.name === "SUBSCRIBE";
  if (!box) {
    if (subscribe) {
      // §6.3.7 lets a server check that the mailbox exists
      s.send(
        taggedNo(cmd.tag, "No such mailbox: create it first, then subscribe", Code.simple("NONEXISTENT")),
      );
      return;
    }
    // §6.3.8: OK when the name is not subscribed (a missing mailbox never is)
  } else if (box.subscribed !== subscribe) {
    try {
      await s.deps.store.setSubscribed(accountId(s), box.name, subscribe);
    } catch (err) {
      refuse(s, cmd.tag, err);
      return;
    }
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, `${cmd.name} completed`));
}
