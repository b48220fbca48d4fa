import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  normalizeAddress,
  normalizeAliasAddress,
  normalizeDomain,
  normalizeRemoteAddress,
  splitAddress,
  splitSubaddress,
} from "./address.js";
import { StoreError } from "./types.js";

const invalid = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof StoreError && e.code === "invalid");

describe("address normalisation", () => {
  it("normalises domains", () => {
    const table: Array<[string, string]> = [
      ["Example.COM", "example.com"],
      ["example.com.", "example.com"],
      [" mail.example.org ", "mail.example.org"],
      ["bücher.example", "xn--bcher-kva.example"],
      ["_dmarc.example.com", "_dmarc.example.com"],
    ];
    for (const [input, want] of table) assert.equal(normalizeDomain(input), want, input);
    for (const bad of ["", ".", "a..b", "-a.com", "a-.com", "exa mple.com", "a@b", `${"a".repeat(64)}.com`]) {
      invalid(() => normalizeDomain(bad));
    }
  });

  it("splits at the last @ and strips angle brackets", () => {
    assert.deepEqual(splitAddress("<a@b.c>"), { local: "a", domain: "b.c" });
    assert.deepEqual(splitAddress('"x@y"@b.c'), { local: '"x@y"', domain: "b.c" });
    invalid(() => splitAddress("no-at"));
  });

  it("lower-cases local addresses entirely, remote ones only in the domain", () => {
    assert.equal(normalizeAddress("Alice.Smith@Example.COM"), "alice.smith@example.com");
    assert.equal(normalizeRemoteAddress("Alice.Smith@Example.COM"), "Alice.Smith@example.com");
    assert.equal(normalizeAliasAddress("@Example.com"), "@example.com");
    invalid(() => normalizeAddress("@example.com"));
    invalid(() => normalizeAddress("a\r\nb@example.com"));
    invalid(() => normalizeAddress("alice@"));
  });

  it("finds +tags", () => {
    assert.deepEqual(splitSubaddress("alice+news"), { base: "alice", tag: "news" });
    assert.deepEqual(splitSubaddress("alice+a+b"), { base: "alice", tag: "a+b" });
    assert.deepEqual(splitSubaddress("alice+"), { base: "alice", tag: "" });
    assert.equal(splitSubaddress("alice"), null);
    assert.equal(splitSubaddress("+alice"), null);
    assert.equal(splitSubaddress('"a+b"'), null);
  });
});
