// The maildrop lock of RFC 1939 §4/§8: while a POP3 session is in the TRANSACTION state, no other
// POP3 session may open the same maildrop; the second one gets "-ERR [IN-USE]" (RFC 2449 §8.1.2).
// IMAP sessions are not affected: they coexist with POP3, and what they expunge is reported to the
// POP3 session as deleted (see maildrop.ts).
//
// The lock lives in this process. One table per store, so the pop3 and pop3s listeners share it
// (and tests that run several servers in one process do not). Several nodes sharing one
// PostgreSQL store would need an advisory lock in the store instead; until then a second node does
// not see this node's locks.

export class MaildropLocks {
  private static readonly byOwner = new WeakMap<object, MaildropLocks>();
  /** account id → the session id that holds it */
  private readonly held = new Map<number, string>();

  /** The lock table for a store (created on first use). */
  static for(owner: object): MaildropLocks {
    let locks = MaildropLocks.byOwner.get(owner);
    if (!locks) {
      locks = new MaildropLocks();
      MaildropLocks.byOwner.set(owner, locks);
    }
    return locks;
  }

  /** true when `holder` now holds the account's maildrop (or already did) */
  tryAcquire(accountId: number, holder: string): boolean {
    const cur = this.held.get(accountId);
    if (cur !== undefined && cur !== holder) return false;
    this.held.set(accountId, holder);
    return true;
  }

  /** releases the lock if `holder` has it; anything else is ignored */
  release(accountId: number, holder: string): void {
    if (this.held.get(accountId) === holder) this.held.delete(accountId);
  }

  holder(accountId: number): string | null {
    return this.held.get(accountId) ?? null;
  }

  get size(): number {
    return this.held.size;
  }
}
