import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import {
  RspamdClient,
  RspamdError,
  type RspamdResult,
  foldField,
  parseRspamdResponse,
  requestHeaders,
  rspamdVerdict,
} from "./rspamd.js";

// shaped like rspamd 3.4's answer to a plain message
const SAMPLE = {
  is_skipped: false,
  score: 7.9,
  required_score: 15.0,
  action: "add header",
  symbols: {
    MIME_GOOD: { name: "MIME_GOOD", score: -0.1, metric_score: -0.1, options: ["text/plain"] },
    BROKEN_HEADERS: { name: "BROKEN_HEADERS", score: 8.0, metric_score: 10.0 },
    FROM_HAS_DN: { name: "FROM_HAS_DN", score: 0.0, metric_score: 0.0 },
  },
  messages: {},
  "message-id": "abc@example.com",
  time_real: 0.0019,
  milter: { remove_headers: { "X-Spam": 0 } },
};

function result(over: Partial<RspamdResult> = {}): RspamdResult {
  return {
    action: "no action",
    score: 1.5,
    requiredScore: 15,
    symbols: ["A", "B"],
    message: null,
    addHeaders: [],
    ...over,
  };
}

/** Every header line ends in CRLF, there is no other CR or LF, continuation lines start with a space. */
function assertWellFormed(headers: string): string[] {
  assert.ok(headers.endsWith("\r\n"), "ends with CRLF");
  const lines = headers.slice(0, -2).split("\r\n");
  for (const l of lines) {
    assert.doesNotMatch(l, /[\r\n]/, `bare CR/LF in ${JSON.stringify(l)}`);
    assert.ok(l.length <= 998, "line within 998");
  }
  return lines;
}

describe("rspamd: response parsing", () => {
  it("reads action, scores, symbols (highest score first) and no message", () => {
    const r = parseRspamdResponse(SAMPLE);
    assert.equal(r.action, "add header");
    assert.equal(r.score, 7.9);
    assert.equal(r.requiredScore, 15);
    assert.deepEqual(r.symbols, ["BROKEN_HEADERS", "FROM_HAS_DN", "MIME_GOOD"]);
    assert.equal(r.message, null);
    assert.deepEqual(r.addHeaders, []);
  });

  it("takes messages.smtp_message as one line", () => {
    const r = parseRspamdResponse({
      ...SAMPLE,
      action: "reject",
      messages: { smtp_message: "Go away\r\nX-Injected: yes" },
    });
    assert.equal(r.message, "Go away X-Injected: yes");
    const empty = parseRspamdResponse({ ...SAMPLE, messages: { smtp_message: " \r\n " } });
    assert.equal(empty.message, null);
  });

  it("reads milter.add_headers in all three shapes, drops bad names, unfolds values", () => {
    const r = parseRspamdResponse({
      ...SAMPLE,
      milter: {
        add_headers: {
          "X-Plain": "one\r\nX-Injected: yes",
          "X-Ordered": { value: "two", order: 0 },
          "X-Multi": [
            { value: "second", order: 1 },
            { value: "first", order: 0 },
          ],
          "Bad Name": "x",
          "Bad:Name": "x",
          "X-Nonsense": 42,
        },
        remove_headers: { "X-Spam": 0 },
      },
    });
    assert.deepEqual(r.addHeaders, [
      { name: "X-Plain", value: "one X-Injected: yes" },
      { name: "X-Ordered", value: "two" },
      { name: "X-Multi", value: "first" },
      { name: "X-Multi", value: "second" },
    ]);
  });

  it("bounds the number of added headers", () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 100; i++) many[`X-H${i}`] = "v";
    assert.equal(parseRspamdResponse({ ...SAMPLE, milter: { add_headers: many } }).addHeaders.length, 32);
  });

  it("rejects what is not an rspamd answer", () => {
    const bad: unknown[] = [
      null,
      [],
      "reject",
      { ...SAMPLE, action: "discard" },
      { ...SAMPLE, action: 3 },
      { ...SAMPLE, score: "7" },
      { ...SAMPLE, required_score: null },
      { error: "Message has no body" },
    ];
    for (const b of bad) {
      assert.throws(
        () => parseRspamdResponse(b),
        (e: unknown) => e instanceof RspamdError && e.kind === "protocol",
        JSON.stringify(b),
      );
    }
  });
});

describe("rspamd: action mapping", () => {
  it("reject → 550 5.7.1 with rspamd's message, or the default", () => {
    assert.deepEqual(rspamdVerdict(result({ action: "reject", message: "Gtube pattern" })), {
      action: "reject",
      code: 550,
      enhanced: "5.7.1",
      text: "Gtube pattern",
    });
    const v = rspamdVerdict(result({ action: "reject" }));
    assert.equal(v.action === "reject" && v.text, "Spam message rejected");
  });

  it("keeps the SMTP text to one line of printable ASCII", () => {
    const v = rspamdVerdict(result({ action: "reject", message: "Nein\r\n250 ok\u0000 — spam" }));
    assert.equal(v.action, "reject");
    assert.equal(v.action === "reject" && v.text, "Nein 250 ok ? spam");
  });

  it("soft reject → 451 4.7.1; greylist (a score band without rspamd's greylist module) → inbox", () => {
    const g = rspamdVerdict(result({ action: "greylist" }));
    assert.equal(g.action === "accept" && g.junk, false);
    for (const action of ["soft reject"] as const) {
      const v = rspamdVerdict(result({ action }));
      assert.equal(v.action, "tempfail");
      assert.equal(v.action === "tempfail" && v.code, 451);
      assert.equal(v.action === "tempfail" && v.enhanced, "4.7.1");
      assert.equal(v.action === "tempfail" && v.text, "Try again later");
    }
    const m = rspamdVerdict(result({ action: "soft reject", message: "Greylisted, retry in 5 minutes" }));
    assert.equal(m.action === "tempfail" && m.text, "Greylisted, retry in 5 minutes");
  });

  it("add header and rewrite subject → Junk with X-Spam: Yes; no action → inbox", () => {
    for (const action of ["add header", "rewrite subject"] as const) {
      const v = rspamdVerdict(result({ action, score: 6.2 }));
      assert.equal(v.action, "accept");
      assert.equal(v.action === "accept" && v.junk, true);
      assert.equal(
        v.action === "accept" && v.headers,
        `X-Spam: Yes\r\nX-Spam-Score: 6.2 / 15\r\nX-Spam-Action: ${action}\r\nX-Spam-Symbols: A, B\r\n`,
      );
    }
    const clean = rspamdVerdict(result({ score: -0.1 }));
    assert.equal(clean.action, "accept");
    assert.equal(clean.action === "accept" && clean.junk, false);
    assert.equal(
      clean.action === "accept" && clean.headers,
      "X-Spam-Score: -0.1 / 15\r\nX-Spam-Action: no action\r\nX-Spam-Symbols: A, B\r\n",
    );
  });
});

describe("rspamd: header composition", () => {
  it("rounds scores to two decimals", () => {
    const v = rspamdVerdict(result({ score: 7.900000001, requiredScore: 15.0, symbols: [] }));
    assert.equal(
      v.action === "accept" && v.headers,
      "X-Spam-Score: 7.9 / 15\r\nX-Spam-Action: no action\r\n",
    );
    const w = rspamdVerdict(result({ score: 1 / 3, requiredScore: 7.25, symbols: [] }));
    assert.match(w.action === "accept" ? w.headers : "", /^X-Spam-Score: 0\.33 \/ 7\.25\r\n/);
  });

  it("folds a long symbol list and bounds it", () => {
    const symbols = Array.from({ length: 500 }, (_, i) => `SYMBOL_NUMBER_${i}`);
    const v = rspamdVerdict(result({ symbols }));
    assert.equal(v.action, "accept");
    const headers = v.action === "accept" ? v.headers : "";
    const lines = assertWellFormed(headers);
    const start = lines.findIndex((l) => l.startsWith("X-Spam-Symbols:"));
    const field = lines.slice(start);
    assert.ok(field.length > 5, "folded onto several lines");
    for (const l of field) assert.ok(l.length <= 78, `line too long: ${l.length}`);
    for (const l of field.slice(1)) assert.ok(l.startsWith(" "), "continuation starts with a space");
    const unfolded = field.join("");
    assert.ok(unfolded.length < 1100, `bounded, got ${unfolded.length}`);
    assert.ok(unfolded.endsWith(", ..."), "says it was cut");
    assert.ok(unfolded.startsWith("X-Spam-Symbols: SYMBOL_NUMBER_0, SYMBOL_NUMBER_1,"));
  });

  it("reduces symbol names to token characters", () => {
    const v = rspamdVerdict(result({ symbols: ["GOOD_ONE", "EVIL\r\nX-Injected: yes", "\u00e9\u00e9", ""] }));
    const headers = v.action === "accept" ? v.headers : "";
    assertWellFormed(headers);
    assert.match(headers, /^X-Spam-Symbols: GOOD_ONE, EVILX-Injectedyes\r\n/m);
    assert.doesNotMatch(headers, /^X-Injected/m);
  });

  it("appends rspamd's add_headers safely, never overriding Postamt's own fields", () => {
    const v = rspamdVerdict(
      result({
        action: "add header",
        addHeaders: [
          { name: "X-Spam", value: "No" },
          { name: "x-spam-score", value: "-100" },
          { name: "X-Rspamd-Server", value: "scanner1\r\nX-Injected: yes" },
          {
            name: "X-Spamd-Result",
            value: `default: False [1.50 / 15.00]; ${"SYM(0.00)[opt]; ".repeat(40)}`,
          },
        ],
      }),
    );
    const headers = v.action === "accept" ? v.headers : "";
    const lines = assertWellFormed(headers);
    assert.equal(lines.filter((l) => /^x-spam:/i.test(l)).length, 1);
    assert.ok(lines.includes("X-Spam: Yes"));
    assert.equal(lines.filter((l) => /^x-spam-score:/i.test(l)).length, 1);
    assert.ok(lines.includes("X-Rspamd-Server: scanner1 X-Injected: yes"));
    assert.doesNotMatch(headers, /^X-Injected/m);
    const result1 = lines.findIndex((l) => l.startsWith("X-Spamd-Result:"));
    assert.ok(result1 >= 0 && lines[result1 + 1]?.startsWith(" "), "long value folded");
  });

  it("folds at spaces, keeps an overlong word whole", () => {
    assert.equal(foldField("X-A", "short value"), "X-A: short value\r\n");
    assert.equal(foldField("X-A", ""), "X-A:\r\n");
    const long = "x".repeat(120);
    assert.equal(foldField("X-A", `${long} y`), `X-A: ${long}\r\n y\r\n`);
  });
});

describe("rspamd: request headers", () => {
  it("sends envelope, client and message facts", () => {
    const h = requestHeaders({
      message: Buffer.from("Subject: x\r\n\r\nbody\r\n"),
      ip: "::ffff:192.0.2.1",
      helo: "mail.example.com",
      mailFrom: "alice@example.com",
      recipients: ["bob@example.net", "carol@example.net"],
      hostname: "mail.example.com",
      user: "alice@example.com",
      queueId: "Q123",
    });
    assert.deepEqual(h, {
      IP: "192.0.2.1",
      Helo: "mail.example.com",
      From: "alice@example.com",
      Rcpt: ["bob@example.net", "carol@example.net"],
      Hostname: "mail.example.com",
      User: "alice@example.com",
      "Queue-Id": "Q123",
      "Log-Tag": "Q123",
      "Content-Length": 20,
    });
  });

  it("null sender, no HELO, no user, unknown size, odd values", () => {
    const h = requestHeaders({
      message: Readable.from([]),
      ip: "not-an-ip",
      helo: "evil\r\nPass: all",
      mailFrom: "",
      recipients: ["jörg@example.de", ""],
      hostname: "",
      user: null,
    });
    assert.deepEqual(h, {
      Helo: "evil Pass: all",
      From: "<>",
      // UTF-8 bytes, carried in a latin1 string because that is how node writes header values
      Rcpt: [Buffer.from("jörg@example.de", "utf8").toString("latin1")],
    });
    assert.equal(
      requestHeaders({
        message: Readable.from([]),
        size: 1234,
        ip: "2001:db8::1",
        helo: null,
        mailFrom: "a@b",
        recipients: [],
        hostname: "h",
      })["Content-Length"],
      1234,
    );
  });

  it("the client refuses URLs it cannot talk to", () => {
    assert.throws(() => new RspamdClient({ url: "ftp://127.0.0.1:11333", timeoutMs: 1000 }), TypeError);
    assert.throws(() => new RspamdClient({ url: "not a url", timeoutMs: 1000 }), TypeError);
    assert.throws(() => new RspamdClient({ url: "http://127.0.0.1:11333", timeoutMs: 0 }), RangeError);
  });
});
