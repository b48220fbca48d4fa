import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { chunkings } from "../../smtp/protocol/testkit.js";
import { LineFramer } from "./line-framer.js";
import { parseCommand } from "./parse-command.js";
import type { ParseResult } from "./types.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

function parse(line: string): ParseResult {
  return parseCommand(Buffer.from(line, "utf8"));
}

/** Frame the input at every chunking and parse each line: results must not depend on the cuts. */
function parseStream(input: string): ParseResult[] {
  const buf = Buffer.from(input, "utf8");
  let expected: ParseResult[] | null = null;
  for (const chunks of chunkings(buf)) {
    const f = new LineFramer();
    const out: ParseResult[] = [];
    for (const c of chunks) {
      f.push(c);
      for (let r = f.next(); r !== null; r = f.next()) {
        if (r.kind === "line") out.push(parseCommand(r.line));
      }
    }
    if (expected === null) expected = out;
    else assert.deepEqual(out, expected);
  }
  return expected ?? [];
}

describe("POP3 parseCommand", () => {
  const good: [string, unknown][] = [
    ["USER alice@example.test", { name: "USER", user: "alice@example.test" }],
    ["user Alice@Example.TEST  ", { name: "USER", user: "Alice@Example.TEST" }],
    ["USER jörg@bücher.test", { name: "USER", user: "jörg@bücher.test" }],
    ["PASS secret", { name: "PASS", password: "secret" }],
    ["PASS with spaces  inside ", { name: "PASS", password: "with spaces  inside " }],
    ["pass pässwörd", { name: "PASS", password: "pässwörd" }],
    ["QUIT", { name: "QUIT" }],
    ["quit", { name: "QUIT" }],
    ["STAT", { name: "STAT" }],
    ["LIST", { name: "LIST", msg: null }],
    ["LIST 3", { name: "LIST", msg: 3 }],
    ["list  3 ", { name: "LIST", msg: 3 }],
    ["RETR 1", { name: "RETR", msg: 1 }],
    ["RETR 0", { name: "RETR", msg: 0 }],
    ["DELE 12", { name: "DELE", msg: 12 }],
    ["NOOP", { name: "NOOP" }],
    ["RSET", { name: "RSET" }],
    ["TOP 1 0", { name: "TOP", msg: 1, lines: 0 }],
    ["top 2 10", { name: "TOP", msg: 2, lines: 10 }],
    ["UIDL", { name: "UIDL", msg: null }],
    ["UIDL 7", { name: "UIDL", msg: 7 }],
    ["CAPA", { name: "CAPA" }],
    ["STLS", { name: "STLS" }],
    ["AUTH", { name: "AUTH", mechanism: null, initialResponse: null }],
    ["AUTH plain", { name: "AUTH", mechanism: "PLAIN", initialResponse: null }],
    [
      "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
      { name: "AUTH", mechanism: "PLAIN", initialResponse: "AGFsaWNlAHNlY3JldA==" },
    ],
    ["AUTH PLAIN =", { name: "AUTH", mechanism: "PLAIN", initialResponse: "=" }],
    [
      "AUTH SCRAM-SHA-256 biwsbj1hLHI9eHl6",
      { name: "AUTH", mechanism: "SCRAM-SHA-256", initialResponse: "biwsbj1hLHI9eHl6" },
    ],
  ];
  for (const [line, command] of good) {
    it(`parses ${JSON.stringify(line)}`, () => {
      assert.deepEqual(parse(line), { ok: true, command });
      // the same as a framed line, whatever the chunking, with CRLF or LF alone
      assert.deepEqual(parseStream(`${line}\r\n${line}\n`), [
        { ok: true, command },
        { ok: true, command },
      ]);
    });
  }

  const bad: [string, "unknown" | "syntax", RegExp][] = [
    ["", "syntax", /Empty command/],
    [" STAT", "syntax", /Empty command/],
    ["FOO", "unknown", /Unknown command: FOO/],
    ["APOP mrose c4c9334bac560ecc979e58001b3e22fb", "unknown", /Unknown command: APOP/],
    ["UTF8", "unknown", /Unknown command/],
    ["ST\x01T", "unknown", /Unknown command$/],
    ["USER", "syntax", /USER needs/],
    ["USER   ", "syntax", /USER needs/],
    ["USER a b", "syntax", /Invalid user name/],
    ["PASS", "syntax", /PASS needs/],
    ["PASS ", "syntax", /PASS needs/],
    ["STAT 1", "syntax", /STAT takes no arguments/],
    ["QUIT now", "syntax", /QUIT takes no arguments/],
    ["LIST x", "syntax", /Invalid message number/],
    ["LIST -1", "syntax", /Invalid message number/],
    ["LIST +1", "syntax", /Invalid message number/],
    ["LIST 1 2", "syntax", /Too many arguments/],
    ["LIST 1234567890123456", "syntax", /Invalid message number/],
    ["RETR", "syntax", /RETR needs one message number/],
    ["RETR 1 2", "syntax", /RETR needs one message number/],
    ["RETR 1.5", "syntax", /Invalid message number/],
    ["DELE", "syntax", /DELE needs one message number/],
    ["TOP 1", "syntax", /TOP needs/],
    ["TOP x 1", "syntax", /Invalid message number/],
    ["TOP 1 x", "syntax", /Invalid line count/],
    ["AUTH PLAIN a b", "syntax", /Too many arguments/],
    ["NOOP \x00", "syntax", /Invalid characters/],
  ];
  for (const [line, kind, text] of bad) {
    it(`refuses ${JSON.stringify(line)} (${kind})`, () => {
      const r = parse(line);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.kind, kind);
      assert.match(r.text, text);
    });
  }

  it("echoes unknown keywords only as bounded printable text", () => {
    const r = parse(`${"X".repeat(200)}`);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.text.length < 80, r.text);
    const s = parseCommand(Buffer.from([0x46, 0x4f, 0x4f, 0xff, 0x20, 0x31]));
    assert.equal(s.ok, false);
    if (!s.ok) assert.doesNotMatch(s.text, /[^\x20-\x7e…]/);
  });

  it("property: never throws; texts hold no line breaks", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          fc
            .tuple(
              fc.constantFrom(
                "USER",
                "PASS",
                "LIST",
                "RETR",
                "TOP",
                "UIDL",
                "AUTH",
                "DELE",
                "stat",
                "APOP",
                "",
              ),
              fc.array(fc.oneof(fc.constantFrom("1", "0", " ", "=", "x", "99999999999999999"), fc.string()), {
                maxLength: 4,
              }),
            )
            .map(([k, a]) => Buffer.from([k, ...a].join(" "), "utf8")),
        ),
        (line) => {
          const r = parseCommand(line);
          if (!r.ok) assert.doesNotMatch(r.text, /[\r\n]/);
          else if ("msg" in r.command && r.command.msg !== null)
            assert.ok(Number.isSafeInteger(r.command.msg));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
