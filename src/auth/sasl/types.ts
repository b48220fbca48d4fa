// SASL (RFC 4422) mechanisms as pure, protocol-independent step machines. SMTP AUTH (RFC 4954),
// IMAP AUTHENTICATE (RFC 9051 §6.2.2) and POP3 AUTH (RFC 5034) drive the same objects: the protocol
// decodes each client line (see base64.ts), feeds the bytes in, and turns the returned step into its
// own wire form. Mechanisms never see sockets, line framing, base64 or the store: everything they need
// from the outside world comes through a SaslCredentialLookup.
import type { ScramCredentials } from "../../store/types.js";

/** An account as the directory knows it. */
export interface SaslIdentity {
  /** the canonical account address ("alice@example.com") */
  username: string;
}

/** SCRAM credentials of an account together with the account's canonical identity. */
export interface ScramAccount {
  identity: SaslIdentity;
  credentials: ScramCredentials;
}

/**
 * What mechanisms need from the outside, injected by the protocol layer. A rejected promise is a
 * server fault (store down): the mechanism lets it propagate and the protocol answers with a
 * temporary error; everything else is reported as a SaslStep.
 */
export interface SaslCredentialLookup {
  /**
   * Verify a plaintext password (as presented: the implementation applies SASLprep, which
   * auth/password.ts verifyPassword does) for an authentication identity (already SASLprepped).
   * null = unknown user, disabled account or wrong password, and these MUST take the same time
   * (e.g. verify against a dummy hash for unknown users).
   */
  verifyPlain(authcid: string, password: string): Promise<SaslIdentity | null>;
  /**
   * SCRAM credentials for an authentication identity (already SASLprepped), or null when unknown or
   * disabled. The mechanism then continues with fake, deterministic-per-user salt and keys so an
   * unknown user is indistinguishable from a wrong password (RFC 5802 §9, RFC 7677 §4).
   */
  scramCredentials(authcid: string): Promise<ScramAccount | null>;
  /**
   * May the authenticated account act as authzid (SASLprepped)? Returns the identity to act as, or
   * null to deny. Default (when absent): allowed only when authzid names the authenticated account
   * itself (ASCII case-insensitively), see defaultAuthorize.
   */
  authorize?(authenticated: SaslIdentity, authzid: string): Promise<SaslIdentity | null>;
}

/**
 * Why an exchange failed. Protocol mapping (suggested):
 * - invalid-credentials: SMTP 535 5.7.8, IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]
 * - authz-denied: SMTP 535 5.7.8, IMAP NO [AUTHORIZATIONFAILED], POP3 -ERR [AUTH]
 * - malformed: SMTP 501 5.5.2, IMAP BAD, POP3 -ERR
 * - cancelled: SMTP 501 5.0.0, IMAP BAD, POP3 -ERR (client sent "*", RFC 4954 §4, RFC 9051 §6.2.2)
 * - unsupported: the client asked for a feature we do not offer (SCRAM channel binding "p=",
 *   mandatory extension "m="): SMTP 535 5.7.8 or 504 5.5.4, IMAP NO, POP3 -ERR
 */
export type SaslFailureReason =
  | "invalid-credentials"
  | "malformed"
  | "authz-denied"
  | "cancelled"
  | "unsupported";

export type SaslStep =
  /** send to the client (the protocol base64-encodes; an empty Buffer is an empty challenge) */
  | { kind: "challenge"; data: Buffer }
  | {
      kind: "success";
      /** the authorization identity: who the session now acts as */
      identity: SaslIdentity;
      /** the authentication identity whose credentials were checked (equal unless authzid was used) */
      authenticated: SaslIdentity;
      /**
       * "additional data with success" (RFC 4422 §3.6), e.g. SCRAM's server-final "v=…". SMTP, IMAP and
       * POP3 cannot carry it in their success reply; registry.ts therefore by default turns it into a
       * final challenge (see successDataAsChallenge) and this field is then never set.
       */
      data?: Buffer;
    }
  | {
      kind: "failure";
      reason: SaslFailureReason;
      /** for the server log only: never send it to the client (it may tell unknown users apart) */
      message: string;
      /** the mechanism's own error token (SCRAM: RFC 5802 §7 server-error-value such as "invalid-proof") */
      mechanismError?: string;
    };

export interface SaslMechanism {
  /** the registered mechanism name, upper case ("PLAIN", "SCRAM-SHA-256") */
  readonly name: string;
  /**
   * Begin the exchange. initialResponse: the client's initial response (RFC 4422 §4 item 2; a
   * zero-length one, sent as "=", is an empty Buffer), or null when the client sent none.
   */
  start(initialResponse: Buffer | null): Promise<SaslStep>;
  /** Feed the client's response to the last challenge. After success or failure, every call fails. */
  step(response: Buffer): Promise<SaslStep>;
}

/** The client's cancellation line (RFC 4954 §4, RFC 9051 §6.2.2, RFC 5034 §4): handled by protocols. */
export const SASL_CANCEL = "*";

export function challenge(data: Buffer | string): SaslStep {
  return { kind: "challenge", data: typeof data === "string" ? Buffer.from(data, "utf8") : data };
}

export function failure(reason: SaslFailureReason, message: string, mechanismError?: string): SaslStep {
  return mechanismError === undefined
    ? { kind: "failure", reason, message }
    : { kind: "failure", reason, message, mechanismError };
}

/** The step a protocol reports when the client answered a challenge with "*". */
export function cancelled(): SaslStep {
  return failure("cancelled", "the client cancelled the exchange");
}

/** The default authorization rule: an account may only act as itself. */
export async function defaultAuthorize(
  authenticated: SaslIdentity,
  authzid: string,
): Promise<SaslIdentity | null> {
  return authzid.toLowerCase() === authenticated.username.toLowerCase() ? authenticated : null;
}

/**
 * Decide the authorization identity after the credentials were verified. authzid is the raw decoded
 * string (null or "" = none); it is SASLprepped here, and a failed preparation fails the exchange
 * (RFC 4954 §4).
 */
export async function authorizeStep(
  lookup: SaslCredentialLookup,
  authenticated: SaslIdentity,
  authzid: string | null,
  prep: (s: string) => string,
): Promise<SaslStep> {
  if (authzid === null || authzid === "") {
    return { kind: "success", identity: authenticated, authenticated };
  }
  let prepared: string;
  try {
    prepared = prep(authzid);
  } catch {
    return failure("authz-denied", "the authorization identity fails SASLprep");
  }
  if (prepared === "") return failure("authz-denied", "the authorization identity is empty after SASLprep");
  const identity = await (lookup.authorize ?? defaultAuthorize)(authenticated, prepared);
  if (identity === null) {
    return failure("authz-denied", `${authenticated.username} may not act as ${prepared}`);
  }
  return { kind: "success", identity, authenticated };
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding: null for ill-formed input (overlongs, surrogates, truncation). */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Serialises calls on a mechanism: a step while the previous one is pending, or after the exchange
 * ended, is a protocol error, never a crash or a second concurrent lookup.
 */
export abstract class StepMachine implements SaslMechanism {
  abstract readonly name: string;
  private busy = false;
  private started = false;
  protected done = false;

  start(initialResponse: Buffer | null): Promise<SaslStep> {
    if (this.started) return Promise.resolve(failure("malformed", "the exchange was already started"));
    this.started = true;
    return this.run(() => this.onStart(initialResponse));
  }

  step(response: Buffer): Promise<SaslStep> {
    if (!this.started) return Promise.resolve(failure("malformed", "step() before start()"));
    return this.run(() => this.onStep(response));
  }

  protected abstract onStart(initialResponse: Buffer | null): Promise<SaslStep>;
  protected abstract onStep(response: Buffer): Promise<SaslStep>;

  private async run(fn: () => Promise<SaslStep>): Promise<SaslStep> {
    if (this.done) return failure("malformed", "the exchange has already ended");
    if (this.busy)
      return failure("malformed", "a response arrived while the previous one was being processed");
    this.busy = true;
    try {
      const result = await fn();
      if (result.kind !== "challenge") this.done = true;
      return result;
    } catch (err) {
      this.done = true; // a lookup failure ends the exchange; the protocol reports a temporary error
      throw err;
    } finally {
      this.busy = false;
    }
  }
}
