import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { authMechanisms, parseEhlo, sizeLimit } from "../../src/smtp/client/ehlo-parse.js";
import { ReplyParser } from "../../src/smtp/client/reply-parser.js";
import { RUNS, cutAt, sameForEveryChunking } from "./chunks.js";

/** Wire bytes → reply parser → parseEhlo, as the connection does. */
function fromWire(chunks: Buffer[]) {
  const p = new ReplyParser();
  for (const c of chunks) p.push(c);
  const r = p.next();
  assert.ok(r);
  const info = parseEhlo(r);
  return { greeting: info.greeting, extensions: [...info.extensions] };
}

const POSTFIX =
  "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n" +
  "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n" +
  "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

describe("parseEhlo", () => {
  it("maps a Postfix EHLO reply, split anywhere, to keywords and parameters", () => {
    const got = sameForEveryChunking(POSTFIX, fromWire);
    assert.equal(got.greeting, "mx.example.org");
    assert.deepEqual(got.extensions, [
      ["PIPELINING", ""],
      ["SIZE", "10240000"],
      ["VRFY", ""],
      ["ETRN", ""],
      ["STARTTLS", ""],
      ["AUTH", "PLAIN LOGIN"],
      ["ENHANCEDSTATUSCODES", ""],
      ["8BITMIME", ""],
      ["DSN", ""],
      ["SMTPUTF8", ""],
      ["CHUNKING", ""],
    ]);
  });

  const table: Array<[string, string[], Array<[string, string]>]> = [
    [
      "keywords are upper-cased",
      ["x", "pipelining", "Size 100"],
      [
        ["PIPELINING", ""],
        ["SIZE", "100"],
      ],
    ],
    ["extra spaces and tabs are collapsed", ["x", "  AUTH   PLAIN\tLOGIN  "], [["AUTH", "PLAIN LOGIN"]]],
    ["junk lines are skipped", ["x", "", "-bad", "ok keyword", "wh@t"], [["OK", "keyword"]]],
    ["the first occurrence wins", ["x", "SIZE 1", "SIZE 2"], [["SIZE", "1"]]],
    ["only AUTH= (old servers)", ["x", "AUTH=LOGIN PLAIN"], [["AUTH", "LOGIN PLAIN"]]],
    [
      "AUTH= adds missing mechanisms",
      ["x", "AUTH PLAIN LOGIN", "AUTH=login cram-md5"],
      [["AUTH", "PLAIN LOGIN cram-md5"]],
    ],
    ["the greeting line is not a keyword", ["PIPELINING"], []],
  ];
  for (const [name, lines, want] of table) {
    it(name, () => {
      assert.deepEqual([...parseEhlo({ lines }).extensions], want);
    });
  }
});

describe("sizeLimit", () => {
  const cases: Array<[string | undefined, number | null]> = [
    [undefined, null],
    ["", null], // SIZE without a number: no declared maximum
    ["0", null], // RFC 1870 §4: 0 = no fixed maximum
    ["10240000", 10240000],
    ["35882577 extra", 35882577],
    ["abc", null],
    ["-5", null],
  ];
  for (const [param, want] of cases) {
    it(`SIZE ${JSON.stringify(param)} → ${want}`, () => {
      const ext = new Map<string, string>(param === undefined ? [] : [["SIZE", param]]);
      assert.equal(sizeLimit(ext), want);
    });
  }

  it("reads back any advertised positive limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (n) => {
        assert.equal(sizeLimit(parseEhlo({ lines: ["x", `SIZE ${n}`] }).extensions), n);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("authMechanisms", () => {
  it("lists mechanisms upper-cased, without duplicates, in the server's order", () => {
    assert.deepEqual(authMechanisms(new Map([["AUTH", "login PLAIN Login xoauth2"]])), [
      "LOGIN",
      "PLAIN",
      "XOAUTH2",
    ]);
    assert.deepEqual(authMechanisms(new Map()), []);
  });
});

describe("parseEhlo properties", () => {
  const keyword = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,15}$/);
  const param = fc.stringMatching(/^[!-~]{1,10}( [!-~]{1,10}){0,3}$/);
  it("finds every advertised keyword with its parameters, however the reply is cut", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(keyword, fc.option(param)), {
          selector: ([k]) => k.toUpperCase(),
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.nat(600)),
        (exts, cuts) => {
          const lines = ["mx.example", ...exts.map(([k, p]) => (p === null ? k : `${k} ${p}`))];
          const wire = lines.map((l, i) => `250${i === lines.length - 1 ? " " : "-"}${l}\r\n`).join("");
          const got = new Map(fromWire(cutAt(Buffer.from(wire), cuts)).extensions);
          for (const [k, p] of exts) {
            const K = k.toUpperCase();
            if (K === "AUTH") continue; // merged with AUTH= forms; covered by the table
            assert.equal(got.get(K), p ?? "", K);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
