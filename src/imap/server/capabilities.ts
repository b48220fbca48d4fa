// The CAPABILITY list (RFC 9051 §6.1.1, §7.2.2). Only what is fully implemented is advertised.
// Before login: how to log in (STARTTLS, AUTH=, LOGINDISABLED when plaintext is not allowed).
import { listMechanisms } from "../../auth/sasl/registry.js";
import type { ImapSession } from "./session.js";

const AFTER_LOGIN = [
  "IDLE",
  "NAMESPACE",
  "UNSELECT",
  "UIDPLUS",
  "MOVE",
  "CHILDREN",
  "LIST-EXTENDED",
  "LIST-STATUS",
  "SPECIAL-USE",
  "CREATE-SPECIAL-USE",
  "ESEARCH",
  "SEARCHRES",
  "WITHIN",
  "CONDSTORE",
  "QRESYNC",
  "SORT",
  "THREAD=ORDEREDSUBJECT",
  "THREAD=REFERENCES",
  "MULTIAPPEND",
  "QUOTA",
  "QUOTA=RES-STORAGE",
  "STATUS=SIZE",
  "UTF8=ACCEPT",
  "BINARY",
];

export function capabilities(s: ImapSession): string[] {
  const caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ENABLE", "ID"];
  if (s.state === "not-authenticated") {
    const secure = s.io.secure || s.io.loopback;
    if (!s.io.secure) caps.push("STARTTLS");
    for (const m of listMechanisms({ secure })) caps.push(`AUTH=${m}`);
    if (!secure) caps.push("LOGINDISABLED");
    return caps;
  }
  caps.push(...AFTER_LOGIN, `APPENDLIMIT=${s.deps.config.limits.message_size}`);
  return caps;
}
