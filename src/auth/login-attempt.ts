// One login attempt (SMTP AUTH, IMAP LOGIN/AUTHENTICATE, POP3 USER/PASS/AUTH), wrapping the account
// lookup so that the brute-force throttle sees who was tried: a banned IP or account is refused
// without any password check, and the caller learns the user name for counting the failure.
import type { SaslCredentialLookup, SaslIdentity, ScramAccount } from "./sasl/types.js";
import type { AuthThrottle, ThrottleVerdict } from "./throttle.js";

export class LoginAttempt implements SaslCredentialLookup {
  /** the authentication identity the client tried, once a mechanism asked for it */
  attemptedUser: string | null = null;
  /** set when the IP or account was banned: the caller answers with the ban, not "invalid" */
  banned: Extract<ThrottleVerdict, { banned: true }> | null = null;

  constructor(
    private readonly inner: SaslCredentialLookup,
    private readonly throttle: AuthThrottle,
    private readonly ip: string,
  ) {}

  /** Checked before a mechanism starts: a banned IP gets no exchange at all. */
  ipBanned(): Extract<ThrottleVerdict, { banned: true }> | null {
    const v = this.throttle.check(this.ip);
    return v.banned ? v : null;
  }

  private gate(authcid: string): boolean {
    this.attemptedUser = authcid;
    const v = this.throttle.check(this.ip, authcid);
    if (v.banned) this.banned = v;
    return !v.banned;
  }

  async verifyPlain(authcid: string, password: string): Promise<SaslIdentity | null> {
    return this.gate(authcid) ? this.inner.verifyPlain(authcid, password) : null;
  }

  async scramCredentials(authcid: string): Promise<ScramAccount | null> {
    return this.gate(authcid) ? this.inner.scramCredentials(authcid) : null;
  }

  /** Records the outcome; returns how long to hold back the failure reply (0 after a success). */
  settle(ok: boolean): { delayMs: number; bannedNow: boolean } {
    if (ok) {
      this.throttle.success(this.ip, this.attemptedUser);
      return { delayMs: 0, bannedNow: false };
    }
    if (this.banned) return { delayMs: 0, bannedNow: false };
    return this.throttle.failure(this.ip, this.attemptedUser);
  }
}

/** "try again in 14 minutes" for ban replies. */
export function retryText(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  return minutes <= 1 ? "try again in a minute" : `try again in ${minutes} minutes`;
}
