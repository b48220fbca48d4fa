import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AbuseLimits, type AbuseLimitsOptions, RateCounter } from "./rate-limits.js";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const MINUTE = 60_000;

describe("RateCounter", () => {
  it("accepts up to the limit, then refuses without counting the refused hits", () => {
    const c = clock();
    const r = new RateCounter({ limit: 3, windowMs: MINUTE, now: c.now });
    assert.deepEqual(
      [1, 2, 3].map(() => r.hit("a")),
      [
        { ok: true, count: 1, retryAfterMs: 0 },
        { ok: true, count: 2, retryAfterMs: 0 },
        { ok: true, count: 3, retryAfterMs: 0 },
      ],
    );
    for (let i = 0; i < 10; i++) {
      const v = r.hit("a");
      assert.equal(v.ok, false);
      assert.equal(v.count, 3, "refused hits are not counted");
      assert.ok(v.retryAfterMs > 0);
    }
    assert.equal(r.peek("a"), 3);
    assert.equal(r.hit("b").ok, true, "keys are independent");
  });

  it("slides: old events lose weight as the window moves on, and retryAfterMs is exact", () => {
    const c = clock();
    const r = new RateCounter({ limit: 3, windowMs: MINUTE, now: c.now });
    for (let i = 0; i < 3; i++) r.hit("a");
    c.advance(MINUTE); // the burst is now the whole previous bucket: still counted in full
    assert.equal(r.peek("a"), 3);
    const refused = r.hit("a");
    assert.equal(refused.ok, false);
    // 3 · (1 − d/60 s) ≤ 2 at d = 20 s
    assert.equal(refused.retryAfterMs, 20_000);
    c.advance(refused.retryAfterMs - 1);
    assert.equal(r.hit("a").ok, false, "one ms early is still too early");
    c.advance(1);
    assert.deepEqual(r.hit("a"), { ok: true, count: 3, retryAfterMs: 0 });
    c.advance(2 * MINUTE);
    assert.equal(r.peek("a"), 0, "everything is forgotten two windows later");
  });

  it("waiting retryAfterMs is always enough, whatever the history", () => {
    const c = clock(123_457);
    const r = new RateCounter({ limit: 5, windowMs: 10_000, now: c.now });
    let accepted = 0;
    for (let step = 0; step < 500; step++) {
      c.advance((step * 7919) % 1_700); // irregular arrivals
      const v = r.hit("k");
      if (v.ok) {
        accepted++;
        continue;
      }
      c.advance(v.retryAfterMs);
      assert.equal(r.hit("k").ok, true, `step ${step}: retryAfterMs ${v.retryAfterMs} was not enough`);
      accepted++;
    }
    assert.ok(accepted > 0);
  });

  it("lets steady traffic through at the limit, never more in any window-long span", () => {
    const c = clock(0);
    const W = 10_000;
    const r = new RateCounter({ limit: 4, windowMs: W, now: c.now });
    const times: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      c.advance(137);
      if (r.hit("k").ok) times.push(c.now());
    }
    for (let i = 0; i < times.length; i++) {
      const inSpan = times.filter((t) => t >= times[i]! && t < times[i]! + W).length;
      assert.ok(inSpan <= 4, `${inSpan} events within ${W} ms from ${times[i]}`);
    }
    // and it is not much stricter than that: over 274 s at least 2 per window got through
    assert.ok(times.length >= 2 * (274_000 / W), `only ${times.length} accepted`);
  });

  it("never lets more than twice the limit into a window-long span, even for bursts", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const c = clock(0);
    const W = 10_000;
    const r = new RateCounter({ limit: 5, windowMs: W, now: c.now });
    const times: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      c.advance(Math.floor(random() ** 3 * 3_000)); // mostly bunched, sometimes long pauses
      if (r.hit("k").ok) times.push(c.now());
    }
    let first = 0;
    for (let i = 0; i < times.length; i++) {
      while (times[first]! <= times[i]! - W) first++;
      assert.ok(i - first + 1 <= 10, `${i - first + 1} events within ${W} ms before ${times[i]}`);
    }
  });

  it("counts n events at once; more than the limit at once is never accepted", () => {
    const c = clock();
    const r = new RateCounter({ limit: 10, windowMs: MINUTE, now: c.now });
    assert.equal(r.hit("a", 7).count, 7);
    assert.equal(r.hit("a", 4).ok, false);
    assert.equal(r.hit("a", 3).ok, true);
    const big = new RateCounter({ limit: 10, windowMs: MINUTE, now: c.now });
    const v = big.hit("x", 11);
    assert.equal(v.ok, false);
    assert.equal(v.retryAfterMs, 2 * MINUTE);
  });

  it("limit 0 is unlimited and keeps no state", () => {
    const r = new RateCounter({ limit: 0, windowMs: MINUTE });
    for (let i = 0; i < 1_000; i++) assert.equal(r.hit(`k${i % 3}`).ok, true);
    assert.equal(r.size, 0);
    assert.equal(r.peek("k0"), 0);
  });

  it("tracks at most maxKeys, dropping the least recently hit", () => {
    const c = clock();
    const r = new RateCounter({ limit: 1, windowMs: MINUTE, maxKeys: 3, now: c.now });
    r.hit("a");
    r.hit("b");
    r.hit("c");
    r.hit("a"); // refused: a refusal does not make "a" recently used
    r.hit("d"); // evicts "a", the least recently counted
    assert.equal(r.size, 3);
    assert.equal(r.peek("a"), 0);
    assert.equal(r.peek("b"), 1);
    for (let i = 0; i < 10_000; i++) r.hit(`flood${i}`);
    assert.equal(r.size, 3);
  });

  it("peek does not count", () => {
    const r = new RateCounter({ limit: 1, windowMs: MINUTE });
    assert.equal(r.peek("a"), 0);
    assert.equal(r.peek("a"), 0);
    assert.equal(r.hit("a").ok, true);
    assert.equal(r.peek("a"), 1);
  });

  it("rejects a window that is not positive", () => {
    assert.throws(() => new RateCounter({ limit: 1, windowMs: 0 }), RangeError);
  });
});

describe("AbuseLimits", () => {
  const make = (over: Partial<AbuseLimitsOptions> = {}) => {
    const c = clock();
    const limits = new AbuseLimits({
      connectionRate: 2,
      messageRate: 2,
      recipientRate: 3,
      sendMessagesPerHour: 2,
      sendRecipientsPerDay: 3,
      connectionsPerNetwork: 2,
      exemptNetworks: ["127.0.0.0/8", "::1/128", "198.51.100.0/24"],
      now: c.now,
      ...over,
    });
    return { limits, c };
  };

  it("limits new connections per IP per minute and counts the refusals", () => {
    const { limits, c } = make();
    assert.equal(limits.connection("192.0.2.1").ok, true);
    assert.equal(limits.connection("192.0.2.1").ok, true);
    const v = limits.connection("192.0.2.1");
    assert.equal(v.ok, false);
    assert.ok(v.retryAfterMs > 0 && v.retryAfterMs <= 2 * MINUTE);
    assert.equal(limits.connection("192.0.2.2").ok, true, "another address of the same /24 has its own rate");
    assert.equal(limits.refused.connection, 1);
    c.advance(v.retryAfterMs);
    assert.equal(limits.connection("192.0.2.1").ok, true);
  });

  it("counts an IPv6 /64 as one client, and an IPv4-mapped address as the IPv4 one", () => {
    const { limits } = make();
    assert.equal(limits.connection("2001:db8:1:2::1").ok, true);
    assert.equal(limits.connection("2001:db8:1:2:ffff:eeee:dddd:cccc").ok, true);
    assert.equal(limits.connection("2001:0db8:0001:0002::99").ok, false);
    assert.equal(limits.connection("2001:db8:1:3::1").ok, true, "the next /64 is another client");
    assert.equal(limits.message("192.0.2.7").ok, true);
    assert.equal(limits.message("::ffff:192.0.2.7").ok, true);
    assert.equal(limits.message("192.0.2.7").ok, false);
  });

  it("exempt networks skip the connection, message and recipient rates", () => {
    const { limits } = make();
    for (let i = 0; i < 50; i++) {
      assert.equal(limits.connection("127.0.0.1").ok, true);
      assert.equal(limits.connection("::1").ok, true);
      assert.equal(limits.message("198.51.100.200").ok, true);
      assert.equal(limits.recipient("::ffff:198.51.100.9").ok, true);
    }
    assert.equal(limits.isExempt("198.51.100.1"), true);
    assert.equal(limits.isExempt("198.51.101.1"), false);
    assert.deepEqual(limits.refused, {
      connection: 0,
      network: 0,
      message: 0,
      recipient: 0,
      accountMessage: 0,
      accountRecipient: 0,
    });
  });

  it("limits messages and recipients per client IP per minute on the MX listener", () => {
    const { limits, c } = make();
    assert.equal(limits.message("192.0.2.1").ok, true);
    assert.equal(limits.message("192.0.2.1").ok, true);
    assert.equal(limits.message("192.0.2.1").ok, false);
    for (let i = 0; i < 3; i++) assert.equal(limits.recipient("192.0.2.1").ok, true);
    const r = limits.recipient("192.0.2.1");
    assert.equal(r.ok, false);
    assert.equal(limits.refused.message, 1);
    assert.equal(limits.refused.recipient, 1);
    c.advance(2 * MINUTE);
    assert.equal(limits.message("192.0.2.1").ok, true);
    assert.equal(limits.recipient("192.0.2.1").ok, true);
  });

  it("limits submission per account: messages per hour, recipients per day", () => {
    const { limits, c } = make();
    assert.equal(limits.accountMessage(7).ok, true);
    assert.equal(limits.accountMessage(7).ok, true);
    const m = limits.accountMessage(7);
    assert.equal(m.ok, false);
    assert.ok(m.retryAfterMs > MINUTE, "an hourly limit asks to wait more than a minute");
    assert.equal(limits.accountMessage(8).ok, true, "accounts are independent");
    for (let i = 0; i < 3; i++) assert.equal(limits.accountRecipient(7).ok, true);
    assert.equal(limits.accountRecipient(7).ok, false);
    c.advance(2 * 60 * MINUTE);
    assert.equal(limits.accountMessage(7).ok, true, "two hours later");
    assert.equal(limits.accountRecipient(7).ok, false, "still within the day");
    c.advance(48 * 60 * MINUTE);
    assert.equal(limits.accountRecipient(7).ok, true);
    assert.equal(limits.refused.accountMessage, 1);
    assert.equal(limits.refused.accountRecipient, 2);
  });

  it("limits simultaneous connections per network and protocol group", () => {
    const { limits } = make();
    assert.equal(limits.acquireNetwork("smtp", "192.0.2.1"), true);
    assert.equal(limits.acquireNetwork("smtp", "192.0.2.200"), true);
    assert.equal(limits.acquireNetwork("smtp", "192.0.2.77"), false, "same /24");
    assert.equal(limits.acquireNetwork("imap", "192.0.2.77"), true, "other group");
    assert.equal(limits.acquireNetwork("smtp", "192.0.3.1"), true, "other /24");
    assert.equal(limits.refused.network, 1);
    limits.releaseNetwork("smtp", "192.0.2.1");
    assert.equal(limits.networkConnections("smtp", "192.0.2.9"), 1);
    assert.equal(limits.acquireNetwork("smtp", "192.0.2.77"), true);

    assert.equal(limits.acquireNetwork("pop3", "2001:db8:aa:1::1"), true);
    assert.equal(limits.acquireNetwork("pop3", "2001:db8:aa:ffff::1"), true);
    assert.equal(limits.acquireNetwork("pop3", "2001:db8:aa::5"), false, "same /48");
    assert.equal(limits.acquireNetwork("pop3", "2001:db8:ab::5"), true, "other /48");

    // releasing more than was acquired does not go negative
    for (let i = 0; i < 5; i++) limits.releaseNetwork("imap", "192.0.2.77");
    assert.equal(limits.networkConnections("imap", "192.0.2.77"), 0);
    assert.equal(limits.acquireNetwork("imap", "192.0.2.1"), true);
    assert.equal(limits.acquireNetwork("imap", "192.0.2.2"), true);
    assert.equal(limits.acquireNetwork("imap", "192.0.2.3"), false);
  });

  it("0 means unlimited for every limit", () => {
    const { limits } = make({
      connectionRate: 0,
      messageRate: 0,
      recipientRate: 0,
      sendMessagesPerHour: 0,
      sendRecipientsPerDay: 0,
      connectionsPerNetwork: 0,
    });
    for (let i = 0; i < 1_000; i++) {
      assert.equal(limits.connection("192.0.2.1").ok, true);
      assert.equal(limits.message("192.0.2.1").ok, true);
      assert.equal(limits.recipient("192.0.2.1").ok, true);
      assert.equal(limits.accountMessage(1).ok, true);
      assert.equal(limits.accountRecipient(1).ok, true);
      assert.equal(limits.acquireNetwork("smtp", "192.0.2.1"), true);
    }
  });

  it("keeps its memory bounded under a flood of addresses", () => {
    const { limits } = make({ maxKeys: 100 });
    for (let i = 0; i < 5_000; i++) limits.connection(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    // the oldest were forgotten: the first address is a fresh client again
    assert.equal(limits.connection("10.0.0.0").ok, true);
    assert.equal(limits.connection("10.0.0.0").ok, true);
    assert.equal(limits.connection("10.0.0.0").ok, false);
  });
});
