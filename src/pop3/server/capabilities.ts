// CAPA (RFC 2449 §5). Announced in both states, with what differs by connection:
// - USER and the plaintext SASL mechanisms only where plaintext passwords are allowed (TLS or
//   loopback); STLS only before TLS and login (RFC 2595 §4: "permitted in the current state").
// - EXPIRE (§6.7: NEVER, 0, or n days after first retrieval) and LOGIN-DELAY (§6.5, only when
//   configured) from the [pop3] configuration: one value for every account, so the same in both
//   states and without the "USER" suffix.
// - no APOP (RFC 2449 §6 has no APOP capability; it would need the greeting's timestamp, and our
//   stored secret is a scrypt hash, from which APOP's MD5 digest cannot be checked).
// - no UTF8 (RFC 6856 would require downgrading messages with UTF-8 header fields for clients that
//   did not enable it).
import { listMechanisms } from "../../auth/sasl/registry.js";
import type { Pop3Session } from "./session.js";

export function capabilities(s: Pop3Session): string[] {
  const { expire, login_delay } = s.deps.config.pop3;
  const caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"];
  if (login_delay > 0) caps.push(`LOGIN-DELAY ${login_delay}`);
  caps.push("PIPELINING", `EXPIRE ${expire === "never" ? "NEVER" : expire}`);
  if (s.plaintextAllowed) caps.push("USER");
  const mechanisms = listMechanisms({ secure: s.plaintextAllowed });
  if (mechanisms.length > 0) caps.push(`SASL ${mechanisms.join(" ")}`);
  if (s.state === "authorization" && !s.io.secure) caps.push("STLS");
  caps.push("IMPLEMENTATION Postamt");
  return caps;
}
