// Greylisting (RFC 6647): the first delivery attempt of an unknown (client network, sender,
// recipient) triplet is deferred with a 4xx; a real MTA retries after a while and is then let
// through, while much bulk-sending software never retries. After one good retry the whole client
// network is allowed for a long time (auto-allow), so a correspondent is delayed once,
// not on every new sender/recipient pair.
//
// The triplet is made robust against senders that retry differently (RFC 6647 §2.2):
// - the client is counted per network (IPv4 /24, IPv6 /48): big senders retry from another address
//   of the same pool;
// - the envelope sender is lower-cased, with "+tag" sub-addresses and BATV/VERP-style per-message
//   prefixes ("prvs=TAG=user@…") removed: they change on every attempt.
// The state lives in the mail store, so it survives restarts and is shared by processes.
import { NetworkSet, networkKey } from "../net/cidr.js";
import type { GreylistEntry, MailStore } from "../store/types.js";

export type GreylistStore = Pick<MailStore, "greylistGet" | "greylistPut" | "greylistExpire">;

export interface GreylistOptions {
  store: GreylistStore;
  /** how long after the first attempt a retry is accepted (greylist.delay) */
  delayMs: number;
  /** a retry later than this after the first attempt starts over (greylist.retry_window) */
  retryWindowMs: number;
  /** how long a network that retried correctly skips greylisting (greylist.auto_allow_time); 0 = never */
  autoAllowMs: number;
  /** CIDR texts never greylisted (greylist.allow_networks) */
  allowNetworks: readonly string[];
  /** sender domains never greylisted, with their subdomains (greylist.allow_senders) */
  allowSenders: readonly string[];
  now?: () => number;
}

export type GreylistVerdict =
  | { action: "pass"; reason: "allowed-network" | "allowed-sender" | "auto-allowed" | "retried" }
  /** first: the triplet was unknown (or its window had run out) and has just been recorded */
  | { action: "defer"; retryAfterSeconds: number; first: boolean };

/** An auto-allow entry is rewritten at most this often: a store write per recipient buys nothing. */
const RENEW_EVERY_MS = 60_000;

export class Greylist {
  private readonly store: GreylistStore;
  private readonly delayMs: number;
  private readonly retryWindowMs: number;
  private readonly autoAllowMs: number;
  private readonly allowNetworks: NetworkSet;
  private readonly allowSenders: string[];
  private readonly now: () => number;

  constructor(opts: GreylistOptions) {
    this.store = opts.store;
    this.delayMs = Math.max(0, opts.delayMs);
    // a window shorter than the delay could never be met
    this.retryWindowMs = Math.max(opts.retryWindowMs, this.delayMs);
    this.autoAllowMs = Math.max(0, opts.autoAllowMs);
    this.allowNetworks = new NetworkSet(opts.allowNetworks);
    this.allowSenders = opts.allowSenders
      .map((d) =>
        d
          .trim()
          .toLowerCase()
          .replace(/^[*@]?\.?/, "")
          .replace(/\.$/, ""),
      )
      .filter((d) => d !== "");
    this.now = opts.now ?? Date.now;
  }

  /**
   * At RCPT TO: pass, or defer (451 4.7.1) with the seconds left before a retry would pass.
   * `sender` is the MAIL FROM address ("" or "<>" for the null sender). Store errors reject.
   */
  async check(ip: string, sender: string, recipient: string): Promise<GreylistVerdict> {
    if (this.allowNetworks.has(ip)) return { action: "pass", reason: "allowed-network" };
    const from = normalizeSender(sender);
    if (this.senderAllowed(from)) return { action: "pass", reason: "allowed-sender" };

    const t = this.now();
    const network = networkKey(ip);
    const allowKey = `a:${network}`;
    const allowed = await this.store.greylistGet(allowKey);
    if (allowed && allowed.expiresAt >= t) {
      if (t - allowed.lastSeen >= RENEW_EVERY_MS) await this.allow(allowKey, allowed.firstSeen, t);
      return { action: "pass", reason: "auto-allowed" };
    }

    const key = `t:${network}|${from}|${recipient.trim().toLowerCase()}`;
    const entry = await this.store.greylistGet(key);
    // an entry past expiresAt may still be in the store until the next expire(): it is gone
    const live = entry && entry.expiresAt >= t ? entry : null;

    if (!live) {
      await this.store.greylistPut({
        key,
        firstSeen: t,
        lastSeen: t,
        passed: false,
        expiresAt: t + this.retryWindowMs,
      });
      return { action: "defer", retryAfterSeconds: Math.ceil(this.delayMs / 1000), first: true };
    }
    if (!live.passed && t - live.firstSeen < this.delayMs) {
      // too early: firstSeen stays, or an impatient sender would never get through
      await this.store.greylistPut({ ...live, lastSeen: t });
      return {
        action: "defer",
        retryAfterSeconds: Math.ceil((live.firstSeen + this.delayMs - t) / 1000),
        first: false,
      };
    }
    // retried after the delay, within the window (or already passed before): a real MTA. Remember
    // the triplet at least as long as the network, so it still passes when auto-allow is off.
    const keepMs = Math.max(this.retryWindowMs, this.autoAllowMs);
    if (!live.passed || t - live.lastSeen >= RENEW_EVERY_MS) {
      await this.store.greylistPut({ ...live, lastSeen: t, passed: true, expiresAt: t + keepMs });
    }
    if (this.autoAllowMs > 0) await this.allow(allowKey, t, t);
    return { action: "pass", reason: "retried" };
  }

  /** Deletes expired entries; returns how many. Call periodically. */
  expire(): Promise<number> {
    return this.store.greylistExpire(this.now());
  }

  private allow(key: string, firstSeen: number, t: number): Promise<void> {
    const entry: GreylistEntry = {
      key,
      firstSeen,
      lastSeen: t,
      passed: true,
      expiresAt: t + this.autoAllowMs,
    };
    return this.store.greylistPut(entry);
  }

  private senderAllowed(sender: string): boolean {
    if (this.allowSenders.length === 0) return false;
    const at = sender.lastIndexOf("@");
    if (at < 0) return false; // the null sender has no domain
    const domain = sender.slice(at + 1);
    return this.allowSenders.some((d) => domain === d || domain.endsWith(`.${d}`));
  }
}

/**
 * The envelope sender as greylisting compares it: lower case, the null sender as "", without the
 * parts that change from one attempt to the next (RFC 6647 §2.2): BATV ("prvs=TAG=user@…",
 * "msprvs1=TAG=user@…"), Barracuda's "btv1==TAG==user@…", and "+tag" sub-addresses (also used by
 * VERP-style bounce addresses, "bounces+12345-user=example.org@…").
 */
export function normalizeSender(sender: string): string {
  let s = sender.trim().toLowerCase();
  if (s.startsWith("<") && s.endsWith(">")) s = s.slice(1, -1);
  const at = s.lastIndexOf("@");
  if (at < 0) return s;
  let local = s.slice(0, at);
  const domain = s.slice(at + 1);
  const batv = /^(?:prvs|msprvs\d*)=[^=@]+=(.+)$/.exec(local) ?? /^btv1==[^=@]+==(.+)$/.exec(local);
  if (batv) local = batv[1]!;
  const plus = local.indexOf("+");
  if (plus > 0) local = local.slice(0, plus);
  return `${local}@${domain}`;
}
