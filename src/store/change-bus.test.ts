import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalChangeBus } from "./change-bus.js";

/** mailbox wake-ups arrive on the next turn of the event loop */
const tick = () => new Promise((r) => setImmediate(r));

describe("LocalChangeBus", () => {
  it("delivers mailbox events to that mailbox's subscribers only, after the publisher's turn", async () => {
    const bus = new LocalChangeBus();
    const got: Array<[string, number]> = [];
    bus.subscribe(1, (m) => got.push(["a", m]));
    bus.subscribe(1, (m) => got.push(["b", m]));
    bus.subscribe(2, (m) => got.push(["c", m]));
    bus.publish(1, 7);
    bus.publish(3, 9);
    assert.deepEqual(got, [], "not during the publisher's turn");
    await tick();
    assert.deepEqual(got, [
      ["a", 7],
      ["b", 7],
    ]);
  });

  it("delivers account events separately from mailbox events", () => {
    const bus = new LocalChangeBus();
    let account = 0;
    let mailbox = 0;
    bus.subscribeAccount(5, () => account++);
    bus.subscribe(5, () => mailbox++);
    bus.publishAccount(5);
    bus.publishAccount(6);
    assert.deepEqual([account, mailbox], [1, 0]);
  });

  it("unsubscribes, leaving nothing behind", async () => {
    const bus = new LocalChangeBus();
    let n = 0;
    const offs = Array.from({ length: 100 }, (_, i) => bus.subscribe(i % 10, () => n++));
    const offAccount = bus.subscribeAccount(1, () => n++);
    assert.equal(bus.listenerCount(), 101);
    for (const off of offs) off();
    offAccount();
    offAccount();
    assert.equal(bus.listenerCount(), 0);
    bus.publish(1, 1);
    bus.publishAccount(1);
    await tick();
    assert.equal(n, 0);
  });

  it("coalesces wake-ups of one turn into one call with the highest modseq", async () => {
    const bus = new LocalChangeBus();
    const got: number[] = [];
    bus.subscribe(1, (m) => got.push(m));
    bus.publish(1, 3);
    bus.publish(1, 5);
    bus.publish(1, 4);
    await tick();
    assert.deepEqual(got, [5]);
  });

  it("lets listeners unsubscribe while being called", async () => {
    const bus = new LocalChangeBus();
    const got: string[] = [];
    const off = bus.subscribe(1, () => {
      got.push("once");
      off();
    });
    bus.subscribe(1, () => got.push("always"));
    bus.publish(1, 1);
    await tick();
    bus.publish(1, 2);
    await tick();
    assert.deepEqual(got, ["once", "always", "always"]);
  });

  it("a throwing listener does not stop the others", async () => {
    const errors: unknown[] = [];
    const bus = new LocalChangeBus((e) => errors.push(e));
    let reached = false;
    bus.subscribe(1, () => {
      throw new Error("broken session");
    });
    bus.subscribe(1, () => {
      reached = true;
    });
    bus.publish(1, 1);
    await tick();
    assert.equal(reached, true);
    assert.equal(errors.length, 1);
  });
});
