import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildEnvelope, emptyEnvelope, parseAddressList } from "./envelope.js";
import { splitHeaderFields } from "./header.js";
import type { EnvelopeAddress } from "./mime-types.js";

/** [name, adl, mailbox, host] for compact tables */
type A = [string | null, string | null, string | null, string | null];
const addr = ([name, adl, mailbox, host]: A): EnvelopeAddress => ({ name, adl, mailbox, host });
const GROUP_END: A = [null, null, null, null];

describe("parseAddressList", () => {
  const cases: [input: string, expected: A[]][] = [
    // RFC 5322 Appendix A.1.2 / A.1.3
    [
      "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
      [
        ["Mary Smith", null, "mary", "x.test"],
        [null, null, "jdoe", "example.org"],
        ["Who?", null, "one", "y.test"],
      ],
    ],
    [
      '<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
      [
        [null, null, "boss", "nil.test"],
        ['Giant; "Big" Box', null, "sysservices", "example.net"],
      ],
    ],
    [
      "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
      [
        [null, null, "A Group", null],
        ["Ed Jones", null, "c", "a.test"],
        [null, null, "joe", "where.test"],
        ["John", null, "jdoe", "one.test"],
        GROUP_END,
      ],
    ],
    ["Undisclosed recipients:;", [[null, null, "Undisclosed recipients", null], GROUP_END]],
    // RFC 5322 Appendix A.5: comments everywhere
    [
      "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
      [["Pete", null, "pete", "silly.test"]],
    ],
    ["John Q. Public <JQB@bar.com>", [["John Q. Public", null, "JQB", "bar.com"]]],
    ["jdoe@example.org (John Doe)", [["John Doe", null, "jdoe", "example.org"]]],
    // obsolete route (RFC 5322 §4.4)
    ["Joe <@a.test,@b.test:joe@c.test>", [["Joe", "@a.test,@b.test", "joe", "c.test"]]],
    // quoted local parts keep their quotes, so mailbox@host stays a valid address
    ['"john doe"@example.com', [[null, null, '"john doe"', "example.com"]]],
    ['"a@b"@example.com', [[null, null, '"a@b"', "example.com"]]],
    ["x@[127.0.0.1]", [[null, null, "x", "[127.0.0.1]"]]],
    ["first . last @ example . com", [[null, null, "first.last", "example.com"]]],
    // encoded-words stay raw
    [
      "=?utf-8?q?J=C3=B6rg?= <j@x.test>, =?utf-8?q?a.b?= <ab@x.test>",
      [
        ["=?utf-8?q?J=C3=B6rg?=", null, "j", "x.test"],
        ["=?utf-8?q?a.b?=", null, "ab", "x.test"],
      ],
    ],
    // garbage tolerance
    ["localonly", [[null, null, "localonly", ""]]],
    ["", []],
    ["   ", []],
    [",,, ;", []],
    ["(just a comment)", []],
    ["team: a@b.test", [[null, null, "team", null], [null, null, "a", "b.test"], GROUP_END]],
    ["<>", []],
    ["Name <unterminated@x.test", [["Name", null, "unterminated", "x.test"]]],
    ["<a@b.test> trailing", [[null, null, "a", "b.test"]]],
    [
      "a@b.test, <<c@d.test>>",
      [
        [null, null, "a", "b.test"],
        [null, null, "c", "d.test"],
      ],
    ],
    ['"unterminated quote <x@y.test>', [[null, null, '"unterminated quote <x@y.test>', ""]]],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      assert.deepEqual(parseAddressList(input), expected.map(addr));
    });
  }

  it("never throws on junk", () => {
    for (const s of ["<<>>,,;:@@", ":::", ";;;<", "(((", '"', "\\", "@", "a:b:c;d;", "<@a:>", "[", "<@>"]) {
      assert.ok(Array.isArray(parseAddressList(s)), s);
    }
  });
});

describe("buildEnvelope", () => {
  const env = (header: string) => buildEnvelope(splitHeaderFields(Buffer.from(header)).fields);

  it("takes raw unfolded values, first occurrence wins", () => {
    const e = env(
      [
        "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
        "Subject: =?utf-8?q?caf=C3=A9?=",
        "  folded",
        "Subject: second",
        "From: Terry Gray <gray@cac.washington.edu>",
        "To: imap@cac.washington.edu",
        "Cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>",
        "Bcc: hidden@example.com",
        "In-Reply-To: <a@b>",
        "Message-Id: <B27397-0100000@cac.washington.edu>",
        "",
      ].join("\r\n"),
    );
    assert.deepEqual(e, {
      date: "Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
      subject: "=?utf-8?q?caf=C3=A9?=  folded",
      from: [addr(["Terry Gray", null, "gray", "cac.washington.edu"])],
      sender: [addr(["Terry Gray", null, "gray", "cac.washington.edu"])],
      replyTo: [addr(["Terry Gray", null, "gray", "cac.washington.edu"])],
      to: [addr([null, null, "imap", "cac.washington.edu"])],
      cc: [
        addr([null, null, "minutes", "CNRI.Reston.VA.US"]),
        addr(["John Klensin", null, "KLENSIN", "MIT.EDU"]),
      ],
      bcc: [addr([null, null, "hidden", "example.com"])],
      inReplyTo: "<a@b>",
      messageId: "<B27397-0100000@cac.washington.edu>",
    });
  });

  it("Sender and Reply-To default to From when absent or empty (RFC 3501 §7.4.2)", () => {
    const e = env("From: a@x.test\r\nSender:\r\nReply-To: r@x.test\r\n");
    assert.deepEqual(e.sender, [addr([null, null, "a", "x.test"])]);
    assert.deepEqual(e.replyTo, [addr([null, null, "r", "x.test"])]);
    assert.notEqual(e.sender[0], e.from[0], "copies, not shared objects");
  });

  it("absent fields are null or empty lists; present empty strings stay", () => {
    assert.deepEqual(env(""), emptyEnvelope());
    assert.equal(env("Subject:\r\n").subject, "");
  });
});
