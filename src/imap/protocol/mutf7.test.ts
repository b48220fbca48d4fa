import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeMutf7, encodeMutf7 } from "./mutf7.js";

describe("modified UTF-7", () => {
  const pairs: [string, string][] = [
    ["INBOX", "INBOX"],
    ["", ""],
    ["&", "&-"],
    ["a&b&&", "a&-b&-&-"],
    ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"], // RFC 9051 Appendix A.1
    ["台北日本語", "&U,BTF2XlZyyKng-"],
    ["Entwürfe", "Entw&APw-rfe"],
    ["Gelöschte Elemente", "Gel&APY-schte Elemente"],
    ["Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-"],
    ["😀 mail", "&2D3eAA- mail"],
    ["tab\there", "tab&AAk-here"],
    ["del\x7f", "del&AH8-"],
    ["é&", "&AOk-&-"],
  ];
  for (const [text, wire] of pairs) {
    it(`${JSON.stringify(text)} ↔ ${wire}`, () => {
      assert.equal(encodeMutf7(text), wire);
      assert.equal(decodeMutf7(wire), text);
    });
  }

  const invalid: [string, string][] = [
    ["&Jjo!", "no closing -"],
    ["&", "lone &"],
    ["&U,BTFw-&ZeVnLIqe-", "superfluous shift (RFC 9051 A.1)"],
    ["&AGE-", "printable ASCII encoded"],
    ["&ACY-", "& encoded"],
    ["Entw\u00fcrfe", "8-bit octet"],
    ["a\tb", "raw control character"],
    ["a\x7fb", "raw DEL"],
    ["&AP/-", "'/' is not modified base64"],
    ["&APw=-", "padding"],
    ["&APx-", "non-zero padding bits"],
    ["&AA-", "fewer than 16 bits"],
    ["&APwA-", "a whole sextet of leftover bits"],
    ["&2D0-", "lone high surrogate"],
    ["&3gA-", "lone low surrogate"],
    ["&2D3YPQ-", "high surrogate followed by high surrogate"],
  ];
  for (const [wire, why] of invalid) {
    it(`rejects ${JSON.stringify(wire)} (${why})`, () => assert.equal(decodeMutf7(wire), null));
  }
});
