import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeWords,
  parseContentDisposition,
  parseContentType,
  parseParameters,
  splitHeaderFields,
  unfold,
} from "./header.js";

describe("splitHeaderFields", () => {
  const cases: {
    name: string;
    input: string | Buffer;
    fields: [name: string, value: string, raw?: string][];
    defects?: string[];
  }[] = [
    {
      name: "simple fields, stops at the blank line",
      input: "From: a@b.example\r\nTo: c@d.example\r\n\r\nNot: a header\r\n",
      fields: [
        ["From", "a@b.example", "From: a@b.example"],
        ["To", "c@d.example"],
      ],
    },
    {
      name: "folding is unfolded in value and kept in raw",
      input: "Subject: a long\r\n\tsubject line\r\n  continued\r\nX: y\r\n",
      fields: [
        ["Subject", "a long\tsubject line  continued", "Subject: a long\r\n\tsubject line\r\n  continued"],
        ["X", "y"],
      ],
    },
    {
      name: "LF-only, whitespace before the colon, empty value",
      input: "Subject : hi\nX-Empty:\nX-Sp:   \n",
      fields: [
        ["Subject", "hi"],
        ["X-Empty", ""],
        ["X-Sp", ""],
      ],
    },
    {
      name: "lines without a colon and orphan continuations are skipped",
      input: " orphan\r\nFrom mbox line\r\nA: 1\r\n: no name\r\nB: 2\r\n",
      fields: [
        ["A", "1"],
        ["B", "2"],
      ],
      defects: [
        "continuation line without a header field",
        "header line without a colon",
        "header field with an empty name",
      ],
    },
    {
      name: "raw UTF-8 (RFC 6532) and Latin-1 fallback",
      input: Buffer.concat([
        Buffer.from("Subject: Grüße\r\nX-Latin: "),
        Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]),
        Buffer.from("\r\n"),
      ]),
      fields: [
        ["Subject", "Grüße"],
        ["X-Latin", "Grüße"],
      ],
    },
    { name: "no header at all", input: "\r\nbody", fields: [] },
    {
      name: "no blank line at the end",
      input: "A: 1\r\nB: 2",
      fields: [
        ["A", "1"],
        ["B", "2"],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = splitHeaderFields(typeof c.input === "string" ? Buffer.from(c.input) : c.input);
      assert.deepEqual(
        r.fields.map((f) => [f.name, f.value]),
        c.fields.map(([n, v]) => [n, v]),
      );
      for (const [i, [, , raw]] of c.fields.entries())
        if (raw !== undefined) assert.equal(r.fields[i]!.raw, raw);
      for (const f of r.fields) assert.equal(f.key, f.name.toLowerCase());
      assert.deepEqual(r.defects, c.defects ?? []);
    });
  }

  it("unfold removes CRLF before WSP only", () => {
    assert.equal(unfold("a\r\n b\n\tc"), "a b\tc");
  });
});

describe("parseContentType", () => {
  const cases: [input: string, expected: ReturnType<typeof parseContentType>][] = [
    ["text/plain", { type: "text", subtype: "plain", params: {} }],
    ["TEXT/HTML; CHARSET=UTF-8", { type: "text", subtype: "html", params: { charset: "UTF-8" } }],
    [
      ' multipart/mixed (comment (nested)) ; boundary = "a \\"b\\" c" ;',
      { type: "multipart", subtype: "mixed", params: { boundary: 'a "b" c' } },
    ],
    [
      'text/plain; (c1) charset=(c2)"us-ascii"(c3); format=flowed',
      { type: "text", subtype: "plain", params: { charset: "us-ascii", format: "flowed" } },
    ],
    [
      // unquoted tspecials in values are common in real mail
      "multipart/alternative; boundary=----=_Part_1_2.3",
      { type: "multipart", subtype: "alternative", params: { boundary: "----=_Part_1_2.3" } },
    ],
    [
      "text/plain; charset=utf-8; charset=latin1; junk; =x; name=a b.txt",
      { type: "text", subtype: "plain", params: { charset: "utf-8", name: "a" } },
    ],
    ['text/plain; name="unterminated', { type: "text", subtype: "plain", params: { name: "unterminated" } }],
    // RFC 2231 §3 and §4 examples
    [
      'message/external-body; access-type=URL; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"',
      {
        type: "message",
        subtype: "external-body",
        params: { "access-type": "URL", url: "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar" },
      },
    ],
    [
      "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
      { type: "application", subtype: "x-stuff", params: { title: "This is ***fun***" } },
    ],
    [
      "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
      { type: "application", subtype: "x-stuff", params: { title: "This is even more ***fun*** isn't it!" } },
    ],
    [
      // segments out of order, a gap ends the value, the 2231 form wins over the plain one
      "a/b; name=plain; name*1=two; name*0=one; name*3=four",
      { type: "a", subtype: "b", params: { name: "onetwo" } },
    ],
    [
      "a/b; filename*=utf-8''%E2%82%AC%20rates.pdf",
      { type: "a", subtype: "b", params: { filename: "€ rates.pdf" } },
    ],
    [
      "a/b; filename*=windows-1252''%80.txt; x*=x-unknown''%E2%82%AC; y*=''%FC",
      { type: "a", subtype: "b", params: { filename: "€.txt", x: "€", y: "ü" } },
    ],
    ["a/b; __proto__=x", { type: "a", subtype: "b", params: { ["__proto__"]: "x" } }],
    ["text", null],
    ["text/", null],
    ["/plain", null],
    ["", null],
    ["(only a comment)", null],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      assert.deepEqual(parseContentType(input), expected);
    });
  }
});

describe("parseContentDisposition", () => {
  const cases: [string, ReturnType<typeof parseContentDisposition>][] = [
    ["INLINE", { type: "inline", params: {} }],
    [
      'attachment; filename="a b.txt"; size=12; creation-date="Wed, 12 Feb 1997 16:29:51 -0500"',
      {
        type: "attachment",
        params: { filename: "a b.txt", size: "12", "creation-date": "Wed, 12 Feb 1997 16:29:51 -0500" },
      },
    ],
    [
      "attachment;\r\n filename*0*=UTF-8''%D0%BE%D1%82;\r\n filename*1*=%D1%87%D1%91%D1%82.doc",
      { type: "attachment", params: { filename: "отчёт.doc" } },
    ],
    ["; filename=x", null],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      assert.deepEqual(parseContentDisposition(input), expected);
    });
  }

  it("parseParameters reads parameters after any leading value", () => {
    assert.deepEqual(parseParameters('x; a=1; b="2"'), { a: "1", b: "2" });
  });
});

describe("decodeWords", () => {
  const cases: [input: string, expected: string][] = [
    // RFC 2047 §8
    ["(=?ISO-8859-1?Q?a?=)", "(a)"],
    ["(=?ISO-8859-1?Q?a?= b)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"],
    ["(=?ISO-8859-1?Q?a_b?=)", "(a b)"],
    ["(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"],
    ["=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"],
    ["=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"],
    ["=?utf-8?b?w6TDtsO8?=", "äöü"],
    ["=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"],
    ["=?utf-8*en?Q?hi?=", "hi"],
    // a UTF-8 sequence split across two words is joined before decoding
    ["=?utf-8?Q?=C3?= =?utf-8?Q?=A4?=", "ä"],
    ["=?utf-8?B?8J+O?= =?utf-8?B?gw==?=", "🎃"],
    // unknown charsets stay as written, including the space between them
    ["=?x-unknown?Q?abc?= =?x-unknown?Q?def?= tail", "=?x-unknown?Q?abc?= =?x-unknown?Q?def?= tail"],
    ["=?utf-7?Q?abc?=", "=?utf-7?Q?abc?="],
    ["=?x-unknown?Q?a?= =?utf-8?Q?b?= =?x-unknown?Q?c?=", "=?x-unknown?Q?a?= b =?x-unknown?Q?c?="],
    ["=?utf-8?X?abc?=", "=?utf-8?X?abc?="],
    ["plain text", "plain text"],
    ["a=?utf-8?q?b?=c", "abc"],
    ["=?utf-8?q?bad=ZZescape?=", "bad=ZZescape"],
    ["=?utf-8?q?broken with spaces?=", "broken with spaces"],
    ["=?utf-8?q?unterminated", "=?utf-8?q?unterminated"],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      assert.equal(decodeWords(input), expected);
    });
  }
});
