// QueueRunner: the outbound queue engine (DESIGN.md §4 Queue / DeliveryAgent). It leases due
// recipients from the store (claimQueue: one job per message and destination domain), hands each
// job to the Transport within a global and a per-domain concurrency limit, records every outcome
// (completeQueue), reschedules temporary failures (backoff.ts), and sends DSNs (RFC 3464):
//
//   delivered  → status delivered; with NOTIFY=SUCCESS a "relayed" DSN when the next hop lacks DSN,
//                a "delivered" one for final delivery, none when the next hop took the DSN request
//                over (RFC 3461 §5.2.1–§5.2.3; RecipientOutcome.relayed/final)
//   temporary  → deferred until the next slot of the schedule; once older than `delayWarning`, one
//                "delayed" DSN (NOTIFY has DELAY, or no NOTIFY: our default, which RFC 3461
//                §5.2.5(b) allows); once older than `lifetime`, failed with 4.4.7 (RFC 3463,
//                delivery time expired) and a "failed" DSN
//   permanent  → failed and a "failed" DSN (NOTIFY has FAILURE, or no NOTIFY: RFC 3461 §5.2.6)
//
// No DSN ever goes to the null sender (RFC 5321 §4.5.5) or for NOTIFY=NEVER. A message gets one DSN
// per kind (failure, delay, success) for all its recipients whose outcome arrived in the same claim,
// not one per recipient.
//
// Ordering and crashes: the outcome is committed first, then the DSN is sent (a crash in between
// loses that DSN rather than repeating the delivery). The original is read before the commit, since
// completing the last recipient removes the queue entry and lets its blob be collected.
// A process that dies holding leases: the next process of the same owner releases them at start();
// other owners wait until the lease expires (leaseMs). Leases are not renewed: leaseMs must exceed
// the longest delivery attempt the transport can make.

import type { Log } from "../log/logger.js";
import {
  DEFAULT_MAX_RETURN_SIZE,
  type DsnAction,
  type DsnRecipient,
  composeDsn,
  dsnReturnsFull,
} from "../mail/dsn.js";
import type { MailStore, QueueMessage, QueueRecipient, QueueUpdate } from "../store/types.js";
import {
  afterTemporaryFailure,
  checkSchedule,
  DEFAULT_DELAY_WARNING,
  DEFAULT_LIFETIME,
  DEFAULT_RETRY_INTERVALS,
  expiresAt,
  type Schedule,
} from "./backoff.js";
import type { BounceSink } from "./bounce-sink.js";
import { type Clock, type DeliveryJob, type RecipientOutcome, systemClock, type Transport } from "./types.js";

export interface QueueRunnerOptions {
  store: MailStore;
  transport: Transport;
  bounceSink: BounceSink;
  /** lease owner: stable for this node across restarts (e.g. the host name) */
  owner: string;
  /** our host name: DSN Reporting-MTA and MAILER-DAEMON@hostname */
  hostname: string;
  log: Log;
  clock?: Clock;
  /** deliveries in progress at once (default 20) */
  concurrency?: number;
  /** deliveries in progress at once to one domain (default 4) */
  destinationConcurrency?: number;
  /** lease duration in ms (default 10 minutes) */
  leaseMs?: number;
  /** seconds between attempts, the last repeats (default DEFAULT_RETRY_INTERVALS) */
  retryIntervals?: readonly number[];
  /** seconds a message is retried (default 5 days) */
  lifetime?: number;
  /** seconds undelivered before the one "delayed" DSN (default 4 hours; 0 = never) */
  delayWarning?: number;
  /** largest original returned whole in a failure DSN (default 1 MiB) */
  maxReturnSize?: number;
  /** longest sleep in ms between looks at the queue (default 60 s): another process (the admin
   *  CLI's `queue retry`) cannot wake this one */
  pollMs?: number;
  /** stop(): how long to wait for deliveries in flight, ms (default 30 s) */
  stopGraceMs?: number;
}

const DEFAULT_LEASE_MS = 10 * 60_000;
const DEFAULT_POLL_MS = 60_000;
/** after a store failure while claiming: wait before the next look */
const ERROR_PAUSE_MS = 5_000;
/** after a run that did nothing: the least wait before the next, even when something looks due */
const IDLE_FLOOR_MS = 1_000;
/** bytes read to find the header of an original returned as headers only */
const HEADER_READ = 64 * 1024;

/** A promise that resolves at the next notify(); a notify since the last take() resolves at once. */
class Signal {
  private flag = false;
  private waiting: { promise: Promise<void>; resolve: () => void } | null = null;

  notify(): void {
    this.flag = true;
    const w = this.waiting;
    this.waiting = null;
    w?.resolve();
  }

  take(): void {
    this.flag = false;
  }

  wait(): Promise<void> {
    if (this.flag) return Promise.resolve();
    if (!this.waiting) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.waiting = { promise, resolve };
    }
    return this.waiting.promise;
  }
}

type NoticeKind = "failure" | "delay" | "success";

interface Notice {
  kind: NoticeKind;
  recipientId: number;
  dsn: DsnRecipient;
}

interface MessageNotices {
  message: QueueMessage;
  /** jobs of this message in the claim still running */
  outstanding: number;
  notices: Notice[];
  /** the original, read before completion: full or header-only */
  original: { data: Buffer; complete: boolean } | null;
}

/** Per claim: DSNs are collected per message and sent when its last job of the claim is done. */
class NoticeBatch {
  readonly messages = new Map<string, MessageNotices>();

  constructor(jobs: readonly DeliveryJob[]) {
    for (const job of jobs) {
      const m = this.messages.get(job.message.id);
      if (m) m.outstanding++;
      else
        this.messages.set(job.message.id, {
          message: job.message,
          outstanding: 1,
          notices: [],
          original: null,
        });
    }
  }
}

export class QueueRunner {
  private readonly store: MailStore;
  private readonly transport: Transport;
  private readonly sink: BounceSink;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly owner: string;
  private readonly hostname: string;
  private readonly concurrency: number;
  private readonly destinationConcurrency: number;
  private readonly leaseMs: number;
  private readonly schedule: Schedule;
  private readonly delayWarningMs: number;
  private readonly maxReturnSize: number;
  private readonly pollMs: number;
  private readonly stopGraceMs: number;

  private inFlight = 0;
  private readonly perDomain = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  /** one per drain and per sleep: told when a job finished, new mail was queued, or stop() was called */
  private readonly signals = new Set<Signal>();
  /** wake() since the last claim */
  private wakePending = false;
  private started = false;
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(opts: QueueRunnerOptions) {
    this.store = opts.store;
    this.transport = opts.transport;
    this.sink = opts.bounceSink;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.owner = opts.owner;
    this.hostname = opts.hostname;
    this.concurrency = positive(opts.concurrency ?? 20, "concurrency");
    this.destinationConcurrency = positive(opts.destinationConcurrency ?? 4, "destinationConcurrency");
    this.leaseMs = positive(opts.leaseMs ?? DEFAULT_LEASE_MS, "leaseMs");
    this.schedule = {
      intervals: opts.retryIntervals ?? DEFAULT_RETRY_INTERVALS,
      lifetime: opts.lifetime ?? DEFAULT_LIFETIME,
    };
    checkSchedule(this.schedule);
    this.delayWarningMs = Math.max(0, opts.delayWarning ?? DEFAULT_DELAY_WARNING) * 1000;
    this.maxReturnSize = opts.maxReturnSize ?? DEFAULT_MAX_RETURN_SIZE;
    this.pollMs = positive(opts.pollMs ?? DEFAULT_POLL_MS, "pollMs");
    this.stopGraceMs = Math.max(0, opts.stopGraceMs ?? 30_000);
  }

  /** Releases this owner's leases left by a previous process, then works the queue until stop(). */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    try {
      const released = await this.store.releaseLeases(this.owner);
      if (released > 0) {
        this.log.info("queue.attempt", "released leases of a previous run", { owner: this.owner, released });
      }
    } catch (err) {
      this.log.error("queue.error", "could not release old leases", {
        owner: this.owner,
        err: errorText(err),
      });
    }
    this.loop = this.runLoop();
  }

  /**
   * Stops claiming, and waits up to the grace period for deliveries in flight. Unfinished ones keep
   * their leases; the next start() of this owner releases them.
   */
  async stop(graceMs = this.stopGraceMs): Promise<void> {
    this.stopping = true;
    this.notifyAll();
    const loop = this.loop;
    const idle = (async () => {
      await loop;
      await Promise.allSettled([...this.running]);
    })();
    let cancel: () => void = () => undefined;
    const timeout = new Promise<void>((resolve) => {
      cancel = this.clock.setTimer(resolve, graceMs);
    });
    await Promise.race([idle, timeout]);
    cancel();
    if (this.running.size > 0) {
      this.log.warn(
        "queue.error",
        "stopped with deliveries in flight; their leases stay until the next start",
        {
          owner: this.owner,
          inFlight: this.running.size,
        },
      );
    }
    this.loop = null;
    this.started = false;
  }

  /** New mail was queued: look at the queue now instead of at the next scheduled time. */
  wake(): void {
    this.wakePending = true;
    this.notifyAll();
  }

  private notifyAll(): void {
    for (const s of this.signals) s.notify();
  }

  /** Claims and delivers everything due now (by the clock); resolves with the number of jobs done. */
  runOnce(): Promise<number> {
    return this.drain();
  }

  // ---- scheduling ----

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      const done = await this.drain().then(
        (n) => n,
        (err: unknown) => {
          this.log.error("queue.error", "queue run failed", { err: errorText(err) });
          return null;
        },
      );
      if (this.stopping) break;
      // a run that found nothing although something seemed due waits a little: no busy loop
      await this.sleep(done === null ? ERROR_PAUSE_MS : null, done === 0 ? IDLE_FLOOR_MS : 0);
    }
  }

  /** until the next recipient is due (at most pollMs, at least floorMs), a wake() or stop() */
  private async sleep(forMs: number | null, floorMs = 0): Promise<void> {
    let delay = forMs ?? this.pollMs;
    if (forMs === null) {
      try {
        const due = await this.store.nextQueueDue();
        if (due) delay = Math.min(delay, Math.max(floorMs, due.getTime() - this.clock.now()));
      } catch (err) {
        this.log.error("queue.error", "could not read the queue schedule", { err: errorText(err) });
        delay = Math.min(delay, ERROR_PAUSE_MS);
      }
    }
    const signal = new Signal();
    this.signals.add(signal);
    let cancel: () => void = () => undefined;
    try {
      if (this.stopping || this.wakePending) return;
      await Promise.race([
        new Promise<void>((resolve) => {
          cancel = this.clock.setTimer(resolve, delay);
        }),
        signal.wait(),
      ]);
    } finally {
      cancel();
      this.signals.delete(signal);
    }
  }

  /**
   * Claims as much as the limits allow, starts it, and claims again whenever a job ends or new mail
   * arrives, until nothing is due and nothing of its own runs.
   */
  private async drain(): Promise<number> {
    let done = 0;
    const mine = new Set<Promise<void>>();
    const signal = new Signal();
    this.signals.add(signal);
    let claiming = true;
    // After a claim that could not fill every free slot, everything due was taken except the backlog
    // of domains at their concurrency limit: until new mail arrives, the next claims only need to look
    // at those domains, and only when one of them has a free slot. null: look at the whole queue.
    let narrow: Set<string> | null = null;
    for (;;) {
      signal.take();
      if (this.wakePending) narrow = null;
      this.wakePending = false;
      if (this.stopping) claiming = false;
      const free = this.concurrency - this.inFlight;
      const only = narrow ? [...narrow].filter((d) => (this.perDomain.get(d) ?? 0) < this.destinationConcurrency) : undefined;
      if (claiming && free > 0 && (only === undefined || only.length > 0)) {
        let jobs: DeliveryJob[] = [];
        try {
          jobs = await this.claim(free, only);
          if (jobs.length < free) {
            const full = new Map(this.perDomain);
            for (const j of jobs) full.set(j.domain, (full.get(j.domain) ?? 0) + 1);
            narrow = new Set([...full].filter(([, n]) => n >= this.destinationConcurrency).map(([d]) => d));
          } else narrow = null;
        } catch (err) {
          this.log.error("queue.error", "could not claim queued mail", { err: errorText(err) });
          claiming = false; // finish what runs; the loop tries again after a pause
        }
        const batch = new NoticeBatch(jobs);
        for (const job of jobs) {
          this.inFlight++;
          this.perDomain.set(job.domain, (this.perDomain.get(job.domain) ?? 0) + 1);
          const p: Promise<void> = this.runJob(job, batch).finally(() => {
            this.inFlight--;
            const n = (this.perDomain.get(job.domain) ?? 1) - 1;
            if (n <= 0) this.perDomain.delete(job.domain);
            else this.perDomain.set(job.domain, n);
            mine.delete(p);
            this.running.delete(p);
            done++;
            this.notifyAll();
          });
          mine.add(p);
          this.running.add(p);
        }
      }
      if (mine.size === 0) break;
      await signal.wait();
    }
    this.signals.delete(signal);
    return done;
  }

  private claim(free: number, onlyDomains?: string[]): Promise<DeliveryJob[]> {
    const busy: Record<string, number> = {};
    const excluded: string[] = [];
    for (const [domain, n] of this.perDomain) {
      busy[domain] = n;
      if (n >= this.destinationConcurrency) excluded.push(domain);
    }
    return this.store.claimQueue({
      now: new Date(this.clock.now()),
      owner: this.owner,
      leaseMs: this.leaseMs,
      limit: free,
      excludeDomains: excluded,
      ...(onlyDomains ? { onlyDomains } : {}),
      perDomain: { limit: this.destinationConcurrency, busy },
    });
  }

  // ---- one job ----

  /** never rejects */
  private async runJob(job: DeliveryJob, batch: NoticeBatch): Promise<void> {
    const entry = batch.messages.get(job.message.id)!;
    try {
      await this.attempt(job, entry);
    } catch (err) {
      // completeQueue failed: the leases stay and expire, then the recipients are tried again
      this.log.error("queue.error", "could not record a delivery attempt", {
        queueId: job.message.id,
        domain: job.domain,
        err: errorText(err),
      });
    } finally {
      entry.outstanding--;
      if (entry.outstanding === 0) await this.sendNotices(entry).catch(() => undefined);
    }
  }

  private async attempt(job: DeliveryJob, entry: MessageNotices): Promise<void> {
    const { message } = job;
    this.log.debug("queue.attempt", "delivery attempt", {
      queueId: message.id,
      domain: job.domain,
      rcpts: job.recipients.map((r) => r.address),
    });
    let outcomes: RecipientOutcome[];
    try {
      outcomes = await this.transport.deliver(job);
      if (!Array.isArray(outcomes)) throw new Error("the transport returned no outcomes");
    } catch (err) {
      const text = errorText(err);
      this.log.error("queue.error", "transport failed", {
        queueId: message.id,
        domain: job.domain,
        err: text,
      });
      outcomes = job.recipients.map((r) => ({
        recipientId: r.id,
        kind: "temporary",
        status: "4.3.0",
        reply: `internal error: ${text}`,
      }));
    }
    const at = this.clock.now();
    const byId = new Map(outcomes.map((o) => [o.recipientId, o]));
    const updates: QueueUpdate[] = [];
    const notices: Notice[] = [];
    const logs: Array<() => void> = [];
    for (const r of job.recipients) {
      const o: RecipientOutcome = byId.get(r.id) ?? {
        recipientId: r.id,
        kind: "temporary",
        status: "4.3.0",
        reply: "internal error: the transport reported no outcome for this recipient",
      };
      this.decide(message, job.domain, r, o, at, updates, notices, logs);
    }
    // the original for the DSNs, before completion may remove the queue entry (and free its blob)
    if (notices.length > 0) await this.loadOriginal(entry, notices);
    const result = await this.store.completeQueue(updates);
    const applied = new Set(result.applied);
    for (const log of logs) log();
    for (const u of updates) {
      if (!applied.has(u.recipientId)) {
        this.log.warn(
          "queue.error",
          "outcome not recorded: the recipient was removed or leased by another owner",
          {
            queueId: message.id,
            recipientId: u.recipientId,
          },
        );
      }
    }
    for (const n of notices) if (applied.has(n.recipientId)) entry.notices.push(n);
  }

  /** the update, DSN notice and log line of one recipient's outcome */
  private decide(
    message: QueueMessage,
    domain: string,
    r: QueueRecipient,
    o: RecipientOutcome,
    at: number,
    updates: QueueUpdate[],
    notices: Notice[],
    logs: Array<() => void>,
  ): void {
    const attempts = r.attempts + 1;
    const base = {
      recipientId: r.id,
      owner: this.owner,
      attemptedAt: new Date(at),
      reply: oneLine(o.reply),
      remoteMta: o.remoteMta ?? null,
      diagnostic: o.diagnostic ?? null,
    };
    const fields = { queueId: message.id, rcpt: r.address, domain, attempts, reply: base.reply };
    const dsn = (action: DsnAction, status: string, extra: Partial<DsnRecipient> = {}): DsnRecipient => ({
      address: r.address,
      orcpt: r.orcpt,
      action,
      status,
      remoteMta: o.remoteMta ?? null,
      diagnostic: o.diagnostic ?? null,
      lastAttemptDate: new Date(at),
      reason: o.diagnostic ? null : base.reply,
      ...extra,
    });
    const expiry = expiresAt(message.createdAt.getTime(), this.schedule.lifetime);

    if (o.kind === "delivered") {
      const status = statusOr(o.status, "2.0.0", "2");
      updates.push({ ...base, status: "delivered", statusCode: status });
      // RFC 3461 §5.2.1: a next hop with DSN reports success itself; §5.2.2(b) "relayed"; §5.2.3 "delivered"
      const action: DsnAction | null = o.final ? "delivered" : o.relayed ? "relayed" : null;
      if (action !== null && this.wants(message, r, "success")) {
        notices.push({ kind: "success", recipientId: r.id, dsn: dsn(action, status) });
      }
      logs.push(() =>
        this.log.info("queue.delivered", `${message.id}: delivered to ${r.address}: ${base.reply}`, {
          ...fields,
          outcome: "delivered",
          status,
          ...(o.relayed ? { relayed: true } : {}),
        }),
      );
      return;
    }

    if (o.kind === "permanent") {
      const status = statusOr(o.status, "5.0.0", "5");
      updates.push({ ...base, status: "failed", statusCode: status });
      if (this.wants(message, r, "failure")) {
        notices.push({ kind: "failure", recipientId: r.id, dsn: dsn("failed", status) });
      }
      logs.push(() =>
        this.log.info("queue.failed", `${message.id}: delivery to ${r.address} failed: ${base.reply}`, { ...fields, outcome: "failed", status }),
      );
      return;
    }

    // temporary (and anything unknown: never lose mail over a transport's mistake)
    const status = statusOr(o.status, "4.0.0", "4");
    const decision = afterTemporaryFailure(attempts, at, message.createdAt.getTime(), this.schedule);
    if (decision.kind === "expire") {
      const reply = `${base.reply} (gave up: not delivered within ${duration(this.schedule.lifetime)})`;
      updates.push({ ...base, reply, status: "failed", statusCode: "4.4.7" });
      if (this.wants(message, r, "failure")) {
        notices.push({
          kind: "failure",
          recipientId: r.id,
          // RFC 3463 4.4.7: delivery time expired; the last reply stays in Diagnostic-Code
          dsn: dsn("failed", "4.4.7"),
        });
      }
      logs.push(() =>
        this.log.info("queue.expired", `${message.id}: gave up on ${r.address}: ${base.reply}`, {
          ...fields,
          outcome: "expired",
          status: "4.4.7",
        }),
      );
      return;
    }
    updates.push({ ...base, status: "deferred", statusCode: status, nextAttemptAt: new Date(decision.at) });
    if (
      this.delayWarningMs > 0 &&
      !r.delayNotifiedAt &&
      at - message.createdAt.getTime() >= this.delayWarningMs &&
      this.wants(message, r, "delay")
    ) {
      notices.push({
        kind: "delay",
        recipientId: r.id,
        dsn: dsn("delayed", status, { willRetryUntil: new Date(expiry) }),
      });
    }
    logs.push(() =>
      this.log.info("queue.deferred", `${message.id}: delivery to ${r.address} deferred: ${base.reply}`, {
        ...fields,
        outcome: "deferred",
        status,
        next: new Date(decision.at).toISOString(),
      }),
    );
  }

  /**
   * Whether the sender gets a DSN of this kind for the recipient: never to the null sender
   * (RFC 5321 §4.5.5) or with NOTIFY=NEVER; with NOTIFY, as it says (RFC 3461 §4.1); without
   * NOTIFY failures and delays (§5.2.5(b), §5.2.6(c)), not successes (§5.2.3(c)).
   */
  private wants(message: QueueMessage, r: QueueRecipient, kind: NoticeKind): boolean {
    if (message.sender === "") return false;
    const notify = r.notify?.map((n) => n.toUpperCase()) ?? null;
    if (notify === null || notify.length === 0) return kind !== "success";
    if (notify.includes("NEVER")) return false;
    return notify.includes(kind === "success" ? "SUCCESS" : kind === "failure" ? "FAILURE" : "DELAY");
  }

  // ---- DSNs ----

  /** reads what the DSNs of this message will return; a failure to read leaves it out */
  private async loadOriginal(entry: MessageNotices, notices: readonly Notice[]): Promise<void> {
    const m = entry.message;
    const full =
      notices.some((n) => n.kind === "failure") &&
      dsnReturnsFull(["failed"], m.dsn.ret, m.size, this.maxReturnSize);
    if (entry.original && (entry.original.complete || !full)) return;
    try {
      const blobBytes = m.size - m.prefix.length;
      const want = full ? blobBytes : Math.min(blobBytes, Math.max(0, HEADER_READ - m.prefix.length));
      const blob = want > 0 ? await this.store.blobs.read(m.blobId, 0, want) : Buffer.alloc(0);
      entry.original = { data: Buffer.concat([m.prefix, blob]), complete: want >= blobBytes };
    } catch (err) {
      this.log.warn("queue.error", "could not read the original for a DSN", {
        queueId: m.id,
        err: errorText(err),
      });
    }
  }

  /** one DSN per kind for the message's recipients collected in this claim */
  private async sendNotices(entry: MessageNotices): Promise<void> {
    const m = entry.message;
    for (const kind of ["failure", "delay", "success"] as const) {
      // in the order of the original recipients
      const notices = entry.notices
        .filter((n) => n.kind === kind)
        .sort((a, b) => a.recipientId - b.recipientId);
      if (notices.length === 0) continue;
      const at = new Date(this.clock.now());
      const rcpts = notices.map((n) => n.dsn.address);
      try {
        const dsn = composeDsn({
          hostname: this.hostname,
          to: m.sender,
          date: at,
          envid: m.dsn.envid ?? null,
          arrivalDate: m.createdAt,
          queueId: m.id,
          recipients: notices.map((n) => n.dsn),
          ret: m.dsn.ret ?? null,
          original: entry.original?.data ?? null,
          originalComplete: entry.original?.complete ?? false,
          originalSize: m.size,
          maxReturnSize: this.maxReturnSize,
        });
        await this.sink.send(m.sender, dsn);
        // the notice may itself be queued (a remote sender): look at the whole queue again
        this.wakePending = true;
        this.log.info("queue.dsn", `${kind} notice sent`, { queueId: m.id, kind, to: m.sender, rcpts });
        if (kind === "delay") {
          await this.store.markDelayNotified(
            notices.map((n) => n.recipientId),
            at,
          );
        }
      } catch (err) {
        this.log.error("queue.error", `could not send a ${kind} notice`, {
          queueId: m.id,
          kind,
          to: m.sender,
          rcpts,
          err: errorText(err),
        });
      }
    }
    entry.notices = [];
    entry.original = null;
  }
}

function positive(n: number, what: string): number {
  if (!(Number.isFinite(n) && n > 0)) throw new Error(`invalid ${what} ${n}`);
  return n;
}

/** an RFC 3463 status of the expected class, else the default */
function statusOr(status: string | undefined, fallback: string, cls: string): string {
  return status !== undefined && /^[245]\.\d{1,3}\.\d{1,3}$/.test(status) && status.startsWith(cls)
    ? status
    : fallback;
}

/** "5 days", "6 hours", "45 minutes" */
function duration(seconds: number): string {
  const [n, unit] =
    seconds >= 86_400
      ? [seconds / 86_400, "day"]
      : seconds >= 3600
        ? [seconds / 3600, "hour"]
        : [seconds / 60, "minute"];
  const rounded = Math.round(n * 10) / 10;
  return `${rounded} ${unit}${rounded === 1 ? "" : "s"}`;
}

function oneLine(s: string | undefined): string {
  return (s ?? "")
    .replace(/[\r\n]+/g, " ")
    .trim()
    .slice(0, 1000);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
