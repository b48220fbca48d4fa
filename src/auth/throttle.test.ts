import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthThrottle } from "./throttle.js";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("AuthThrottle", () => {
  it("delays failures exponentially, capped at 8x", () => {
    const c = clock();
    const th = new AuthThrottle({ maxFailures: 100, banMs: 60_000, failureDelayMs: 100, now: c.now });
    const delays = Array.from({ length: 6 }, () => th.failure("192.0.2.1", "a@x").delayMs);
    assert.deepEqual(delays, [100, 200, 400, 800, 800, 800]);
  });

  it("bans an IP after max failures, then lets it in after ban time", () => {
    const c = clock();
    const th = new AuthThrottle({ maxFailures: 3, banMs: 60_000, failureDelayMs: 0, now: c.now });
    th.failure("192.0.2.1", "a@x");
    th.failure("192.0.2.1", "b@x");
    assert.equal(th.check("192.0.2.1").banned, false);
    assert.equal(th.failure("192.0.2.1", "c@x").bannedNow, true);
    const v = th.check("192.0.2.1", "other@x");
    assert.equal(v.banned && v.scope, "ip");
    assert.equal(th.check("192.0.2.2").banned, false, "other IPs are not affected");
    c.advance(60_001);
    assert.equal(th.check("192.0.2.1").banned, false);
  });

  it("bans an account attacked from many IPs", () => {
    const c = clock();
    const th = new AuthThrottle({ maxFailures: 3, banMs: 60_000, failureDelayMs: 0, now: c.now });
    for (const ip of ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) th.failure(ip, "Victim@x");
    const v = th.check("198.51.100.9", "victim@x");
    assert.equal(v.banned && v.scope, "account");
  });

  it("counts an IPv6 /64 as one client", () => {
    const th = new AuthThrottle({ maxFailures: 2, banMs: 60_000, failureDelayMs: 0 });
    th.failure("2001:db8:1:2::1");
    th.failure("2001:db8:1:2:ffff::9");
    assert.equal(th.check("2001:db8:1:2::77").banned, true);
    assert.equal(th.check("2001:db8:1:3::1").banned, false);
  });

  it("forgets failures on success and after they age out", () => {
    const c = clock();
    const th = new AuthThrottle({ maxFailures: 3, banMs: 1000, failureDelayMs: 10, now: c.now });
    th.failure("192.0.2.1", "a@x");
    th.failure("192.0.2.1", "a@x");
    th.success("192.0.2.1", "a@x");
    assert.equal(th.failure("192.0.2.1", "a@x").delayMs, 10, "counting restarted");
    c.advance(1001);
    assert.equal(th.failure("192.0.2.1", "a@x").delayMs, 10, "aged out");
  });

  it("keeps memory bounded", () => {
    const th = new AuthThrottle({ maxFailures: 5, banMs: 60_000, failureDelayMs: 0, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) th.failure(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(th.size <= 100);
  });
});
