// Rate limits against abuse (issue #8): new connections per client, messages and recipients per
// client on the MX listener, messages and recipients per account on submission, and simultaneous
// connections per client network. In memory, bounded, with an injectable clock; nothing here reads
// the configuration: the values come in as options.
//
// Counting is a sliding window approximated with two fixed buckets per key (the current one and the
// previous one, weighted by how much of it still overlaps the window). That takes constant memory per
// key whatever the limit (an exact log of timestamps would need up to `limit` entries per key, and
// limits here go up to millions per day). The estimate assumes the previous bucket's events were
// spread evenly, so it is a rate, not a hard cap: over time `limit` per window get through, but events
// bunched at the end of one bucket can let up to 2 × limit into one window-long span (≈1.4 × in random
// traffic). An event is forgotten completely between one and two windows after it happened.
//
// A refused hit is not counted: retryAfterMs stays truthful (waiting that long is enough), and a
// client that keeps knocking is slowed by the connection rate, not locked out forever.
import { NetworkSet, networkKey } from "../net/cidr.js";
import { ipKey } from "../net/ip-limits.js";

export interface RateCounterOptions {
  /** events allowed per window; 0 = unlimited */
  limit: number;
  windowMs: number;
  /** most tracked keys; the least recently hit is dropped first (default 100 000) */
  maxKeys?: number;
  now?: () => number;
}

export interface RateVerdict {
  ok: boolean;
  /** events in the sliding window, including this hit when it was accepted (estimate, rounded up) */
  count: number;
  /** 0 when ok; else how long until the same hit would be accepted */
  retryAfterMs: number;
}

interface Buckets {
  /** start of the current bucket; buckets are windowMs long, the first one starts at the first hit */
  start: number;
  cur: number;
  prev: number;
}

/** floating-point slack: 3 × (2/3) must count as 2, not 2.0000000000000004 */
const EPSILON = 1e-9;

export class RateCounter {
  private readonly keys = new Map<string, Buckets>();
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(opts: RateCounterOptions) {
    if (!(opts.windowMs > 0)) throw new RangeError("windowMs must be positive");
    if (!(opts.limit >= 0)) throw new RangeError("limit must be 0 (unlimited) or more");
    this.limit = opts.limit;
    this.windowMs = opts.windowMs;
    this.maxKeys = Math.max(1, opts.maxKeys ?? 100_000);
    this.now = opts.now ?? Date.now;
  }

  /** Records `n` events (default 1) for `key` unless that would go over the limit. */
  hit(key: string, n = 1): RateVerdict {
    if (this.limit === 0) return { ok: true, count: 0, retryAfterMs: 0 };
    const t = this.now();
    const b = this.roll(this.keys.get(key) ?? { start: t, cur: 0, prev: 0 }, t);
    const estimate = this.estimate(b, t);
    if (estimate + n > this.limit + EPSILON) {
      return { ok: false, count: roundUp(estimate), retryAfterMs: this.waitFor(b, t, n) };
    }
    b.cur += n;
    // re-insert: the Map's first key is then the least recently hit one
    this.keys.delete(key);
    this.keys.set(key, b);
    while (this.keys.size > this.maxKeys) {
      const oldest = this.keys.keys().next().value;
      if (oldest === undefined) break;
      this.keys.delete(oldest);
    }
    return { ok: true, count: roundUp(estimate + n), retryAfterMs: 0 };
  }

  /** Events in the sliding window for `key` now (estimate, rounded up); records nothing. */
  peek(key: string): number {
    const b = this.keys.get(key);
    if (!b) return 0;
    const t = this.now();
    return roundUp(this.estimate(this.roll({ ...b }, t), t));
  }

  /** keys tracked (for tests and metrics) */
  get size(): number {
    return this.keys.size;
  }

  /** Moves the buckets forward to the one containing t. */
  private roll(b: Buckets, t: number): Buckets {
    const W = this.windowMs;
    if (t >= b.start + 2 * W) {
      b.prev = 0;
      b.cur = 0;
      b.start = t;
    } else if (t >= b.start + W) {
      b.prev = b.cur;
      b.cur = 0;
      b.start += W;
    }
    return b;
  }

  private estimate(b: Buckets, t: number): number {
    // a clock that steps back counts as the start of the bucket
    const elapsed = Math.min(Math.max(t - b.start, 0), this.windowMs);
    return b.prev * (1 - elapsed / this.windowMs) + b.cur;
  }

  /** ms until estimate + n ≤ limit, assuming no other hits meanwhile */
  private waitFor(b: Buckets, t: number, n: number): number {
    const W = this.windowMs;
    const room = this.limit - n;
    // more at once than the limit: never accepted; the best answer is "a full window"
    if (room < 0) return 2 * W;
    const elapsed = Math.max(t - b.start, 0);
    let at: number;
    if (b.cur <= room + EPSILON) {
      // within this bucket, as the previous bucket's weight shrinks: prev·(1 − d/W) + cur ≤ room
      at = b.start + W * (1 - (room - b.cur) / b.prev);
    } else {
      // in the next bucket, where the current one becomes the previous: cur·(1 − d/W) ≤ room
      at = b.start + W + W * (1 - room / b.cur);
    }
    return Math.max(1, Math.ceil(at - b.start - elapsed));
  }
}

function roundUp(x: number): number {
  return Math.max(0, Math.ceil(x - EPSILON));
}

export type ProtocolGroup = "smtp" | "imap" | "pop3";

export type RefusalKind =
  | "connection"
  | "network"
  | "message"
  | "recipient"
  | "accountMessage"
  | "accountRecipient";

export interface AbuseLimitsOptions {
  /** new connections per IP (IPv6 /64) per minute, all listeners (limits.connection_rate); 0 = unlimited */
  connectionRate: number;
  /** messages per client IP per minute on the MX listener (limits.message_rate) */
  messageRate: number;
  /** recipients per client IP per minute on the MX listener (limits.recipient_rate) */
  recipientRate: number;
  /** per account on submission (limits.send_messages_per_hour) */
  sendMessagesPerHour: number;
  /** per account on submission, per 24 hours (limits.send_recipients_per_day) */
  sendRecipientsPerDay: number;
  /** simultaneous connections per IPv4 /24 or IPv6 /48, per protocol group (limits.connections_per_network) */
  connectionsPerNetwork: number;
  /** CIDR texts that skip the connection, message and recipient rates (limits.exempt_networks) */
  exemptNetworks: readonly string[];
  /** most keys each rate counter tracks (default 100 000) */
  maxKeys?: number;
  now?: () => number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type Verdict = { ok: boolean; retryAfterMs: number };
const OK: Verdict = Object.freeze({ ok: true, retryAfterMs: 0 });

/** Everything the SMTP/IMAP/POP3 front doors ask, built from config values. */
export class AbuseLimits {
  /** refusals of each kind so far (for logs and metrics) */
  readonly refused: Record<RefusalKind, number> = {
    connection: 0,
    network: 0,
    message: 0,
    recipient: 0,
    accountMessage: 0,
    accountRecipient: 0,
  };
  private readonly exempt: NetworkSet;
  private readonly connections: RateCounter;
  private readonly messages: RateCounter;
  private readonly recipients: RateCounter;
  private readonly accountMessages: RateCounter;
  private readonly accountRecipients: RateCounter;
  private readonly perNetworkMax: number;
  /** open connections per network, per group; an entry exists only while connections are open */
  private readonly open: Record<ProtocolGroup, Map<string, number>> = {
    smtp: new Map(),
    imap: new Map(),
    pop3: new Map(),
  };

  constructor(opts: AbuseLimitsOptions) {
    const common = { maxKeys: opts.maxKeys, now: opts.now };
    this.exempt = new NetworkSet(opts.exemptNetworks);
    this.connections = new RateCounter({ limit: opts.connectionRate, windowMs: MINUTE, ...common });
    this.messages = new RateCounter({ limit: opts.messageRate, windowMs: MINUTE, ...common });
    this.recipients = new RateCounter({ limit: opts.recipientRate, windowMs: MINUTE, ...common });
    this.accountMessages = new RateCounter({ limit: opts.sendMessagesPerHour, windowMs: HOUR, ...common });
    this.accountRecipients = new RateCounter({ limit: opts.sendRecipientsPerDay, windowMs: DAY, ...common });
    this.perNetworkMax = opts.connectionsPerNetwork;
  }

  isExempt(ip: string): boolean {
    return this.exempt.has(ip);
  }

  /** A new connection from ip (any listener): refused when over connection_rate per minute (per ipKey). */
  connection(ip: string): Verdict {
    if (this.isExempt(ip)) return OK;
    return this.count("connection", this.connections, ipKey(ip));
  }

  /**
   * Counts an open connection of `ip`'s network (IPv4 /24, IPv6 /48) in `group`; false when the network
   * already has connections_per_network open. Does not look at exempt networks: the caller decides
   * (and must then decide the same way on release). Call releaseNetwork on close, only after a true.
   */
  acquireNetwork(group: ProtocolGroup, ip: string): boolean {
    const key = networkKey(ip);
    const open = this.open[group];
    const n = open.get(key) ?? 0;
    if (this.perNetworkMax > 0 && n >= this.perNetworkMax) {
      this.refused.network++;
      return false;
    }
    open.set(key, n + 1);
    return true;
  }

  releaseNetwork(group: ProtocolGroup, ip: string): void {
    const key = networkKey(ip);
    const open = this.open[group];
    const n = (open.get(key) ?? 1) - 1;
    if (n <= 0) open.delete(key);
    else open.set(key, n);
  }

  /** connections open from ip's network in group (for tests and metrics) */
  networkConnections(group: ProtocolGroup, ip: string): number {
    return this.open[group].get(networkKey(ip)) ?? 0;
  }

  /** MX listener: one message (counted at MAIL FROM) per client IP, per minute. */
  message(ip: string): Verdict {
    if (this.isExempt(ip)) return OK;
    return this.count("message", this.messages, ipKey(ip));
  }

  /** MX listener: one recipient per client IP, per minute. */
  recipient(ip: string): Verdict {
    if (this.isExempt(ip)) return OK;
    return this.count("recipient", this.recipients, ipKey(ip));
  }

  /** Submission: one message per account, per hour (not exempt: the account, not the network, is limited). */
  accountMessage(accountId: number): Verdict {
    return this.count("accountMessage", this.accountMessages, String(accountId));
  }

  /** Submission: one recipient per account, per 24 hours. */
  accountRecipient(accountId: number): Verdict {
    return this.count("accountRecipient", this.accountRecipients, String(accountId));
  }

  private count(kind: RefusalKind, counter: RateCounter, key: string): Verdict {
    const v = counter.hit(key);
    if (v.ok) return OK;
    this.refused[kind]++;
    return { ok: false, retryAfterMs: v.retryAfterMs };
  }
}
