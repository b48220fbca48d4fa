// The TRANSACTION state commands of RFC 1939 §5 and §7 apart from RETR/TOP (retrieve.ts): STAT,
// LIST, UIDL, DELE, RSET, NOOP, and QUIT with its UPDATE state (§6).
import type { Pop3Command } from "../protocol/types.js";
import { err, multiline, ok } from "../protocol/response.js";
import type { Pop3Session } from "./session.js";

type Cmd<N extends Pop3Command["name"]> = Extract<Pop3Command, { name: N }>;

export function handleStat(s: Pop3Session): void {
  const { count, octets } = s.maildrop!.stat();
  s.reply(ok(`${count} ${octets}`));
}

export function handleList(s: Pop3Session, cmd: Cmd<"LIST">): void {
  const md = s.maildrop!;
  if (cmd.msg !== null) {
    const e = s.message(cmd.msg);
    if (e) s.reply(ok(`${e.n} ${e.size}`));
    return;
  }
  const lines: string[] = [];
  let octets = 0;
  for (const e of md.visible()) {
    lines.push(`${e.n} ${e.size}`);
    octets += e.size;
  }
  s.reply(multiline(`${lines.length} messages (${octets} octets)`, lines));
}

export function handleUidl(s: Pop3Session, cmd: Cmd<"UIDL">): void {
  const md = s.maildrop!;
  if (cmd.msg !== null) {
    const e = s.message(cmd.msg);
    if (e) s.reply(ok(`${e.n} ${md.uidl(e)}`));
    return;
  }
  const lines: string[] = [];
  for (const e of md.visible()) lines.push(`${e.n} ${md.uidl(e)}`);
  s.reply(multiline("Unique-ID listing follows", lines));
}

export function handleDele(s: Pop3Session, cmd: Cmd<"DELE">): void {
  const e = s.message(cmd.msg);
  if (!e) return;
  e.deleted = true;
  s.reply(ok(`Message ${e.n} deleted`));
}

export function handleRset(s: Pop3Session): void {
  const md = s.maildrop!;
  md.reset();
  const { count, octets } = md.stat();
  s.reply(ok(`Maildrop has ${count} messages (${octets} octets)`));
}

/**
 * RFC 1939 §6: QUIT in TRANSACTION enters UPDATE: expunge what DELE marked (and, under EXPIRE 0,
 * what RETR sent whole; under EXPIRE n > 0, record when RETR first sent it), release, goodbye.
 */
export async function handleQuit(s: Pop3Session): Promise<void> {
  if (s.state !== "transaction") {
    s.reply(ok("Bye"));
    s.close();
    return;
  }
  s.state = "update";
  const md = s.maildrop!;
  const user = s.account?.address;
  try {
    const { expunged } = await md.update(s.deps.config.pop3.expire, (what, e) =>
      s.log.error(
        "internal.error",
        what === "seen"
          ? "could not flag retrieved messages as seen"
          : "could not record the retrieval of messages (EXPIRE will not delete them)",
        { err: e, user },
      ),
    );
    s.reply(ok(expunged > 0 ? `Bye; ${expunged} messages deleted` : "Bye"));
  } catch (e) {
    s.log.error("internal.error", "UPDATE failed: deleted messages were not removed", { err: e, user });
    s.reply(err("Some deleted messages were not removed; try again later", "SYS/TEMP"));
  }
  s.close();
}
