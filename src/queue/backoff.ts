// The retry schedule of the outbound queue (pure). After the n-th failed attempt of a recipient the
// next one is intervals[n-1] seconds later; the last interval repeats. A message is retried for
// `lifetime` seconds after it was queued: the last retry is moved up to the moment of expiry (so
// one attempt happens at the deadline), and a temporary failure at or after it is final (RFC 3463
// 4.4.7, delivery time expired).

/** seconds; the defaults of queue.retry_intervals */
export const DEFAULT_RETRY_INTERVALS: readonly number[] = [120, 300, 600, 900, 1800, 3600, 7200, 14400];
/** seconds (5 days); queue.lifetime */
export const DEFAULT_LIFETIME = 5 * 86_400;
/** seconds (4 hours); queue.delay_warning, 0 = no delay notices */
export const DEFAULT_DELAY_WARNING = 4 * 3600;

export interface Schedule {
  /** seconds between attempts, each > 0; the last repeats */
  intervals: readonly number[];
  /** seconds a message is retried after it was queued */
  lifetime: number;
}

/** throws on a schedule that could retry in a busy loop or never */
export function checkSchedule(s: Schedule): void {
  if (s.intervals.length === 0) throw new Error("retry intervals must not be empty");
  for (const i of s.intervals) {
    if (!(Number.isFinite(i) && i > 0)) throw new Error(`invalid retry interval ${i}`);
  }
  if (!(Number.isFinite(s.lifetime) && s.lifetime > 0))
    throw new Error(`invalid queue lifetime ${s.lifetime}`);
}

/** seconds to wait after the `failures`-th failed attempt (1-based) */
export function retryDelay(failures: number, intervals: readonly number[] = DEFAULT_RETRY_INTERVALS): number {
  const i = Math.min(Math.max(failures, 1), intervals.length) - 1;
  return intervals[i]!;
}

/** when the message expires (ms) */
export function expiresAt(createdAtMs: number, lifetime: number): number {
  return createdAtMs + lifetime * 1000;
}

export type RetryDecision = { kind: "retry"; at: number } | { kind: "expire" };

/**
 * After a temporary failure at `now` (ms) — the `failures`-th failed attempt of the recipient —
 * of a message queued at `createdAt` (ms): when to try again, or give up.
 */
export function afterTemporaryFailure(
  failures: number,
  now: number,
  createdAt: number,
  schedule: Schedule = { intervals: DEFAULT_RETRY_INTERVALS, lifetime: DEFAULT_LIFETIME },
): RetryDecision {
  const deadline = expiresAt(createdAt, schedule.lifetime);
  if (now >= deadline) return { kind: "expire" };
  return { kind: "retry", at: Math.min(now + retryDelay(failures, schedule.intervals) * 1000, deadline) };
}
