// LocalDeliveryAgent against the real SQLite store in a temp dir: copies, prefixes, dedup, Junk,
// the queue entry for remote recipients, quota (all or nothing) and metrics.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { LocalDeliveryAgent } from "../../src/delivery/local-delivery.js";
import { MessageSpool } from "../../src/delivery/spool.js";
import type {
  AcceptedRecipient,
  InboundEnvelope,
  SpooledMessage,
  TraceInfo,
} from "../../src/delivery/types.js";
import { createMetrics } from "../../src/http/metrics.js";
import { deliveredToHeader, receivedHeader, returnPathHeader } from "../../src/mail/received.js";
import { openStore } from "../../src/store/open-store.js";
import { type Account, type MailStore, StoreError } from "../../src/store/types.js";

const SCRAM = { iterations: 4096, salt: "c2FsdA==", storedKey: "c3RvcmVk", serverKey: "c2VydmVy" };
const DATE = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

const MESSAGE = Buffer.from(
  [
    "From: Alice <alice@sender.example>",
    "To: team@example.org",
    "Subject: Quarterly Zebrafisch report",
    "Message-ID: <q1@sender.example>",
    "",
    "The numbers are in.",
    "",
  ].join("\r\n"),
);

const TRACE: TraceInfo = {
  receivedBy: "mx.example.org",
  heloName: "mail.sender.example",
  remoteAddress: "192.0.2.25",
  remoteHost: "mail.sender.example",
  protocol: "ESMTPS",
  tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", bits: 256 },
  authenticatedAs: null,
  id: "T1",
  date: DATE,
};

interface Fixture {
  dir: string;
  store: MailStore;
  alice: Account;
  bob: Account;
  carol: Account;
}

let f: Fixture;

beforeEach(async () => {
  const dir = await mkdtemp(join(tmpdir(), "postamt-lda-"));
  const store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir });
  await store.addDomain("example.org");
  const add = (address: string) => store.addAccount({ address, passwordHash: "x", scram: SCRAM });
  const [alice, bob, carol] = [
    await add("alice@example.org"),
    await add("bob@example.org"),
    await add("carol@example.org"),
  ];
  await store.addAlias("team@example.org", ["alice@example.org", "bob@example.org"]);
  await store.addAlias("fwd@example.org", ["carol@example.org", "Far@Remote.Example"]);
  f = { dir, store, alice, bob, carol };
});

afterEach(async () => {
  await f.store.close();
  await rm(f.dir, { recursive: true, force: true });
});

async function spool(data: Buffer = MESSAGE): Promise<SpooledMessage> {
  const s = new MessageSpool(f.store);
  await s.write(data);
  return s.finish();
}

/** What the SMTP session does with RCPT TO: resolve, and turn alias remote targets into remote recipients. */
async function rcpt(
  address: string,
  dsn: { notify?: string[]; orcpt?: string } = {},
): Promise<AcceptedRecipient[]> {
  const r = await f.store.resolveRecipient(address);
  if (r === null) return [{ kind: "remote", address, ...dsn }];
  const out: AcceptedRecipient[] = [];
  if (r.accountIds.length > 0) {
    out.push({ kind: "local", address, accountIds: r.accountIds, addresses: r.addresses, ...dsn });
  }
  for (const remote of r.remote) out.push({ kind: "remote", address: remote, ...dsn });
  return out;
}

async function envelope(rcpts: string[], extra: Partial<InboundEnvelope> = {}): Promise<InboundEnvelope> {
  const recipients: AcceptedRecipient[] = [];
  for (const a of rcpts) recipients.push(...(await rcpt(a)));
  return { mailFrom: "alice@sender.example", recipients, ...extra };
}

async function messagesIn(account: Account, mailbox = "INBOX") {
  const box = await f.store.getMailbox(account.id, mailbox);
  assert.ok(box, `${account.address} has ${mailbox}`);
  const list = await f.store.listMessages(box.id);
  const records = [];
  for (const m of list) records.push((await f.store.getMessage(box.id, m.uid))!);
  return records;
}

function expectedPrefix(deliveredTo: string, forRcpt: string, extra = ""): string {
  return (
    returnPathHeader("alice@sender.example") +
    deliveredToHeader(deliveredTo) +
    receivedHeader(TRACE, forRcpt) +
    extra
  );
}

async function blobCount(store: MailStore): Promise<number> {
  let n = 0;
  for await (const _ of store.blobs.list()) n++;
  return n;
}

describe("LocalDeliveryAgent", () => {
  it("delivers one blob to two accounts, each copy with its own prefix", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const msg = await spool();
    const out = await lda.deliver(msg, await envelope(["alice@example.org", "Bob@Example.ORG"]), TRACE);
    assert.deepEqual(out, { localCopies: 2, queueId: null });

    const [a] = await messagesIn(f.alice);
    const [b] = await messagesIn(f.bob);
    assert.ok(a && b);
    assert.equal(a.blobId, msg.blobId);
    assert.equal(b.blobId, msg.blobId);
    assert.equal(await blobCount(f.store), 1);

    assert.equal(a.prefix.toString(), expectedPrefix("alice@example.org", "alice@example.org"));
    assert.equal(b.prefix.toString(), expectedPrefix("bob@example.org", "Bob@Example.ORG"));
    assert.ok(
      a.prefix
        .toString()
        .startsWith("Return-Path: <alice@sender.example>\r\nDelivered-To: alice@example.org\r\n"),
    );

    for (const m of [a, b]) {
      const full = Buffer.concat([m.prefix, await f.store.blobs.read(m.blobId)]);
      assert.deepEqual(full, Buffer.concat([m.prefix, MESSAGE]));
      assert.equal(m.size, full.length);
      assert.equal(m.internalDate.getTime(), DATE.getTime());
      assert.deepEqual(m.flags, []);
      assert.deepEqual(m.mime, msg.mime);
      assert.equal(m.envelope.subject, "Quarterly Zebrafisch report");
    }
    // the full-text row is shared by the copies
    const inbox = (await f.store.getMailbox(f.alice.id, "INBOX"))!;
    assert.deepEqual(await f.store.searchText(inbox.id, "zebrafisch"), [a.uid]);
  });

  it("an account reached through an alias and directly gets one copy; the first recipient wins", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const msg = await spool();
    const out = await lda.deliver(msg, await envelope(["team@example.org", "bob@example.org"]), TRACE);
    assert.equal(out.localCopies, 2);
    const [a] = await messagesIn(f.alice);
    const bobs = await messagesIn(f.bob);
    assert.equal(bobs.length, 1);
    assert.equal(a!.prefix.toString(), expectedPrefix("alice@example.org", "team@example.org"));
    assert.equal(bobs[0]!.prefix.toString(), expectedPrefix("bob@example.org", "team@example.org"));
  });

  it("the same recipient twice is one copy", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const out = await lda.deliver(
      await spool(),
      await envelope(["bob@example.org", "bob@example.org"]),
      TRACE,
    );
    assert.equal(out.localCopies, 1);
  });

  it("plus-addressing: the account's INBOX, Delivered-To keeps the tag", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const out = await lda.deliver(await spool(), await envelope(["alice+News@example.org"]), TRACE);
    assert.equal(out.localCopies, 1);
    const [a] = await messagesIn(f.alice);
    assert.equal(a!.prefix.toString(), expectedPrefix("alice+news@example.org", "alice+News@example.org"));
  });

  it("junk goes to the Junk mailbox", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    await lda.deliver(await spool(), await envelope(["alice@example.org", "bob@example.org"]), TRACE, {
      junk: true,
    });
    assert.equal((await messagesIn(f.alice, "Junk")).length, 1);
    assert.equal((await messagesIn(f.bob, "Junk")).length, 1);
    assert.equal((await messagesIn(f.alice)).length, 0);
    assert.equal((await messagesIn(f.bob)).length, 0);
  });

  it("junk falls back to INBOX for an account without a Junk mailbox", async () => {
    await f.store.deleteMailbox(f.alice.id, "Junk");
    const lda = new LocalDeliveryAgent({ store: f.store });
    await lda.deliver(await spool(), await envelope(["alice@example.org"]), TRACE, { junk: true });
    assert.equal((await messagesIn(f.alice)).length, 1);
  });

  it("extraPrefix follows Received", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const ar = "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=sender.example\r\n";
    await lda.deliver(await spool(), await envelope(["alice@example.org"]), TRACE, { extraPrefix: ar });
    const [a] = await messagesIn(f.alice);
    assert.equal(a!.prefix.toString(), expectedPrefix("alice@example.org", "alice@example.org", ar));
  });

  it("remote recipients become one queue entry with their DSN parameters, in the same call", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const msg = await spool();
    const env: InboundEnvelope = {
      mailFrom: "alice@sender.example",
      ret: "HDRS",
      envid: "ENV-42",
      recipients: [
        {
          kind: "remote",
          address: "x@far.example",
          notify: ["SUCCESS", "FAILURE"],
          orcpt: "rfc822;x@far.example",
        },
        ...(await rcpt("bob@example.org")),
      ],
    };
    const out = await lda.deliver(msg, env, { ...TRACE, protocol: "ESMTPSA" }, { accountId: f.alice.id });
    assert.equal(out.localCopies, 1);
    assert.ok(out.queueId);
    const q = await f.store.getQueued(out.queueId);
    assert.ok(q);
    assert.equal(q.sender, "alice@sender.example");
    assert.equal(q.blobId, msg.blobId);
    assert.deepEqual(q.dsn, { ret: "HDRS", envid: "ENV-42" });
    assert.equal(q.accountId, f.alice.id);
    assert.equal(q.prefix.toString(), receivedHeader({ ...TRACE, protocol: "ESMTPSA" }, "x@far.example"));
    assert.equal(q.size, q.prefix.length + msg.size);
    assert.equal(q.recipients.length, 1);
    const r = q.recipients[0]!;
    assert.equal(r.address, "x@far.example");
    assert.equal(r.status, "pending");
    assert.deepEqual(r.notify, ["SUCCESS", "FAILURE"]);
    assert.equal(r.orcpt, "rfc822;x@far.example");
    assert.equal((await messagesIn(f.bob)).length, 1);
  });

  it("alias remote targets are queued; several remote recipients get no 'for' clause", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const env = await envelope(["fwd@example.org", "y@other.example", "Far@REMOTE.example"], {
      mailFrom: "",
    });
    const out = await lda.deliver(await spool(), env, TRACE);
    assert.equal(out.localCopies, 1);
    const q = (await f.store.getQueued(out.queueId!))!;
    assert.equal(q.sender, "");
    assert.deepEqual(q.dsn, {});
    assert.equal(q.accountId, null);
    // the alias target Far@Remote.Example and Far@REMOTE.example are one recipient (domains compare
    // case-insensitively; local parts do not)
    assert.deepEqual(
      q.recipients.map((r) => r.address),
      ["Far@remote.example", "y@other.example"],
    );
    assert.equal(q.prefix.toString(), receivedHeader(TRACE, null));
    assert.ok(!q.prefix.toString().includes(" for "));
    const [c] = await messagesIn(f.carol);
    assert.ok(c!.prefix.toString().startsWith("Return-Path: <>\r\nDelivered-To: carol@example.org\r\n"));
  });

  it("only remote recipients: a queue entry and no copies", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const out = await lda.deliver(await spool(), await envelope(["z@far.example"]), TRACE);
    assert.equal(out.localCopies, 0);
    assert.ok(out.queueId);
    assert.equal((await f.store.listQueue()).length, 1);
  });

  it("over quota: StoreError quota and nothing delivered to anyone", async () => {
    await f.store.setQuota("carol@example.org", 100);
    const lda = new LocalDeliveryAgent({ store: f.store });
    const env = await envelope(["alice@example.org", "carol@example.org", "q@far.example"]);
    await assert.rejects(lda.deliver(await spool(), env, TRACE), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, "quota");
      return true;
    });
    for (const acc of [f.alice, f.bob, f.carol]) {
      for (const box of await f.store.listMailboxes(acc.id))
        assert.equal(box.messages, 0, `${acc.address} ${box.name}`);
    }
    assert.deepEqual(await f.store.listQueue(), []);
    assert.equal((await f.store.getQuota(f.alice.id)).usedBytes, 0);
  });

  it("counts delivered copies in the metrics", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const lda = new LocalDeliveryAgent({ store: f.store, metrics });
    await lda.deliver(
      await spool(),
      await envelope(["team@example.org", "carol@example.org", "q@far.example"]),
      TRACE,
    );
    const values = (await metrics.messagesDelivered.get()).values;
    assert.deepEqual(
      values.map((v) => [v.labels.via, v.value]),
      [["local", 3]],
    );
    // a failed delivery counts nothing
    await f.store.setQuota("carol@example.org", 1);
    await assert.rejects(lda.deliver(await spool(), await envelope(["carol@example.org"]), TRACE));
    assert.equal((await metrics.messagesDelivered.get()).values[0]!.value, 3);
  });

  it("without a date, Received and the internal date share one timestamp", async () => {
    const lda = new LocalDeliveryAgent({ store: f.store });
    const before = Date.now();
    await lda.deliver(await spool(), await envelope(["alice@example.org"]), { ...TRACE, date: undefined });
    const [a] = await messagesIn(f.alice);
    const t = a!.internalDate.getTime();
    assert.ok(t >= before - 1000 && t <= Date.now());
    const received = /\w{3}, \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000/.exec(a!.prefix.toString());
    assert.ok(received);
    assert.equal(Date.parse(received[0]), Math.floor(t / 1000) * 1000);
  });
});
