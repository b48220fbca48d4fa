// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: several messages, all or nothing), UIDPLUS
// (RFC 4315: APPENDUID), APPENDLIMIT (RFC 7889), literal8 (BINARY, RFC 3516 §4.4).
//
// Message literals stream: at each literal-start the session calls beginAppendLiteral, which parses
// the command so far, checks the mailbox, size, flags and quota before any byte is sent ("+" only
// then), and opens a MessageSpool (blob + MIME parse in one pass, as SMTP stores mail). The session
// writes the literal's chunks into it; finishAppendLiteral files it. When the whole command has
// arrived the dispatcher calls handleAppend, which stores every spooled message or none.
import { MessageSpool } from "../../../delivery/spool.js";
import type { SpooledMessage } from "../../../delivery/types.js";
import type { MimeLimits } from "../../../mail/mime-types.js";
import { canonicalFlag } from "../../../store/flags.js";
import { StoreError } from "../../../store/types.js";
import { Code, sequenceSet, taggedNo, taggedOk } from "../../protocol/compose.js";
import { parseCommand } from "../../protocol/parse-command.js";
import type { ReceiverEvent } from "../../protocol/receiver.js";
import type { AppendMessage, Flag } from "../../protocol/types.js";
import { accountId, checkMailboxName, findMailbox } from "../mailbox-names.js";
import type { ImapSession } from "../session.js";
import type { Cmd } from "./index.js";

type AppendCmd = Cmd<"APPEND">;
type LiteralStart = Extract<ReceiverEvent, { kind: "literal-start" }>;

/** Whether a spool's literal was a literal8 (NUL allowed, RFC 9051 §4.3). */
const binaryOf = new WeakMap<MessageSpool, boolean>();

function mimeLimits(s: ImapSession): Partial<MimeLimits> {
  const l = s.deps.config.limits;
  return { maxHeaderBytes: l.mime_header_bytes, maxParts: l.mime_parts, maxDepth: l.mime_depth };
}

/** Why a message cannot be taken, before its bytes come; null when it can. */
interface Refusal {
  status: "BAD" | "NO";
  text: string;
  code?: string;
}

function checkMessage(s: ImapSession, flags: readonly Flag[], size: number): Refusal | null {
  const limit = s.deps.config.limits.message_size;
  if (size > limit) {
    return {
      status: "NO",
      text: `Message larger than the limit of ${limit} octets`,
      code: Code.simple("TOOBIG"),
    };
  }
  if (size === 0) return { status: "NO", text: "Empty message", code: Code.simple("CANNOT") };
  for (const f of flags) {
    try {
      canonicalFlag(f); // null for \Recent, which is ignored
    } catch {
      return { status: "NO", text: `Flag ${f} cannot be set` };
    }
  }
  return null;
}

/** The mailbox to append to; a Refusal when it does not exist (TRYCREATE, §6.3.12). */
async function targetMailbox(s: ImapSession, name: string): Promise<number | Refusal> {
  const box = await findMailbox(s, name);
  if (box) return box.id;
  const check = checkMailboxName(name);
  return check.ok
    ? { status: "NO", text: "No such mailbox: create it first", code: Code.simple("TRYCREATE") }
    : { status: "NO", text: `Invalid mailbox name: ${check.reason}`, code: Code.simple("CANNOT") };
}

/** Over the account's quota with `adding` more octets (RFC 9208 §4.3.1). */
async function overQuota(s: ImapSession, adding: number): Promise<Refusal | null> {
  const q = await s.deps.store.getQuota(accountId(s));
  if (q.limitBytes === null || q.usedBytes + adding <= q.limitBytes) return null;
  return { status: "NO", text: "Not enough room left in the mailbox quota", code: Code.simple("OVERQUOTA") };
}

/** Answers the command, drops what was spooled for it, and tells the receiver to drop the rest. */
function refuseLiteral(s: ImapSession, tag: string, r: Refusal): void {
  if (r.status === "BAD") s.bad(tag, r.text, r.code);
  else s.no(tag, r.text, r.code);
  s.abandonAppend();
  s.receiver.reject();
}

/** literal-start of an APPEND message literal (see receiver.ts). */
export async function beginAppendLiteral(s: ImapSession, ev: LiteralStart): Promise<void> {
  const tag = ev.tag;
  if (tag === null) {
    // the receiver does not start literals without a tag; never accept one anyway
    s.abandonAppend();
    s.receiver.reject();
    return;
  }
  if (s.state !== "authenticated" && s.state !== "selected") {
    refuseLiteral(s, tag, { status: "BAD", text: "APPEND: Log in first" });
    return;
  }
  if (s.append && s.append.tag !== tag) s.abandonAppend(); // left over; cannot happen
  if (s.append?.failed) {
    // an earlier message of this MULTIAPPEND failed already: do not take more bytes
    refuseLiteral(s, tag, { status: "NO", ...s.append.failed });
    return;
  }
  const parsed = parseCommand(ev.head, { utf8: s.utf8 });
  if (!parsed.ok) {
    refuseLiteral(s, tag, { status: parsed.status, text: parsed.text, code: parsed.code });
    return;
  }
  const cmd = parsed.command;
  const msg = cmd.name === "APPEND" ? cmd.messages[cmd.messages.length - 1] : undefined;
  if (cmd.name !== "APPEND" || !msg) {
    refuseLiteral(s, tag, { status: "BAD", text: "Message literal outside APPEND" });
    return;
  }
  const refusal = checkMessage(s, msg.flags, ev.size);
  if (refusal) {
    refuseLiteral(s, tag, refusal);
    return;
  }
  let mailboxId = s.append?.mailboxId;
  if (mailboxId === undefined) {
    const target = await targetMailbox(s, cmd.mailbox);
    if (typeof target !== "number") {
      refuseLiteral(s, tag, target);
      return;
    }
    mailboxId = target;
  }
  const pending = s.append?.spooled.reduce((n, x) => n + x.size, 0) ?? 0;
  const quota = await overQuota(s, pending + ev.size);
  if (quota) {
    refuseLiteral(s, tag, quota);
    return;
  }
  const spool = new MessageSpool(s.deps.store, { limits: mimeLimits(s) });
  binaryOf.set(spool, ev.binary);
  if (s.append) s.append.current = spool;
  else s.append = { tag, mailboxId, spooled: [], current: spool, failed: null };
  if (ev.sync) s.send("+ Ready for literal data\r\n");
}

/** literal-end: the message's bytes are all in its spool. */
export async function finishAppendLiteral(s: ImapSession, nul: boolean): Promise<void> {
  const a = s.append;
  const spool = a?.current;
  if (!a || !spool) return;
  a.current = null;
  a.spooled.push({ spool, size: spool.size });
  // RFC 9051 §4.3: NUL only in literal8; RFC 3516 §4.4 has binary data appended as ~{n}
  if (nul && !binaryOf.get(spool) && !a.failed) {
    a.failed = { text: "The message contains NUL octets: send it as a literal8 (~{n})" };
  }
}

interface Pending {
  spool: MessageSpool;
  message: AppendMessage;
}

/** The complete APPEND: store every message, or none. */
export async function handleAppend(s: ImapSession, cmd: AppendCmd): Promise<void> {
  const current = s.append;
  s.append = null;
  const spools: MessageSpool[] = current ? current.spooled.map((x) => x.spool) : [];
  if (current?.current) spools.push(current.current);
  const a = current?.tag === cmd.tag ? current : null;
  try {
    await append(s, cmd, a, spools);
  } finally {
    // finished spools are left alone (their blobs are collected if unreferenced); others are removed
    for (const sp of spools) await sp.abort().catch(() => undefined);
  }
}

async function append(
  s: ImapSession,
  cmd: AppendCmd,
  a: ImapSession["append"],
  spools: MessageSpool[],
): Promise<void> {
  if (a?.failed) {
    s.send(taggedNo(cmd.tag, a.failed.text, a.failed.code));
    return;
  }
  // Pair each message with its spool: streamed literals were spooled in order; an inline literal
  // (when the receiver held it in memory) is spooled now, through the same parser.
  const pending: Pending[] = [];
  let next = 0;
  let inlineBytes = 0;
  for (const message of cmd.messages) {
    const lit = message.literal;
    if (lit.kind === "streamed") {
      const sp = a?.spooled[next++];
      if (!sp) throw new Error("APPEND: a message literal was not spooled");
      pending.push({ spool: sp.spool, message });
      continue;
    }
    const refusal = checkMessage(s, message.flags, lit.data.length);
    if (refusal) {
      s.send(taggedNo(cmd.tag, refusal.text, refusal.code));
      return;
    }
    const spool = new MessageSpool(s.deps.store, { limits: mimeLimits(s) });
    spools.push(spool);
    await spool.write(lit.data);
    inlineBytes += lit.data.length;
    pending.push({ spool, message });
  }
  if (next !== (a?.spooled.length ?? 0))
    throw new Error("APPEND: more literals spooled than messages parsed");

  const id = accountId(s);
  let mailboxId: number;
  if (a) {
    const box = await s.deps.store.getMailboxById(a.mailboxId);
    if (!box || box.accountId !== id) {
      s.send(taggedNo(cmd.tag, "The mailbox no longer exists", Code.simple("TRYCREATE")));
      return;
    }
    mailboxId = box.id;
  } else {
    const target = await targetMailbox(s, cmd.mailbox);
    if (typeof target !== "number") {
      s.send(taggedNo(cmd.tag, target.text, target.code));
      return;
    }
    mailboxId = target;
  }
  if (inlineBytes > 0) {
    const quota = await overQuota(s, inlineBytes);
    if (quota) {
      s.send(taggedNo(cmd.tag, quota.text, quota.code));
      return;
    }
  }

  const uids: number[] = [];
  let uidValidity = 0;
  try {
    // every blob durable and parsed before the first message becomes visible
    const spooled: SpooledMessage[] = [];
    for (const p of pending) spooled.push(await p.spool.finish());
    for (let i = 0; i < pending.length; i++) {
      const m = spooled[i]!;
      const { flags, date } = pending[i]!.message;
      const result = await s.deps.store.deliver({
        content: {
          blobId: m.blobId,
          blobSize: m.size,
          mime: m.mime,
          envelope: m.envelope,
          searchText: m.searchText,
          header: m.header,
        },
        internalDate: date ? new Date(date.time) : new Date(),
        targets: [{ accountId: id, mailboxId, flags: [...flags] }],
      });
      const copy = result.copies[0];
      if (!copy) throw new Error("APPEND: the store delivered no copy");
      uids.push(copy.uid);
      uidValidity = copy.uidValidity;
    }
  } catch (err) {
    // RFC 3502 §6.3.11: all or nothing; RFC 9051 §6.3.12: the mailbox as it was (UIDNEXT aside)
    if (uids.length > 0) {
      await s.deps.store.expunge(mailboxId, uids).catch((e: unknown) => {
        s.log.error("internal.error", "APPEND could not remove the messages of a failed MULTIAPPEND", {
          err: e,
          mailboxId,
          uids,
        });
      });
    }
    failed(s, cmd.tag, err);
    return;
  }
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "APPEND completed", Code.appendUid(uidValidity, sequenceSet(uids))));
}

function failed(s: ImapSession, tag: string, err: unknown): void {
  if (err instanceof StoreError) {
    if (err.code === "quota") {
      s.send(taggedNo(tag, "Not enough room left in the mailbox quota", Code.simple("OVERQUOTA")));
      return;
    }
    if (err.code === "not-found") {
      s.send(taggedNo(tag, "The mailbox no longer exists", Code.simple("TRYCREATE")));
      return;
    }
  }
  if ((err as NodeJS.ErrnoException | null)?.code === "ENOSPC") {
    s.log.error("internal.error", "disk full while storing an APPEND", { err });
    s.send(taggedNo(tag, "The server is out of disk space; try again later", Code.simple("UNAVAILABLE")));
    return;
  }
  s.log.error("internal.error", "APPEND could not store the message", { err });
  s.send(taggedNo(tag, "The message could not be stored", Code.simple("SERVERBUG")));
}
