// STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 §6.2). Plaintext login only over TLS or from loopback
// (LOGINDISABLED otherwise); SASL through the shared step machines, failures through the shared
// throttle (slowed, then banned), exactly as SMTP AUTH does.
import { LoginAttempt, retryText } from "../../../auth/login-attempt.js";
import { createMechanism, mechanismInfo } from "../../../auth/sasl/registry.js";
import type { SaslStep } from "../../../auth/sasl/types.js";
import { continuation, taggedOk } from "../../protocol/compose.js";
import type { Cmd, HandlerResult } from "./index.js";
import type { ImapSession } from "../session.js";

export function handleStartTls(s: ImapSession, cmd: Cmd<"STARTTLS">): HandlerResult {
  if (s.io.secure) {
    s.bad(cmd.tag, "TLS is already active");
    return;
  }
  s.send(taggedOk(cmd.tag, "Begin TLS negotiation now"));
  s.flush();
  // RFC 9051 §6.2.1: anything the client sent after STARTTLS before the handshake is dropped.
  s.receiver.discardBuffered();
  return "starttls";
}

function plaintextAllowed(s: ImapSession): boolean {
  return s.io.secure || s.io.loopback;
}

export async function handleLogin(s: ImapSession, cmd: Cmd<"LOGIN">): Promise<void> {
  if (!plaintextAllowed(s)) {
    s.no(cmd.tag, "Plaintext login is disabled before STARTTLS", "PRIVACYREQUIRED");
    return;
  }
  const attempt = new LoginAttempt(s.deps.accounts, s.deps.throttle, s.io.remoteAddress);
  const ipBan = attempt.ipBanned();
  if (ipBan) {
    s.log.warn("auth.banned", "login refused: address is banned after repeated failures");
    s.no(cmd.tag, `Too many failed logins; ${retryText(ipBan.retryAfterMs)}`, "UNAVAILABLE");
    return;
  }
  const identity = await attempt.verifyPlain(cmd.userid, cmd.password);
  await finishLogin(s, cmd.tag, attempt, identity ? identity.username : null, "LOGIN", "invalid-credentials");
}

export async function handleAuthenticate(s: ImapSession, cmd: Cmd<"AUTHENTICATE">): Promise<void> {
  const info = mechanismInfo(cmd.mechanism);
  if (!info) {
    s.no(cmd.tag, `Unsupported authentication mechanism ${cmd.mechanism}`, "CANNOT");
    return;
  }
  if (info.plaintext && !plaintextAllowed(s)) {
    s.no(cmd.tag, "Plaintext authentication is disabled before STARTTLS", "PRIVACYREQUIRED");
    return;
  }
  const attempt = new LoginAttempt(s.deps.accounts, s.deps.throttle, s.io.remoteAddress);
  const ipBan = attempt.ipBanned();
  if (ipBan) {
    s.no(cmd.tag, `Too many failed logins; ${retryText(ipBan.retryAfterMs)}`, "UNAVAILABLE");
    return;
  }
  const mechanism = createMechanism(cmd.mechanism, attempt, { secure: true, scram: s.deps.scram });
  if (!mechanism) {
    s.no(cmd.tag, `Unsupported authentication mechanism ${cmd.mechanism}`, "CANNOT");
    return;
  }
  s.auth = { tag: cmd.tag, mechanism, attempt };
  await step(s, await mechanism.start(cmd.initialResponse ?? null));
}

/** A line from the client during AUTHENTICATE: base64 data or "*" (RFC 9051 §6.2.2). */
export async function continueAuthenticate(s: ImapSession, line: Buffer): Promise<void> {
  const auth = s.auth;
  if (!auth) return;
  const text = line.toString("latin1").trim();
  if (text === "*") {
    s.auth = null;
    s.mode = "command";
    s.bad(auth.tag, "AUTHENTICATE cancelled");
    return;
  }
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    s.auth = null;
    s.mode = "command";
    s.bad(auth.tag, "Invalid base64 in the AUTHENTICATE response");
    return;
  }
  await step(s, await auth.mechanism.step(Buffer.from(text, "base64")));
}

async function step(s: ImapSession, st: SaslStep): Promise<void> {
  const auth = s.auth!;
  if (st.kind === "challenge") {
    s.mode = "authenticate";
    s.send(continuation(st.data.toString("base64")));
    s.flush();
    return;
  }
  s.auth = null;
  s.mode = "command";
  if (st.kind === "success") {
    await finishLogin(s, auth.tag, auth.attempt, st.identity.username, auth.mechanism.name, null);
    return;
  }
  if (st.reason === "cancelled") {
    s.bad(auth.tag, "AUTHENTICATE cancelled");
    return;
  }
  await finishLogin(s, auth.tag, auth.attempt, null, auth.mechanism.name, st.reason);
}

async function finishLogin(
  s: ImapSession,
  tag: string,
  attempt: LoginAttempt,
  username: string | null,
  how: string,
  reason: string | null,
): Promise<void> {
  const account = username ? await s.deps.store.getAccount(username) : null;
  if (account && !account.disabled) {
    attempt.settle(true);
    s.account = account;
    s.state = "authenticated";
    s.log.info("auth.success", `logged in as ${account.address} (${how})`, { user: account.address });
    s.send(taggedOk(tag, "Logged in", `CAPABILITY ${s.capabilityList().join(" ")}`));
    return;
  }
  if (attempt.banned) {
    s.log.warn("auth.banned", `login refused: ${attempt.banned.scope} banned`, {
      user: attempt.attemptedUser,
    });
    s.no(tag, `Too many failed logins; ${retryText(attempt.banned.retryAfterMs)}`, "UNAVAILABLE");
    return;
  }
  const { delayMs, bannedNow } = attempt.settle(false);
  s.log.warn("auth.failure", `login failed (${reason ?? "account"})`, {
    user: attempt.attemptedUser,
    remote: s.io.remoteAddress,
    banned: bannedNow,
  });
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  s.no(tag, "Authentication failed", "AUTHENTICATIONFAILED");
}
