// Interop: Python's poplib against a real server: plain POP3 from loopback, stls(), POP3_SSL; LIST,
// UIDL, RETR (byte-for-byte against the store), TOP, DELE, RSET, QUIT; APOP is not offered; and a
// poplib session that keeps running while the store changes under it (a delivery and an IMAP-style
// expunge through the store API, as an IMAP session would make them).
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { MessageSpool } from "../../src/delivery/spool.js";
import type { MailStore } from "../../src/store/types.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import { assertSameBytes, buildMessage, describeRun, runTool, storedMessages } from "./helpers/interop.js";

/** Runs a list of poplib calls; prints {"waiting": n} and reads a line at each "wait" step. */
const POPLIB = String.raw`
import base64, json, poplib, ssl, sys

job = json.loads(sys.stdin.readline())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if job["mode"] == "ssl":
    c = poplib.POP3_SSL("127.0.0.1", job["port"], context=ctx, timeout=10)
else:
    c = poplib.POP3("127.0.0.1", job["port"], timeout=10)
results = []

def text(b):
    return b.decode("utf-8", "replace")

def data(lines):
    return base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode()

for step in job["steps"]:
    op, args = step[0], step[1:]
    try:
        if op == "wait":
            print(json.dumps({"waiting": len(results)}), flush=True)
            sys.stdin.readline()
            r = None
        elif op == "welcome":
            r = text(c.getwelcome())
        elif op == "capa":
            r = {k: v for k, v in c.capa().items()}
        elif op == "stls":
            r = text(c.stls(context=ctx))
        elif op == "user":
            r = text(c.user(args[0]))
        elif op == "pass_":
            r = text(c.pass_(args[0]))
        elif op == "apop":
            r = text(c.apop(args[0], args[1]))
        elif op == "stat":
            r = list(c.stat())
        elif op == "list" and args:
            r = text(c.list(args[0]))
        elif op == "list":
            resp, lines, _ = c.list()
            r = [text(resp), [text(l) for l in lines]]
        elif op == "uidl" and args:
            r = text(c.uidl(args[0]))
        elif op == "uidl":
            resp, lines, _ = c.uidl()
            r = [text(resp), [text(l) for l in lines]]
        elif op == "retr":
            resp, lines, octets = c.retr(args[0])
            r = [text(resp), data(lines), octets]
        elif op == "top":
            resp, lines, octets = c.top(args[0], args[1])
            r = [text(resp), data(lines), octets]
        elif op == "dele":
            r = text(c.dele(args[0]))
        elif op == "rset":
            r = text(c.rset())
        elif op == "noop":
            r = text(c.noop())
        elif op == "quit":
            r = text(c.quit())
        else:
            raise ValueError("unknown step " + op)
        results.append({"ok": r})
    except (poplib.error_proto, OSError) as e:
        results.append({"error": str(e)})
print(json.dumps({"results": results}), flush=True)
`;

type Step = [string, ...(string | number)[]];
type Result = { ok?: unknown; error?: string };

async function poplib(port: number, mode: "plain" | "ssl", steps: Step[]): Promise<Result[]> {
  const input = `${JSON.stringify({ port, mode, steps })}\n`;
  const r = await runTool("python3", ["-c", POPLIB], { input, timeoutMs: 20_000 });
  assert.equal(r.code, 0, describeRun(r));
  const last = r.stdout.trim().split("\n").pop()!;
  return (JSON.parse(last) as { results: Result[] }).results;
}

/** poplib driven step by step: `until()` runs to the next "wait" and returns its results. */
class Interactive {
  private child: ChildProcessWithoutNullStreams;
  private out = "";
  private waiters: Array<() => void> = [];
  private exited = false;

  constructor(port: number, steps: Step[]) {
    this.child = spawn("python3", ["-c", POPLIB], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (d: Buffer) => {
      this.out += d.toString();
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.on("close", () => {
      this.exited = true;
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stdin.write(`${JSON.stringify({ port, mode: "plain", steps })}\n`);
  }

  /** The next JSON line from the script. */
  async next(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.out.indexOf("\n");
      if (nl >= 0) {
        const line = this.out.slice(0, nl);
        this.out = this.out.slice(nl + 1);
        return JSON.parse(line) as Record<string, unknown>;
      }
      if (this.exited || Date.now() > deadline) throw new Error(`poplib script: no output; got ${this.out}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  resume(): void {
    this.child.stdin.write("\n");
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

async function deliver(store: MailStore, address: string, message: Buffer): Promise<number> {
  const account = await store.getAccount(address);
  assert.ok(account);
  const spool = new MessageSpool(store);
  await spool.write(message);
  const m = await spool.finish();
  const prefix = Buffer.from(`Return-Path: <carol@remote.test>\r\nDelivered-To: ${address}\r\n`);
  const r = await store.deliver({
    content: {
      blobId: m.blobId,
      blobSize: m.size,
      mime: m.mime,
      envelope: m.envelope,
      searchText: m.searchText,
    },
    targets: [{ accountId: account.id, prefix }],
  });
  return r.copies[0]!.uid;
}

function message(n: number, to: string): Buffer {
  return buildMessage({
    from: "carol@remote.test",
    to,
    subject: `poplib ${n}`,
    body: `Message ${n}.\r\n.a line with a leading dot\r\n..and two\r\n${`${"filler text ".repeat(6)}\r\n`.repeat(n * 10)}`,
  });
}

const BOB = { user: "bob@example.test", password: "bob-secret" };
const ALICE = { user: "alice@example.test", password: "alice-secret" };

describe("interop: Python poplib", { skip: missingTools(TOOLS.python3) }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ listen: { pop3: ["127.0.0.1:0"], pop3s: ["127.0.0.1:0"] } });
    for (let n = 1; n <= 3; n++) await deliver(t.server.store, ALICE.user, message(n, ALICE.user));
  });
  after(() => t.stop());

  it("plain POP3 from loopback: CAPA, LIST, UIDL, RETR byte-for-byte, TOP, RSET; APOP not offered", async () => {
    const stored = await storedMessages(t.server.store, ALICE.user);
    const box = await t.server.store.getMailbox((await t.server.store.getAccount(ALICE.user))!.id, "INBOX");
    const r = await poplib(t.port("pop3"), "plain", [
      ["welcome"],
      ["apop", ALICE.user, ALICE.password],
      ["capa"],
      ["user", ALICE.user],
      ["pass_", ALICE.password],
      ["stat"],
      ["list"],
      ["list", 2],
      ["uidl"],
      ["retr", 1],
      ["retr", 2],
      ["retr", 3],
      ["top", 2, 0],
      ["dele", 1],
      ["rset"],
      ["noop"],
      ["quit"],
    ]);
    const [welcome, apop, capa, , pass, stat, list, list2, uidl, r1, r2, r3, top, dele, rset, noop, quit] = r;
    assert.match(welcome!.ok as string, /^\+OK mail\.example\.test/);
    assert.match(
      apop!.error!,
      /APOP not supported/,
      "no timestamp in the greeting: poplib refuses APOP itself",
    );
    const caps = capa!.ok as Record<string, string[]>;
    for (const k of ["TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "STLS", "SASL"])
      assert.ok(k in caps, k);
    assert.match(pass!.ok as string, /^\+OK Logged in; 3 messages/);
    const total = stored.reduce((a, m) => a + m.full.length, 0);
    assert.deepEqual(stat!.ok, [3, total]);
    assert.deepEqual(
      (list!.ok as [string, string[]])[1],
      stored.map((m, i) => `${i + 1} ${m.full.length}`),
    );
    assert.equal(list2!.ok, `+OK 2 ${stored[1]!.full.length}`);
    assert.deepEqual(
      (uidl!.ok as [string, string[]])[1],
      stored.map((m, i) => `${i + 1} ${box!.uidValidity}.${m.uid}`),
    );
    for (const [i, res] of [r1, r2, r3].entries()) {
      const [resp, b64] = res!.ok as [string, string, number];
      assert.equal(resp, `+OK ${stored[i]!.full.length} octets`);
      assertSameBytes(Buffer.from(b64, "base64"), stored[i]!.full, `RETR ${i + 1}`);
    }
    const head = Buffer.from((top!.ok as [string, string])[1], "base64").toString();
    assert.ok(head.endsWith("\r\n\r\n") && head.includes("Subject: poplib 2"), head);
    assert.equal(dele!.ok, "+OK Message 1 deleted");
    assert.match(rset!.ok as string, /^\+OK Maildrop has 3 messages/);
    assert.equal(noop!.ok, "+OK");
    assert.equal(quit!.ok, "+OK Bye");
    assert.equal((await storedMessages(t.server.store, ALICE.user)).length, 3, "RSET undid the DELE");
  });

  it("stls() and POP3_SSL; retr and dele; wrong passwords get -ERR [AUTH]", async () => {
    await deliver(t.server.store, BOB.user, message(7, BOB.user));
    await deliver(t.server.store, BOB.user, message(8, BOB.user));
    const stored = await storedMessages(t.server.store, BOB.user);
    const viaStls = await poplib(t.port("pop3"), "plain", [
      ["stls"],
      ["capa"],
      ["user", BOB.user],
      ["pass_", "wrong"],
      ["user", BOB.user],
      ["pass_", BOB.password],
      ["retr", 1],
      ["dele", 1],
      ["quit"],
    ]);
    assert.match(viaStls[0]!.ok as string, /^\+OK Begin TLS/);
    assert.ok(!("STLS" in (viaStls[1]!.ok as object)), "no STLS after STLS");
    assert.match(viaStls[3]!.error!, /-ERR \[AUTH\] Authentication failed/);
    assert.match(viaStls[5]!.ok as string, /^\+OK Logged in; 2 messages/);
    assert.ok(viaStls[6]!.ok, JSON.stringify(viaStls[6]));
    assertSameBytes(
      Buffer.from((viaStls[6]!.ok as string[])[1]!, "base64"),
      stored[0]!.full,
      "RETR over STLS",
    );
    assert.equal(viaStls[8]!.ok, "+OK Bye; 1 messages deleted");

    const viaSsl = await poplib(t.port("pop3s"), "ssl", [
      ["user", BOB.user],
      ["pass_", BOB.password],
      ["stat"],
      ["retr", 1],
      ["dele", 1],
      ["quit"],
    ]);
    assert.deepEqual(viaSsl[2]!.ok, [1, stored[1]!.full.length], JSON.stringify(viaSsl));
    assertSameBytes(
      Buffer.from((viaSsl[3]!.ok as string[])[1]!, "base64"),
      stored[1]!.full,
      "RETR over POP3_SSL",
    );
    assert.equal(viaSsl[5]!.ok, "+OK Bye; 1 messages deleted");
    assert.equal((await storedMessages(t.server.store, BOB.user)).length, 0);
  });

  it("a POP3 session keeps its numbers while the store changes under it (delivery, IMAP expunge)", async () => {
    const store = t.server.store;
    const address = "carl@example.test";
    const { deriveCredentials } = await import("../../src/auth/password.js");
    await store.addAccount({ address, ...(await deriveCredentials("carl-secret")) });
    for (let n = 1; n <= 3; n++) await deliver(store, address, message(n, address));
    const before = await storedMessages(store, address);
    const account = (await store.getAccount(address))!;
    const box = (await store.getMailbox(account.id, "INBOX"))!;

    const py = new Interactive(t.port("pop3"), [
      ["user", address],
      ["pass_", "carl-secret"],
      ["list"],
      ["wait"],
      ["stat"],
      ["list"],
      ["uidl"],
      ["retr", 2],
      ["retr", 3],
      ["dele", 3],
      ["quit"],
    ]);
    try {
      assert.deepEqual(await py.next(), { waiting: 3 });
      // what an IMAP session does meanwhile: expunge message 2, and a new message arrives
      await store.expunge(box.id, [before[1]!.uid]);
      await deliver(store, address, message(9, address));
      py.resume();
      const { results } = (await py.next()) as { results: Result[] };
      const [, pass, list1, , stat, list2, uidl, retr2, retr3, dele3, quit] = results;
      assert.match(pass!.ok as string, /3 messages/);
      assert.equal((list1!.ok as [string, string[]])[1].length, 3);
      assert.deepEqual(stat!.ok, [2, before[0]!.full.length + before[2]!.full.length]);
      assert.deepEqual((list2!.ok as [string, string[]])[1], [
        `1 ${before[0]!.full.length}`,
        `3 ${before[2]!.full.length}`,
      ]);
      assert.deepEqual((uidl!.ok as [string, string[]])[1], [
        `1 ${box.uidValidity}.${before[0]!.uid}`,
        `3 ${box.uidValidity}.${before[2]!.uid}`,
      ]);
      assert.match(retr2!.error!, /-ERR Message 2 was deleted by another session/);
      assertSameBytes(
        Buffer.from((retr3!.ok as string[])[1]!, "base64"),
        before[2]!.full,
        "RETR 3 after the expunge",
      );
      assert.equal(dele3!.ok, "+OK Message 3 deleted");
      assert.equal(quit!.ok, "+OK Bye; 1 messages deleted");
    } finally {
      py.kill();
    }
    const after = await storedMessages(store, address);
    assert.deepEqual(
      after.map((m) => m.uid),
      [before[0]!.uid, before[2]!.uid + 1],
      "1 stays, 2 was expunged by IMAP, 3 by POP3, the new one waits for the next session",
    );
    const changes = await store.changesSince(box.id, box.highestModseq);
    assert.deepEqual(
      changes.filter((c) => c.kind === "expunge").map((c) => c.uid),
      [before[1]!.uid, before[2]!.uid],
    );
  });
});
