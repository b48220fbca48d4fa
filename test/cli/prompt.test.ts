// `postamt user add` without --password-stdin asks on the terminal, twice, without echo.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyPassword } from "../../src/auth/password.js";
import { openStore } from "../../src/store/open-store.js";
import { CLI, makeWorkdir, runCli } from "../helpers/cli.js";

const PTY_SCRIPT = resolve(import.meta.dirname, "../../../test/cli/prompt-pty.py");

describe("password prompt on a terminal", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await makeWorkdir());
    const r = await runCli(["domain", "add", "example.test"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => cleanup());

  it("asks twice without echoing and stores the typed password", async () => {
    const r = spawnSync("python3", [PTY_SCRIPT, process.execPath, CLI, "user", "add", "tty@example.test"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, POSTAMT_CONFIG: "" },
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Password for tty@example\.test: /);
    assert.match(r.stdout, /Repeat the password: /);
    assert.match(r.stdout, /added user tty@example\.test/);
    assert.doesNotMatch(r.stdout, /typed-secret/, "the password must not be echoed");
    const store = await openStore(`sqlite:${join(dir, "data", "postamt.db")}`, {
      dataDir: join(dir, "data"),
    });
    try {
      const acc = await store.getAccount("tty@example.test");
      assert.ok(acc);
      assert.equal(await verifyPassword("typed-secret", acc.passwordHash), true);
    } finally {
      await store.close();
    }
  });
});
