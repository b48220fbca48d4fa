// The queue engine end to end on a real SQLite store: a scripted Transport (our own interface, the
// SMTP transport is tested elsewhere), a fake clock driving the schedule, bounces read back from the
// sender's INBOX and parsed.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { LogEvent } from "../../src/log/events.js";
import type { Log, LogFields } from "../../src/log/logger.js";
import { parseMime } from "../../src/mail/mime-parser.js";
import type { MimeNode } from "../../src/mail/mime-types.js";
import { StoreBounceSink } from "../../src/queue/bounce-sink.js";
import { QueueRunner, type QueueRunnerOptions } from "../../src/queue/runner.js";
import type { Clock, DeliveryJob, RecipientOutcome, Transport } from "../../src/queue/types.js";
import { openStore } from "../../src/store/open-store.js";
import type { MailStore, NewQueueMessage } from "../../src/store/types.js";
import { testAccount } from "../store/conformance.js";

// ---- fixtures ----

class FakeClock implements Clock {
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 0;
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }
  /** moves time forward, firing due timers */
  set(t: number): void {
    this.t = Math.max(this.t, t);
    const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((x) => x.at > this.t);
    for (const x of due) x.fn();
  }
  advance(ms: number): void {
    this.set(this.t + ms);
  }
}

interface LogLine {
  level: string;
  event: LogEvent;
  msg: string;
  fields: LogFields;
}

function captureLog(lines: LogLine[]): Log {
  const at =
    (level: string) =>
    (event: LogEvent, msg: string, fields: LogFields = {}): void => {
      lines.push({ level, event, msg, fields });
    };
  const log: Log = {
    trace: at("trace"),
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    fatal: at("fatal"),
    child: () => log,
    level: "trace",
  };
  return log;
}

type Script = (job: DeliveryJob) => RecipientOutcome[] | Promise<RecipientOutcome[]>;

/** a Transport that answers from a script and records every call with the clock time */
class ScriptedTransport implements Transport {
  calls: Array<{ at: number; queueId: string; domain: string; rcpts: string[]; sender: string }> = [];
  constructor(
    private readonly clock: Clock,
    public script: Script,
  ) {}
  async deliver(job: DeliveryJob): Promise<RecipientOutcome[]> {
    this.calls.push({
      at: this.clock.now(),
      queueId: job.message.id,
      domain: job.domain,
      rcpts: job.recipients.map((r) => r.address),
      sender: job.message.sender,
    });
    return this.script(job);
  }
}

const ok = (job: DeliveryJob, extra: Partial<RecipientOutcome> = {}): RecipientOutcome[] =>
  job.recipients.map((r) => ({
    recipientId: r.id,
    kind: "delivered",
    status: "2.0.0",
    reply: "250 2.0.0 ok",
    remoteMta: `mx.${job.domain}`,
    ...extra,
  }));
const temp = (job: DeliveryJob): RecipientOutcome[] =>
  job.recipients.map((r) => ({
    recipientId: r.id,
    kind: "temporary",
    status: "4.7.1",
    reply: `mx.${job.domain}[192.0.2.1]: 451 4.7.1 greylisted`,
    remoteMta: `mx.${job.domain}`,
    diagnostic: "smtp; 451 4.7.1 greylisted",
  }));
const perm = (job: DeliveryJob, who: (address: string) => boolean = () => true): RecipientOutcome[] =>
  job.recipients.map((r) =>
    who(r.address)
      ? {
          recipientId: r.id,
          kind: "permanent",
          status: "5.1.1",
          reply: `mx.${job.domain}[192.0.2.1]: 550 5.1.1 no such user ${r.address}`,
          remoteMta: `mx.${job.domain}`,
          diagnostic: `smtp; 550 5.1.1 no such user ${r.address}`,
        }
      : ok(job).find((o) => o.recipientId === r.id)!,
  );

const MESSAGE =
  "From: Alice <alice@example.com>\r\nTo: bob@remote.test\r\nSubject: Quarterly numbers\r\n" +
  "Message-ID: <q1@example.com>\r\n\r\nthe numbers are in\r\n";

interface Fixture {
  store: MailStore;
  clock: FakeClock;
  transport: ScriptedTransport;
  lines: LogLine[];
  aliceId: number;
  runner(over?: Partial<QueueRunnerOptions>): QueueRunner;
  enqueue(q: Partial<NewQueueMessage> & { recipients: NewQueueMessage["recipients"] }): Promise<string>;
  inbox(accountId?: number): Promise<Buffer[]>;
  listQueueIds(): Promise<string[]>;
  /** runs until nothing is due any more, moving the clock to each due time */
  runAll(r: QueueRunner, maxSteps?: number): Promise<void>;
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-queue-"));
  const store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir });
  try {
    const alice = await testAccount(store, "alice@example.com");
    // a minute ahead of the store's own clock, which stamps queue entries (created, first attempt)
    const clock = new FakeClock(Date.now() + 60_000);
    const transport = new ScriptedTransport(clock, (job) => ok(job));
    const lines: LogLine[] = [];
    const f: Fixture = {
      store,
      clock,
      transport,
      lines,
      aliceId: alice.id,
      runner: (over = {}) =>
        new QueueRunner({
          store,
          transport,
          bounceSink: new StoreBounceSink({ store, hostname: "mx.example.com" }),
          clock,
          owner: "node-1",
          hostname: "mx.example.com",
          log: captureLog(lines),
          ...over,
        }),
      async enqueue(q) {
        const blob = await store.blobs.put(Buffer.from(MESSAGE));
        const parsed = parseMime(Buffer.from(MESSAGE));
        const r = await store.deliver({
          content: { blobId: blob.id, blobSize: blob.size, mime: parsed.root, envelope: parsed.envelope },
          targets: [],
          queue: {
            sender: "alice@example.com",
            prefix: Buffer.from("Received: by mx.example.com\r\n"),
            ...q,
          },
        });
        return r.queueId!;
      },
      async inbox(accountId = alice.id) {
        const box = (await store.getMailbox(accountId, "INBOX"))!;
        const out: Buffer[] = [];
        for (const m of await store.listMessages(box.id)) {
          const src = (await store.getMessageSource(box.id, m.uid))!;
          out.push(Buffer.concat([src.prefix, await store.blobs.read(src.blobId)]));
        }
        return out;
      },
      async listQueueIds() {
        return (await store.listQueue()).map((m) => m.id);
      },
      async runAll(r, maxSteps = 200) {
        for (let i = 0; i < maxSteps; i++) {
          await r.runOnce();
          const due = await store.nextQueueDue();
          if (!due) return;
          clock.set(due.getTime());
        }
        throw new Error("the queue did not drain");
      },
    };
    await fn(f);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface ParsedDsn {
  raw: Buffer;
  header: string;
  parts: MimeNode[];
  text: string;
  perMessage: Map<string, string>;
  recipients: Array<Map<string, string>>;
  returned: string;
}

function parseDsn(raw: Buffer): ParsedDsn {
  // the copy in the mailbox starts with our trace prefix (Return-Path …), then the DSN
  const { root } = parseMime(raw);
  assert.equal(`${root.contentType.type}/${root.contentType.subtype}`, "multipart/report");
  assert.equal(root.contentType.params["report-type"], "delivery-status");
  const body = (n: MimeNode) => raw.subarray(n.bodyStart, n.bodyEnd).toString("utf8");
  const blocks = body(root.children[1]!)
    .replace(/\r\n[ \t]+/g, " ")
    .split(/\r\n\r\n/)
    .filter((b) => b.trim() !== "")
    .map((b) => {
      const m = new Map<string, string>();
      for (const line of b.split("\r\n").filter((l) => l !== "")) {
        const i = line.indexOf(":");
        m.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
      }
      return m;
    });
  return {
    raw,
    header: raw.subarray(0, root.headerEnd).toString("utf8"),
    parts: root.children,
    text: body(root.children[0]!).replace(/\r\n *(?=\S)/g, " "),
    perMessage: blocks[0]!,
    recipients: blocks.slice(1),
    returned: root.children[2]
      ? `${root.children[2].contentType.type}/${root.children[2].contentType.subtype}`
      : "",
  };
}

const subjectOf = (d: ParsedDsn) => /^Subject: (.*)$/m.exec(d.header)?.[1];

// ---- tests ----

describe("QueueRunner", () => {
  it("makes the first attempt at once and removes a delivered message, without a DSN", () =>
    withFixture(async (f) => {
      const id = await f.enqueue({
        recipients: [{ address: "bob@remote.test" }, { address: "carol@other.test" }],
      });
      const r = f.runner();
      assert.equal(await r.runOnce(), 2);
      // both domains at once (their order is not part of the contract)
      assert.deepEqual(
        f.transport.calls.map((c) => [c.at, c.domain, c.rcpts]).sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
        [
          [f.clock.t, "other.test", ["carol@other.test"]],
          [f.clock.t, "remote.test", ["bob@remote.test"]],
        ],
      );
      assert.equal(await f.store.getQueued(id), null);
      assert.deepEqual(await f.inbox(), []);
      assert.equal(await r.runOnce(), 0);
      const delivered = f.lines
        .filter((l) => l.event === "queue.delivered")
        .sort((x, y) => String(x.fields.domain).localeCompare(String(y.fields.domain)));
      assert.deepEqual(
        delivered.map((l) => [
          l.fields.queueId,
          l.fields.rcpt,
          l.fields.domain,
          l.fields.outcome,
          l.fields.reply,
        ]),
        [
          [id, "carol@other.test", "other.test", "delivered", "250 2.0.0 ok"],
          [id, "bob@remote.test", "remote.test", "delivered", "250 2.0.0 ok"],
        ],
      );
    }));

  it("retries temporary failures exactly on the schedule, the last interval repeating", () =>
    withFixture(async (f) => {
      f.transport.script = temp;
      const t0 = f.clock.t;
      const id = await f.enqueue({ recipients: [{ address: "bob@remote.test" }] });
      const r = f.runner({ delayWarning: 0 });
      const expected = [0, 120, 420, 1020, 1920, 3720, 7320, 14520, 28920, 43320, 57720];
      for (const [i, at] of expected.entries()) {
        // one millisecond early: nothing is due
        if (i > 0) {
          f.clock.set(t0 + at * 1000 - 1);
          assert.equal(await r.runOnce(), 0, `early for attempt ${i + 1}`);
          f.clock.set(t0 + at * 1000);
        }
        assert.equal(await r.runOnce(), 1, `attempt ${i + 1}`);
        const q = (await f.store.getQueued(id))!;
        const rcpt = q.recipients[0]!;
        assert.equal(rcpt.status, "deferred");
        assert.equal(rcpt.attempts, i + 1);
        assert.equal(rcpt.lastReply, "mx.remote.test[192.0.2.1]: 451 4.7.1 greylisted");
        assert.equal(rcpt.lastStatus, "4.7.1");
        assert.equal(rcpt.diagnostic, "smtp; 451 4.7.1 greylisted");
        if (i + 1 < expected.length) {
          assert.equal(rcpt.nextAttemptAt?.getTime(), t0 + expected[i + 1]! * 1000);
          assert.equal((await f.store.nextQueueDue())?.getTime(), t0 + expected[i + 1]! * 1000);
        }
      }
      assert.deepEqual(
        f.transport.calls.map((c) => (c.at - t0) / 1000),
        expected,
      );
      const deferred = f.lines.filter((l) => l.event === "queue.deferred");
      assert.equal(deferred.length, expected.length);
      assert.equal(deferred[0]!.fields.next, new Date(t0 + 120_000).toISOString());
      assert.deepEqual(await f.inbox(), []);
    }));

  it("bounces with 4.4.7 when the lifetime is over, into the sender's INBOX", () =>
    withFixture(async (f) => {
      f.transport.script = temp;
      const id = await f.enqueue({
        recipients: [{ address: "bob@remote.test", orcpt: "rfc822;Bob@Remote.TEST" }],
        dsn: { envid: "env-7" },
      });
      const created = (await f.store.getQueued(id))!.createdAt.getTime();
      const r = f.runner({ retryIntervals: [600], lifetime: 3600, delayWarning: 0 });
      await f.runAll(r);
      assert.equal(await f.store.getQueued(id), null);
      const times = f.transport.calls.map((c) => c.at);
      assert.equal(times.length, 7); // at 0 (≈ created), 600 … 3000 s, and at the deadline
      assert.equal(times[times.length - 1], created + 3_600_000);
      const expired = f.lines.filter((l) => l.event === "queue.expired");
      assert.equal(expired.length, 1);
      assert.equal(expired[0]!.fields.status, "4.4.7");

      const mail = await f.inbox();
      assert.equal(mail.length, 1);
      assert.match(mail[0]!.toString(), /^Return-Path: <>\r\nDelivered-To: alice@example\.com\r\n/);
      const dsn = parseDsn(mail[0]!);
      assert.equal(subjectOf(dsn), "Undelivered Mail Returned to Sender");
      assert.match(dsn.header, /^From: "Mail Delivery System" <MAILER-DAEMON@mx\.example\.com>$/m);
      assert.match(dsn.header, /^To: alice@example\.com$/m);
      assert.match(dsn.header, /^Auto-Submitted: auto-replied$/m);
      assert.equal(dsn.perMessage.get("reporting-mta"), "dns; mx.example.com");
      assert.equal(dsn.perMessage.get("original-envelope-id"), "env-7");
      assert.ok(dsn.perMessage.has("arrival-date"));
      assert.equal(dsn.recipients.length, 1);
      const b = dsn.recipients[0]!;
      assert.equal(b.get("original-recipient"), "rfc822;Bob@Remote.TEST");
      assert.equal(b.get("final-recipient"), "rfc822; bob@remote.test");
      assert.equal(b.get("action"), "failed");
      assert.equal(b.get("status"), "4.4.7");
      assert.equal(b.get("remote-mta"), "dns; mx.remote.test");
      assert.equal(b.get("diagnostic-code"), "smtp; 451 4.7.1 greylisted");
      assert.match(dsn.text, /delivery time expired/);
      assert.equal(dsn.returned, "message/rfc822");
      assert.match(dsn.raw.toString(), /Subject: Quarterly numbers\r\n/);
    }));

  it("bounces only the failed recipients of a partly delivered message, in one DSN per message", () =>
    withFixture(async (f) => {
      const failing = new Set(["bob@remote.test", "dan@remote.test", "eve@third.test"]);
      f.transport.script = (job) => perm(job, (a) => failing.has(a));
      const id = await f.enqueue({
        recipients: [
          { address: "bob@remote.test" },
          { address: "carol@other.test" },
          { address: "dan@remote.test" },
          { address: "eve@third.test" },
          { address: "frank@remote.test" },
        ],
      });
      const r = f.runner();
      assert.equal(await r.runOnce(), 3);
      assert.equal(await f.store.getQueued(id), null);
      const mail = await f.inbox();
      assert.equal(mail.length, 1);
      const dsn = parseDsn(mail[0]!);
      assert.deepEqual(
        dsn.recipients.map((b) => [b.get("final-recipient"), b.get("action"), b.get("status")]),
        [
          ["rfc822; bob@remote.test", "failed", "5.1.1"],
          ["rfc822; dan@remote.test", "failed", "5.1.1"],
          ["rfc822; eve@third.test", "failed", "5.1.1"],
        ],
      );
      assert.equal(dsn.recipients[0]!.get("diagnostic-code"), "smtp; 550 5.1.1 no such user bob@remote.test");
      assert.equal(dsn.recipients[2]!.get("remote-mta"), "dns; mx.third.test");
      assert.doesNotMatch(dsn.text, /carol|frank/);
      assert.match(dsn.text, /no such user dan@remote\.test/);
      assert.equal(f.lines.filter((l) => l.event === "queue.failed").length, 3);
      assert.equal(f.lines.filter((l) => l.event === "queue.dsn").length, 1);
    }));

  it("sends no DSN for NOTIFY=NEVER, NOTIFY without FAILURE, or the null sender", () =>
    withFixture(async (f) => {
      f.transport.script = (job) => perm(job);
      await f.enqueue({ recipients: [{ address: "bob@remote.test", notify: ["NEVER"] }] });
      await f.enqueue({ recipients: [{ address: "bob@remote.test", notify: ["SUCCESS", "DELAY"] }] });
      await f.enqueue({ sender: "", recipients: [{ address: "carol@other.test" }] });
      const r = f.runner();
      assert.equal(await r.runOnce(), 3);
      assert.deepEqual(await f.listQueueIds(), []);
      assert.deepEqual(await f.inbox(), []);
      assert.equal(f.lines.filter((l) => l.event === "queue.dsn").length, 0);
    }));

  it("sends a success DSN for NOTIFY=SUCCESS when the next hop has no DSN, or on final delivery", () =>
    withFixture(async (f) => {
      f.transport.script = (job) => {
        if (job.domain === "relay.test") return ok(job, { relayed: true });
        if (job.domain === "final.test") return ok(job, { final: true });
        return ok(job); // a next hop with DSN reports itself (RFC 3461 §5.2.1)
      };
      await f.enqueue({
        recipients: [
          { address: "bob@relay.test", notify: ["SUCCESS", "FAILURE"] },
          { address: "carol@final.test", notify: ["SUCCESS"] },
          { address: "dan@dsn.test", notify: ["SUCCESS"] },
          { address: "eve@relay.test" }, // no NOTIFY: no success DSN (RFC 3461 §5.2.3(c))
        ],
      });
      await f.runner().runOnce();
      const mail = await f.inbox();
      assert.equal(mail.length, 1);
      const dsn = parseDsn(mail[0]!);
      assert.equal(subjectOf(dsn), "Successful Mail Delivery Report");
      assert.deepEqual(
        dsn.recipients.map((b) => [b.get("final-recipient"), b.get("action"), b.get("status")]),
        [
          ["rfc822; bob@relay.test", "relayed", "2.0.0"],
          ["rfc822; carol@final.test", "delivered", "2.0.0"],
        ],
      );
      assert.equal(dsn.returned, "text/rfc822-headers");
    }));

  it("sends one delay DSN once the message is older than delayWarning, then none, then the bounce", () =>
    withFixture(async (f) => {
      f.transport.script = temp;
      const id = await f.enqueue({
        recipients: [{ address: "bob@remote.test" }, { address: "carol@remote.test", notify: ["FAILURE"] }],
      });
      const r = f.runner({ retryIntervals: [300], lifetime: 7200, delayWarning: 900 });
      for (let i = 0; i < 8; i++) {
        await r.runOnce();
        f.clock.set((await f.store.nextQueueDue())!.getTime());
      }
      const mail = await f.inbox();
      assert.equal(mail.length, 1);
      const dsn = parseDsn(mail[0]!);
      assert.equal(subjectOf(dsn), "Delayed Mail (still being retried)");
      assert.deepEqual(
        dsn.recipients.map((b) => [b.get("final-recipient"), b.get("action"), b.get("status")]),
        [["rfc822; bob@remote.test", "delayed", "4.7.1"]],
      );
      const created = (await f.store.getQueued(id))!.createdAt.getTime();
      assert.equal(
        new Date(dsn.recipients[0]!.get("will-retry-until")!).getTime(),
        Math.floor((created + 7_200_000) / 1000) * 1000,
      );
      assert.equal(dsn.returned, "text/rfc822-headers");
      assert.match(dsn.text, /only a warning/);
      const bob = (await f.store.getQueued(id))!.recipients[0]!;
      assert.ok(bob.delayNotifiedAt);
      // the attempt at >= 900 s sent it: attempts at 0, 300, 600, 900
      assert.equal(bob.delayNotifiedAt.getTime(), f.transport.calls[3]!.at);
      // expiry bounces both
      await f.runAll(r);
      const after = await f.inbox();
      assert.equal(after.length, 2);
      assert.deepEqual(
        parseDsn(after[1]!).recipients.map((b) => [b.get("final-recipient"), b.get("status")]),
        [
          ["rfc822; bob@remote.test", "4.4.7"],
          ["rfc822; carol@remote.test", "4.4.7"],
        ],
      );
    }));

  it("keeps to the global and the per-destination concurrency", () =>
    withFixture(async (f) => {
      let now = 0;
      let max = 0;
      const perDomain = new Map<string, number>();
      const maxPerDomain = new Map<string, number>();
      f.transport.script = async (job) => {
        now++;
        max = Math.max(max, now);
        perDomain.set(job.domain, (perDomain.get(job.domain) ?? 0) + 1);
        maxPerDomain.set(job.domain, Math.max(maxPerDomain.get(job.domain) ?? 0, perDomain.get(job.domain)!));
        await sleep(5);
        now--;
        perDomain.set(job.domain, perDomain.get(job.domain)! - 1);
        return ok(job);
      };
      for (let i = 0; i < 12; i++) await f.enqueue({ recipients: [{ address: `u${i}@busy.test` }] });
      for (let i = 0; i < 12; i++) await f.enqueue({ recipients: [{ address: `u@d${i % 6}.test` }] });
      const r = f.runner({ concurrency: 5, destinationConcurrency: 2 });
      assert.equal(await r.runOnce(), 24);
      assert.equal(max, 5);
      assert.equal(maxPerDomain.get("busy.test"), 2);
      for (const [, n] of maxPerDomain) assert.ok(n <= 2);
      assert.deepEqual(await f.listQueueIds(), []);
      assert.equal(f.transport.calls.length, 24);
    }));

  it("after a crash, the same owner releases its leases and delivers each recipient once", () =>
    withFixture(async (f) => {
      const id = await f.enqueue({
        recipients: [
          { address: "bob@remote.test" },
          { address: "carol@other.test" },
          { address: "dan@remote.test" },
        ],
      });
      // the first process hangs in the transport and "dies" there: its leases stay
      const hung = new ScriptedTransport(f.clock, () => new Promise<RecipientOutcome[]>(() => undefined));
      const dead = f.runner({ transport: hung });
      void dead.runOnce();
      while (hung.calls.length < 2) await sleep(1);
      assert.deepEqual(await f.runner({ owner: "node-2" }).runOnce(), 0);

      const restarted = f.runner();
      await restarted.start();
      for (let i = 0; i < 500 && (await f.store.getQueued(id)) !== null; i++) await sleep(2);
      await restarted.stop();
      assert.equal(await f.store.getQueued(id), null);
      const delivered = f.transport.calls.flatMap((c) => c.rcpts).sort();
      assert.deepEqual(delivered, ["bob@remote.test", "carol@other.test", "dan@remote.test"]);
    }));

  it("another owner waits until the lease has expired", () =>
    withFixture(async (f) => {
      const id = await f.enqueue({ recipients: [{ address: "bob@remote.test" }] });
      const hung = new ScriptedTransport(f.clock, () => new Promise<RecipientOutcome[]>(() => undefined));
      void f.runner({ transport: hung, leaseMs: 60_000 }).runOnce();
      while (hung.calls.length < 1) await sleep(1);
      const other = f.runner({ owner: "node-2" });
      f.clock.advance(59_999);
      assert.equal(await other.runOnce(), 0);
      assert.equal((await f.store.nextQueueDue())?.getTime(), f.clock.t + 1);
      f.clock.advance(1);
      assert.equal(await other.runOnce(), 1);
      assert.equal(await f.store.getQueued(id), null);
    }));

  it("defers every recipient of a job when the transport throws, and keeps running", () =>
    withFixture(async (f) => {
      f.transport.script = () => {
        throw new Error("socket exploded");
      };
      const t0 = f.clock.t;
      const id = await f.enqueue({
        recipients: [{ address: "bob@remote.test" }, { address: "dan@remote.test" }],
      });
      const r = f.runner();
      assert.equal(await r.runOnce(), 1);
      const q = (await f.store.getQueued(id))!;
      for (const rcpt of q.recipients) {
        assert.equal(rcpt.status, "deferred");
        assert.equal(rcpt.attempts, 1);
        assert.match(rcpt.lastReply!, /socket exploded/);
        assert.equal(rcpt.nextAttemptAt?.getTime(), t0 + 120_000);
      }
      assert.ok(
        f.lines.some((l) => l.event === "queue.error" && /socket exploded/.test(String(l.fields.err))),
      );
      // a transport that forgets a recipient: that one is deferred, the other recorded
      f.transport.script = (job) => ok(job).slice(0, 1);
      f.clock.advance(120_000);
      assert.equal(await r.runOnce(), 1);
      const after = (await f.store.getQueued(id))!;
      assert.deepEqual(
        after.recipients.map((x) => x.status),
        ["delivered", "deferred"],
      );
    }));

  it("bounces to a remote sender through the queue, from the null sender", () =>
    withFixture(async (f) => {
      const bounces: Buffer[] = [];
      f.transport.script = async (job) => {
        if (job.message.sender !== "") return perm(job);
        bounces.push(await f.store.blobs.read(job.message.blobId));
        assert.deepEqual(
          job.recipients.map((x) => [x.address, x.notify]),
          [["zoe@elsewhere.test", ["NEVER"]]],
        );
        return ok(job);
      };
      await f.enqueue({ sender: "zoe@elsewhere.test", recipients: [{ address: "bob@remote.test" }] });
      // the bounce is queued while the run goes on, and due at once: the same run sends it
      assert.equal(await f.runner().runOnce(), 2);
      assert.deepEqual(
        f.transport.calls.map((c) => [c.sender, c.rcpts]),
        [
          ["zoe@elsewhere.test", ["bob@remote.test"]],
          ["", ["zoe@elsewhere.test"]],
        ],
      );
      assert.equal(bounces.length, 1);
      const dsn = parseDsn(bounces[0]!);
      assert.match(dsn.header, /^To: zoe@elsewhere\.test$/m);
      assert.equal(dsn.recipients[0]!.get("final-recipient"), "rfc822; bob@remote.test");
      assert.deepEqual(await f.listQueueIds(), []);
    }));

  it("wakes for new mail while started, sleeps until the next due time, and stops", () =>
    withFixture(async (f) => {
      const r = f.runner();
      await r.start();
      const id = await f.enqueue({ recipients: [{ address: "bob@remote.test" }] });
      r.wake();
      for (let i = 0; i < 500 && (await f.store.getQueued(id)) !== null; i++) await sleep(2);
      assert.equal(await f.store.getQueued(id), null);
      // a deferred recipient is picked up when the clock reaches its time, without a wake
      f.transport.script = temp;
      const id2 = await f.enqueue({ recipients: [{ address: "carol@other.test" }] });
      r.wake();
      for (let i = 0; i < 500 && f.transport.calls.length < 2; i++) await sleep(2);
      f.transport.script = (job) => ok(job);
      await sleep(20);
      f.clock.advance(120_000);
      for (let i = 0; i < 500 && (await f.store.getQueued(id2)) !== null; i++) await sleep(2);
      assert.equal(await f.store.getQueued(id2), null);
      await r.stop();
      assert.equal(f.transport.calls.length, 3);
    }));
});
