// LOGIN-DELAY (RFC 2449 §6.5, §8.1.1): the minimum time between an "+OK" to PASS or AUTH and the
// next login of the same account that is accepted. `pop3.login_delay` seconds; 0 turns it off.
//
// The time of each account's last successful login lives in this process, like the maildrop lock
// (maildrop-lock.ts): one table per store, shared by the pop3 and pop3s listeners. A restart
// forgets it, and so does a second node sharing a PostgreSQL store; both only let a client in
// sooner, never lock it out. A monotonic clock, so a change of the system time cannot do either.
import { performance } from "node:perf_hooks";

export class LoginDelays {
  private static readonly byOwner = new WeakMap<object, LoginDelays>();
  /** account id → when its last successful login was answered (ms, monotonic) */
  private readonly last = new Map<number, number>();
  private lastSweep: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.lastSweep = now();
  }

  /** The table for a store (created on first use). */
  static for(owner: object): LoginDelays {
    let t = LoginDelays.byOwner.get(owner);
    if (!t) {
      t = new LoginDelays();
      LoginDelays.byOwner.set(owner, t);
    }
    return t;
  }

  /** true when the account logged in successfully less than `delaySeconds` ago */
  tooSoon(accountId: number, delaySeconds: number): boolean {
    if (delaySeconds <= 0) return false;
    const at = this.last.get(accountId);
    return at !== undefined && this.now() - at < delaySeconds * 1000;
  }

  /** Notes a successful login (its "+OK"); forgets logins older than the delay now and then. */
  record(accountId: number, delaySeconds: number): void {
    if (delaySeconds <= 0) return;
    const now = this.now();
    this.last.set(accountId, now);
    const delayMs = delaySeconds * 1000;
    // at most once per delay period, so the table holds the accounts of the last two periods
    if (now - this.lastSweep < delayMs) return;
    this.lastSweep = now;
    for (const [id, at] of this.last) if (now - at >= delayMs) this.last.delete(id);
  }

  get size(): number {
    return this.last.size;
  }
}
