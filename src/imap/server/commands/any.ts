// Commands valid in every state: CAPABILITY, NOOP, LOGOUT (RFC 9051 §6.1), ID (RFC 2971), and
// ENABLE (RFC 5161, authenticated state).
import { string, taggedOk } from "../../protocol/compose.js";
import type { Cmd } from "./index.js";
import type { ImapSession } from "../session.js";

export function handleCapability(s: ImapSession, cmd: Cmd<"CAPABILITY">): void {
  s.untagged(`CAPABILITY ${s.capabilityList().join(" ")}`);
  s.send(taggedOk(cmd.tag, "CAPABILITY completed"));
}

export async function handleNoop(s: ImapSession, cmd: Cmd<"NOOP">): Promise<void> {
  await s.announce(true);
  s.send(taggedOk(cmd.tag, "NOOP completed"));
}

export function handleLogout(s: ImapSession, cmd: Cmd<"LOGOUT">): void {
  s.untagged("BYE Logging out");
  s.send(taggedOk(cmd.tag, "LOGOUT completed"));
  s.state = "logout";
  s.close();
}

export function handleId(s: ImapSession, cmd: Cmd<"ID">): void {
  if (cmd.params) {
    const fields = cmd.params.map((p) => `${p.field}=${p.value ?? ""}`).join(" ");
    s.log.info("session.open", `client ID: ${fields.slice(0, 300)}`);
  }
  s.untagged(`ID (${string("name")} ${string("Postamt")} ${string("vendor")} ${string("Postamt")})`);
  s.send(taggedOk(cmd.tag, "ID completed"));
}

/** What ENABLE can turn on (RFC 5161 §3.1): unknown names are ignored, not errors. */
const ENABLEABLE = new Set(["IMAP4REV2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT"]);

export function handleEnable(s: ImapSession, cmd: Cmd<"ENABLE">): void {
  if (s.state !== "authenticated") {
    s.bad(cmd.tag, "ENABLE is only allowed before selecting a mailbox");
    return;
  }
  const now: string[] = [];
  for (const c of cmd.capabilities) {
    if (!ENABLEABLE.has(c) || s.enabled.has(c)) continue;
    s.enabled.add(c);
    now.push(c === "IMAP4REV2" ? "IMAP4rev2" : c);
    // RFC 7162 §3.2.3: enabling QRESYNC also enables CONDSTORE.
    if (c === "QRESYNC" && !s.enabled.has("CONDSTORE")) s.enabled.add("CONDSTORE");
  }
  s.untagged(`ENABLED${now.length ? ` ${now.join(" ")}` : ""}`);
  s.send(taggedOk(cmd.tag, "ENABLE completed"));
}
