// In-process ChangeBus (one node). It only wakes sessions: the change log (changesSince) is the
// truth, so a listener that misses a wake-up just learns of the change later.

import type { ChangeBus } from "./types.js";

type MailboxListener = (modseq: number) => void;
type AccountListener = () => void;

export class LocalChangeBus implements ChangeBus {
  private readonly mailboxes = new Map<number, Set<MailboxListener>>();
  private readonly accounts = new Map<number, Set<AccountListener>>();

  /** onError receives exceptions thrown by listeners: one broken session must not stop the others. */
  constructor(private readonly onError: (err: unknown) => void = defaultOnError) {}

  /** mailbox → highest modseq published since the last flush */
  private pending = new Map<number, number>();
  private flushScheduled = false;

  /**
   * Wake-ups are delivered on the next turn of the event loop, coalesced per mailbox: the writer
   * (an SMTP session waiting to say 250) never waits for thousands of IDLE sessions to react.
   */
  publish(mailboxId: number, modseq: number): void {
    if (!this.mailboxes.has(mailboxId)) return;
    this.pending.set(mailboxId, Math.max(modseq, this.pending.get(mailboxId) ?? 0));
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    for (const [mailboxId, modseq] of batch) this.emit(this.mailboxes.get(mailboxId), (l) => l(modseq));
  }

  subscribe(mailboxId: number, listener: MailboxListener): () => void {
    return add(this.mailboxes, mailboxId, listener);
  }

  publishAccount(accountId: number): void {
    this.emit(this.accounts.get(accountId), (l) => l());
  }

  subscribeAccount(accountId: number, listener: AccountListener): () => void {
    return add(this.accounts, accountId, listener);
  }

  /** number of subscriptions (for metrics and leak tests) */
  listenerCount(): number {
    let n = 0;
    for (const set of this.mailboxes.values()) n += set.size;
    for (const set of this.accounts.values()) n += set.size;
    return n;
  }

  private emit<L>(listeners: Set<L> | undefined, call: (l: L) => void): void {
    if (listeners === undefined) return;
    // a copy: listeners may unsubscribe (or subscribe) while being called
    for (const listener of [...listeners]) {
      try {
        call(listener);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

function add<L>(map: Map<number, Set<L>>, key: number, listener: L): () => void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(listener);
  return () => {
    const current = map.get(key);
    if (current === undefined) return;
    current.delete(listener);
    // drop empty sets so closed sessions leave nothing behind
    if (current.size === 0) map.delete(key);
  };
}

function defaultOnError(err: unknown): void {
  process.emitWarning(`ChangeBus listener failed: ${err instanceof Error ? err.stack : String(err)}`);
}
