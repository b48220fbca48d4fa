// \Recent (RFC 3501 §2.3.2; gone in IMAP4rev2): a message is recent in exactly one session, the first
// that selects the mailbox after the message arrived. Kept in memory per server process: after a
// restart no message is recent, which clients tolerate (IMAP4rev2 dropped the flag for that reason).
export class RecentTracker {
  /** mailbox id → highest UID some session has already claimed */
  private readonly claimed = new Map<number, number>();

  /** Claims every UID above the last claim; returns the claimed UIDs' lower bound (exclusive). */
  claim(mailboxId: number, maxUid: number): number {
    const before = this.claimed.get(mailboxId);
    this.claimed.set(mailboxId, Math.max(before ?? 0, maxUid));
    // A mailbox never seen since start: nothing is recent (we cannot know what earlier sessions saw).
    return before ?? maxUid;
  }
}
