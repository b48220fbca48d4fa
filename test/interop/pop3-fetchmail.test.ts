// Interop: fetchmail (the Debian package) pulling an account through an MDA ("cat > file"), each
// delivered file compared byte for byte with what the store holds (prefix + blob). fetchmail is told
// to pass messages untouched: no Received line of its own (invisible), no CR stripping, no header
// rewriting. Runs plain POP3 from loopback, STLS, and pop3s, then keep mode with UIDL: a second
// poll fetches only what is new, so UIDs are stable across sessions.
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import type { MailStore } from "../../src/store/types.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { type Tool, missingTools } from "../helpers/tools.js";
import {
  type StoredMessage,
  assertSameBytes,
  buildMessage,
  describeRun,
  runTool,
  storedMessages,
  tempDir,
} from "./helpers/interop.js";

const FETCHMAIL: Tool = { name: "fetchmail", install: "apt-get install fetchmail" };

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
    targets: [
      {
        accountId: account.id,
        prefix: Buffer.from(`Return-Path: <carol@remote.test>\r\nDelivered-To: ${address}\r\n`),
      },
    ],
  });
}

/** Messages that exercise the transfer: dot lines, 8-bit text, a long line, and a big one. */
function messages(to: string, tag: string): Buffer[] {
  const m = (subject: string, body: string) =>
    buildMessage({ from: "carol@remote.test", to, subject: `${tag} ${subject}`, body });
  return [
    m("plain", "Hello from fetchmail's test.\r\n"),
    m("dots", ".\r\n..\r\n.leading\r\nend.\r\n"),
    m("utf8", "Grüße aus Köln, ☃\r\n"),
    m("long line", `${"y".repeat(5000)}\r\n`),
    m("big", `${"0123456789abcdef".repeat(64)}\r\n`.repeat(2000)),
  ];
}

interface Poll {
  port: number;
  user: string;
  password: string;
  /** "plain": no TLS at all; "stls": upgrade with STLS; "ssl": pop3s */
  tls: "plain" | "stls" | "ssl";
  keep?: boolean;
}

/** One fetchmail poll into a fresh output directory; returns the files it delivered. */
async function fetchmail(poll: Poll): Promise<{ files: Buffer[]; log: string; code: number | null }> {
  const dir = await tempDir();
  try {
    const out = join(dir.dir, "out");
    await mkdir(out);
    const tls = { plain: `sslproto ""`, stls: "no sslcertck", ssl: "ssl no sslcertck" }[poll.tls];
    const rc = await dir.file(
      "fetchmailrc",
      [
        "set invisible",
        "set no bouncemail",
        `poll 127.0.0.1 with service ${poll.port} protocol pop3 uidl`,
        `  user "${poll.user}" there with password "${poll.password}" is "root" here`,
        `  no stripcr no rewrite ${poll.keep ? "keep" : "no keep"} ${tls}`,
        `  mda "/bin/sh -c 'cat > $(mktemp ${out}/msg.XXXXXX)'"`,
        "",
      ].join("\n"),
    );
    await chmod(rc, 0o600); // fetchmail refuses a readable rc file with a password in it
    const r = await runTool(
      "fetchmail",
      ["-f", rc, "--idfile", ids(poll.user), "--nodetach", "--nosyslog", "-v"],
      { timeoutMs: 60_000, env: { HOME: dir.dir } },
    );
    const files: Buffer[] = [];
    for (const f of await readdir(out)) files.push(await readFile(join(out, f)));
    return { files, log: describeRun(r), code: r.code };
  } finally {
    await dir.remove();
  }
}

let idDir: string;
/** fetchmail's UIDL memory per user, kept across polls (keep mode). */
const ids = (user: string) => join(idDir, `${user}.ids`);

/** Same multiset of byte strings, compared in a stable order with readable differences. */
function assertSameMessages(got: Buffer[], expected: StoredMessage[], what: string): void {
  assert.equal(got.length, expected.length, `${what}: ${got.length} files for ${expected.length} messages`);
  const a = [...got].sort(Buffer.compare);
  const b = expected.map((m) => m.full).sort(Buffer.compare);
  for (const [i, buf] of a.entries()) assertSameBytes(buf, b[i]!, `${what} #${i}`);
}

describe("interop: fetchmail", { skip: missingTools(FETCHMAIL) }, () => {
  let t: TestServer;
  let ids: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    t = await startTestServer(
      { listen: { pop3: ["127.0.0.1:0"], pop3s: ["127.0.0.1:0"] } },
      {
        users: [
          { address: "plain@example.test", password: "plain-secret" },
          { address: "stls@example.test", password: "stls-secret" },
          { address: "ssl@example.test", password: "ssl-secret" },
          { address: "keep@example.test", password: "keep-secret" },
        ],
      },
    );
    ids = await tempDir();
    idDir = ids.dir;
  });
  after(async () => {
    await t.stop();
    await ids.remove();
  });

  for (const tls of ["plain", "stls", "ssl"] as const) {
    it(`pulls every message byte for byte and deletes them (${tls})`, async () => {
      const user = `${tls}@example.test`;
      for (const m of messages(user, tls)) await deliver(t.server.store, user, m);
      const stored = await storedMessages(t.server.store, user);
      const r = await fetchmail({
        port: t.port(tls === "ssl" ? "pop3s" : "pop3"),
        user,
        password: `${tls}-secret`,
        tls,
      });
      assert.equal(r.code, 0, r.log);
      if (tls === "stls") assert.match(r.log, /POP3> STLS/);
      if (tls === "plain") assert.doesNotMatch(r.log, /POP3> STLS/);
      assertSameMessages(r.files, stored, `fetchmail ${tls}`);
      assert.equal(
        (await storedMessages(t.server.store, user)).length,
        0,
        "fetchmail deleted what it fetched",
      );
    });
  }

  it("keep mode with UIDL fetches only new messages on the next poll", async () => {
    const user = "keep@example.test";
    const poll: Poll = { port: t.port("pop3"), user, password: "keep-secret", tls: "plain", keep: true };
    const first = messages(user, "first");
    for (const m of first.slice(0, 2)) await deliver(t.server.store, user, m);
    const r1 = await fetchmail(poll);
    assert.equal(r1.code, 0, r1.log);
    assertSameMessages(r1.files, await storedMessages(t.server.store, user), "first poll");

    const r2 = await fetchmail(poll);
    assert.equal(r2.code, 1, r2.log); // 1: no new mail
    assert.equal(r2.files.length, 0);

    await deliver(t.server.store, user, first[2]!);
    const r3 = await fetchmail(poll);
    assert.equal(r3.code, 0, r3.log);
    const all = await storedMessages(t.server.store, user);
    assert.equal(all.length, 3, "keep: nothing deleted on the server");
    assertSameMessages(r3.files, [all[2]!], "third poll: only the new message");
  });
});
