// Interop: curl's POP3 client (libcurl) against a real server: listing and retrieving over pop3://
// (plain from loopback, and with --ssl-reqd through STLS), pop3s://, custom commands (UIDL, TOP,
// DELE), SASL PLAIN and LOGIN chosen with --login-options, and a wrong password.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import type { MailStore } from "../../src/store/types.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import { assertSameBytes, buildMessage, describeRun, runTool, storedMessages } from "./helpers/interop.js";

async function deliver(store: MailStore, address: string, message: Buffer): Promise<void> {
  const account = await store.getAccount(address);
  assert.ok(account);
  const spool = new MessageSpool(store);
  await spool.write(message);
  const m = await spool.finish();
  await store.deliver({
    content: {
      blobId: m.blobId,
      blobSize: m.size,
      mime: m.mime,
      envelope: m.envelope,
      searchText: m.searchText,
    },
    targets: [{ accountId: account.id, prefix: Buffer.from("Return-Path: <carol@remote.test>\r\n") }],
  });
}

const ALICE = "alice@example.test:alice-secret";

describe("interop: curl pop3:// and pop3s://", { skip: missingTools(TOOLS.curl) }, () => {
  let t: TestServer;
  let pop3: string;
  let pop3s: string;
  before(async () => {
    t = await startTestServer({ listen: { pop3: ["127.0.0.1:0"], pop3s: ["127.0.0.1:0"] } });
    pop3 = `pop3://127.0.0.1:${t.port("pop3")}`;
    pop3s = `pop3s://127.0.0.1:${t.port("pop3s")}`;
    for (let n = 1; n <= 3; n++) {
      const body = `Message ${n}\r\n.leading dot\r\n${"x".repeat(n * 20_000)}\r\n`;
      await deliver(
        t.server.store,
        "alice@example.test",
        buildMessage({ from: "carol@remote.test", to: "alice@example.test", subject: `curl ${n}`, body }),
      );
    }
  });
  after(() => t.stop());

  const curl = async (...args: string[]) => {
    const r = await runTool("curl", ["-sS", "--max-time", "15", ...args], { timeoutMs: 20_000 });
    return r;
  };

  it("lists the maildrop (LIST) and retrieves each message byte for byte (RETR)", async () => {
    const stored = await storedMessages(t.server.store, "alice@example.test");
    const list = await curl("-u", ALICE, `${pop3}/`);
    assert.equal(list.code, 0, describeRun(list));
    assert.equal(list.stdout, stored.map((m, i) => `${i + 1} ${m.full.length}\r\n`).join(""));
    for (let i = 0; i < stored.length; i++) {
      const r = await curl("-u", ALICE, `${pop3}/${i + 1}`);
      assert.equal(r.code, 0, describeRun(r));
      assertSameBytes(r.stdoutBytes, stored[i]!.full, `curl RETR ${i + 1}`);
    }
  });

  it("pop3s:// and STLS (--ssl-reqd) with SASL PLAIN and LOGIN", async () => {
    const stored = await storedMessages(t.server.store, "alice@example.test");
    const tls = await curl("-k", "-u", ALICE, `${pop3s}/2`);
    assert.equal(tls.code, 0, describeRun(tls));
    assertSameBytes(tls.stdoutBytes, stored[1]!.full, "curl pop3s RETR 2");
    for (const mech of ["PLAIN", "LOGIN"]) {
      const r = await curl(
        "-v",
        "-k",
        "--ssl-reqd",
        "--login-options",
        `AUTH=${mech}`,
        "-u",
        ALICE,
        `${pop3}/3`,
      );
      assert.equal(r.code, 0, describeRun(r));
      assert.match(r.stderr, /> STLS/);
      assert.match(r.stderr, new RegExp(`> AUTH ${mech}`));
      assertSameBytes(r.stdoutBytes, stored[2]!.full, `curl STLS AUTH ${mech} RETR 3`);
    }
  });

  it("custom commands: UIDL, TOP and DELE (deleted at QUIT)", async () => {
    const store = t.server.store;
    const stored = await storedMessages(store, "alice@example.test");
    const account = (await store.getAccount("alice@example.test"))!;
    const box = (await store.getMailbox(account.id, "INBOX"))!;
    const uidl = await curl("-u", ALICE, "-X", "UIDL", `${pop3}/`);
    assert.equal(uidl.code, 0, describeRun(uidl));
    assert.equal(uidl.stdout, stored.map((m, i) => `${i + 1} ${box.uidValidity}.${m.uid}\r\n`).join(""));
    const top = await curl("-u", ALICE, "-X", "TOP 1 0", `${pop3}/`);
    assert.equal(top.code, 0, describeRun(top));
    const header = stored[0]!.full.subarray(0, stored[0]!.full.indexOf("\r\n\r\n") + 4);
    assertSameBytes(top.stdoutBytes, header, "curl TOP 1 0");
    const dele = await curl("-u", ALICE, "-X", "DELE", "-I", `${pop3}/1`);
    assert.equal(dele.code, 0, describeRun(dele));
    const left = await storedMessages(store, "alice@example.test");
    assert.deepEqual(
      left.map((m) => m.uid),
      stored.slice(1).map((m) => m.uid),
    );
  });

  it("a wrong password fails the transfer (login denied)", async () => {
    const r = await curl("-v", "-u", "alice@example.test:wrong", `${pop3}/`);
    assert.equal(r.code, 67, describeRun(r)); // CURLE_LOGIN_DENIED
    assert.match(r.stderr, /-ERR \[AUTH\] Authentication failed/);
  });
});
