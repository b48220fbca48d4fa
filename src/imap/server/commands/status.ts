// STATUS (RFC 9051 §6.3.11; RECENT RFC 3501; SIZE RFC 8438; HIGHESTMODSEQ RFC 7162 §3.1.6;
// APPENDLIMIT RFC 7889 §3; DELETED RFC 9208 §4.1.4). Also the STATUS responses of LIST RETURN
// (STATUS …) (RFC 5819).
import { Code, mailboxName, taggedNo, taggedOk } from "../../protocol/compose.js";
import type { StatusItem } from "../../protocol/types.js";
import type { Mailbox } from "../../../store/types.js";
import { findMailbox } from "../mailbox-names.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

type StatusCmd = Cmd<"STATUS">;

/** `STATUS name (ITEM n …)`, without "* ", for the items in the order asked. */
export async function statusData(
  s: ImapSession,
  box: Mailbox,
  items: readonly StatusItem[],
): Promise<string> {
  let unseen = 0;
  let deleted = 0;
  if (items.includes("UNSEEN") || items.includes("DELETED")) {
    // counted per distinct flag list by the store, not read message by message
    for (const { flags, count } of await s.deps.store.countFlags(box.id)) {
      if (!flags.includes("\\Seen")) unseen += count;
      if (flags.includes("\\Deleted")) deleted += count;
    }
  }
  const counts = { unseen, deleted };
  const values = items.map((item) => statusValue(s, box, item, counts));
  return `STATUS ${mailboxName(box.name, { utf8: s.utf8 })} (${values.join(" ")})`;
}

function statusValue(
  s: ImapSession,
  box: Mailbox,
  item: StatusItem,
  counts: { unseen: number; deleted: number },
): string {
  switch (item) {
    case "MESSAGES":
      return `MESSAGES ${box.messages}`;
    case "UIDNEXT":
      return `UIDNEXT ${box.uidNext}`;
    case "UIDVALIDITY":
      return `UIDVALIDITY ${box.uidValidity}`;
    case "UNSEEN":
      return `UNSEEN ${counts.unseen}`;
    case "DELETED":
      return `DELETED ${counts.deleted}`;
    case "SIZE":
      return `SIZE ${box.size}`;
    case "RECENT":
      // \Recent is per session (recent.ts): only the selected mailbox's view knows its count
      return `RECENT ${s.selected?.mailboxId === box.id ? s.selected.recent.size : 0}`;
    case "HIGHESTMODSEQ":
      return `HIGHESTMODSEQ ${box.highestModseq}`;
    case "APPENDLIMIT":
      return `APPENDLIMIT ${s.deps.config.limits.message_size}`;
  }
}

export async function handleStatus(s: ImapSession, cmd: StatusCmd): Promise<void> {
  // the selected mailbox is allowed too (§6.3.11: servers MUST be able to answer it)
  const box = await findMailbox(s, cmd.mailbox);
  if (!box) {
    s.send(taggedNo(cmd.tag, "No such mailbox", Code.simple("NONEXISTENT")));
    return;
  }
  s.untagged(await statusData(s, box, cmd.items));
  if (cmd.items.includes("HIGHESTMODSEQ") && !s.condstore) {
    // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE; with a mailbox selected, the client
    // is then told its HIGHESTMODSEQ
    s.enabled.add("CONDSTORE");
    if (s.selected) s.untagged(`OK [${Code.highestModseq(s.selected.highestModseq)}] Highest`);
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "STATUS completed"));
}
