// Child process for crash.test.ts and the two-process test in sqlite.test.ts.
//   node crash-child.js DIR deliver        delivers forever; prints "ack MAILBOX UID BLOB" per commit
//   node crash-child.js DIR admin N        adds N accounts (as the admin CLI would); prints "done"
// Without arguments it exits at once: `node --test dist/` runs every file under test/ directories.

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { openStore } from "../../src/store/open-store.js";
import { type MailStore, StoreError } from "../../src/store/types.js";
import { testAccount, testEnvelope, testMime } from "./conformance.js";

const [dir, mode, arg] = process.argv.slice(2);

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function ensureAccount(store: MailStore, address: string): Promise<number> {
  const existing = await store.getAccount(address);
  if (existing) return existing.id;
  return (await testAccount(store, address)).id;
}

async function deliverForever(store: MailStore): Promise<never> {
  const accountId = await ensureAccount(store, "crash@example.com");
  print("ready");
  const worker = async (w: number): Promise<never> => {
    for (let n = 0; ; n++) {
      // streamed in chunks of random size, like SMTP DATA
      const writer = store.blobs.createWriter();
      const header = Buffer.from(`Subject: crash ${process.pid} ${w} ${n}\r\n\r\n`);
      await writer.write(header);
      const chunks = 1 + (n % 4);
      for (let i = 0; i < chunks; i++) await writer.write(randomBytes(1 + ((n * 7919 + i * 104729) % 20000)));
      const blob = await writer.finish();
      const r = await store.deliver({
        content: {
          blobId: blob.id,
          blobSize: blob.size,
          mime: testMime(header.length, blob.size),
          envelope: testEnvelope(`crash ${w} ${n}`),
          searchText: `crash worker${w} number${n}`,
        },
        targets: [{ accountId, prefix: Buffer.from(`X-Worker: ${w}\r\n`) }],
        queue:
          n % 5 === 0
            ? { sender: "crash@example.com", recipients: [{ address: "far@remote.test" }] }
            : undefined,
      });
      const c = r.copies[0]!;
      print(`ack ${c.mailboxId} ${c.uid} ${blob.id}`);
    }
  };
  return Promise.race(Array.from({ length: 16 }, (_, w) => worker(w)));
}

async function admin(store: MailStore, count: number): Promise<void> {
  await store.getDomain("admin.test").then((d) => d ?? store.addDomain("admin.test"));
  for (let i = 0; i < count; i++) {
    try {
      await store.addAccount({
        address: `user${i}@admin.test`,
        passwordHash: "x",
        scram: { iterations: 1, salt: "", storedKey: "", serverKey: "" },
      });
    } catch (err) {
      if (!(err instanceof StoreError && err.code === "exists")) throw err;
    }
  }
  print("done");
}

if (dir !== undefined) {
  const store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir });
  if (mode === "admin") {
    await admin(store, Number(arg ?? "50"));
    await store.close();
  } else {
    await deliverForever(store);
  }
}
