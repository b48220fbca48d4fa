// USER/PASS (RFC 1939 §7), AUTH (RFC 5034) and STLS (RFC 2595 §4): the way into the TRANSACTION
// state. Plaintext passwords only over TLS or from loopback; SASL through the shared step
// machines; every failure through the shared throttle (slowed, then banned), exactly as IMAP and
// SMTP AUTH do.
//
// Response codes (RFC 2449 §8, RFC 3206):
//   plaintext before STLS        -ERR [AUTH]      RFC 3206 §5 "in violation of policy"; RFC 2595 §2.3
//   wrong credentials            -ERR [AUTH]      RFC 3206 §5 (announced as AUTH-RESP-CODE)
//   banned after failures        -ERR [SYS/TEMP]  it ends by itself; [AUTH] would make clients
//                                                 discard a password that may be right
//   too soon after the last      -ERR [LOGIN-DELAY] RFC 2449 §8.1.1, after the password check
//   login (pop3.login_delay)                       (never on USER: that would reveal the account)
//   maildrop locked              -ERR [IN-USE]    RFC 2449 §8.1.2
//   store failing                -ERR [SYS/TEMP]  RFC 3206 §4
import { LoginAttempt, retryText } from "../../auth/login-attempt.js";
import { parseSaslResponse } from "../../auth/sasl/base64.js";
import { createMechanism, listMechanisms, mechanismInfo } from "../../auth/sasl/registry.js";
import type { SaslStep } from "../../auth/sasl/types.js";
import type { Account } from "../../store/types.js";
import type { Pop3Command } from "../protocol/types.js";
import { challenge, err, multiline, ok } from "../protocol/response.js";
import { expireCutoff, Maildrop } from "./maildrop.js";
import type { Pop3Session } from "./session.js";

type Cmd<N extends Pop3Command["name"]> = Extract<Pop3Command, { name: N }>;

const PLAINTEXT_REFUSED = "Plaintext authentication is disallowed on non-secure connections; use STLS first";

export function handleStls(s: Pop3Session): "starttls" | undefined {
  if (s.io.secure) {
    s.reply(err("Command not permitted when TLS is active"));
    return undefined;
  }
  s.reply(ok("Begin TLS negotiation"));
  s.flush();
  // RFC 2595 §4 (and RFC 3207 §4.2 by analogy): nothing pipelined after STLS may run; the runner
  // drops what it still holds, and this drops what the framer holds.
  s.framer.discard();
  s.user = null;
  return "starttls";
}

export function handleUser(s: Pop3Session, cmd: Cmd<"USER">): void {
  if (!s.plaintextAllowed) {
    s.reply(err(PLAINTEXT_REFUSED, "AUTH"));
    return;
  }
  // The same answer for every name: whether an account exists is not revealed (RFC 1939 §13).
  s.user = cmd.user;
  s.reply(ok("Send your password"));
}

export async function handlePass(s: Pop3Session, cmd: Cmd<"PASS">): Promise<void> {
  const user = s.user;
  if (user === null) {
    s.bad("Send USER first");
    return;
  }
  s.user = null; // RFC 1939 §7: after a failed PASS the client starts again with USER
  if (!s.plaintextAllowed) {
    s.reply(err(PLAINTEXT_REFUSED, "AUTH"));
    return;
  }
  const attempt = new LoginAttempt(s.deps.accounts, s.deps.throttle, s.io.remoteAddress);
  const ipBan = attempt.ipBanned();
  if (ipBan) {
    s.log.warn("auth.banned", "login refused: address is banned after repeated failures");
    s.reply(err(`Too many failed logins; ${retryText(ipBan.retryAfterMs)}`, "SYS/TEMP"));
    return;
  }
  const identity = await attempt.verifyPlain(user, cmd.password);
  await finishLogin(s, attempt, identity ? identity.username : null, "USER/PASS", "invalid-credentials");
}

export async function handleAuth(s: Pop3Session, cmd: Cmd<"AUTH">): Promise<void> {
  if (cmd.mechanism === null) {
    // "AUTH" alone lists the mechanisms (the RFC 1734 era probe that Outlook still sends).
    s.reply(multiline("Supported SASL mechanisms", listMechanisms({ secure: s.plaintextAllowed })));
    return;
  }
  const info = mechanismInfo(cmd.mechanism);
  if (!info) {
    s.reply(err(`Unsupported authentication mechanism`));
    return;
  }
  if (info.plaintext && !s.plaintextAllowed) {
    s.reply(err(PLAINTEXT_REFUSED, "AUTH"));
    return;
  }
  let initial: Buffer | null = null;
  if (cmd.initialResponse !== null) {
    // RFC 5034 §4: "=" is an empty initial response
    const r = parseSaslResponse(cmd.initialResponse, true);
    if (r.kind !== "data") {
      s.bad("Invalid base64 in the initial response");
      return;
    }
    initial = r.data;
  }
  const attempt = new LoginAttempt(s.deps.accounts, s.deps.throttle, s.io.remoteAddress);
  const ipBan = attempt.ipBanned();
  if (ipBan) {
    s.log.warn("auth.banned", "login refused: address is banned after repeated failures");
    s.reply(err(`Too many failed logins; ${retryText(ipBan.retryAfterMs)}`, "SYS/TEMP"));
    return;
  }
  const mechanism = createMechanism(cmd.mechanism, attempt, { secure: true, scram: s.deps.scram });
  if (!mechanism) {
    s.reply(err(`Unsupported authentication mechanism`));
    return;
  }
  s.auth = { mechanism, attempt };
  await step(s, await mechanism.start(initial));
}

/** A client line during AUTH: base64 data, or "*" to cancel (RFC 5034 §4). */
export async function continueAuth(s: Pop3Session, line: Buffer): Promise<void> {
  const auth = s.auth;
  if (!auth) return;
  const r = parseSaslResponse(line.toString("latin1"));
  if (r.kind === "cancel") {
    s.auth = null;
    s.reply(err("AUTH cancelled"));
    return;
  }
  if (r.kind === "malformed") {
    s.auth = null;
    s.bad("Invalid base64 in the AUTH response; authentication cancelled");
    return;
  }
  await step(s, await auth.mechanism.step(r.data));
}

async function step(s: Pop3Session, st: SaslStep): Promise<void> {
  const auth = s.auth!;
  if (st.kind === "challenge") {
    s.reply(challenge(st.data.toString("base64")));
    return;
  }
  s.auth = null;
  if (st.kind === "success") {
    await finishLogin(s, auth.attempt, st.identity.username, auth.mechanism.name, null);
    return;
  }
  if (st.reason === "cancelled") {
    s.reply(err("AUTH cancelled"));
    return;
  }
  await finishLogin(s, auth.attempt, null, auth.mechanism.name, st.reason);
}

async function finishLogin(
  s: Pop3Session,
  attempt: LoginAttempt,
  username: string | null,
  how: string,
  reason: string | null,
): Promise<void> {
  const account = username ? await s.deps.store.getAccount(username) : null;
  if (account && !account.disabled) {
    attempt.settle(true);
    const delay = s.deps.config.pop3.login_delay;
    if (s.deps.loginDelays.tooSoon(account.id, delay)) {
      // RFC 2449 §6.5: the clock runs from the previous "+OK"; a refused login does not restart it
      s.log.info("auth.success", `${account.address} authenticated, but logged in less than ${delay}s ago`, {
        user: account.address,
      });
      s.reply(err(`minimum time between logins is ${delay} seconds`, "LOGIN-DELAY"));
      return;
    }
    await openMaildrop(s, account, how);
    return;
  }
  if (attempt.banned) {
    s.log.warn("auth.banned", `login refused: ${attempt.banned.scope} banned`, {
      user: attempt.attemptedUser,
    });
    s.reply(err(`Too many failed logins; ${retryText(attempt.banned.retryAfterMs)}`, "SYS/TEMP"));
    return;
  }
  const { delayMs, bannedNow } = attempt.settle(false);
  s.log.warn("auth.failure", `login failed (${reason ?? "account"})`, {
    user: attempt.attemptedUser,
    remote: s.io.remoteAddress,
    banned: bannedNow,
  });
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  s.reply(err("Authentication failed", "AUTH"));
}

/** RFC 1939 §4: lock and open the maildrop, then enter TRANSACTION. */
async function openMaildrop(s: Pop3Session, account: Account, how: string): Promise<void> {
  const { locks } = s.deps;
  if (!locks.tryAcquire(account.id, s.io.sid)) {
    s.log.info("auth.success", `${account.address} authenticated, but the maildrop is in use`, {
      user: account.address,
      holder: locks.holder(account.id),
    });
    // RFC 2449 §8.1.2; the session stays in AUTHORIZATION and may try again or QUIT
    s.reply(err("Mailbox is locked by another POP3 session", "IN-USE"));
    return;
  }
  let maildrop: Maildrop | null;
  try {
    maildrop = await Maildrop.open(
      s.deps.store,
      account.id,
      s.deps.sizes,
      expireCutoff(s.deps.config.pop3.expire),
    );
  } catch (e) {
    locks.release(account.id, s.io.sid);
    s.log.error("internal.error", "cannot open the maildrop", { err: e, user: account.address });
    s.reply(err("Cannot open the mailbox; try again later", "SYS/TEMP"));
    return;
  }
  if (!maildrop) {
    locks.release(account.id, s.io.sid);
    s.log.error("internal.error", `account ${account.address} has no INBOX`, { user: account.address });
    s.reply(err("The account has no INBOX; contact the administrator", "SYS/PERM"));
    return;
  }
  s.account = account;
  s.maildrop = maildrop;
  s.state = "transaction";
  s.deps.loginDelays.record(account.id, s.deps.config.pop3.login_delay);
  const { count, octets } = maildrop.stat();
  s.log.info("auth.success", `logged in as ${account.address} (${how}); ${count} messages`, {
    user: account.address,
  });
  s.reply(ok(`Logged in; ${count} messages (${octets} octets)`));
}
