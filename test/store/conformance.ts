// The one behaviour suite every MailStore backend must pass (SQLite now, PostgreSQL later). It tests
// what callers can observe through the MailStore interface, never SQL.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { Envelope, MimeNode } from "../../src/mail/mime-types.js";
import {
  type ClaimQueueOptions,
  DEFAULT_MAILBOXES,
  type DeliveredCopy,
  type DeliveryTarget,
  type MailStore,
  type MessageContent,
  type NewQueueMessage,
  StoreError,
  type StoreErrorCode,
} from "../../src/store/types.js";

export interface StoreFixture {
  store: MailStore;
  /** closes every store of the fixture and removes its data */
  cleanup(): Promise<void>;
  /**
   * another, independent instance on the same data (a second connection, like the admin CLI);
   * the caller closes it. Tests that need it are skipped when a backend cannot provide one.
   */
  openAnother?(): Promise<MailStore>;
}

export type MakeStore = () => Promise<StoreFixture>;

// ---- builders ----

const SCRAM = { iterations: 4096, salt: "c2FsdA==", storedKey: "c3RvcmVk", serverKey: "c2VydmVy" };

export function testEnvelope(subject: string): Envelope {
  const from = [{ name: "Alice", adl: null, mailbox: "alice", host: "example.com" }];
  return {
    date: "Mon, 1 Jan 2024 00:00:00 +0000",
    subject,
    from,
    sender: from,
    replyTo: from,
    to: [{ name: null, adl: null, mailbox: "bob", host: "example.com" }],
    cc: [],
    bcc: [],
    inReplyTo: null,
    messageId: `<${subject.replace(/\W/g, "")}@example.com>`,
  };
}

export function testMime(headerBytes: number, totalBytes: number): MimeNode {
  return {
    headerStart: 0,
    headerEnd: headerBytes,
    bodyStart: headerBytes,
    bodyEnd: totalBytes,
    bodyLines: 1,
    contentType: { type: "text", subtype: "plain", params: { charset: "utf-8" } },
    contentTypeDefaulted: false,
    disposition: null,
    encoding: "7bit",
    contentId: null,
    description: null,
    language: null,
    location: null,
    md5: null,
    children: [],
    message: null,
    envelope: null,
  };
}

/** writes a small message blob and describes it as a delivery would */
export async function testContent(
  store: MailStore,
  subject: string,
  body = "Hello",
): Promise<MessageContent> {
  const header = `Subject: ${subject}\r\nFrom: alice@example.com\r\n\r\n`;
  const data = Buffer.from(`${header}${body}\r\n`);
  const blob = await store.blobs.put(data);
  return {
    blobId: blob.id,
    blobSize: blob.size,
    mime: testMime(Buffer.byteLength(header), data.length),
    envelope: testEnvelope(subject),
    searchText: `${subject}\n${body}`,
  };
}

export async function testAccount(store: MailStore, address: string, quotaBytes?: number | null) {
  const domain = address.slice(address.lastIndexOf("@") + 1);
  if (!(await store.getDomain(domain))) await store.addDomain(domain);
  return store.addAccount({ address, passwordHash: "$test$hash", scram: SCRAM, quotaBytes });
}

async function inboxOf(store: MailStore, accountId: number) {
  const inbox = await store.getMailbox(accountId, "INBOX");
  assert.ok(inbox);
  return inbox;
}

async function deliverOne(
  store: MailStore,
  target: DeliveryTarget,
  subject = "test",
  body?: string,
): Promise<DeliveredCopy> {
  const content = await testContent(store, subject, body);
  const r = await store.deliver({ content, targets: [target] });
  return r.copies[0]!;
}

async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected StoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the suite ----

export function runStoreConformance(name: string, makeStore: MakeStore): void {
  async function withStore(fn: (store: MailStore, fixture: StoreFixture) => Promise<void>): Promise<void> {
    const fixture = await makeStore();
    try {
      await fn(fixture.store, fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`MailStore conformance: ${name}`, () => {
    describe("inbound policy state", () => {
      it("keeps greylist entries by key, replaces them, and expires them", () =>
        withStore(async (s) => {
          assert.equal(await s.greylistGet("t:192.0.2.0/24|a@b.test|c@d.test"), null);
          const e = { key: "t:192.0.2.0/24|a@b.test|c@d.test", firstSeen: 1000, lastSeen: 1000, passed: false, expiresAt: 5000 };
          await s.greylistPut(e);
          assert.deepEqual(await s.greylistGet(e.key), e);
          await s.greylistPut({ ...e, lastSeen: 2000, passed: true, expiresAt: 9000 });
          assert.deepEqual(await s.greylistGet(e.key), { ...e, lastSeen: 2000, passed: true, expiresAt: 9000 });
          await s.greylistPut({ key: "a:192.0.2.0/24", firstSeen: 1, lastSeen: 1, passed: true, expiresAt: 3000 });
          assert.equal(await s.greylistExpire(4000), 1, "only the entry that expired before 4000");
          assert.equal(await s.greylistGet("a:192.0.2.0/24"), null);
          assert.notEqual(await s.greylistGet(e.key), null);
        }));

      it("adds DMARC aggregate counts per distinct outcome and lists them newest first", () =>
        withStore(async (s) => {
          const row = {
            day: "2026-11-26",
            domain: "Example.ORG",
            sourceIp: "192.0.2.7",
            policy: "reject",
            disposition: "reject",
            dmarc: "fail",
            spf: "fail",
            spfDomain: "example.org",
            dkim: "none",
            dkimDomain: "",
            count: 2,
          };
          await s.recordDmarc([row, { ...row, count: 3 }]);
          await s.recordDmarc([{ ...row, day: "2026-11-27", dmarc: "pass", disposition: "none", count: 1 }]);
          await s.recordDmarc([{ ...row, domain: "other.test", count: 1 }]);
          const all = await s.listDmarc();
          assert.deepEqual(
            all.map((r) => [r.day, r.domain, r.dmarc, r.count]),
            [
              ["2026-11-27", "example.org", "pass", 1],
              ["2026-11-26", "example.org", "fail", 5],
              ["2026-11-26", "other.test", "fail", 1],
            ],
          );
          assert.deepEqual((await s.listDmarc({ domain: "other.TEST" })).map((r) => r.count), [1]);
          assert.deepEqual((await s.listDmarc({ since: "2026-11-27" })).map((r) => r.day), ["2026-11-27"]);
        }));
    });

    describe("domains", () => {
      it("adds, normalises, gets and lists domains", () =>
        withStore(async (s) => {
          const d = await s.addDomain("Example.COM.");
          assert.equal(d.name, "example.com");
          assert.ok(d.createdAt instanceof Date);
          await s.addDomain("b.test");
          assert.deepEqual((await s.getDomain("EXAMPLE.com"))?.id, d.id);
          assert.equal(await s.getDomain("nope.test"), null);
          assert.deepEqual(
            (await s.listDomains()).map((x) => x.name),
            ["b.test", "example.com"],
          );
          assert.equal(await s.isLocalDomain("example.COM"), true);
          assert.equal(await s.isLocalDomain("other.test"), false);
        }));

      it("refuses duplicates and invalid names", () =>
        withStore(async (s) => {
          await s.addDomain("example.com");
          await rejectsWith(s.addDomain("EXAMPLE.com"), "exists");
          await rejectsWith(s.addDomain("bad domain"), "invalid");
          await rejectsWith(s.addDomain(""), "invalid");
        }));

      it("refuses to remove a domain in use unless forced", () =>
        withStore(async (s) => {
          await testAccount(s, "alice@example.com");
          await s.addDomain("alias.test");
          await s.addAlias("info@alias.test", ["alice@example.com"]);
          await rejectsWith(s.removeDomain("example.com"), "in-use");
          await rejectsWith(s.removeDomain("alias.test"), "in-use");
          await rejectsWith(s.removeDomain("missing.test"), "not-found");
          await s.removeDomain("example.com", { force: true });
          await s.removeDomain("alias.test", { force: true });
          assert.equal(await s.getAccount("alice@example.com"), null);
          assert.equal(await s.getAlias("info@alias.test"), null);
          assert.deepEqual(await s.listDomains(), []);
          await s.addDomain("empty.test");
          await s.removeDomain("empty.test");
        }));
    });

    describe("accounts", () => {
      it("adds an account with its fields; lookups are case-insensitive", () =>
        withStore(async (s) => {
          await s.addDomain("example.com");
          const a = await s.addAccount({
            address: "Alice@Example.COM",
            passwordHash: "$scrypt$x",
            scram: SCRAM,
            quotaBytes: 1000,
          });
          assert.equal(a.address, "alice@example.com");
          assert.equal(a.passwordHash, "$scrypt$x");
          assert.deepEqual(a.scram, SCRAM);
          assert.equal(a.quotaBytes, 1000);
          assert.equal(a.disabled, false);
          assert.equal(a.domainId, (await s.getDomain("example.com"))!.id);
          assert.equal((await s.getAccount("ALICE@example.com"))?.id, a.id);
          assert.equal((await s.getAccountById(a.id))?.address, "alice@example.com");
          assert.equal(await s.getAccount("bob@example.com"), null);
          assert.equal(await s.getAccountById(a.id + 1000), null);
        }));

      it("lists accounts, optionally of one domain", () =>
        withStore(async (s) => {
          await testAccount(s, "b@one.test");
          await testAccount(s, "a@one.test");
          await testAccount(s, "c@two.test");
          assert.deepEqual(
            (await s.listAccounts()).map((a) => a.address),
            ["a@one.test", "b@one.test", "c@two.test"],
          );
          assert.deepEqual(
            (await s.listAccounts("ONE.test")).map((a) => a.address),
            ["a@one.test", "b@one.test"],
          );
          assert.deepEqual(await s.listAccounts("none.test"), []);
        }));

      it("refuses unknown domains, duplicates and invalid addresses", () =>
        withStore(async (s) => {
          await rejectsWith(testAccountNoDomain(s, "alice@nowhere.test"), "no-domain");
          await testAccount(s, "alice@example.com");
          await rejectsWith(testAccountNoDomain(s, "ALICE@example.com"), "exists");
          await rejectsWith(testAccountNoDomain(s, "no-at-sign"), "invalid");
          await rejectsWith(testAccountNoDomain(s, "@example.com"), "invalid");
          await rejectsWith(
            s.addAccount({ address: "q@example.com", passwordHash: "x", scram: SCRAM, quotaBytes: -1 }),
            "invalid",
          );
        }));

      it("changes password and quota; errors for unknown accounts", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const scram = { ...SCRAM, iterations: 8192 };
          await s.setPassword("Alice@example.com", "$new", scram);
          await s.setQuota("alice@example.com", 5000);
          const b = await s.getAccountById(a.id);
          assert.equal(b?.passwordHash, "$new");
          assert.deepEqual(b?.scram, scram);
          assert.equal(b?.quotaBytes, 5000);
          await s.setQuota("alice@example.com", null);
          assert.equal((await s.getAccountById(a.id))?.quotaBytes, null);
          await rejectsWith(s.setPassword("bob@example.com", "x", SCRAM), "not-found");
          await rejectsWith(s.setQuota("bob@example.com", 1), "not-found");
          await rejectsWith(s.removeAccount("bob@example.com"), "not-found");
        }));

      it("creates the default mailboxes with their special-use, subscribed", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const boxes = await s.listMailboxes(a.id);
          assert.deepEqual(
            boxes.map((b) => [b.name, b.specialUse]).sort(),
            DEFAULT_MAILBOXES.map((m) => [m.name, m.specialUse]).sort(),
          );
          for (const b of boxes) {
            assert.equal(b.subscribed, true);
            assert.equal(b.accountId, a.id);
            assert.equal(b.uidNext, 1);
            assert.equal(b.messages, 0);
            assert.equal(b.size, 0);
            assert.ok(b.uidValidity > 0 && b.uidValidity < 2 ** 32);
            assert.ok(b.highestModseq >= 1);
          }
          assert.equal(new Set(boxes.map((b) => b.uidValidity)).size, boxes.length);
        }));

      it("removes an account with its mailboxes and messages", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          await deliverOne(s, { accountId: a.id });
          await s.removeAccount("alice@example.com");
          assert.equal(await s.getAccount("alice@example.com"), null);
          assert.deepEqual(await s.listMailboxes(a.id), []);
          assert.equal(await s.getMailboxById(inbox.id), null);
          await rejectsWith(s.getQuota(a.id), "not-found");
          // the address can be used again, starting from nothing
          const again = await testAccount(s, "alice@example.com");
          assert.equal((await s.getQuota(again.id)).usedBytes, 0);
          assert.equal((await inboxOf(s, again.id)).messages, 0);
        }));
    });

    describe("aliases", () => {
      it("adds, gets, lists and removes aliases (and catch-alls)", () =>
        withStore(async (s) => {
          await testAccount(s, "alice@example.com");
          const al = await s.addAlias("Info@Example.com", ["alice@example.com", "Bob@Remote.TEST"]);
          assert.equal(al.address, "info@example.com");
          assert.deepEqual(al.targets, ["alice@example.com", "Bob@remote.test"]);
          await s.addAlias("@example.com", ["alice@example.com"]);
          assert.deepEqual((await s.getAlias("INFO@example.com"))?.targets, al.targets);
          assert.deepEqual(
            (await s.listAliases()).map((a) => a.address),
            ["@example.com", "info@example.com"],
          );
          assert.equal((await s.listAliases("example.com")).length, 2);
          assert.deepEqual(await s.listAliases("other.test"), []);
          await s.removeAlias("info@example.com");
          assert.equal(await s.getAlias("info@example.com"), null);
          await rejectsWith(s.removeAlias("info@example.com"), "not-found");
        }));

      it("refuses unknown domains, duplicates, addresses of accounts and empty targets", () =>
        withStore(async (s) => {
          await testAccount(s, "alice@example.com");
          await rejectsWith(s.addAlias("x@nowhere.test", ["alice@example.com"]), "no-domain");
          await s.addAlias("x@example.com", ["alice@example.com"]);
          await rejectsWith(s.addAlias("X@example.com", ["alice@example.com"]), "exists");
          await rejectsWith(s.addAlias("alice@example.com", ["x@example.com"]), "exists");
          await rejectsWith(s.addAlias("y@example.com", []), "invalid");
          await rejectsWith(s.addAlias("y@example.com", ["not-an-address"]), "invalid");
          // and an account cannot take an alias's address
          await rejectsWith(testAccountNoDomain(s, "x@example.com"), "exists");
        }));
    });

    describe("resolveRecipient", () => {
      async function directory(s: MailStore) {
        const alice = await testAccount(s, "alice@example.com");
        const bob = await testAccount(s, "bob@example.com");
        const carol = await testAccount(s, "carol@other.test");
        return { alice: alice.id, bob: bob.id, carol: carol.id };
      }

      it("finds an account, case-insensitively", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          assert.deepEqual(await s.resolveRecipient("alice@example.com"), {
            kind: "local",
            accountIds: [ids.alice],
            addresses: ["alice@example.com"],
            remote: [],
            catchAll: false,
          });
          assert.deepEqual((await s.resolveRecipient("ALICE@Example.Com"))?.accountIds, [ids.alice]);
          assert.deepEqual((await s.resolveRecipient("<alice@example.com>"))?.accountIds, [ids.alice]);
        }));

      it("expands an alias to several accounts and remote addresses, deduplicated", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          await s.addAlias("team@example.com", [
            "alice@example.com",
            "bob@example.com",
            "carol@other.test",
            "ALICE@example.com",
            "dave@remote.test",
          ]);
          const r = await s.resolveRecipient("team@example.com");
          assert.ok(r);
          assert.deepEqual([...r.accountIds].sort(), [ids.alice, ids.bob, ids.carol].sort());
          assert.equal(r.addresses.length, r.accountIds.length);
          assert.deepEqual(r.remote, ["dave@remote.test"]);
        }));

      it("follows nested aliases and survives loops", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          await s.addAlias("a@example.com", ["b@example.com"]);
          await s.addAlias("b@example.com", ["c@example.com", "alice@example.com"]);
          await s.addAlias("c@example.com", ["a@example.com", "bob@example.com"]);
          const r = await s.resolveRecipient("a@example.com");
          assert.deepEqual([...(r?.accountIds ?? [])].sort(), [ids.alice, ids.bob].sort());
          // a loop that reaches nobody is no recipient at all
          await s.addAlias("x@example.com", ["y@example.com"]);
          await s.addAlias("y@example.com", ["x@example.com"]);
          assert.equal(await s.resolveRecipient("x@example.com"), null);
        }));

      it("stops following aliases after 10 levels", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          // l0 → l1 → … → l14 → alice
          for (let i = 0; i < 15; i++) await s.addAlias(`l${i}@example.com`, [`l${i + 1}@example.com`]);
          await s.addAlias("l15@example.com", ["alice@example.com"]);
          assert.equal(await s.resolveRecipient("l0@example.com"), null);
          assert.deepEqual((await s.resolveRecipient("l10@example.com"))?.accountIds, [ids.alice]);
        }));

      it("handles +tag sub-addressing for accounts and aliases", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          await s.addAlias("list@example.com", ["bob@example.com"]);
          assert.deepEqual((await s.resolveRecipient("alice+news@example.com"))?.accountIds, [ids.alice]);
          assert.deepEqual((await s.resolveRecipient("Alice+News@example.com"))?.accountIds, [ids.alice]);
          assert.deepEqual((await s.resolveRecipient("list+x@example.com"))?.accountIds, [ids.bob]);
          assert.equal(await s.resolveRecipient("nobody+x@example.com"), null);
          // an exact alias with a "+" wins over sub-addressing
          await s.addAlias("alice+special@example.com", ["bob@example.com"]);
          assert.deepEqual((await s.resolveRecipient("alice+special@example.com"))?.accountIds, [ids.bob]);
        }));

      it("falls back to the domain's catch-all, after accounts, aliases and +tag", () =>
        withStore(async (s) => {
          const ids = await directory(s);
          await s.addAlias("@example.com", ["bob@example.com"]);
          assert.deepEqual((await s.resolveRecipient("anything@example.com"))?.accountIds, [ids.bob]);
          assert.deepEqual((await s.resolveRecipient("alice@example.com"))?.accountIds, [ids.alice]);
          assert.deepEqual((await s.resolveRecipient("alice+tag@example.com"))?.accountIds, [ids.alice]);
          // says which answered: the null sender may not use a catch-all (backscatter)
          assert.equal((await s.resolveRecipient("anything@example.com"))?.catchAll, true);
          assert.equal((await s.resolveRecipient("alice+tag@example.com"))?.catchAll, false);
          // no catch-all on other.test
          assert.equal(await s.resolveRecipient("anything@other.test"), null);
        }));

      it("returns null for unknown users, non-local domains and garbage", () =>
        withStore(async (s) => {
          await directory(s);
          assert.equal(await s.resolveRecipient("nobody@example.com"), null);
          assert.equal(await s.resolveRecipient("alice@elsewhere.test"), null);
          assert.equal(await s.resolveRecipient("not an address"), null);
          assert.equal(await s.resolveRecipient(""), null);
        }));
    });

    describe("mailboxes", () => {
      it("creates mailboxes; INBOX is case-insensitive; names are checked", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const m = await s.createMailbox(a.id, "Projects/Postamt", { specialUse: null });
          assert.equal(m.name, "Projects/Postamt");
          assert.equal(m.uidNext, 1);
          assert.equal(m.specialUse, null);
          const f = await s.createMailbox(a.id, "Flagged Mail", { specialUse: "\\Archive" });
          assert.equal(f.specialUse, "\\Archive");
          const u = await s.createMailbox(a.id, "Entwürfe/Ältere");
          assert.equal((await s.getMailbox(a.id, "Entwürfe/Ältere"))?.id, u.id);
          assert.equal((await s.getMailbox(a.id, "inbox"))?.name, "INBOX");
          assert.equal((await s.getMailboxById(m.id))?.name, "Projects/Postamt");
          assert.equal(await s.getMailbox(a.id, "projects/postamt"), null);
          await rejectsWith(s.createMailbox(a.id, "Projects/Postamt"), "exists");
          await rejectsWith(s.createMailbox(a.id, "inbox"), "exists");
          await rejectsWith(s.createMailbox(a.id, ""), "invalid");
          await rejectsWith(s.createMailbox(a.id, "a//b"), "invalid");
          await rejectsWith(s.createMailbox(a.id, "/a"), "invalid");
          await rejectsWith(s.createMailbox(a.id, "a/"), "invalid");
          await rejectsWith(s.createMailbox(a.id + 1000, "x"), "not-found");
        }));

      it("renames a mailbox with its children", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const parent = await s.createMailbox(a.id, "a");
          const child = await s.createMailbox(a.id, "a/x");
          const grandchild = await s.createMailbox(a.id, "a/x/y");
          const sibling = await s.createMailbox(a.id, "ab");
          const copy = await deliverOne(s, { accountId: a.id, mailboxId: child.id });
          await s.renameMailbox(a.id, "a", "b");
          assert.equal((await s.getMailboxById(parent.id))?.name, "b");
          assert.equal((await s.getMailboxById(child.id))?.name, "b/x");
          assert.equal((await s.getMailboxById(grandchild.id))?.name, "b/x/y");
          assert.equal((await s.getMailboxById(sibling.id))?.name, "ab");
          // the messages and UIDVALIDITY stay
          assert.equal((await s.getMailboxById(child.id))?.uidValidity, child.uidValidity);
          assert.ok(await s.getMessage(child.id, copy.uid));
          assert.equal(await s.getMailbox(a.id, "a"), null);
          await rejectsWith(s.renameMailbox(a.id, "a", "c"), "not-found");
          await rejectsWith(s.renameMailbox(a.id, "b", "ab"), "exists");
          await rejectsWith(s.renameMailbox(a.id, "b", "INBOX"), "exists");
          await rejectsWith(s.renameMailbox(a.id, "b", "b/x/z"), "invalid");
        }));

      it("renaming INBOX moves its messages to a new mailbox and leaves INBOX empty", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c1 = await deliverOne(s, { accountId: a.id, flags: ["\\Seen"] }, "one");
          const c2 = await deliverOne(s, { accountId: a.id }, "two");
          const child = await s.createMailbox(a.id, "INBOX/child");
          const quota = await s.getQuota(a.id);
          await s.renameMailbox(a.id, "INBOX", "Old");
          const old = await s.getMailbox(a.id, "Old");
          assert.ok(old);
          assert.notEqual(old.uidValidity, inbox.uidValidity);
          assert.equal(old.messages, 2);
          const moved = await s.listMessages(old.id);
          assert.deepEqual(
            moved.map((m) => m.flags),
            [["\\Seen"], []],
          );
          assert.ok(moved[0]!.uid < moved[1]!.uid);
          const msg = await s.getMessage(old.id, moved[0]!.uid);
          assert.equal(msg?.envelope.subject, "one");
          const after = await inboxOf(s, a.id);
          assert.equal(after.id, inbox.id);
          assert.equal(after.messages, 0);
          assert.equal(after.size, 0);
          assert.ok(after.uidNext > c2.uid, "INBOX never reuses UIDs");
          assert.deepEqual(await s.listMessages(inbox.id), []);
          const expunged = (await s.changesSince(inbox.id, c2.modseq)).filter((c) => c.kind === "expunge");
          assert.deepEqual(expunged.map((c) => c.uid).sort(), [c1.uid, c2.uid].sort());
          assert.equal((await s.getMailboxById(child.id))?.name, "INBOX/child");
          assert.deepEqual(await s.getQuota(a.id), quota);
          // new mail still lands in INBOX
          const c3 = await deliverOne(s, { accountId: a.id }, "three");
          assert.equal(c3.mailboxId, inbox.id);
        }));

      it("deletes a mailbox and its messages; one with children becomes \\Noselect; refuses INBOX", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const m = await s.createMailbox(a.id, "Work");
          await s.createMailbox(a.id, "Work/Old");
          const copy = await deliverOne(s, { accountId: a.id, mailboxId: m.id });
          const before = (await s.getMailboxById(m.id))!.highestModseq;
          // RFC 9051 §6.3.5: with children, the messages go and the name stays as \Noselect
          await s.deleteMailbox(a.id, "Work");
          const kept = await s.getMailbox(a.id, "Work");
          assert.ok(kept?.noselect);
          assert.equal(kept.messages, 0);
          assert.equal((await s.getQuota(a.id)).usedBytes, 0);
          const changes = await s.changesSince(m.id, before);
          assert.deepEqual(
            changes.map((c) => [c.kind, c.uid]),
            [["expunge", copy.uid]],
            "open sessions learn of the expunge",
          );
          await rejectsWith(s.deleteMailbox(a.id, "Work"), "in-use");
          await rejectsWith(s.deleteMailbox(a.id, "INBOX"), "invalid");
          await rejectsWith(s.deleteMailbox(a.id, "Nope"), "not-found");
          await s.deleteMailbox(a.id, "Work/Old");
          await s.deleteMailbox(a.id, "Work");
          assert.equal(await s.getMailbox(a.id, "Work"), null);
          assert.equal(await s.getMailboxById(m.id), null);
          assert.equal((await s.getQuota(a.id)).usedBytes, 0);
          assert.equal((await s.getQuota(a.id)).messages, 0);
          // created again: a new UIDVALIDITY, UIDs from 1
          const again = await s.createMailbox(a.id, "Work");
          assert.notEqual(again.uidValidity, m.uidValidity);
          assert.equal(again.uidNext, 1);
        }));

      it("subscribes and unsubscribes", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          await s.setSubscribed(a.id, "Junk", false);
          assert.equal((await s.getMailbox(a.id, "Junk"))?.subscribed, false);
          await s.setSubscribed(a.id, "Junk", true);
          assert.equal((await s.getMailbox(a.id, "Junk"))?.subscribed, true);
          await rejectsWith(s.setSubscribed(a.id, "Nope", true), "not-found");
        }));

      it("publishes account events for mailbox list changes", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          let events = 0;
          const off = s.bus.subscribeAccount(a.id, () => events++);
          await s.createMailbox(a.id, "x");
          await s.renameMailbox(a.id, "x", "y");
          await s.setSubscribed(a.id, "y", false);
          await s.deleteMailbox(a.id, "y");
          off();
          await s.createMailbox(a.id, "z");
          assert.equal(events, 4);
        }));
    });

    describe("delivery", () => {
      it("delivers one blob to several accounts in one transaction", () =>
        withStore(async (s) => {
          const alice = await testAccount(s, "alice@example.com");
          const bob = await testAccount(s, "bob@example.com");
          const bobSent = await s.getMailbox(bob.id, "Sent");
          const content = await testContent(s, "shared", "one blob for all");
          const prefixA = Buffer.from("Delivered-To: alice@example.com\r\n");
          const date = new Date("2024-05-06T07:08:09.000Z");
          const r = await s.deliver({
            content,
            internalDate: date,
            targets: [
              { accountId: alice.id, prefix: prefixA },
              { accountId: bob.id },
              { accountId: bob.id, mailboxId: bobSent!.id, flags: ["\\Seen"] },
            ],
          });
          assert.equal(r.queueId, null);
          assert.equal(r.copies.length, 3);
          assert.deepEqual(
            r.copies.map((c) => c.accountId),
            [alice.id, bob.id, bob.id],
          );
          const [ca, cb, cs] = r.copies;
          assert.equal(cs!.mailboxId, bobSent!.id);
          const ma = await s.getMessage(ca!.mailboxId, ca!.uid);
          assert.ok(ma);
          assert.equal(ma.blobId, content.blobId);
          assert.deepEqual(ma.prefix, prefixA);
          assert.equal(ma.size, prefixA.length + content.blobSize);
          assert.deepEqual(ma.mime, content.mime);
          assert.deepEqual(ma.envelope, content.envelope);
          assert.equal(ma.internalDate.getTime(), date.getTime());
          assert.equal(ma.id, ca!.messageId);
          assert.equal(ma.modseq, ca!.modseq);
          assert.deepEqual(ma.flags, []);
          // the light lookup says the same about where the bytes are
          assert.deepEqual(await s.getMessageSource(ca!.mailboxId, ca!.uid), {
            id: ma.id,
            uid: ma.uid,
            size: ma.size,
            blobId: ma.blobId,
            prefix: ma.prefix,
          });
          assert.equal(await s.getMessageSource(ca!.mailboxId, 999_999), null);
          const envelopes = await s.listEnvelopes(ca!.mailboxId);
          assert.deepEqual(envelopes.get(ca!.uid), content.envelope);
          const mb = await s.getMessage(cb!.mailboxId, cb!.uid);
          assert.equal(mb?.blobId, content.blobId);
          assert.equal(mb?.prefix.length, 0);
          assert.equal(mb?.size, content.blobSize);
          assert.deepEqual((await s.getMessage(cs!.mailboxId, cs!.uid))?.flags, ["\\Seen"]);
          const inbox = await inboxOf(s, alice.id);
          assert.equal(ca!.uidValidity, inbox.uidValidity);
          assert.equal(inbox.messages, 1);
          assert.equal(inbox.size, ma.size);
          assert.equal(inbox.uidNext, ca!.uid + 1);
          assert.equal(inbox.highestModseq, ca!.modseq);
          assert.equal((await s.blobs.read(content.blobId)).length, content.blobSize);
        }));

      it("normalises flags: system flags canonical, keywords kept, duplicates and \\Recent dropped", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const c = await deliverOne(s, {
            accountId: a.id,
            flags: ["$Label1", "\\SEEN", "\\recent", "\\flagged", "$label1", "\\Seen", "Work"],
          });
          const m = await s.getMessage(c.mailboxId, c.uid);
          assert.deepEqual(m?.flags, ["\\Seen", "\\Flagged", "$Label1", "Work"]);
          await rejectsWith(deliverOne(s, { accountId: a.id, flags: ["\\Bogus"] }), "invalid");
          await rejectsWith(deliverOne(s, { accountId: a.id, flags: ["two words"] }), "invalid");
        }));

      it("refuses missing blobs, wrong sizes, foreign mailboxes and empty requests", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const b = await testAccount(s, "bob@example.com");
          const bobInbox = await inboxOf(s, b.id);
          const content = await testContent(s, "x");
          const missing = { ...content, blobId: createHash("sha256").update("never written").digest("hex") };
          await rejectsWith(s.deliver({ content: missing, targets: [{ accountId: a.id }] }), "not-found");
          await rejectsWith(
            s.deliver({
              content: { ...content, blobSize: content.blobSize + 1 },
              targets: [{ accountId: a.id }],
            }),
            "invalid",
          );
          await rejectsWith(
            s.deliver({ content, targets: [{ accountId: a.id, mailboxId: bobInbox.id }] }),
            "invalid",
          );
          await rejectsWith(s.deliver({ content, targets: [] }), "invalid");
          await rejectsWith(s.deliver({ content, targets: [{ accountId: a.id + 1000 }] }), "not-found");
          assert.equal((await inboxOf(s, a.id)).messages, 0);
        }));

      it("assigns strictly increasing UIDs and modseqs and never reuses UIDs", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const copies: DeliveredCopy[] = [];
          for (let i = 0; i < 5; i++) copies.push(await deliverOne(s, { accountId: a.id }, `m${i}`));
          for (let i = 1; i < copies.length; i++) {
            assert.equal(copies[i]!.uid, copies[i - 1]!.uid + 1);
            assert.ok(copies[i]!.modseq > copies[i - 1]!.modseq);
          }
          const inbox = await inboxOf(s, a.id);
          await s.expunge(inbox.id, [copies[4]!.uid]);
          const next = await deliverOne(s, { accountId: a.id }, "after");
          assert.equal(next.uid, copies[4]!.uid + 1);
          const after = await inboxOf(s, a.id);
          assert.equal(after.uidNext, next.uid + 1);
          assert.equal(after.highestModseq, next.modseq);
          assert.deepEqual(
            (await s.listMessages(inbox.id)).map((m) => m.uid),
            [...copies.slice(0, 4).map((c) => c.uid), next.uid],
          );
          assert.deepEqual(
            (await s.listMessages(inbox.id, { sinceUid: copies[3]!.uid })).map((m) => m.uid),
            [copies[3]!.uid, next.uid],
          );
          assert.equal(await s.getMessage(inbox.id, copies[4]!.uid), null);
        }));

      it("wakes subscribers after the delivery is visible", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const seen: number[] = [];
          let visible = false;
          const off = s.bus.subscribe(inbox.id, (modseq) => {
            seen.push(modseq);
            visible = true;
          });
          const c = await deliverOne(s, { accountId: a.id });
          await new Promise((r) => setImmediate(r)); // wake-ups come on the next turn, coalesced
          off();
          assert.ok(visible);
          assert.deepEqual(seen, [c.modseq]);
          assert.equal((await s.changesSince(inbox.id, c.modseq - 1))[0]?.uid, c.uid);
        }));
    });

    describe("flags", () => {
      it("adds, removes and sets flags, each change with a new modseq", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c1 = await deliverOne(s, { accountId: a.id });
          const c2 = await deliverOne(s, { accountId: a.id, flags: ["\\Seen"] });
          const r1 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c2.uid, c1.uid, 999],
            op: "add",
            flags: ["\\seen", "Important"],
          });
          assert.deepEqual(
            r1.updated.map((u) => [u.uid, u.flags]),
            [
              [c1.uid, ["\\Seen", "Important"]],
              [c2.uid, ["\\Seen", "Important"]],
            ],
          );
          assert.deepEqual(r1.modified, []);
          assert.ok(r1.updated[0]!.modseq > c2.modseq);
          assert.ok(r1.updated[1]!.modseq > r1.updated[0]!.modseq);
          assert.equal(r1.highestModseq, r1.updated[1]!.modseq);
          assert.equal((await inboxOf(s, a.id)).highestModseq, r1.highestModseq);
          const m1 = await s.getMessage(inbox.id, c1.uid);
          assert.equal(m1?.modseq, r1.updated[0]!.modseq);

          const r2 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c1.uid],
            op: "remove",
            flags: ["IMPORTANT"],
          });
          assert.deepEqual(r2.updated[0]?.flags, ["\\Seen"]);
          const r3 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c1.uid],
            op: "set",
            flags: ["\\Draft", "x"],
          });
          assert.deepEqual(r3.updated[0]?.flags, ["\\Draft", "x"]);
          const r4 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c1.uid, c2.uid],
            op: "set",
            flags: [],
          });
          assert.deepEqual(
            r4.updated.map((u) => u.flags),
            [[], []],
          );
        }));

      it("does not bump the modseq when nothing changes", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c = await deliverOne(s, { accountId: a.id, flags: ["\\Seen", "Foo"] });
          const r = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c.uid],
            op: "add",
            flags: ["\\Seen", "foo"],
          });
          assert.deepEqual(r.updated, []);
          assert.equal(r.highestModseq, c.modseq);
          const r2 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c.uid],
            op: "remove",
            flags: ["\\Deleted"],
          });
          assert.deepEqual(r2.updated, []);
          assert.equal((await s.getMessage(inbox.id, c.uid))?.modseq, c.modseq);
        }));

      it("honours UNCHANGEDSINCE", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c1 = await deliverOne(s, { accountId: a.id });
          const c2 = await deliverOne(s, { accountId: a.id });
          const touched = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c2.uid],
            op: "add",
            flags: ["\\Flagged"],
          });
          const since = c2.modseq; // c1 unchanged since; c2 changed after
          const r = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [c1.uid, c2.uid],
            op: "add",
            flags: ["\\Seen"],
            unchangedSince: since,
          });
          assert.deepEqual(r.modified, [c2.uid]);
          assert.deepEqual(
            r.updated.map((u) => u.uid),
            [c1.uid],
          );
          assert.deepEqual((await s.getMessage(inbox.id, c2.uid))?.flags, ["\\Flagged"]);
          assert.equal((await s.getMessage(inbox.id, c2.uid))?.modseq, touched.updated[0]!.modseq);
        }));

      it("refuses unknown system flags and unknown mailboxes", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c = await deliverOne(s, { accountId: a.id });
          await rejectsWith(
            s.storeFlags({ mailboxId: inbox.id, uids: [c.uid], op: "add", flags: ["\\Nope"] }),
            "invalid",
          );
          await rejectsWith(
            s.storeFlags({ mailboxId: inbox.id + 1000, uids: [1], op: "add", flags: ["\\Seen"] }),
            "not-found",
          );
        }));
    });

    describe("message states, details and flag counts (big mailboxes)", () => {
      it("lists UIDs, modseqs and flags in columns, with sizes and dates apart", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const flagsOf = [[], ["\\Seen"], ["\\Seen"], ["\\Seen", "\\Flagged"], ["Work"]];
          const uids: number[] = [];
          for (let i = 0; i < flagsOf.length; i++) {
            const content = await testContent(s, `m${i}`, "x".repeat(i * 10));
            if (i === 2) content.envelope = { ...content.envelope, date: null };
            const r = await s.deliver({
              content,
              internalDate: new Date(Date.UTC(2020, 0, 1 + i)),
              targets: [{ accountId: a.id, flags: flagsOf[i]! }],
            });
            uids.push(r.copies[0]!.uid);
          }
          await s.expunge(inbox.id, [uids[1]!]);
          await s.storeFlags({ mailboxId: inbox.id, uids: [uids[0]!], op: "add", flags: ["\\Answered"] });
          const box = await inboxOf(s, a.id);
          const st = await s.listMessageStates(inbox.id);
          assert.ok(st);
          const live = [uids[0]!, uids[2]!, uids[3]!, uids[4]!];
          assert.deepEqual([...st.uids], live);
          assert.equal(st.highestModseq, box.highestModseq);
          assert.equal(st.uidNext, box.uidNext);
          assert.equal(st.uidValidity, box.uidValidity);
          for (let i = 0; i < live.length; i++) {
            const m = await s.getMessage(inbox.id, live[i]!);
            assert.equal(st.modseqs[i], m!.modseq);
            assert.deepEqual(st.flagSets[st.flagIds[i]!], m!.flags);
          }
          // equal flag lists are listed once
          assert.equal(new Set(st.flagSets.map((f) => JSON.stringify(f))).size, st.flagSets.length);
          assert.equal(await s.listMessageStates(inbox.id + 1000), null);

          const d = await s.listMessageDetails(inbox.id);
          assert.deepEqual([...d.uids], live);
          for (let i = 0; i < live.length; i++) {
            const m = await s.getMessage(inbox.id, live[i]!);
            assert.equal(d.sizes[i], m!.size);
            assert.equal(d.internalDates[i], m!.internalDate.getTime());
          }
          const sent = Date.UTC(2024, 0, 1);
          assert.deepEqual([...d.sentDates], [sent, Number.NaN, sent, sent]);
          const part = await s.listMessageDetails(inbox.id, { fromUid: uids[2]!, toUid: uids[3]! });
          assert.deepEqual([...part.uids], [uids[2]!, uids[3]!]);
          assert.equal((await s.listMessageDetails(inbox.id + 1000)).uids.length, 0);

          const counts = (await s.countFlags(inbox.id)).map((c) => `${c.flags.join(" ")}=${c.count}`).sort();
          assert.deepEqual(counts, ["Work=1", "\\Answered=1", "\\Seen \\Flagged=1", "\\Seen=1"].sort());
          assert.deepEqual(await s.countFlags(inbox.id + 1000), []);
        }));

      it("STORE on many messages: one modseq each, ascending with the UID, logged as the messages show", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const uids: number[] = [];
          for (let i = 0; i < 30; i++) {
            const flags = i % 3 === 0 ? ["\\Seen"] : i % 3 === 1 ? [] : ["\\Flagged", "Blue"];
            uids.push((await deliverOne(s, { accountId: a.id, flags })).uid);
          }
          await s.expunge(inbox.id, [uids[5]!, uids[6]!]);
          const before = (await inboxOf(s, a.id)).highestModseq;
          // unordered, with duplicates, an expunged UID and one that never existed
          const asked = [...uids].reverse().concat([uids[3]!, uids[29]! + 100]);
          const r = await s.storeFlags({ mailboxId: inbox.id, uids: asked, op: "add", flags: ["\\seen"] });
          const changed = uids.filter((_, i) => i % 3 !== 0 && i !== 5 && i !== 6);
          assert.deepEqual(
            r.updated.map((u) => u.uid),
            changed,
          );
          assert.deepEqual(
            r.updated.map((u) => u.modseq),
            changed.map((_, i) => before + 1 + i),
          );
          assert.equal(r.highestModseq, before + changed.length);
          assert.equal((await inboxOf(s, a.id)).highestModseq, r.highestModseq);
          const log = (await s.changesSince(inbox.id, before)).map((c) => [c.kind, c.uid, c.modseq, c.flags]);
          assert.deepEqual(
            log,
            r.updated.map((u) => ["flags", u.uid, u.modseq, u.flags]),
          );
          for (const u of r.updated) {
            const m = await s.getMessage(inbox.id, u.uid);
            assert.deepEqual([m!.flags, m!.modseq], [u.flags, u.modseq]);
            assert.ok(m!.flags.includes("\\Seen"));
          }
          assert.deepEqual((await s.getMessage(inbox.id, uids[2]!))!.flags, ["\\Seen", "\\Flagged", "Blue"]);

          // UNCHANGEDSINCE over a range: the ones changed since are reported, the rest stored
          const since = r.updated[3]!.modseq;
          const r2 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: uids.slice(0, 10),
            op: "set",
            flags: ["\\Draft"],
            unchangedSince: since,
          });
          const later = r.updated.filter((u) => u.modseq > since && u.uid <= uids[9]!).map((u) => u.uid);
          assert.deepEqual(r2.modified, later);
          assert.deepEqual(
            r2.updated.map((u) => u.uid),
            uids.slice(0, 10).filter((u, i) => i !== 5 && i !== 6 && !later.includes(u)),
          );
          for (const u of r2.updated) assert.deepEqual(u.flags, ["\\Draft"]);
          // nothing to change: no modseq spent
          const r3 = await s.storeFlags({
            mailboxId: inbox.id,
            uids: [uids[0]!],
            op: "add",
            flags: ["\\Draft"],
          });
          assert.deepEqual(r3.updated, []);
          assert.equal(r3.highestModseq, r2.highestModseq);
        }));

      it("copies, moves and INBOX renames carry flags and modseqs; expunged messages leave no state", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const archive = (await s.getMailbox(a.id, "Archive"))!;
          const c1 = await deliverOne(s, { accountId: a.id, flags: ["\\Seen", "Blue"] });
          const c2 = await deliverOne(s, { accountId: a.id, flags: ["\\Flagged"] });
          const c3 = await deliverOne(s, { accountId: a.id });
          const copied = await s.copyMessages(inbox.id, [c1.uid, c2.uid], archive.id);
          const st = (await s.listMessageStates(archive.id))!;
          assert.deepEqual(
            [...st.uids],
            copied.mapping.map((m) => m[1]),
          );
          assert.deepEqual(
            [...st.flagIds].map((i) => st.flagSets[i]),
            [["\\Seen", "Blue"], ["\\Flagged"]],
          );
          assert.equal((await s.listMessageDetails(archive.id)).sentDates[0], Date.UTC(2024, 0, 1));
          await s.moveMessages(inbox.id, [c3.uid], archive.id);
          await s.expunge(archive.id, [copied.mapping[0]![1]]);
          const st2 = (await s.listMessageStates(archive.id))!;
          assert.equal(st2.uids.length, 2);
          assert.equal(await s.getMessage(archive.id, copied.mapping[0]![1]), null);

          await s.renameMailbox(a.id, "INBOX", "Old");
          const old = (await s.getMailbox(a.id, "Old"))!;
          const moved = (await s.listMessageStates(old.id))!;
          assert.deepEqual([...moved.uids], [c1.uid, c2.uid]);
          assert.deepEqual(
            [...moved.flagIds].map((i) => moved.flagSets[i]),
            [["\\Seen", "Blue"], ["\\Flagged"]],
          );
          assert.equal(moved.highestModseq, old.highestModseq);
          for (let i = 0; i < 2; i++) {
            assert.equal(moved.modseqs[i], (await s.getMessage(old.id, moved.uids[i]!))!.modseq);
          }
          assert.equal((await s.listMessageStates(inbox.id))!.uids.length, 0);
          await s.deleteMailbox(a.id, "Old");
          assert.equal(await s.listMessageStates(old.id), null);
        }));
    });

    describe("copy, move, expunge and the change log", () => {
      it("copies in source UID order with new UIDs, keeping flags", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const archive = (await s.getMailbox(a.id, "Archive"))!;
          await deliverOne(s, { accountId: a.id, mailboxId: archive.id }, "already there");
          const c1 = await deliverOne(s, { accountId: a.id, flags: ["\\Seen"] }, "one");
          const c2 = await deliverOne(s, { accountId: a.id }, "two");
          const c3 = await deliverOne(s, { accountId: a.id, flags: ["x"] }, "three");
          const r = await s.copyMessages(inbox.id, [c3.uid, c1.uid, 4242, c2.uid], archive.id);
          assert.equal(r.uidValidity, archive.uidValidity);
          assert.deepEqual(r.mapping, [
            [c1.uid, 2],
            [c2.uid, 3],
            [c3.uid, 4],
          ]);
          const copy = await s.getMessage(archive.id, 4);
          assert.deepEqual(copy?.flags, ["x"]);
          assert.equal(copy?.envelope.subject, "three");
          assert.equal(copy?.blobId, (await s.getMessage(inbox.id, c3.uid))?.blobId);
          assert.equal((await inboxOf(s, a.id)).messages, 3);
          const arch = (await s.getMailboxById(archive.id))!;
          assert.equal(arch.messages, 4);
          assert.equal(arch.uidNext, 5);
          assert.deepEqual((await s.copyMessages(inbox.id, [999], archive.id)).mapping, []);
          await rejectsWith(s.copyMessages(inbox.id, [c1.uid], archive.id + 1000), "not-found");
        }));

      it("moves: copy and expunge in one step", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const trash = (await s.getMailbox(a.id, "Trash"))!;
          const c1 = await deliverOne(s, { accountId: a.id }, "one");
          const c2 = await deliverOne(s, { accountId: a.id }, "two");
          const before = await s.getQuota(a.id);
          const r = await s.moveMessages(inbox.id, [c2.uid, c1.uid], trash.id);
          assert.deepEqual(r.mapping, [
            [c1.uid, 1],
            [c2.uid, 2],
          ]);
          assert.deepEqual(await s.listMessages(inbox.id), []);
          assert.equal((await s.listMessages(trash.id)).length, 2);
          assert.deepEqual(await s.getQuota(a.id), before);
          const gone = (await s.changesSince(inbox.id, c2.modseq)).filter((c) => c.kind === "expunge");
          assert.deepEqual(
            gone.map((c) => c.uid),
            [c1.uid, c2.uid],
          );
        }));

      it("expunges only existing messages and reports them", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c1 = await deliverOne(s, { accountId: a.id });
          const c2 = await deliverOne(s, { accountId: a.id });
          assert.deepEqual(await s.expunge(inbox.id, [c2.uid, 77, c1.uid]), [c1.uid, c2.uid]);
          assert.deepEqual(await s.expunge(inbox.id, [c1.uid]), []);
          assert.deepEqual(await s.expunge(inbox.id, []), []);
          const box = await inboxOf(s, a.id);
          assert.equal(box.messages, 0);
          assert.equal(box.size, 0);
        }));

      it("expires messages by their first POP3 retrieval time, as an expunge", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const c1 = await deliverOne(s, { accountId: a.id }, "one");
          const c2 = await deliverOne(s, { accountId: a.id }, "two");
          const c3 = await deliverOne(s, { accountId: a.id }, "three");
          const day = 86_400_000;
          const t0 = new Date(Date.UTC(2030, 0, 10));
          await s.markRetrieved(inbox.id, [c1.uid, c2.uid, 999], t0);
          // the first retrieval counts: a later one does not move the time
          await s.markRetrieved(inbox.id, [c1.uid], new Date(t0.getTime() + 5 * day));
          await s.markRetrieved(inbox.id, [], t0);
          const marked = await inboxOf(s, a.id);
          assert.equal(marked.highestModseq, c3.modseq, "marking is not a change IMAP sees");
          // nothing retrieved before t0; c3 was never retrieved and never expires
          assert.deepEqual(await s.expireRetrieved(inbox.id, t0), []);
          const woken: number[] = [];
          const unsubscribe = s.bus.subscribe(inbox.id, (m) => woken.push(m));
          try {
            assert.deepEqual(await s.expireRetrieved(inbox.id, new Date(t0.getTime() + 1)), [c1.uid, c2.uid]);
            await new Promise((r) => setImmediate(r));
          } finally {
            unsubscribe();
          }
          assert.deepEqual(
            (await s.listMessages(inbox.id)).map((m) => m.uid),
            [c3.uid],
          );
          assert.deepEqual(await s.expireRetrieved(inbox.id, new Date(t0.getTime() + 10 * day)), []);
          const box = await inboxOf(s, a.id);
          assert.equal(box.messages, 1);
          const q = await s.getQuota(a.id);
          assert.equal(q.messages, 1);
          assert.equal(q.usedBytes, box.size);
          const gone = (await s.changesSince(inbox.id, c3.modseq)).filter((c) => c.kind === "expunge");
          assert.deepEqual(
            gone.map((c) => c.uid),
            [c1.uid, c2.uid],
          );
          assert.deepEqual(woken, [box.highestModseq]);
          await rejectsWith(s.markRetrieved(9999, [1], t0), "not-found");
          await rejectsWith(s.expireRetrieved(9999, t0), "not-found");
        }));

      it("logs appends, flag changes and expunges by modseq", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const start = inbox.highestModseq;
          const c1 = await deliverOne(s, { accountId: a.id, flags: ["\\Seen"] });
          const c2 = await deliverOne(s, { accountId: a.id });
          await s.storeFlags({ mailboxId: inbox.id, uids: [c1.uid], op: "add", flags: ["\\Deleted"] });
          await s.expunge(inbox.id, [c1.uid]);
          const all = await s.changesSince(inbox.id, start);
          assert.deepEqual(
            all.map((c) => [c.kind, c.uid, c.flags]),
            [
              ["append", c1.uid, ["\\Seen"]],
              ["append", c2.uid, []],
              ["flags", c1.uid, ["\\Seen", "\\Deleted"]],
              ["expunge", c1.uid, undefined],
            ],
          );
          for (let i = 1; i < all.length; i++) assert.ok(all[i]!.modseq > all[i - 1]!.modseq);
          assert.equal(all.at(-1)!.modseq, (await inboxOf(s, a.id)).highestModseq);
          const tail = await s.changesSince(inbox.id, all[1]!.modseq);
          assert.deepEqual(
            tail.map((c) => c.kind),
            ["flags", "expunge"],
          );
          assert.deepEqual(await s.changesSince(inbox.id, all.at(-1)!.modseq), []);
        }));
    });

    describe("full-text search", () => {
      it("finds messages containing all the words, copies included, expunged not", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const archive = (await s.getMailbox(a.id, "Archive"))!;
          const c1 = await deliverOne(s, { accountId: a.id }, "Quarterly report", "the numbers are fine");
          const c2 = await deliverOne(s, { accountId: a.id }, "Lunch", "report to the canteen at noon");
          const c3 = await deliverOne(s, { accountId: a.id }, "Café", "Übermorgen treffen wir uns");
          assert.deepEqual(await s.searchText(inbox.id, "report"), [c1.uid, c2.uid]);
          assert.deepEqual(await s.searchText(inbox.id, "REPORT numbers"), [c1.uid]);
          assert.deepEqual(await s.searchText(inbox.id, "report elephants"), []);
          assert.deepEqual(await s.searchText(inbox.id, "übermorgen"), [c3.uid]);
          assert.deepEqual(await s.searchText(inbox.id, '"canteen" (noon)'), [c2.uid]);
          const r = await s.copyMessages(inbox.id, [c1.uid], archive.id);
          assert.deepEqual(await s.searchText(archive.id, "quarterly"), [r.mapping[0]![1]]);
          await s.expunge(inbox.id, [c1.uid]);
          assert.deepEqual(await s.searchText(inbox.id, "quarterly"), []);
          assert.deepEqual(await s.searchText(archive.id, "quarterly"), [r.mapping[0]![1]]);
          await s.expunge(archive.id, [r.mapping[0]![1]]);
          assert.deepEqual(await s.searchText(archive.id, "quarterly"), []);
        }));
    });

    describe("quota", () => {
      it("rejects deliveries over quota, unless ignoreQuota", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const content = await testContent(s, "big", "x".repeat(500));
          await s.setQuota(a.address, content.blobSize * 2);
          await s.deliver({ content, targets: [{ accountId: a.id }] });
          await s.deliver({ content, targets: [{ accountId: a.id }] });
          assert.equal((await s.getQuota(a.id)).usedBytes, content.blobSize * 2);
          await rejectsWith(s.deliver({ content, targets: [{ accountId: a.id }] }), "quota");
          await s.deliver({ content, targets: [{ accountId: a.id, ignoreQuota: true }] });
          const q = await s.getQuota(a.id);
          assert.deepEqual(q, {
            accountId: a.id,
            usedBytes: content.blobSize * 3,
            limitBytes: content.blobSize * 2,
            messages: 3,
          });
        }));

      it("is all or nothing per delivery: one target over quota, nobody gets a copy, nothing is queued", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const b = await testAccount(s, "bob@example.com", 10);
          const content = await testContent(s, "m");
          await rejectsWith(
            s.deliver({
              content,
              targets: [{ accountId: a.id }, { accountId: b.id }],
              queue: { sender: "alice@example.com", recipients: [{ address: "x@remote.test" }] },
            }),
            "quota",
          );
          assert.equal((await inboxOf(s, a.id)).messages, 0);
          assert.equal((await s.getQuota(a.id)).usedBytes, 0);
          assert.deepEqual(await s.listQueue(), []);
        }));

      it("keeps usedBytes exact through deliver, copy, move and expunge; copy counts against quota", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const archive = (await s.getMailbox(a.id, "Archive"))!;
          const prefix = Buffer.from("Received: by test\r\n");
          const content = await testContent(s, "q", "y".repeat(100));
          const size = prefix.length + content.blobSize;
          const r = await s.deliver({ content, targets: [{ accountId: a.id, prefix }] });
          assert.equal((await s.getQuota(a.id)).usedBytes, size);
          const c = await s.copyMessages(inbox.id, [r.copies[0]!.uid], archive.id);
          assert.equal((await s.getQuota(a.id)).usedBytes, 2 * size);
          assert.equal((await s.getMailboxById(archive.id))?.size, size);
          await s.setQuota(a.address, 2 * size + 1);
          await rejectsWith(s.copyMessages(inbox.id, [r.copies[0]!.uid], archive.id), "quota");
          // a move within the account needs no room
          await s.moveMessages(archive.id, [c.mapping[0]![1]], inbox.id);
          assert.equal((await s.getQuota(a.id)).usedBytes, 2 * size);
          await s.expunge(inbox.id, [r.copies[0]!.uid]);
          assert.deepEqual(await s.getQuota(a.id), {
            accountId: a.id,
            usedBytes: size,
            limitBytes: 2 * size + 1,
            messages: 1,
          });
        }));
    });

    describe("concurrency", () => {
      it("200 concurrent deliveries to one mailbox get 200 distinct consecutive UIDs", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const content = await testContent(s, "burst");
          const results = await Promise.all(
            Array.from({ length: 200 }, () => s.deliver({ content, targets: [{ accountId: a.id }] })),
          );
          const uids = results.map((r) => r.copies[0]!.uid).sort((x, y) => x - y);
          assert.deepEqual(
            uids,
            Array.from({ length: 200 }, (_, i) => i + 1),
          );
          const modseqs = new Set(results.map((r) => r.copies[0]!.modseq));
          assert.equal(modseqs.size, 200);
          const inbox = await inboxOf(s, a.id);
          assert.equal(inbox.uidNext, 201);
          assert.equal(inbox.messages, 200);
          assert.equal(inbox.highestModseq, Math.max(...modseqs));
          assert.equal((await s.getQuota(a.id)).usedBytes, 200 * content.blobSize);
        }));

      it("a failing delivery among concurrent ones fails alone", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const full = await testAccount(s, "full@example.com", 1);
          const content = await testContent(s, "c");
          const outcomes = await Promise.allSettled(
            Array.from({ length: 20 }, (_, i) =>
              s.deliver({ content, targets: [{ accountId: i === 7 ? full.id : a.id }] }),
            ),
          );
          outcomes.forEach((o, i) => {
            if (i === 7) {
              assert.equal(o.status, "rejected");
              assert.equal(((o as PromiseRejectedResult).reason as StoreError).code, "quota");
            } else assert.equal(o.status, "fulfilled");
          });
          assert.equal((await inboxOf(s, a.id)).messages, 19);
          assert.equal((await inboxOf(s, full.id)).messages, 0);
        }));

      it("concurrent flag changes and deliveries keep modseqs unique", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const content = await testContent(s, "f");
          const first = await s.deliver({ content, targets: [{ accountId: a.id }] });
          const uid = first.copies[0]!.uid;
          const ops: Promise<unknown>[] = [];
          for (let i = 0; i < 30; i++) {
            ops.push(s.deliver({ content, targets: [{ accountId: a.id }] }));
            ops.push(s.storeFlags({ mailboxId: inbox.id, uids: [uid], op: "set", flags: [`k${i}`] }));
          }
          await Promise.all(ops);
          const changes = await s.changesSince(inbox.id, 0);
          assert.equal(new Set(changes.map((c) => c.modseq)).size, changes.length);
          assert.equal(changes.length, 61);
          assert.deepEqual((await s.getMessage(inbox.id, uid))?.flags, ["k29"]);
        }));

      it("a second instance (like the admin CLI) works while the first delivers", async (t) => {
        const fixture = await makeStore();
        try {
          if (!fixture.openAnother) {
            t.skip("backend cannot open a second instance");
            return;
          }
          const s = fixture.store;
          const a = await testAccount(s, "alice@example.com");
          const other = await fixture.openAnother();
          try {
            const content = await testContent(s, "cli");
            const deliveries = Array.from({ length: 100 }, () =>
              s.deliver({ content, targets: [{ accountId: a.id }] }),
            );
            const admin = (async () => {
              for (let i = 0; i < 20; i++) {
                await other.addAccount({ address: `user${i}@example.com`, passwordHash: "x", scram: SCRAM });
              }
              await other.addAlias("all@example.com", ["alice@example.com", "user0@example.com"]);
            })();
            await Promise.all([...deliveries, admin]);
            // each side sees the other's writes without reopening
            assert.equal((await s.listAccounts("example.com")).length, 21);
            assert.equal((await s.resolveRecipient("all@example.com"))?.accountIds.length, 2);
            const inbox = await other.getMailbox(a.id, "INBOX");
            assert.equal(inbox?.messages, 100);
            assert.equal((await other.getAccount("user19@example.com"))?.address, "user19@example.com");
          } finally {
            await other.close();
          }
        } finally {
          await fixture.cleanup();
        }
      });
    });

    describe("queue", () => {
      const queued = (over: Partial<NewQueueMessage> = {}): NewQueueMessage => ({
        sender: "alice@example.com",
        recipients: [
          { address: "Bob@Remote.TEST", notify: ["SUCCESS", "FAILURE"], orcpt: "rfc822;Bob@Remote.TEST" },
          { address: "carol@other.test" },
        ],
        dsn: { ret: "HDRS", envid: "env-1" },
        ...over,
      });

      it("queues remote recipients with the delivery and lists them", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const content = await testContent(s, "out");
          const prefix = Buffer.from("DKIM-Signature: v=1\r\n");
          const before = Date.now();
          const r = await s.deliver({
            content,
            targets: [
              { accountId: a.id, mailboxId: (await s.getMailbox(a.id, "Sent"))!.id, flags: ["\\Seen"] },
            ],
            queue: queued({ prefix, accountId: a.id }),
          });
          assert.ok(r.queueId);
          assert.equal(r.copies.length, 1);
          const q = await s.getQueued(r.queueId);
          assert.ok(q);
          assert.equal(q.id, r.queueId);
          assert.equal(q.sender, "alice@example.com");
          assert.equal(q.blobId, content.blobId);
          assert.deepEqual(q.prefix, prefix);
          assert.equal(q.size, prefix.length + content.blobSize);
          assert.deepEqual(q.dsn, { ret: "HDRS", envid: "env-1" });
          assert.equal(q.accountId, a.id);
          assert.ok(q.createdAt.getTime() >= before - 1000);
          assert.deepEqual(
            q.recipients.map((x) => [
              x.address,
              x.domain,
              x.status,
              x.attempts,
              x.notify,
              x.orcpt,
              x.lastReply,
            ]),
            [
              [
                "Bob@remote.test",
                "remote.test",
                "pending",
                0,
                ["SUCCESS", "FAILURE"],
                "rfc822;Bob@Remote.TEST",
                null,
              ],
              ["carol@other.test", "other.test", "pending", 0, null, null, null],
            ],
          );
          assert.ok(q.recipients[0]!.nextAttemptAt!.getTime() <= Date.now());
          assert.equal(q.recipients[0]!.lastAttemptAt, null);
          assert.deepEqual(
            (await s.listQueue()).map((m) => m.id),
            [r.queueId],
          );
          assert.equal(await s.getQueued("nope"), null);
        }));

      it("queues without local copies, with its own blob and a later first attempt", () =>
        withStore(async (s) => {
          const content = await testContent(s, "local version");
          const signed = await testContent(s, "signed version", "longer body for the signed copy");
          const later = new Date(Date.now() + 3_600_000);
          const r = await s.deliver({
            content,
            targets: [],
            queue: queued({ blobId: signed.blobId, nextAttemptAt: later, sender: "" }),
          });
          assert.deepEqual(r.copies, []);
          const q = await s.getQueued(r.queueId!);
          assert.equal(q?.blobId, signed.blobId);
          assert.equal(q?.size, signed.blobSize);
          assert.equal(q?.sender, "");
          assert.equal(q?.accountId, null);
          assert.equal(q?.recipients[1]?.nextAttemptAt?.getTime(), later.getTime());
          await rejectsWith(
            s.deliver({ content, targets: [], queue: queued({ recipients: [] }) }),
            "invalid",
          );
        }));

      it("retries and removes queued messages", () =>
        withStore(async (s) => {
          const content = await testContent(s, "r");
          const later = new Date(Date.now() + 3_600_000);
          const q1 = (await s.deliver({ content, targets: [], queue: queued({ nextAttemptAt: later }) }))
            .queueId!;
          const q2 = (await s.deliver({ content, targets: [], queue: queued({ nextAttemptAt: later }) }))
            .queueId!;
          assert.equal(await s.retryQueued(q1), 2);
          const now = Date.now();
          for (const r of (await s.getQueued(q1))!.recipients) assert.ok(r.nextAttemptAt!.getTime() <= now);
          for (const r of (await s.getQueued(q2))!.recipients)
            assert.equal(r.nextAttemptAt!.getTime(), later.getTime());
          assert.equal(await s.retryQueued(), 4);
          assert.equal(await s.retryQueued("nope"), 0);
          assert.equal(await s.removeQueued(q1), true);
          assert.equal(await s.removeQueued(q1), false);
          assert.equal(await s.getQueued(q1), null);
          assert.deepEqual(
            (await s.listQueue()).map((m) => m.id),
            [q2],
          );
        }));

      // ---- the delivery engine's lease protocol ----

      const soon = () => new Date(Date.now() + 1000);
      const claimOpts = (over: Partial<ClaimQueueOptions> = {}): ClaimQueueOptions => ({
        now: soon(),
        owner: "node-a",
        leaseMs: 60_000,
        limit: 100,
        ...over,
      });
      async function enqueue(s: MailStore, over: Partial<NewQueueMessage> = {}): Promise<string> {
        const content = await testContent(s, "queued");
        return (await s.deliver({ content, targets: [], queue: queued(over) })).queueId!;
      }

      it("claims due recipients per message and domain, longest due first, and only once", () =>
        withStore(async (s) => {
          const q1 = await enqueue(s, {
            recipients: [{ address: "a@one.test" }, { address: "b@one.test" }, { address: "c@two.test" }],
          });
          const q2 = await enqueue(s, { recipients: [{ address: "d@one.test" }] });
          await enqueue(s, { nextAttemptAt: new Date(Date.now() + 3_600_000) }); // not due
          const jobs = await s.claimQueue(claimOpts());
          assert.deepEqual(
            jobs.map((j) => [j.message.id, j.domain, j.recipients.map((r) => r.address)]),
            [
              [q1, "one.test", ["a@one.test", "b@one.test"]],
              [q1, "two.test", ["c@two.test"]],
              [q2, "one.test", ["d@one.test"]],
            ],
          );
          const first = jobs[0]!;
          assert.deepEqual(
            first.message.recipients.map((r) => r.address),
            ["a@one.test", "b@one.test"],
          );
          assert.equal(first.message.sender, "alice@example.com");
          assert.deepEqual(first.message.dsn, { ret: "HDRS", envid: "env-1" });
          assert.equal(first.recipients[0]!.attempts, 0);
          assert.equal(first.recipients[0]!.delayNotifiedAt, null);
          // leased: neither this owner nor another gets them again while the lease lives
          assert.deepEqual(await s.claimQueue(claimOpts()), []);
          assert.deepEqual(await s.claimQueue(claimOpts({ owner: "node-b" })), []);
        }));

      it("claims within the limit, skips excluded domains and respects the per-domain limit", () =>
        withStore(async (s) => {
          for (let i = 0; i < 3; i++) await enqueue(s, { recipients: [{ address: `x${i}@one.test` }] });
          for (let i = 0; i < 2; i++) await enqueue(s, { recipients: [{ address: `y${i}@two.test` }] });
          await enqueue(s, { recipients: [{ address: "z@three.test" }] });
          const one = await s.claimQueue(claimOpts({ limit: 1 }));
          assert.deepEqual(
            one.map((j) => j.domain),
            ["one.test"],
          );
          const some = await s.claimQueue(
            claimOpts({ excludeDomains: ["three.test"], perDomain: { limit: 2, busy: { "one.test": 1 } } }),
          );
          assert.deepEqual(some.map((j) => j.domain).sort(), ["one.test", "two.test", "two.test"]);
          const rest = await s.claimQueue(claimOpts());
          assert.deepEqual(rest.map((j) => j.domain).sort(), ["one.test", "three.test"]);
        }));

      it("records outcomes, releases leases and removes a message once every recipient is final", () =>
        withStore(async (s) => {
          const q = await enqueue(s, {
            recipients: [{ address: "a@one.test" }, { address: "b@one.test" }, { address: "c@one.test" }],
          });
          const [job] = await s.claimQueue(claimOpts());
          const [a, b, c] = job!.recipients;
          const at = new Date(Date.now() + 2000);
          const next = new Date(Date.now() + 120_000);
          const done = await s.completeQueue([
            {
              recipientId: a!.id,
              owner: "node-a",
              status: "delivered",
              attemptedAt: at,
              reply: "250 ok",
              statusCode: "2.0.0",
            },
            {
              recipientId: b!.id,
              owner: "node-a",
              status: "failed",
              attemptedAt: at,
              reply: "mx.one.test[192.0.2.1]: 550 5.1.1 no such user",
              statusCode: "5.1.1",
              remoteMta: "mx.one.test",
              diagnostic: "smtp; 550 5.1.1 no such user",
            },
            {
              recipientId: c!.id,
              owner: "node-a",
              status: "deferred",
              attemptedAt: at,
              nextAttemptAt: next,
              reply: "451 try later",
              statusCode: "4.0.0",
            },
          ]);
          assert.deepEqual(done, { applied: [a!.id, b!.id, c!.id], removedMessages: [] });
          const m = (await s.getQueued(q))!;
          const byAddress = new Map(m.recipients.map((r) => [r.address, r]));
          const rb = byAddress.get("b@one.test")!;
          assert.equal(rb.status, "failed");
          assert.equal(rb.attempts, 1);
          assert.equal(rb.lastAttemptAt?.getTime(), at.getTime());
          assert.equal(rb.nextAttemptAt, null);
          assert.equal(rb.lastReply, "mx.one.test[192.0.2.1]: 550 5.1.1 no such user");
          assert.equal(rb.lastStatus, "5.1.1");
          assert.equal(rb.remoteMta, "mx.one.test");
          assert.equal(rb.diagnostic, "smtp; 550 5.1.1 no such user");
          const rc = byAddress.get("c@one.test")!;
          assert.equal(rc.status, "deferred");
          assert.equal(rc.nextAttemptAt?.getTime(), next.getTime());
          assert.equal(byAddress.get("a@one.test")!.status, "delivered");
          // c is no longer leased but not due yet; then due
          assert.deepEqual(await s.claimQueue(claimOpts()), []);
          const [again] = await s.claimQueue(claimOpts({ now: new Date(next.getTime() + 1) }));
          assert.deepEqual(
            again!.recipients.map((r) => [r.address, r.attempts]),
            [["c@one.test", 1]],
          );
          const last = await s.completeQueue([
            { recipientId: c!.id, owner: "node-a", status: "delivered", attemptedAt: next, reply: "250 ok" },
          ]);
          assert.deepEqual(last, { applied: [c!.id], removedMessages: [q] });
          assert.equal(await s.getQueued(q), null);
          // a recipient that is gone (or final) is not updated again
          const gone = await s.completeQueue([
            { recipientId: c!.id, owner: "node-a", status: "failed", attemptedAt: next, reply: "x" },
          ]);
          assert.deepEqual(gone, { applied: [], removedMessages: [] });
        }));

      it("lets a lease expire to another owner, and ignores the old owner's late outcome", () =>
        withStore(async (s) => {
          await enqueue(s, { recipients: [{ address: "a@one.test" }] });
          const t0 = soon();
          const [job] = await s.claimQueue(claimOpts({ now: t0, leaseMs: 1000 }));
          const id = job!.recipients[0]!.id;
          assert.deepEqual(
            await s.claimQueue(claimOpts({ now: new Date(t0.getTime() + 999), owner: "node-b" })),
            [],
          );
          const [taken] = await s.claimQueue(
            claimOpts({ now: new Date(t0.getTime() + 1000), owner: "node-b" }),
          );
          assert.equal(taken!.recipients[0]!.id, id);
          const late = await s.completeQueue([
            { recipientId: id, owner: "node-a", status: "failed", attemptedAt: t0, reply: "late" },
          ]);
          assert.deepEqual(late.applied, []);
          const now = await s.completeQueue([
            { recipientId: id, owner: "node-b", status: "delivered", attemptedAt: t0, reply: "250" },
          ]);
          assert.deepEqual(now.applied, [id]);
        }));

      it("releases the leases of one owner", () =>
        withStore(async (s) => {
          await enqueue(s, { recipients: [{ address: "a@one.test" }, { address: "b@two.test" }] });
          const [ja] = await s.claimQueue(claimOpts({ limit: 1 }));
          const [jb] = await s.claimQueue(claimOpts({ owner: "node-b", limit: 1 }));
          assert.notEqual(ja!.domain, jb!.domain);
          assert.equal(await s.releaseLeases("node-a"), 1);
          assert.equal(await s.releaseLeases("node-a"), 0);
          const again = await s.claimQueue(claimOpts({ owner: "node-c" }));
          assert.deepEqual(
            again.map((j) => j.domain),
            [ja!.domain],
          );
        }));

      it("tells when the next recipient is due, counting live leases", () =>
        withStore(async (s) => {
          assert.equal(await s.nextQueueDue(), null);
          const later = new Date(Date.now() + 3_600_000);
          const sooner = new Date(Date.now() + 600_000);
          await enqueue(s, { nextAttemptAt: later });
          assert.equal((await s.nextQueueDue())?.getTime(), later.getTime());
          await enqueue(s, { nextAttemptAt: sooner, recipients: [{ address: "a@one.test" }] });
          assert.equal((await s.nextQueueDue())?.getTime(), sooner.getTime());
          const now = new Date(sooner.getTime() + 1);
          await s.claimQueue(claimOpts({ now, leaseMs: 60_000 }));
          assert.equal((await s.nextQueueDue())?.getTime(), now.getTime() + 60_000);
        }));

      it("records delay notices once", () =>
        withStore(async (s) => {
          const q = await enqueue(s);
          const ids = (await s.getQueued(q))!.recipients.map((r) => r.id);
          const t1 = new Date(Date.now() + 1000);
          await s.markDelayNotified([ids[0]!], t1);
          await s.markDelayNotified(ids, new Date(t1.getTime() + 5000));
          await s.markDelayNotified([], t1);
          const rs = (await s.getQueued(q))!.recipients;
          assert.equal(rs[0]!.delayNotifiedAt?.getTime(), t1.getTime());
          assert.equal(rs[1]!.delayNotifiedAt?.getTime(), t1.getTime() + 5000);
        }));

      it("retry makes recipients due now and leaves live leases alone", () =>
        withStore(async (s) => {
          const q = await enqueue(s, {
            recipients: [{ address: "a@one.test" }, { address: "b@two.test" }],
            nextAttemptAt: new Date(Date.now() - 7_200_000),
          });
          const ids = (await s.getQueued(q))!.recipients.map((r) => r.id);
          // a: leased by a process that died an hour ago (the lease is over); b: an attempt in flight
          await s.claimQueue(
            claimOpts({ now: new Date(Date.now() - 3_600_000), leaseMs: 1, owner: "dead", limit: 1 }),
          );
          await s.claimQueue(claimOpts({ leaseMs: 7_200_000, owner: "live", excludeDomains: ["one.test"] }));
          assert.equal(await s.retryQueued(q), 2);
          for (const r of (await s.getQueued(q))!.recipients)
            assert.ok(r.nextAttemptAt!.getTime() <= Date.now());
          const jobs = await s.claimQueue(claimOpts({ owner: "node-c" }));
          assert.deepEqual(
            jobs.map((j) => j.recipients.map((r) => r.id)),
            [[ids[0]]],
          );
        }));
    });

    describe("blob garbage collection", () => {
      it("keeps referenced and young blobs, removes old unreferenced ones", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inMailbox = await testContent(s, "kept: in a mailbox");
          const inQueue = await testContent(s, "kept: queued");
          const orphan = await s.blobs.put(Buffer.from("nobody refers to me"));
          const expunged = await testContent(s, "expunged later");
          const c = await s.deliver({ content: inMailbox, targets: [{ accountId: a.id }] });
          await s.deliver({
            content: inQueue,
            targets: [],
            queue: { sender: "a@example.com", recipients: [{ address: "b@remote.test" }] },
          });
          const e = await s.deliver({ content: expunged, targets: [{ accountId: a.id }] });
          await s.expunge(c.copies[0]!.mailboxId, [e.copies[0]!.uid]);
          // everything is young: nothing goes
          assert.deepEqual(await s.collectGarbage(), { removed: 0 });
          assert.ok(await s.blobs.exists(orphan.id));
          await sleep(60);
          assert.deepEqual(await s.collectGarbage({ graceMs: 20 }), { removed: 2 });
          assert.equal(await s.blobs.exists(orphan.id), false);
          assert.equal(await s.blobs.exists(expunged.blobId), false);
          assert.ok(await s.blobs.exists(inMailbox.blobId));
          assert.ok(await s.blobs.exists(inQueue.blobId));
          // a blob written again after collection is simply there again
          const again = await s.blobs.put(Buffer.from("nobody refers to me"));
          assert.equal(again.id, orphan.id);
          assert.ok(await s.blobs.exists(orphan.id));
        }));
    });

    describe("lifecycle", () => {
      it("keeps everything across close and reopen", async (t) => {
        const fixture = await makeStore();
        try {
          if (!fixture.openAnother) {
            t.skip("backend cannot open a second instance");
            return;
          }
          const s = fixture.store;
          const a = await testAccount(s, "alice@example.com");
          await s.addAlias("info@example.com", ["alice@example.com", "x@remote.test"]);
          const box = await s.createMailbox(a.id, "Kept");
          const content = await testContent(s, "persist", "durable words");
          const r = await s.deliver({
            content,
            targets: [{ accountId: a.id, mailboxId: box.id, flags: ["\\Flagged"] }],
            queue: { sender: "alice@example.com", recipients: [{ address: "x@remote.test" }] },
          });
          const version = await s.schemaVersion();
          assert.ok(version >= 1);
          await s.close();
          await s.close(); // idempotent
          await rejectsWith(s.listDomains(), "closed");
          await rejectsWith(s.deliver({ content, targets: [{ accountId: a.id }] }), "closed");
          const s2 = await fixture.openAnother();
          try {
            assert.equal(await s2.schemaVersion(), version);
            assert.equal((await s2.getAccount("alice@example.com"))?.id, a.id);
            assert.deepEqual((await s2.resolveRecipient("info@example.com"))?.remote, ["x@remote.test"]);
            const kept = await s2.getMailboxById(box.id);
            assert.deepEqual(
              [kept?.name, kept?.uidValidity, kept?.uidNext, kept?.messages],
              [box.name, box.uidValidity, 2, 1],
            );
            const m = await s2.getMessage(box.id, r.copies[0]!.uid);
            assert.deepEqual(m?.flags, ["\\Flagged"]);
            assert.deepEqual(m?.mime, content.mime);
            assert.deepEqual(await s2.searchText(box.id, "durable"), [r.copies[0]!.uid]);
            assert.equal((await s2.getQueued(r.queueId!))?.recipients.length, 1);
            assert.equal((await s2.getQuota(a.id)).usedBytes, content.blobSize);
            const next = await s2.deliver({ content, targets: [{ accountId: a.id, mailboxId: box.id }] });
            assert.equal(next.copies[0]!.uid, 2);
          } finally {
            await s2.close();
          }
        } finally {
          await fixture.cleanup();
        }
      });
    });

    describe("stored header sections", () => {
      const withHeader = async (s: MailStore, subject: string, body?: string) => {
        const content = await testContent(s, subject, body);
        const bytes = await s.blobs.read(content.blobId);
        return { ...content, header: bytes.subarray(0, content.mime.headerEnd) };
      };

      it("serves a delivered message's header section with the record when asked, for every copy", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const archive = await s.getMailbox(a.id, "Archive");
          const content = await withHeader(s, "cached");
          const target = { accountId: a.id, prefix: Buffer.from("X-Trace: 1\r\n") };
          const c = (await s.deliver({ content, targets: [target] })).copies[0]!;
          assert.deepEqual((await s.getMessage(inbox.id, c.uid, { header: true }))?.header, content.header);
          assert.equal((await s.getMessage(inbox.id, c.uid))?.header, undefined);
          const copied = await s.copyMessages(inbox.id, [c.uid], archive!.id);
          const copy = await s.getMessage(archive!.id, copied.mapping[0]![1], { header: true });
          assert.deepEqual(copy?.header, content.header);
          // without one (an older delivery path), or one that is not the header section: none / refused
          const plain = await deliverOne(s, { accountId: a.id }, "plain");
          assert.equal((await s.getMessage(inbox.id, plain.uid, { header: true }))?.header, undefined);
          const wrong = { ...(await withHeader(s, "wrong")), header: Buffer.from("Subject: x\r\n") };
          await rejectsWith(s.deliver({ content: wrong, targets: [{ accountId: a.id }] }), "invalid");
          // over MAX_STORED_HEADER (16 KiB): delivered, the header section is left in the blob
          const long = `X-Long: ${"a".repeat(17 * 1024)}\r\nSubject: long\r\n\r\n`;
          const data = Buffer.from(`${long}body\r\n`);
          const blob = await s.blobs.put(data);
          const big = {
            blobId: blob.id,
            blobSize: blob.size,
            mime: testMime(long.length, data.length),
            envelope: testEnvelope("long"),
            header: data.subarray(0, long.length),
          };
          const b = (await s.deliver({ content: big, targets: [{ accountId: a.id }] })).copies[0]!;
          const rec = await s.getMessage(inbox.id, b.uid, { header: true });
          assert.equal(rec?.blobId, blob.id);
          assert.equal(rec?.header, undefined);
        }));

      it("drops the header section with its blob at garbage collection", () =>
        withStore(async (s) => {
          const a = await testAccount(s, "alice@example.com");
          const inbox = await inboxOf(s, a.id);
          const content = await withHeader(s, "collected");
          const c = (await s.deliver({ content, targets: [{ accountId: a.id }] })).copies[0]!;
          await s.expunge(inbox.id, [c.uid]);
          await sleep(60);
          assert.deepEqual(await s.collectGarbage({ graceMs: 20 }), { removed: 1 });
          assert.equal(await s.blobs.exists(content.blobId), false);
          // the same bytes delivered again without a header section: nothing of the old one is left
          const again = await testContent(s, "collected");
          assert.equal(again.blobId, content.blobId);
          const d = (await s.deliver({ content: again, targets: [{ accountId: a.id }] })).copies[0]!;
          assert.equal((await s.getMessage(inbox.id, d.uid, { header: true }))?.header, undefined);
        }));
    });
  });
}

function testAccountNoDomain(store: MailStore, address: string) {
  return store.addAccount({ address, passwordHash: "$test$hash", scram: SCRAM });
}
