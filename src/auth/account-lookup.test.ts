// AccountLookup over the real SQLite store, and the server secret file.

import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openStore } from "../store/open-store.js";
import type { MailStore } from "../store/types.js";
import { AccountLookup } from "./account-lookup.js";
import { deriveCredentials } from "./password.js";
import { ScramSha256Mechanism } from "./sasl/scram-sha-256.js";
import { loadServerSecret, SERVER_SECRET_FILE } from "./server-secret.js";

describe("AccountLookup", () => {
  let dir: string;
  let store: MailStore;
  let lookup: AccountLookup;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-lookup-"));
    store = await openStore(`sqlite:${join(dir, "postamt.db")}`, { dataDir: dir });
    await store.addDomain("example.org");
    await store.addAccount({ address: "alice@example.org", ...(await deriveCredentials("correct horse")) });
    lookup = new AccountLookup(store);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts the right password", async () => {
    assert.deepEqual(await lookup.verifyPlain("alice@example.org", "correct horse"), {
      username: "alice@example.org",
    });
  });

  it("rejects a wrong password", async () => {
    assert.equal(await lookup.verifyPlain("alice@example.org", "battery staple"), null);
    assert.equal(await lookup.verifyPlain("alice@example.org", ""), null);
  });

  it("rejects unknown users and malformed names", async () => {
    assert.equal(await lookup.verifyPlain("nobody@example.org", "correct horse"), null);
    assert.equal(await lookup.verifyPlain("alice", "correct horse"), null);
    assert.equal(await lookup.verifyPlain("alice@unknown.example", "correct horse"), null);
    assert.equal(await lookup.verifyPlain("", "correct horse"), null);
  });

  it("finds the account case-insensitively and answers with its canonical address", async () => {
    assert.deepEqual(await lookup.verifyPlain("Alice@EXAMPLE.org", "correct horse"), {
      username: "alice@example.org",
    });
    const scram = await lookup.scramCredentials("ALICE@example.ORG");
    assert.equal(scram?.identity.username, "alice@example.org");
  });

  it("returns the stored SCRAM credentials, null for unknown users", async () => {
    const account = (await store.getAccount("alice@example.org"))!;
    assert.deepEqual(await lookup.scramCredentials("alice@example.org"), {
      identity: { username: "alice@example.org" },
      credentials: account.scram,
    });
    assert.equal(await lookup.scramCredentials("nobody@example.org"), null);
    assert.equal(await lookup.scramCredentials("not an address"), null);
  });

  it("works as the SCRAM mechanism's lookup", async () => {
    const account = (await store.getAccount("alice@example.org"))!;
    const mech = new ScramSha256Mechanism(lookup);
    const step = await mech.start(Buffer.from("n,,n=Alice@example.org,r=clientnonce"));
    assert.equal(step.kind, "challenge");
    const serverFirst = step.kind === "challenge" ? step.data.toString() : "";
    assert.match(serverFirst, /^r=clientnonce[^,]+,s=([^,]+),i=4096$/);
    assert.ok(serverFirst.includes(`,s=${account.scram.salt},`));
  });

  it("an unknown user costs about as much as a wrong password (scrypt on a dummy hash)", async () => {
    await lookup.verifyPlain("warmup@example.org", "x"); // the dummy hash is ready
    const time = async (user: string) => {
      const t0 = process.hrtime.bigint();
      await lookup.verifyPlain(user, "wrong password");
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    // interleaved, medians: robust against a slow moment on a busy machine
    for (let i = 0; i < 5; i++) {
      known.push(await time("alice@example.org"));
      unknown.push(await time(`nobody${i}@example.org`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const k = median(known);
    const u = median(unknown);
    assert.ok(k > 5, `a scrypt verification takes real time (${k.toFixed(1)} ms)`);
    assert.ok(u >= 0.5 * k, `unknown user ${u.toFixed(1)} ms vs wrong password ${k.toFixed(1)} ms`);
  });
});

describe("loadServerSecret", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-secret-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates 32 random bytes once (mode 0600) and returns the same bytes afterwards", async () => {
    const data = join(dir, "data");
    const first = await loadServerSecret(data);
    assert.equal(first.length, 32);
    assert.equal((await stat(join(data, SERVER_SECRET_FILE))).mode & 0o777, 0o600);
    assert.deepEqual(await loadServerSecret(data), first);
    assert.deepEqual(await readdir(data), [SERVER_SECRET_FILE]);
    const other = await loadServerSecret(join(dir, "other"));
    assert.notDeepEqual(other, first);
  });

  it("refuses a damaged file instead of silently replacing it", async () => {
    const data = join(dir, "damaged");
    await loadServerSecret(data);
    await writeFile(join(data, SERVER_SECRET_FILE), "short");
    await assert.rejects(loadServerSecret(data), /damaged/);
  });
});
