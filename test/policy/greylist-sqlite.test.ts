// Greylisting (RFC 6647) on the real SQLite store: the whole defer → retry → auto-allow cycle, state
// that survives a restart, and expiry of old entries.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Greylist, type GreylistOptions } from "../../src/policy/greylist.js";
import { openStore } from "../../src/store/open-store.js";
import type { MailStore } from "../../src/store/types.js";

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

interface Fixture {
  store: MailStore;
  reopen(): Promise<MailStore>;
  grey(store: MailStore, over?: Partial<GreylistOptions>): Greylist;
  advance(ms: number): void;
}

async function withStore(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-greylist-"));
  const dbPath = join(dir, "postamt.db");
  const opened: MailStore[] = [];
  const open = async () => {
    const s = await openStore(`sqlite:${dbPath}`, { dataDir: dir });
    opened.push(s);
    return s;
  };
  let t = 1_700_000_000_000;
  try {
    await fn({
      store: await open(),
      reopen: async () => {
        await opened.at(-1)?.close();
        return open();
      },
      grey: (store, over = {}) =>
        new Greylist({
          store,
          delayMs: 5 * MIN,
          retryWindowMs: 2 * DAY,
          autoAllowMs: 35 * DAY,
          allowNetworks: [],
          allowSenders: [],
          now: () => t,
          ...over,
        }),
      advance: (ms) => {
        t += ms;
      },
    });
  } finally {
    for (const s of opened) await s.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

describe("Greylist on the SQLite store", () => {
  it("defers, passes the retry, then allows the network", () =>
    withStore(async ({ store, grey, advance }) => {
      const g = grey(store);
      assert.deepEqual(
        await g.check("2001:db8:1:2::25", "prvs=abc123=Alice@Sender.example", "bob@local.test"),
        {
          action: "defer",
          retryAfterSeconds: 300,
          first: true,
        },
      );
      advance(MIN);
      assert.deepEqual(
        await g.check("2001:db8:1:9::26", "prvs=def456=alice@sender.example", "bob@local.test"),
        {
          action: "defer",
          retryAfterSeconds: 240,
          first: false,
        },
      );
      advance(5 * MIN);
      assert.deepEqual(await g.check("2001:db8:1:9::26", "alice@sender.example", "Bob@Local.test"), {
        action: "pass",
        reason: "retried",
      });
      const triplet = await store.greylistGet("t:2001:db8:1::/48|alice@sender.example|bob@local.test");
      assert.equal(triplet?.passed, true);
      assert.equal((await store.greylistGet("a:2001:db8:1::/48"))?.passed, true);
      assert.deepEqual(await g.check("2001:db8:1::99", "<>", "carol@local.test"), {
        action: "pass",
        reason: "auto-allowed",
      });
      assert.equal((await g.check("192.0.2.1", "<>", "carol@local.test")).action, "defer");
    }));

  it("remembers triplets and allowed networks across a restart", () =>
    withStore(async ({ store, reopen, grey, advance }) => {
      await grey(store).check("192.0.2.10", "a@s.example", "b@l.test");
      await grey(store).check("198.51.100.10", "a@s.example", "b@l.test");
      advance(10 * MIN);
      assert.equal((await grey(store).check("198.51.100.10", "a@s.example", "b@l.test")).action, "pass");
      const again = await reopen();
      const g = grey(again);
      assert.deepEqual(await g.check("192.0.2.11", "a@s.example", "b@l.test"), {
        action: "pass",
        reason: "retried",
      });
      assert.deepEqual(await g.check("198.51.100.200", "x@y.example", "z@l.test"), {
        action: "pass",
        reason: "auto-allowed",
      });
    }));

  it("starts over after the retry window, and expire() deletes what ran out", () =>
    withStore(async ({ store, grey, advance }) => {
      const g = grey(store);
      await g.check("192.0.2.10", "a@s.example", "b@l.test");
      await g.check("203.0.113.5", "c@s.example", "d@l.test");
      advance(6 * MIN);
      await g.check("203.0.113.5", "c@s.example", "d@l.test"); // passed: kept for auto_allow_time
      advance(2 * DAY + MIN);
      assert.equal(
        await store.greylistGet("t:192.0.2.0/24|a@s.example|b@l.test").then((e) => e !== null),
        true,
      );
      assert.equal(await g.expire(), 1);
      assert.equal(await store.greylistGet("t:192.0.2.0/24|a@s.example|b@l.test"), null);
      assert.deepEqual(await g.check("192.0.2.10", "a@s.example", "b@l.test"), {
        action: "defer",
        retryAfterSeconds: 300,
        first: true,
      });
      assert.equal((await g.check("203.0.113.77", "new@s.example", "d@l.test")).action, "pass");
      advance(40 * DAY);
      assert.equal(await g.expire(), 3, "the new triplet, the passed one and the network");
    }));
});
