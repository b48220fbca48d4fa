import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { advertisedExtensions, type Capabilities, ehloReply, heloReply } from "./ehlo.js";
import { commandLineLimit } from "./extensions.js";
import { formatReply } from "./reply.js";

const FULL: Capabilities = {
  hostname: "mx.example.com",
  greeting: "at your service",
  pipelining: true,
  size: 26214400,
  starttls: true,
  auth: ["PLAIN", "LOGIN"],
  enhancedStatusCodes: true,
  eightBitMime: true,
  binaryMime: true,
  dsn: true,
  smtputf8: true,
  chunking: true,
};

describe("EHLO reply", () => {
  it("greeting first, then the extensions in a fixed order, no enhanced codes (RFC 2034 §3)", () => {
    assert.equal(
      formatReply(ehloReply(FULL)),
      [
        "250-mx.example.com at your service",
        "250-PIPELINING",
        "250-SIZE 26214400",
        "250-STARTTLS",
        "250-AUTH PLAIN LOGIN",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-BINARYMIME",
        "250-DSN",
        "250-SMTPUTF8",
        "250 CHUNKING",
        "",
      ].join("\r\n"),
    );
    assert.deepEqual([...advertisedExtensions(FULL)].sort(), [
      "8BITMIME",
      "AUTH",
      "BINARYMIME",
      "CHUNKING",
      "DSN",
      "ENHANCEDSTATUSCODES",
      "PIPELINING",
      "SIZE",
      "SMTPUTF8",
      "STARTTLS",
    ]);
    assert.equal(commandLineLimit(advertisedExtensions(FULL)), 1608);
  });

  it("minimal: hostname only; SIZE 0 is 'no fixed limit'; BINARYMIME needs CHUNKING; no AUTH line when empty", () => {
    assert.equal(formatReply(ehloReply({ hostname: "h" })), "250 h\r\n");
    const r = ehloReply({ hostname: "h", size: 0, binaryMime: true, auth: [] });
    assert.deepEqual(r.lines, ["h", "SIZE"]);
    assert.deepEqual([...advertisedExtensions({ hostname: "h", binaryMime: true })], []);
  });

  it("HELO gets the greeting line only", () => {
    assert.equal(formatReply(heloReply(FULL)), "250 mx.example.com at your service\r\n");
  });
});
