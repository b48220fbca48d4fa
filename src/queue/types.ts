// The outbound queue's contracts (DESIGN.md §4 Queue / DeliveryAgent). The store keeps the rows
// (store/sqlite/queue.ts); the runner (runner.ts) claims due recipients, hands them per message and
// destination domain to a Transport (remote SMTP delivery, delivery/remote/), records outcomes,
// reschedules, and sends DSNs (RFC 3464) for failures, delays and — when asked — successes.
import type { QueueMessage, QueueRecipient } from "../store/types.js";

/** Time source and timers, injectable so tests drive the schedule without sleeping. */
export interface Clock {
  now(): number;
  /** calls fn after ms; the returned function cancels */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Recipients of one queued message at one destination domain, leased to one delivery attempt. */
export interface DeliveryJob {
  /** the message with `recipients` = only this job's recipients */
  message: QueueMessage;
  domain: string;
  recipients: QueueRecipient[];
}

export type OutcomeKind =
  /** the final (or next-hop) server accepted it */
  | "delivered"
  /** try again later (4xx, connection failure, DNS SERVFAIL/timeout) */
  | "temporary"
  /** bounce now (5xx, NXDOMAIN, null MX, hop limit, policy) */
  | "permanent";

export interface RecipientOutcome {
  recipientId: number;
  kind: OutcomeKind;
  /** RFC 3463 status for the DSN, e.g. "2.0.0", "4.4.1", "5.1.1" */
  status: string;
  /** one line for the log, `postamt queue show` and last_reply, e.g. "mx.b.test[127.0.0.3]: 550 5.1.1 no such user" */
  reply: string;
  /** DSN Remote-MTA (RFC 3464 §2.3.5), the host name that answered, when one did */
  remoteMta?: string;
  /** DSN Diagnostic-Code (RFC 3464 §2.3.6) as "smtp; 550 5.1.1 no such user", when a remote replied */
  diagnostic?: string;
  /**
   * "delivered" only. Who tells a NOTIFY=SUCCESS sender about it (RFC 3461 §5.2.1–§5.2.3):
   *  - neither flag (the default): the next hop supports DSN and got NOTIFY/ORCPT/RET/ENVID passed
   *    on, so success (and any later failure) is its to report; we send no DSN (§5.2.1);
   *  - relayed: the next hop does not support DSN: we send a "relayed" DSN (§5.2.2(b));
   *  - final: the message reached the recipient's mailbox (no next hop reports): we send a
   *    "delivered" DSN (§5.2.3(a)).
   */
  relayed?: boolean;
  final?: boolean;
}

/** Delivers one job; resolves with one outcome per job recipient (never rejects for remote failures). */
export interface Transport {
  deliver(job: DeliveryJob): Promise<RecipientOutcome[]>;
}
