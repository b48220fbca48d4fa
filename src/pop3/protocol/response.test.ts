import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MAX_STATUS_LINE, challenge, err, multiline, ok } from "./response.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

describe("POP3 responses", () => {
  it("formats status lines with and without response codes (RFC 2449 §8)", () => {
    assert.equal(ok(), "+OK\r\n");
    assert.equal(ok("Logged in"), "+OK Logged in\r\n");
    assert.equal(err("no such message"), "-ERR no such message\r\n");
    assert.equal(err("Mailbox is locked", "IN-USE"), "-ERR [IN-USE] Mailbox is locked\r\n");
    assert.equal(err("Authentication failed", "AUTH"), "-ERR [AUTH] Authentication failed\r\n");
    assert.equal(err("later", "SYS/TEMP"), "-ERR [SYS/TEMP] later\r\n");
  });

  it("keeps line breaks out of the text", () => {
    assert.equal(err("a\r\n+OK fake"), "-ERR a  +OK fake\r\n");
  });

  it("limits a status line to 512 octets including CRLF", () => {
    const long = err("ü".repeat(600));
    assert.ok(Buffer.byteLength(long) <= MAX_STATUS_LINE);
    assert.ok(long.endsWith("\r\n"));
  });

  it("dot-stuffs and terminates multi-line responses", () => {
    assert.equal(
      multiline("list follows", ["TOP", ".odd", "UIDL"]),
      "+OK list follows\r\nTOP\r\n..odd\r\nUIDL\r\n.\r\n",
    );
    assert.equal(multiline("", []), "+OK\r\n.\r\n");
  });

  it("formats SASL challenges (RFC 5034 §4)", () => {
    assert.equal(challenge(""), "+ \r\n");
    assert.equal(challenge("cj1hYmM="), "+ cj1hYmM=\r\n");
  });

  it("property: one line, bounded, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 1000 }), fc.boolean(), (text, good) => {
        const l = good ? ok(text) : err(text, "SYS/TEMP");
        assert.ok(Buffer.byteLength(l) <= MAX_STATUS_LINE);
        assert.equal(l.indexOf("\r"), l.length - 2);
        assert.equal(l.indexOf("\n"), l.length - 1);
      }),
      { numRuns: RUNS },
    );
  });
});
