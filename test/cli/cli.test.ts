// The `postamt` admin commands, run as a real process against a real data directory.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyPassword } from "../../src/auth/password.js";
import { openStore } from "../../src/store/open-store.js";
import { makeWorkdir, runCli } from "../helpers/cli.js";

describe("postamt CLI", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeWorkdir());
  });
  after(() => cleanup());
  const run = (args: string[], input?: string) => runCli(args, { cwd: dir, input });

  it("has --help on every command and subcommand", async () => {
    const commands = [
      [],
      ["serve"],
      ["domain"],
      ["domain", "add"],
      ["domain", "list"],
      ["domain", "remove"],
      ["user"],
      ["user", "add"],
      ["user", "list"],
      ["user", "passwd"],
      ["user", "remove"],
      ["user", "quota"],
      ["alias"],
      ["alias", "add"],
      ["alias", "list"],
      ["alias", "remove"],
      ["queue"],
      ["queue", "list"],
      ["queue", "show"],
      ["queue", "retry"],
      ["queue", "remove"],
      ["dns"],
      ["config"],
      ["config", "check"],
      ["config", "describe"],
    ];
    // In parallel: each is a separate process, and they only read.
    const results = await Promise.all(commands.map((c) => run([...c, "--help"])));
    commands.forEach((c, i) => {
      const r = results[i]!;
      assert.equal(r.code, 0, `${c.join(" ")} --help: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: postamt/m, c.join(" "));
    });
  });

  it("adds, lists and removes domains", async () => {
    let r = await run(["domain", "add", "Example.TEST"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added domain example\.test/);
    assert.ok(existsSync(join(dir, "data", "dkim", "example.test", "postamt.pem")), "DKIM key created");
    r = await run(["domain", "add", "example.test"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /example\.test/);
    r = await run(["domain", "add", "not a domain"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not a valid domain/);
    await run(["domain", "add", "other.test"]);
    r = await run(["domain", "list", "--json"]);
    assert.deepEqual((JSON.parse(r.stdout) as Array<{ domain: string }>).map((d) => d.domain).sort(), [
      "example.test",
      "other.test",
    ]);
    r = await run(["domain", "remove", "other.test"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["domain", "list"]);
    assert.doesNotMatch(r.stdout, /other\.test/);
  });

  it("adds a user with --password-stdin, storing a verifiable hash and SCRAM keys", async () => {
    let r = await run(["user", "add", "Alice@Example.test", "--password-stdin"], "s3cret pass\n");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added user alice@example\.test/);
    r = await run(["user", "add", "alice@example.test", "--password-stdin"], "x\n");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already exists/);
    r = await run(["user", "add", "bob@nowhere.test", "--password-stdin"], "x\n");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /postamt domain add nowhere\.test/);
    r = await run(["user", "add", "carol@example.test"]);
    assert.notEqual(r.code, 0, "no terminal and no --password-stdin");
    assert.match(r.stderr, /--password-stdin/);

    const store = await openStore(`sqlite:${join(dir, "data", "postamt.db")}`, {
      dataDir: join(dir, "data"),
    });
    try {
      const acc = await store.getAccount("alice@example.test");
      assert.ok(acc);
      assert.equal(await verifyPassword("s3cret pass", acc.passwordHash), true);
      assert.equal(await verifyPassword("wrong", acc.passwordHash), false);
      assert.equal(acc.scram.iterations, 4096);
      assert.equal(Buffer.from(acc.scram.storedKey, "base64").length, 32);
      const names = (await store.listMailboxes(acc.id)).map((m) => m.name).sort();
      assert.deepEqual(names, ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
    } finally {
      await store.close();
    }

    r = await run(["user", "passwd", "alice@example.test", "--password-stdin"], "new pass\n");
    assert.equal(r.code, 0, r.stderr);
    const store2 = await openStore(`sqlite:${join(dir, "data", "postamt.db")}`, {
      dataDir: join(dir, "data"),
    });
    try {
      const acc = await store2.getAccount("alice@example.test");
      assert.equal(await verifyPassword("new pass", acc!.passwordHash), true);
    } finally {
      await store2.close();
    }

    r = await run(["user", "quota", "alice@example.test", "1GB"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["user", "list", "--json"]);
    const users = JSON.parse(r.stdout) as Array<{ address: string; quota: number | null }>;
    assert.deepEqual(users.find((u) => u.address === "alice@example.test")?.quota, 1024 ** 3);
  });

  it("manages aliases, catch-alls included", async () => {
    await run(["user", "add", "dave@example.test", "--password-stdin"], "pw-dave\n");
    let r = await run(["alias", "add", "info@example.test", "alice@example.test,dave@example.test"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["alias", "add", "@example.test", "alice@example.test"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["alias", "add", "x@unknown.test", "alice@example.test"]);
    assert.notEqual(r.code, 0);
    r = await run(["alias", "add", "dave@example.test", "alice@example.test"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is a user/);
    r = await run(["alias", "list", "--json"]);
    const aliases = JSON.parse(r.stdout) as Array<{ address: string; targets: string[] }>;
    assert.deepEqual(aliases.find((a) => a.address === "info@example.test")?.targets, [
      "alice@example.test",
      "dave@example.test",
    ]);
    assert.ok(aliases.some((a) => a.address === "@example.test"));
    r = await run(["alias", "remove", "info@example.test"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["alias", "list"]);
    assert.doesNotMatch(r.stdout, /info@example\.test/);
  });

  it("refuses to remove a domain in use unless forced", async () => {
    await run(["domain", "add", "gone.test"]);
    await run(["user", "add", "eve@gone.test", "--password-stdin"], "pw\n");
    let r = await run(["domain", "remove", "gone.test"]);
    assert.notEqual(r.code, 0);
    r = await run(["domain", "remove", "gone.test", "--force"]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(["user", "list", "--json"]);
    assert.ok(
      !(JSON.parse(r.stdout) as Array<{ address: string }>).some((u) => u.address === "eve@gone.test"),
    );
  });

  it("prints DNS records with the DKIM key", async () => {
    const r = await run(["dns", "example.test"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^example\.test\.\s+3600\s+IN\s+MX\s+10 mail\.example\.test\.$/m);
    assert.match(r.stdout, /"v=spf1 mx -all"/);
    assert.match(r.stdout, /postamt\._domainkey\.example\.test\..*"v=DKIM1; k=rsa; p=MII/);
    assert.match(r.stdout, /_dmarc\.example\.test\..*v=DMARC1/);
    // listeners are disabled in this config, so SRV records say "not offered" (RFC 6186 §4)
    assert.match(r.stdout, /_imaps\._tcp\.example\.test\..*SRV\s+0 0 0 \.$/m);
  });

  it("lists an empty queue and reports unknown queue ids", async () => {
    let r = await run(["queue", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /empty/);
    r = await run(["queue", "show", "nope"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no queued message nope/);
  });

  it("reports config mistakes with file, key, value and reason, and exits non-zero", async () => {
    const bad = join(dir, "bad.toml");
    await writeFile(bad, '[listen]\nsmtp = ["0.0.0.0:99999"]\n[bogus]\nx = 1\n');
    const r = await run(["config", "check", "--config", bad]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /bad\.toml/);
    assert.match(r.stderr, /listen\.smtp/);
    assert.match(r.stderr, /99999/);
    assert.match(r.stderr, /bogus/);
    const ok = await run(["config", "check"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /postamt\.toml: OK/);
  });

  it("describes every option", async () => {
    const r = await run(["config", "describe"]);
    assert.equal(r.code, 0, r.stderr);
    for (const key of [
      "hostname",
      "data_dir",
      "listen.smtp",
      "tls.cert",
      "store.url",
      "dns.servers",
      "outbound.port",
    ]) {
      assert.ok(r.stdout.includes(key), key);
    }
  });

  it("answers an unknown command with usage and exit code 2", async () => {
    const r = await run(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command/);
  });
});
