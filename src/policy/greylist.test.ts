import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GreylistEntry } from "../store/types.js";
import { Greylist, type GreylistOptions, type GreylistStore, normalizeSender } from "./greylist.js";

/** The three store methods, in memory, with the MailStore's documented semantics. */
class MemoryGreylistStore implements GreylistStore {
  readonly entries = new Map<string, GreylistEntry>();
  writes = 0;
  async greylistGet(key: string): Promise<GreylistEntry | null> {
    const e = this.entries.get(key);
    return e ? { ...e } : null;
  }
  async greylistPut(entry: GreylistEntry): Promise<void> {
    this.writes++;
    this.entries.set(entry.key, { ...entry });
  }
  async greylistExpire(now: number): Promise<number> {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (e.expiresAt < now) {
        this.entries.delete(k);
        n++;
      }
    }
    return n;
  }
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function setup(over: Partial<GreylistOptions> = {}) {
  let t = 1_700_000_000_000;
  const store = new MemoryGreylistStore();
  const grey = new Greylist({
    store,
    delayMs: 5 * MIN,
    retryWindowMs: 2 * DAY,
    autoAllowMs: 35 * DAY,
    allowNetworks: ["203.0.113.0/24", "2001:db8:ffff::/48"],
    allowSenders: ["Bigmail.example", "partner.test."],
    now: () => t,
    ...over,
  });
  return {
    store,
    grey,
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe("Greylist", () => {
  it("defers an unknown triplet, and records it", async () => {
    const { grey, store, now } = setup();
    assert.deepEqual(await grey.check("192.0.2.1", "Alice@Sender.example", "Bob@Local.test"), {
      action: "defer",
      retryAfterSeconds: 300,
      first: true,
    });
    assert.deepEqual(
      [...store.entries.values()],
      [
        {
          key: "t:192.0.2.0/24|alice@sender.example|bob@local.test",
          firstSeen: now(),
          lastSeen: now(),
          passed: false,
          expiresAt: now() + 2 * DAY,
        },
      ],
    );
  });

  it("keeps deferring a retry before the delay, without restarting the clock", async () => {
    const { grey, store, advance } = setup();
    await grey.check("192.0.2.1", "alice@sender.example", "bob@local.test");
    const first = [...store.entries.values()][0]!;
    advance(2 * MIN);
    assert.deepEqual(await grey.check("192.0.2.1", "alice@sender.example", "bob@local.test"), {
      action: "defer",
      retryAfterSeconds: 180,
      first: false,
    });
    advance(3 * MIN - 500);
    const v = await grey.check("192.0.2.1", "alice@sender.example", "bob@local.test");
    assert.deepEqual(v, { action: "defer", retryAfterSeconds: 1, first: false }, "seconds are rounded up");
    const now = store.entries.get(first.key)!;
    assert.equal(now.firstSeen, first.firstSeen);
    assert.equal(now.expiresAt, first.expiresAt, "the window is not extended by early retries");
  });

  it("passes a retry after the delay, and auto-allows the client network", async () => {
    const { grey, store, advance, now } = setup();
    await grey.check("192.0.2.1", "alice@sender.example", "bob@local.test");
    advance(5 * MIN);
    assert.deepEqual(await grey.check("192.0.2.1", "alice@sender.example", "bob@local.test"), {
      action: "pass",
      reason: "retried",
    });
    const triplet = store.entries.get("t:192.0.2.0/24|alice@sender.example|bob@local.test")!;
    assert.equal(triplet.passed, true);
    assert.equal(triplet.expiresAt, now() + 35 * DAY);
    assert.deepEqual(store.entries.get("a:192.0.2.0/24"), {
      key: "a:192.0.2.0/24",
      firstSeen: now(),
      lastSeen: now(),
      passed: true,
      expiresAt: now() + 35 * DAY,
    });
    // any sender, any recipient, any address of the /24
    assert.deepEqual(await grey.check("192.0.2.200", "carol@elsewhere.example", "dave@local.test"), {
      action: "pass",
      reason: "auto-allowed",
    });
    assert.equal(
      (await grey.check("192.0.3.1", "carol@elsewhere.example", "dave@local.test")).action,
      "defer",
    );
  });

  it("renews the auto-allowance on each pass, and greylists again once it has run out", async () => {
    const { grey, store, advance, now } = setup();
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    advance(10 * MIN);
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    for (let i = 0; i < 3; i++) {
      advance(30 * DAY);
      assert.equal((await grey.check("192.0.2.9", `x${i}@s.example`, "b@l.test")).action, "pass");
      assert.equal(store.entries.get("a:192.0.2.0/24")!.expiresAt, now() + 35 * DAY);
    }
    advance(35 * DAY + 1);
    assert.deepEqual(await grey.check("192.0.2.9", "new@s.example", "b@l.test"), {
      action: "defer",
      retryAfterSeconds: 300,
      first: true,
    });
  });

  it("does not write the auto-allowance again for every recipient", async () => {
    const { grey, store, advance } = setup();
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    advance(10 * MIN);
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    const writes = store.writes;
    for (let i = 0; i < 50; i++) await grey.check("192.0.2.1", "a@s.example", `r${i}@l.test`);
    assert.equal(store.writes, writes);
    advance(MIN);
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    assert.equal(store.writes, writes + 1);
  });

  it("treats a retry after the window as a new first attempt", async () => {
    const { grey, store, advance, now } = setup();
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    advance(2 * DAY + 1);
    assert.deepEqual(await grey.check("192.0.2.1", "a@s.example", "b@l.test"), {
      action: "defer",
      retryAfterSeconds: 300,
      first: true,
    });
    const e = store.entries.get("t:192.0.2.0/24|a@s.example|b@l.test")!;
    assert.equal(e.firstSeen, now());
    advance(5 * MIN);
    assert.equal((await grey.check("192.0.2.1", "a@s.example", "b@l.test")).action, "pass");
  });

  it("accepts a retry exactly at the end of the window", async () => {
    const { grey, advance } = setup();
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    advance(2 * DAY);
    assert.equal((await grey.check("192.0.2.1", "a@s.example", "b@l.test")).action, "pass");
  });

  it("groups clients per IPv4 /24 and IPv6 /48", async () => {
    const { grey, advance } = setup();
    await grey.check("2001:db8:1:2::25", "a@s.example", "b@l.test");
    advance(6 * MIN);
    assert.equal((await grey.check("2001:db8:1:ff::7", "a@s.example", "b@l.test")).action, "pass");
    assert.equal(
      (await grey.check("2001:db8:2::25", "z@s.example", "b@l.test")).action,
      "defer",
      "another /48",
    );
    await grey.check("::ffff:198.51.100.10", "a@s.example", "b@l.test");
    advance(6 * MIN);
    assert.equal((await grey.check("198.51.100.77", "a@s.example", "b@l.test")).action, "pass");
  });

  it("ignores sub-address tags and BATV prefixes that change between attempts", async () => {
    const { grey, store, advance } = setup({ autoAllowMs: 0 });
    await grey.check("192.0.2.1", "prvs=1234abcd=Bounces+123@Lists.example", "b@l.test");
    advance(6 * MIN);
    assert.deepEqual(await grey.check("192.0.2.1", "prvs=99ffee00=bounces+456@lists.example", "b@l.test"), {
      action: "pass",
      reason: "retried",
    });
    assert.ok(store.entries.has("t:192.0.2.0/24|bounces@lists.example|b@l.test"));
  });

  it("uses the empty sender for the null sender <>", async () => {
    const { grey, store, advance } = setup();
    assert.equal((await grey.check("192.0.2.1", "<>", "b@l.test")).action, "defer");
    assert.ok(store.entries.has("t:192.0.2.0/24||b@l.test"));
    advance(6 * MIN);
    assert.equal((await grey.check("192.0.2.1", "", "b@l.test")).action, "pass");
  });

  it("never greylists allowed networks or allowed sender domains and their subdomains", async () => {
    const { grey, store } = setup();
    assert.deepEqual(await grey.check("203.0.113.5", "a@s.example", "b@l.test"), {
      action: "pass",
      reason: "allowed-network",
    });
    assert.equal((await grey.check("2001:db8:ffff:1::1", "a@s.example", "b@l.test")).action, "pass");
    for (const sender of ["x@bigmail.example", "X@MX.BigMail.Example", "bounce+1@a.b.partner.test"]) {
      assert.deepEqual(await grey.check("192.0.2.1", sender, "b@l.test"), {
        action: "pass",
        reason: "allowed-sender",
      });
    }
    for (const sender of [
      "x@notbigmail.example",
      "x@bigmail.example.evil",
      "bigmail.example@evil.test",
      "<>",
    ]) {
      assert.equal((await grey.check("192.0.2.1", sender, "b@l.test")).action, "defer", sender);
    }
    const keys = [...store.entries.keys()];
    assert.equal(keys.length, 4, "only the deferred senders were recorded");
    assert.ok(!keys.some((k) => k.includes("@bigmail.example|") || k.includes("partner.test|")));
  });

  it("without auto-allow, a passed triplet keeps passing for the retry window", async () => {
    const { grey, store, advance } = setup({ autoAllowMs: 0 });
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    advance(6 * MIN);
    assert.equal((await grey.check("192.0.2.1", "a@s.example", "b@l.test")).action, "pass");
    assert.equal(store.entries.has("a:192.0.2.0/24"), false);
    advance(DAY);
    assert.deepEqual(await grey.check("192.0.2.1", "a@s.example", "b@l.test"), {
      action: "pass",
      reason: "retried",
    });
    assert.equal((await grey.check("192.0.2.1", "a@s.example", "other@l.test")).action, "defer");
    advance(DAY + 2 * HOUR);
    assert.equal(
      (await grey.check("192.0.2.1", "a@s.example", "b@l.test")).action,
      "pass",
      "renewed by the last pass",
    );
  });

  it("with no delay, the first retry passes", async () => {
    const { grey } = setup({ delayMs: 0 });
    assert.deepEqual(await grey.check("192.0.2.1", "a@s.example", "b@l.test"), {
      action: "defer",
      retryAfterSeconds: 0,
      first: true,
    });
    assert.equal((await grey.check("192.0.2.1", "a@s.example", "b@l.test")).action, "pass");
  });

  it("expire() removes entries past their time, and check ignores them before that", async () => {
    const { grey, store, advance } = setup();
    await grey.check("192.0.2.1", "a@s.example", "b@l.test");
    await grey.check("192.0.2.2", "a@s.example", "c@l.test");
    advance(6 * MIN);
    await grey.check("192.0.2.1", "a@s.example", "b@l.test"); // passes: triplet and network kept 35 days
    advance(3 * DAY);
    assert.equal(await grey.expire(), 1, "the unretried triplet");
    assert.equal(store.entries.size, 2);
    advance(40 * DAY);
    assert.equal(await grey.expire(), 2);
    assert.equal(store.entries.size, 0);
  });
});

describe("normalizeSender", () => {
  it("lower-cases, strips brackets, tags and BATV prefixes", () => {
    const cases: [string, string][] = [
      ["Alice@Example.COM", "alice@example.com"],
      ["<alice@example.com>", "alice@example.com"],
      ["<>", ""],
      ["", ""],
      ["alice+news@example.com", "alice@example.com"],
      ["prvs=0123456789=alice@example.com", "alice@example.com"],
      ["msprvs1=18123abcd=bounces-123@example.com", "bounces-123@example.com"],
      ["btv1==0a1b2c3d==alice@example.com", "alice@example.com"],
      ["+only@example.com", "+only@example.com"],
      ["postmaster", "postmaster"],
    ];
    for (const [input, want] of cases) assert.equal(normalizeSender(input), want, input);
  });
});
