// `postamt domain add` makes both DKIM keys; `domain dkim-rotate` switches to new selectors and prints
// their records; retired selectors stay in `postamt dns` until `domain dkim-drop-retired`.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeWorkdir, runCli } from "../helpers/cli.js";

describe("postamt domain: DKIM keys", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeWorkdir());
  });
  after(() => cleanup());
  const run = (args: string[]) => runCli(args, { cwd: dir });
  const keyDir = () => join(dir, "data", "dkim", "example.test");
  const now = new Date();
  const month = `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}`;

  it("has --help on the new commands", async () => {
    for (const c of [["domain", "dkim-rotate"], ["domain", "dkim-drop-retired"], ["domain"]]) {
      const r = await run([...c, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: postamt/m);
    }
    const r = await run(["domain", "--help"]);
    assert.match(r.stdout, /dkim-rotate/);
  });

  it("domain add creates an RSA and an Ed25519 key", async () => {
    const r = await run(["domain", "add", "example.test"]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["postamt.pem", "postamt-ed25519.pem", "keys.json"]) {
      assert.ok(existsSync(join(keyDir(), f)), f);
    }
  });

  it("dkim-rotate prints the new records, and dns keeps the retired ones", async () => {
    const r = await run(["domain", "dkim-rotate", "example.test"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`new selectors p${month}r \\(RSA\\) and p${month}e \\(Ed25519\\)`));
    assert.match(
      r.stdout,
      new RegExp(
        `^p${month}r\\._domainkey\\.example\\.test\\.\\s+3600\\s+IN\\s+TXT\\s+"v=DKIM1; k=rsa; p=`,
        "m",
      ),
    );
    assert.match(
      r.stdout,
      new RegExp(
        `^p${month}e\\._domainkey\\.example\\.test\\.\\s+3600\\s+IN\\s+TXT\\s+"v=DKIM1; k=ed25519; p=`,
        "m",
      ),
    );
    assert.match(r.stdout, /retired selectors \(postamt, postamt-ed25519\)/);
    assert.ok(existsSync(join(keyDir(), `p${month}r.pem`)));

    const again = await run(["domain", "dkim-rotate", "example.test"]);
    assert.match(again.stdout, new RegExp(`new selectors p${month}r2 \\(RSA\\) and p${month}e2`));

    const dns = await run(["dns", "example.test"]);
    assert.equal(dns.code, 0, dns.stderr);
    const selectors = [...dns.stdout.matchAll(/^(\S+)\._domainkey\.example\.test\./gm)].map((m) => m[1]);
    assert.deepEqual(selectors, [
      `p${month}r2`,
      `p${month}e2`,
      `p${month}r`,
      `p${month}e`,
      "postamt",
      "postamt-ed25519",
    ]);
    assert.match(dns.stdout, /^; postamt: retired \d{4}-\d\d-\d\d/m);
    assert.match(dns.stdout, new RegExp(`^; p${month}r2: signs outgoing mail`, "m"));
  });

  it("dkim-drop-retired removes retired keys (after --older-than days)", async () => {
    let r = await run(["domain", "dkim-drop-retired", "example.test"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no retired DKIM keys of example\.test older than 7 days/);
    r = await run(["domain", "dkim-drop-retired", "example.test", "--older-than", "0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}postamt\._domainkey\.example\.test\. TXT$/m);
    assert.ok(!existsSync(join(keyDir(), "postamt.pem")));
    const dns = await run(["dns", "example.test"]);
    const selectors = [...dns.stdout.matchAll(/^(\S+)\._domainkey\.example\.test\./gm)].map((m) => m[1]);
    assert.deepEqual(selectors, [`p${month}r2`, `p${month}e2`]);
    r = await run(["domain", "dkim-drop-retired", "example.test", "--older-than", "soon"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /number of days/);
  });

  it("refuses to rotate a domain that is not local", async () => {
    const r = await run(["domain", "dkim-rotate", "nowhere.test"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nowhere\.test is not a local domain/);
    assert.ok(!existsSync(join(dir, "data", "dkim", "nowhere.test")));
  });
});
