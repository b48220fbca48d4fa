import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  afterTemporaryFailure,
  checkSchedule,
  DEFAULT_LIFETIME,
  DEFAULT_RETRY_INTERVALS,
  expiresAt,
  retryDelay,
} from "../../src/queue/backoff.js";

describe("retry schedule", () => {
  it("has the documented defaults", () => {
    assert.deepEqual(DEFAULT_RETRY_INTERVALS, [120, 300, 600, 900, 1800, 3600, 7200, 14400]);
    assert.equal(DEFAULT_LIFETIME, 5 * 86_400);
  });

  it("waits the n-th interval after the n-th failure, and repeats the last", () => {
    const waits = Array.from({ length: 11 }, (_, i) => retryDelay(i + 1));
    assert.deepEqual(waits, [120, 300, 600, 900, 1800, 3600, 7200, 14400, 14400, 14400, 14400]);
    assert.equal(retryDelay(0), 120);
    assert.equal(retryDelay(3, [10, 20]), 20);
  });

  it("retries until the lifetime is over, the last attempt at the deadline, then expires", () => {
    const created = 1_000_000;
    const s = { intervals: [600], lifetime: 3600 };
    assert.deepEqual(afterTemporaryFailure(1, created, created, s), { kind: "retry", at: created + 600_000 });
    // the next slot would be past the deadline: one more attempt exactly at it
    assert.deepEqual(afterTemporaryFailure(6, created + 3_300_000, created, s), {
      kind: "retry",
      at: expiresAt(created, 3600),
    });
    assert.deepEqual(afterTemporaryFailure(7, created + 3_600_000, created, s), { kind: "expire" });
    assert.deepEqual(afterTemporaryFailure(1, created + 9_999_999, created, s), { kind: "expire" });
  });

  it("follows the default schedule over five days", () => {
    const created = 0;
    let now = 0;
    let failures = 0;
    const attempts: number[] = [];
    for (;;) {
      attempts.push(now);
      failures++;
      const d = afterTemporaryFailure(failures, now, created);
      if (d.kind === "expire") break;
      now = d.at;
    }
    const gaps = attempts.slice(1).map((t, i) => (t - attempts[i]!) / 1000);
    assert.deepEqual(gaps.slice(0, 9), [120, 300, 600, 900, 1800, 3600, 7200, 14400, 14400]);
    assert.equal(attempts[attempts.length - 1], 5 * 86_400_000);
    assert.ok(gaps.every((g) => g > 0 && g <= 14400));
  });

  it("refuses schedules that would spin or never end", () => {
    assert.throws(() => checkSchedule({ intervals: [], lifetime: 10 }), /empty/);
    assert.throws(() => checkSchedule({ intervals: [0], lifetime: 10 }), /interval/);
    assert.throws(() => checkSchedule({ intervals: [Number.NaN], lifetime: 10 }), /interval/);
    assert.throws(() => checkSchedule({ intervals: [1], lifetime: 0 }), /lifetime/);
    checkSchedule({ intervals: DEFAULT_RETRY_INTERVALS, lifetime: DEFAULT_LIFETIME });
  });
});
