import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatReply, MAX_REPLY_LINE, REPLIES, SmtpError, withText } from "./reply.js";

describe("formatReply", () => {
  it("single line with enhanced code", () => {
    assert.equal(formatReply(REPLIES.ok), "250 2.0.0 OK\r\n");
  });

  it("multi-line: '-' continuation, the enhanced code on every line (RFC 2034 §4)", () => {
    const r = { code: 550, enhanced: "5.1.1", lines: ["No such user", "Try again never"] };
    assert.equal(formatReply(r), "550-5.1.1 No such user\r\n550 5.1.1 Try again never\r\n");
  });

  it("without enhanced code, or with enhanced codes switched off", () => {
    assert.equal(
      formatReply({ code: 250, lines: ["mx.example", "PIPELINING"] }),
      "250-mx.example\r\n250 PIPELINING\r\n",
    );
    assert.equal(formatReply(REPLIES.ok, { enhanced: false }), "250 OK\r\n");
    assert.equal(formatReply(REPLIES.startData), "354 End data with <CR><LF>.<CR><LF>\r\n");
  });

  it("empty text", () => {
    assert.equal(formatReply(REPLIES.authContinue), "334 \r\n"); // RFC 4954 §4: "334 "
    assert.equal(formatReply({ code: 334, lines: ["dGVzdA=="] }), "334 dGVzdA==\r\n");
    assert.equal(formatReply({ code: 250, enhanced: "2.0.0", lines: [] }), "250 2.0.0\r\n");
    assert.equal(formatReply({ code: 250, lines: ["", ""] }), "250-\r\n250 \r\n");
  });

  it("neutralises CR/LF in text (no reply injection)", () => {
    const r = withText(REPLIES.badRecipient, "bad <x>\r\n250 OK");
    assert.equal(formatReply(r), "501 5.1.3 bad <x>  250 OK\r\n");
  });

  it("wraps long text so no line exceeds 512 octets (RFC 5321 §4.5.3.1.5)", () => {
    const words = Array.from({ length: 200 }, (_, i) => `wörd${i}`).join(" ");
    const out = formatReply(withText(REPLIES.ok, words, "x".repeat(1500)));
    const lines = out.split("\r\n").slice(0, -1);
    assert.ok(lines.length > 4);
    for (const [i, l] of lines.entries()) {
      assert.ok(Buffer.byteLength(l) + 2 <= MAX_REPLY_LINE, `line ${i}: ${Buffer.byteLength(l)}`);
      assert.match(l, i === lines.length - 1 ? /^250 2\.0\.0 / : /^250-2\.0\.0 /);
    }
    const text = lines.map((l) => l.slice(10)).join("");
    assert.equal(text, words + "x".repeat(1500));
  });
});

describe("reply table", () => {
  it("every enhanced code agrees with its reply code class (RFC 2034 §4), 3xx have none", () => {
    for (const [name, r] of Object.entries(REPLIES)) {
      assert.match(String(r.code), /^[2-5][0-5][0-9]$/, name);
      if (r.code >= 300 && r.code < 400) assert.equal(r.enhanced, undefined, name);
      else assert.equal(r.enhanced?.[0], String(r.code)[0], name);
    }
  });

  it("is frozen", () => {
    assert.ok(Object.isFrozen(REPLIES));
    assert.ok(Object.isFrozen(REPLIES.ok));
  });
});

describe("SmtpError", () => {
  it("carries its reply", () => {
    const e = new SmtpError(REPLIES.badSequence);
    assert.ok(e instanceof Error);
    assert.equal(e.reply, REPLIES.badSequence);
    assert.equal(e.message, "503 5.5.1 Bad sequence of commands");
    assert.equal(e.name, "SmtpError");
  });
});
