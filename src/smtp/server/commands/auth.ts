// AUTH (RFC 4954) on the submission listeners: the shared SASL step machines do the work; this file
// carries their challenges as "334 base64" lines, applies the TLS rule (never over plaintext except
// from loopback), and feeds failures to the brute-force throttle (delayed 535, then a temporary ban).
import { LoginAttempt, retryText } from "../../../auth/login-attempt.js";
import { createMechanism, mechanismInfo } from "../../../auth/sasl/registry.js";
import type { SaslStep } from "../../../auth/sasl/types.js";
import type { Command } from "../../protocol/command-parser.js";
import { parseSaslResponse } from "../../protocol/command-parser.js";
import { REPLIES, withText } from "../../protocol/reply.js";
import type { SmtpSession } from "../session.js";
import type { HandlerResult } from "./index.js";

export async function handleAuth(
  s: SmtpSession,
  cmd: Extract<Command, { verb: "AUTH" }>,
): Promise<HandlerResult> {
  if (s.role === "smtp")
    return s.error(
      withText(REPLIES.badSequence, "Authentication is not enabled on this port; use port 587 or 465"),
    );
  if (!s.esmtp) return s.error(withText(REPLIES.badSequence, "Send EHLO first"));
  if (s.account) return s.error(withText(REPLIES.badSequence, "Already authenticated"));
  if (s.txn) return s.error(withText(REPLIES.badSequence, "AUTH is not allowed during a mail transaction"));
  if (!s.io.secure && !s.io.loopback) return s.error(REPLIES.tlsRequired);
  if (!mechanismInfo(cmd.mechanism)) return s.error(REPLIES.authMechanismUnsupported);
  const attempt = new LoginAttempt(s.deps.accounts, s.deps.throttle, s.io.remoteAddress);
  const ban = attempt.ipBanned();
  if (ban) {
    s.log.warn("auth.banned", "login refused: address is banned after repeated failures", {
      remote: s.io.remoteAddress,
    });
    return s.error({
      code: 454,
      enhanced: "4.7.0",
      lines: [`Too many failed logins; ${retryText(ban.retryAfterMs)}`],
    });
  }
  const mechanism = createMechanism(cmd.mechanism, attempt, { secure: true, scram: s.deps.scram });
  if (!mechanism) return s.error(REPLIES.authMechanismUnsupported);
  s.auth = { mechanism, attempt };
  try {
    return await handleStep(s, await mechanism.start(cmd.initialResponse ?? null));
  } catch (err) {
    return tempFail(s, err);
  }
}

/** A client line while an AUTH exchange is in progress. */
export async function continueAuth(s: SmtpSession, line: Buffer): Promise<HandlerResult> {
  const exchange = s.auth;
  if (!exchange) return "continue";
  const response = parseSaslResponse(line);
  if (response.kind === "cancel") {
    s.auth = null;
    s.mode = "command";
    return s.error(REPLIES.authCancelled);
  }
  if (response.kind === "error") {
    s.auth = null;
    s.mode = "command";
    return s.error(response.reply);
  }
  try {
    return await handleStep(s, await exchange.mechanism.step(response.data));
  } catch (err) {
    return tempFail(s, err);
  }
}

async function handleStep(s: SmtpSession, step: SaslStep): Promise<HandlerResult> {
  const exchange = s.auth!;
  if (step.kind === "challenge") {
    s.mode = "auth";
    s.reply({ code: 334, lines: [step.data.toString("base64")] });
    return "continue";
  }
  s.auth = null;
  s.mode = "command";
  if (step.kind === "success") {
    const account = await s.deps.store.getAccount(step.identity.username);
    if (!account || account.disabled) {
      return s.error(REPLIES.authFailed);
    }
    exchange.attempt.settle(true);
    s.account = account;
    s.log.info("auth.success", `authenticated as ${account.address} (${exchange.mechanism.name})`, {
      user: account.address,
      mechanism: exchange.mechanism.name,
    });
    s.reply(REPLIES.authOk);
    return "continue";
  }
  const { attempt } = exchange;
  if (attempt.banned) {
    s.log.warn("auth.banned", `login refused: ${attempt.banned.scope} is banned after repeated failures`, {
      user: attempt.attemptedUser,
      remote: s.io.remoteAddress,
    });
    return s.error({
      code: 454,
      enhanced: "4.7.0",
      lines: [`Too many failed logins; ${retryText(attempt.banned.retryAfterMs)}`],
    });
  }
  const { delayMs, bannedNow } = attempt.settle(false);
  s.log.warn("auth.failure", `authentication failed (${step.reason})`, {
    user: attempt.attemptedUser,
    remote: s.io.remoteAddress,
    mechanism: exchange.mechanism.name,
    banned: bannedNow,
  });
  // Slow down guessing; the session is paused meanwhile, so a pipelining client cannot race ahead.
  if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  if (step.reason === "cancelled") return s.error(REPLIES.authCancelled);
  if (step.reason === "malformed")
    return s.error(withText(REPLIES.badBase64, "Invalid authentication exchange"));
  return s.error(REPLIES.authFailed);
}

function tempFail(s: SmtpSession, err: unknown): HandlerResult {
  s.auth = null;
  s.mode = "command";
  s.log.error("internal.error", "authentication could not be checked", { err });
  s.reply(REPLIES.authTempFail);
  return "continue";
}
