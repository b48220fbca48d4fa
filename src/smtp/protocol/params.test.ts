import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Extension } from "./extensions.js";
import {
  parseMailParams,
  parseNotify,
  parseOrcpt,
  parseRcptParams,
  splitParams,
  xtextDecode,
  xtextEncode,
} from "./params.js";

const DSN = new Set<Extension>(["DSN"]);

describe("xtext (RFC 3461 §4)", () => {
  const pairs: [string, string][] = [
    ["", ""],
    ["plain", "plain"],
    ["a+b=c", "a+2Bb+3Dc"],
    ["sp ace", "sp+20ace"],
    ["tab\there", "tab+09here"],
    ["café", "caf+C3+A9"],
    ["~!", "~!"],
  ];
  for (const [plain, enc] of pairs) {
    it(`${JSON.stringify(plain)} ⇄ ${JSON.stringify(enc)}`, () => {
      assert.equal(xtextEncode(plain), enc);
      assert.equal(xtextDecode(enc), plain);
    });
  }

  it("decodes lower-case hex too (be liberal), rejects malformed input", () => {
    assert.equal(xtextDecode("a+2bb"), "a+b");
    for (const bad of ["a+", "a+2", "a+GG", "a=b", "a b", "\x7f", "é", "+FF"])
      assert.equal(xtextDecode(bad), null, bad);
  });

  it("accepts raw UTF-8 only in unicode mode (RFC 6533 unitext)", () => {
    assert.equal(xtextDecode("δ+2B"), null);
    assert.equal(xtextDecode("δ+2B", true), "δ+");
    assert.equal(xtextDecode("😀", true), "😀");
  });

  it("encodes bytes", () => {
    assert.equal(xtextEncode(Uint8Array.from([0, 0x2b, 0x41, 0xff])), "+00+2BA+FF");
  });
});

describe("NOTIFY (RFC 3461 §4.1)", () => {
  it("parses lists in any case; NEVER only alone", () => {
    assert.deepEqual(parseNotify("never"), { never: true, success: false, failure: false, delay: false });
    assert.deepEqual(parseNotify("Success,DELAY"), {
      never: false,
      success: true,
      failure: false,
      delay: true,
    });
    assert.deepEqual(parseNotify("FAILURE,FAILURE"), {
      never: false,
      success: false,
      failure: true,
      delay: false,
    });
    for (const bad of ["", "NEVER,NEVER", "NEVER,DELAY", "SUCCESS;FAILURE", " SUCCESS", "SUCCESS,,DELAY"]) {
      assert.equal(parseNotify(bad), null, bad);
    }
  });
});

describe("ORCPT (RFC 3461 §4.2)", () => {
  it("keeps the addr-type and decodes the address", () => {
    assert.deepEqual(parseOrcpt("rfc822;a+2Bb@example.com", false), {
      type: "rfc822",
      address: "a+b@example.com",
    });
    assert.deepEqual(parseOrcpt("RFC822;x", false), { type: "RFC822", address: "x" });
    assert.deepEqual(parseOrcpt("utf-8;\\x{E9}t\\x{E9}@example.com", false), {
      type: "utf-8",
      address: "été@example.com",
    });
    for (const bad of ["rfc822", ";x", "rfc822;", "r(x);y", "utf-8;\\q", "utf-8;\\x{110000}", "rfc822;+00"]) {
      assert.equal(parseOrcpt(bad, false), null, bad);
    }
  });
});

describe("parameter lists", () => {
  it("splits on runs of spaces and upper-cases keywords", () => {
    assert.deepEqual(splitParams("  size=10   SMTPUTF8 "), [
      { keyword: "SIZE", value: "10" },
      { keyword: "SMTPUTF8", value: undefined },
    ]);
    assert.deepEqual(splitParams(""), []);
    assert.equal(splitParams("A=b=c"), null);
    assert.equal(splitParams("A="), null);
    assert.equal(splitParams("A_B=1"), null);
  });

  it("MAIL: only the advertised extensions' parameters", () => {
    assert.deepEqual(parseMailParams("RET=FULL ENVID=x", DSN), {
      ok: true,
      params: { smtputf8: false, ret: "FULL", envid: "x" },
    });
    const r = parseMailParams("SIZE=1", DSN);
    assert.equal(!r.ok && r.reply.code, 555);
  });

  it("MAIL: a huge SIZE stays a number (comparisons still work)", () => {
    const r = parseMailParams(`SIZE=${"9".repeat(20)}`, new Set<Extension>(["SIZE"]));
    assert.ok(r.ok && r.params.size! > Number.MAX_SAFE_INTEGER);
  });

  it("MAIL: AUTH= with a UTF-8 mailbox needs SMTPUTF8 in the same command", () => {
    const ext = new Set<Extension>(["AUTH", "SMTPUTF8"]);
    assert.equal(parseMailParams("AUTH=δ@example.com", ext).ok, false);
    const r = parseMailParams("AUTH=δ@example.com SMTPUTF8", ext);
    assert.ok(r.ok && r.params.auth?.address === "δ@example.com");
  });

  it("RCPT: nothing without DSN", () => {
    assert.deepEqual(parseRcptParams("", new Set()), { ok: true, params: {} });
    const r = parseRcptParams("NOTIFY=NEVER", new Set());
    assert.equal(!r.ok && r.reply.code, 555);
  });
});
