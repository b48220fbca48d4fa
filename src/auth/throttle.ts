// Brute-force defence shared by SMTP AUTH, IMAP LOGIN/AUTHENTICATE and POP3: failed logins are
// counted per client IP (IPv6 per /64) and per account; each failure delays the answer a little more
// (exponential, capped), and after max_failures the IP or account is banned for ban_time: refused at
// once, without a password check, so a banned attacker learns nothing and costs no CPU. A success
// clears the counts. Memory is bounded: the oldest entries are dropped first.
import { ipKey } from "../net/ip-limits.js";
import { normalizeAddress } from "../store/address.js";

/** One key per account however the name was spelled ("Bob@Example.TEST.", "<bob@example.test>"). */
function accountKey(account: string): string {
  try {
    return `acct:${normalizeAddress(account)}`;
  } catch {
    return `acct:${account.trim().toLowerCase()}`;
  }
}

export interface ThrottleOptions {
  maxFailures: number;
  banMs: number;
  /** delay after the first failure; doubles per failure, capped at 8× */
  failureDelayMs: number;
  /** most tracked keys (IPs + accounts) */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  bannedUntil: number;
}

export type ThrottleVerdict =
  | { banned: false }
  | { banned: true; scope: "ip" | "account"; retryAfterMs: number };

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: ThrottleOptions) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  /** Before any password check: is this IP, or this account, banned right now? */
  check(ip: string, account?: string | null): ThrottleVerdict {
    const t = this.now();
    const ipEntry = this.live(`ip:${ipKey(ip)}`, t);
    if (ipEntry && ipEntry.bannedUntil > t)
      return { banned: true, scope: "ip", retryAfterMs: ipEntry.bannedUntil - t };
    if (account) {
      const acc = this.live(accountKey(account), t);
      if (acc && acc.bannedUntil > t)
        return { banned: true, scope: "account", retryAfterMs: acc.bannedUntil - t };
    }
    return { banned: false };
  }

  /** Records a failed login; returns how long to wait before answering, and whether a ban began. */
  failure(ip: string, account?: string | null): { delayMs: number; bannedNow: boolean } {
    const t = this.now();
    const a = this.bump(`ip:${ipKey(ip)}`, t);
    const b = account ? this.bump(accountKey(account), t) : null;
    // the count before a ban reset it: the failure that starts a ban waits longest, so a quicker
    // answer does not tell the attacker that the ban has begun
    const failures = Math.max(a.counted, b?.counted ?? 0);
    const delayMs = Math.min(this.opts.failureDelayMs * 2 ** (failures - 1), this.opts.failureDelayMs * 8);
    return {
      delayMs,
      bannedNow: a.bannedUntil === t + this.opts.banMs || b?.bannedUntil === t + this.opts.banMs,
    };
  }

  /** A successful login forgets the failures of this IP and account. */
  success(ip: string, account?: string | null): void {
    this.entries.delete(`ip:${ipKey(ip)}`);
    if (account) this.entries.delete(accountKey(account));
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry, or undefined once it has aged out (no failure for ban_time and no ban running). */
  private live(key: string, t: number): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.bannedUntil <= t && t - e.lastFailure > this.opts.banMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private bump(key: string, t: number): Entry & { counted: number } {
    const e = this.live(key, t) ?? { failures: 0, lastFailure: t, bannedUntil: 0 };
    e.failures++;
    const counted = e.failures;
    e.lastFailure = t;
    if (e.failures >= this.opts.maxFailures && e.bannedUntil <= t) {
      e.bannedUntil = t + this.opts.banMs;
      e.failures = 0; // after the ban, counting starts over
    }
    // Re-insert to keep the map in least-recently-failed order for eviction.
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return { ...e, counted };
  }
}
