// Durability: a child delivers continuously and reports each acknowledged delivery; we SIGKILL it
// mid-stream and check that every acknowledged message and its blob survived intact, and that the
// store still opens, passes integrity_check and accepts deliveries. (A process kill, not a power
// cut: it proves commit ordering and recovery; fsync itself is the kernel's promise.)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { openStore } from "../../src/store/open-store.js";
import { testContent } from "./conformance.js";

const CHILD = fileURLToPath(new URL("./crash-child.js", import.meta.url));
const ROUNDS = 3;
const ACKS_BEFORE_KILL = 100;

interface Ack {
  mailboxId: number;
  uid: number;
  blobId: string;
}

/** runs the child until it acknowledged `count` deliveries, then SIGKILLs it */
function runAndKill(dir: string, count: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, "deliver"], { stdio: ["ignore", "pipe", "pipe"] });
    const acks: Ack[] = [];
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child too slow: ${acks.length} acks\n${stderr}`));
    }, 60_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [word, mailbox, uid, blob] = line.split(" ");
      if (word !== "ack" || killed) return;
      acks.push({ mailboxId: Number(mailbox), uid: Number(uid), blobId: blob! });
      if (acks.length >= count) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (signal === "SIGKILL" && killed) resolve(acks);
      else reject(new Error(`child exited early (${code ?? signal})\n${stderr}`));
    });
  });
}

describe("crash safety (SIGKILL during deliveries)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-crash-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`keeps every acknowledged delivery over ${ROUNDS} kills`, { timeout: 180_000 }, async () => {
    const all: Ack[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const acks = await runAndKill(dir, ACKS_BEFORE_KILL);
      all.push(...acks);

      const raw = new Database(join(dir, "postamt.db"));
      try {
        assert.deepEqual(raw.pragma("integrity_check", { simple: true }), "ok", `round ${round}`);
        assert.deepEqual(raw.pragma("foreign_key_check"), []);
      } finally {
        raw.close();
      }

      const store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir });
      try {
        const seen = new Set<string>();
        for (const ack of all) {
          const key = `${ack.mailboxId}/${ack.uid}`;
          assert.ok(!seen.has(key), `UID ${key} acknowledged twice`);
          seen.add(key);
          const msg = await store.getMessage(ack.mailboxId, ack.uid);
          assert.ok(msg, `round ${round}: acknowledged message ${key} is missing`);
          assert.equal(msg.blobId, ack.blobId);
          const data = await store.blobs.read(ack.blobId);
          assert.equal(
            createHash("sha256").update(data).digest("hex"),
            ack.blobId,
            `blob ${ack.blobId} damaged`,
          );
          assert.equal(msg.size, msg.prefix.length + data.length);
        }
        // the counters agree with the rows after recovery
        const account = await store.getAccount("crash@example.com");
        assert.ok(account);
        const inbox = (await store.getMailbox(account.id, "INBOX"))!;
        const listed = await store.listMessages(inbox.id);
        assert.equal(inbox.messages, listed.length);
        assert.equal(
          inbox.size,
          listed.reduce((sum, m) => sum + m.size, 0),
        );
        assert.equal((await store.getQuota(account.id)).usedBytes, inbox.size);
        assert.ok(inbox.uidNext > Math.max(...listed.map((m) => m.uid)));
        // and it still takes mail
        const content = await testContent(store, `after crash ${round}`);
        const r = await store.deliver({ content, targets: [{ accountId: account.id }] });
        assert.ok(r.copies[0]!.uid >= inbox.uidNext);
      } finally {
        await store.close();
      }
    }
  });
});
