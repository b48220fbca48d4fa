// tls.cert / tls.key checks against real files: a self-signed P-256 certificate made by openssl.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, type ConfigIssue } from "../../src/config/errors.js";
import { configFromObject, loadConfig } from "../../src/config/load.js";

let dir = "";

function selfSigned(name: string): void {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=mail.example.com",
      "-keyout",
      path.join(dir, `${name}.key`),
      "-out",
      path.join(dir, `${name}.crt`),
    ],
    { stdio: "ignore" },
  );
}

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "postamt-config-tls-"));
  selfSigned("good");
  selfSigned("other");
  fs.writeFileSync(path.join(dir, "notes.txt"), "this is not a certificate\n");
  fs.writeFileSync(
    path.join(dir, "broken.crt"),
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
  );
  fs.writeFileSync(
    path.join(dir, "broken.key"),
    "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
  );
  fs.mkdirSync(path.join(dir, "a-directory"));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Config with tls paths relative to the test directory (as if written in a file there). */
function tls(cert: string, key: string) {
  return configFromObject({ tls: { cert, key } }, { file: path.join(dir, "postamt.toml") });
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  assert.fail("expected a ConfigError");
}

describe("tls.cert and tls.key", () => {
  it("accepts a matching certificate and key, resolving paths against the config file", () => {
    fs.writeFileSync(path.join(dir, "postamt.toml"), '[tls]\ncert = "good.crt"\nkey = "good.key"\n');
    const c = loadConfig({ file: path.join(dir, "postamt.toml"), env: {} });
    assert.equal(c.tls.cert, path.join(dir, "good.crt"));
    assert.equal(c.tls.key, path.join(dir, "good.key"));
  });

  it("accepts absolute paths", () => {
    const c = configFromObject({
      tls: { cert: path.join(dir, "good.crt"), key: path.join(dir, "good.key") },
    });
    assert.equal(c.tls.cert, path.join(dir, "good.crt"));
  });

  // [name, cert, key, expected issues as [key, value, reason fragment]]
  const cases: Array<[string, string, string, Array<[string, string, string]>]> = [
    ["a missing certificate file", "missing.crt", "good.key", [["tls.cert", "missing.crt", "no such file"]]],
    ["a missing key file", "good.crt", "missing.key", [["tls.key", "missing.key", "no such file"]]],
    [
      "a directory as certificate",
      "a-directory",
      "good.key",
      [["tls.cert", "a-directory", "is a directory"]],
    ],
    [
      "a text file as certificate",
      "notes.txt",
      "good.key",
      [["tls.cert", "notes.txt", "is not a PEM certificate"]],
    ],
    ["a text file as key", "good.crt", "notes.txt", [["tls.key", "notes.txt", "is not a PEM private key"]]],
    [
      "a corrupt certificate",
      "broken.crt",
      "good.key",
      [["tls.cert", "broken.crt", "cannot parse the certificate"]],
    ],
    ["a corrupt key", "good.crt", "broken.key", [["tls.key", "broken.key", "cannot load the private key"]]],
    [
      "a key that belongs to another certificate",
      "good.crt",
      "other.key",
      [["tls.key", "other.key", "does not belong to the certificate"]],
    ],
    [
      "certificate and key swapped",
      "good.key",
      "good.crt",
      [
        ["tls.cert", "good.key", "is not a PEM certificate"],
        ["tls.key", "good.crt", "is not a PEM private key"],
      ],
    ],
  ];
  for (const [name, cert, key, expected] of cases) {
    it(`rejects ${name}`, () => {
      const issues = issuesOf(() => tls(cert, key));
      assert.deepEqual(
        issues.map((i) => [i.key, i.value]),
        expected.map(([k, v]) => [k, v]),
      );
      issues.forEach((issue, i) => {
        const fragment = expected[i]![2];
        assert.ok(issue.reason.includes(fragment), `"${issue.reason}" should contain "${fragment}"`);
      });
    });
  }

  it("names the resolved path in the reason", () => {
    const [issue] = issuesOf(() => tls("missing.crt", "good.key"));
    assert.ok(issue!.reason.includes(path.join(dir, "missing.crt")), issue!.reason);
  });

  it("rejects an unreadable file", {
    skip: process.getuid?.() === 0 ? "running as root: permissions do not stop reads" : false,
  }, () => {
    const locked = path.join(dir, "locked.key");
    fs.copyFileSync(path.join(dir, "good.key"), locked);
    fs.chmodSync(locked, 0o000);
    const issues = issuesOf(() => tls("good.crt", "locked.key"));
    assert.equal(issues[0]!.key, "tls.key");
    assert.ok(issues[0]!.reason.includes("permission denied"), issues[0]!.reason);
  });

  it("does not open the files when only one of the pair is set", () => {
    const issues = issuesOf(() => tls("missing.crt", null as unknown as string));
    assert.deepEqual(
      issues.map((i) => i.key),
      ["tls.key"],
    );
  });
});
