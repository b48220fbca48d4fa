import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeBase64Strict, encodeBase64, parseSaslResponse } from "./base64.js";

describe("strict base64 for SASL (RFC 4954 §4, RFC 9051 §6.2.2)", () => {
  it("decodes valid, padded, canonical base64", () => {
    assert.deepEqual(decodeBase64Strict(""), Buffer.alloc(0));
    assert.deepEqual(decodeBase64Strict("QQ=="), Buffer.from("A"));
    assert.deepEqual(decodeBase64Strict("QUI="), Buffer.from("AB"));
    assert.deepEqual(decodeBase64Strict("QUJD"), Buffer.from("ABC"));
    assert.deepEqual(decodeBase64Strict("AGFsaWNlAHB3"), Buffer.from("\0alice\0pw"));
    assert.deepEqual(decodeBase64Strict("+/+/"), Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it("rejects everything else", () => {
    for (const bad of [
      "=AAA",
      "AAA=BBB",
      "AAA=AAAA",
      "QQ",
      "QQ=",
      "Q===",
      "====",
      "QR==", // non-zero pad bits (RFC 4648 §3.5)
      "QUJ ",
      "QU I=",
      "QUJD\r",
      " QUJD",
      "QUJ-",
      "QUJ_",
      "*",
      "=",
      "QUJDé===",
    ]) {
      assert.equal(decodeBase64Strict(bad), null, bad);
    }
  });

  it("round-trips", () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff));
      assert.deepEqual(decodeBase64Strict(encodeBase64(bytes)), bytes);
    }
    assert.equal(encodeBase64(new Uint8Array([1, 2, 3]).subarray(1)), Buffer.from([2, 3]).toString("base64"));
  });

  it("interprets client lines: cancel, empty, '=' for an empty initial response", () => {
    assert.deepEqual(parseSaslResponse("*"), { kind: "cancel" });
    assert.deepEqual(parseSaslResponse(""), { kind: "data", data: Buffer.alloc(0) });
    assert.deepEqual(parseSaslResponse("="), { kind: "malformed" });
    assert.deepEqual(parseSaslResponse("QUJD"), { kind: "data", data: Buffer.from("ABC") });
    assert.deepEqual(parseSaslResponse("QUJD!"), { kind: "malformed" });
    assert.deepEqual(parseSaslResponse("=", true), { kind: "data", data: Buffer.alloc(0) });
    assert.deepEqual(parseSaslResponse("QUJD", true), { kind: "data", data: Buffer.from("ABC") });
    assert.deepEqual(parseSaslResponse("*", true), { kind: "malformed" });
    assert.deepEqual(parseSaslResponse("", true), { kind: "malformed" });
  });
});
