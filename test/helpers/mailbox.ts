// Reads what the store holds for an account, as full messages (trace prefix + blob).
import type { MailStore } from "../../src/store/types.js";

export async function mailboxMessages(
  store: MailStore,
  address: string,
  mailbox = "INBOX",
): Promise<Buffer[]> {
  const account = await store.getAccount(address);
  if (!account) throw new Error(`no account ${address}`);
  const box = await store.getMailbox(account.id, mailbox);
  if (!box) throw new Error(`no mailbox ${mailbox}`);
  const out: Buffer[] = [];
  for (const m of await store.listMessages(box.id)) {
    const rec = await store.getMessage(box.id, m.uid);
    if (!rec) continue;
    out.push(Buffer.concat([rec.prefix, await store.blobs.read(rec.blobId)]));
  }
  return out;
}

/** The part after the trace prefix (Return-Path, Delivered-To, Received…): what the client sent. */
export function withoutTrace(full: Buffer): string {
  const text = full.toString("utf8");
  const lines = text.split("\r\n");
  let i = 0;
  while (
    i < lines.length &&
    /^(Return-Path|Delivered-To|Received|Authentication-Results):|^[ \t]/.test(lines[i]!)
  )
    i++;
  return lines.slice(i).join("\r\n");
}
