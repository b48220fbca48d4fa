import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  composeAuthResults,
  formatComment,
  formatPvalue,
  formatResinfo,
  isToken,
  MAX_COMMENT,
  parseAuthResults,
  quoteValue,
  readAuthservId,
  type ResInfo,
} from "./auth-results.js";

/** The value of a composed field (after "Authentication-Results:"), checking the field ends with CRLF. */
function fieldValue(field: string): string {
  assert.ok(field.startsWith("Authentication-Results: "), field);
  assert.ok(field.endsWith("\r\n"), "ends with CRLF");
  return field.slice("Authentication-Results:".length, -2);
}

describe("values and comments (RFC 8601 §2.2, RFC 2045 token)", () => {
  it("leaves tokens alone and quotes the rest", () => {
    assert.equal(quoteValue("pass"), "pass");
    assert.equal(quoteValue("mx.example.org"), "mx.example.org");
    assert.equal(quoteValue("a b"), '"a b"');
    assert.equal(quoteValue("abc/def+"), '"abc/def+"');
    assert.equal(quoteValue('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
    assert.equal(quoteValue("2001:db8::1"), '"2001:db8::1"');
    assert.equal(quoteValue(""), '""');
    assert.equal(isToken("a=b"), false);
    assert.equal(isToken("a.b-c_d+e"), true);
  });

  it("writes addresses unquoted, other pvalues as values", () => {
    assert.equal(formatPvalue("alice@example.org"), "alice@example.org");
    assert.equal(formatPvalue("@example.org"), "@example.org");
    assert.equal(formatPvalue("first.last+tag@example.org"), "first.last+tag@example.org");
    assert.equal(formatPvalue("192.0.2.1"), "192.0.2.1");
    assert.equal(formatPvalue("a b@example.org"), '"a b@example.org"');
    assert.equal(formatPvalue("x@-bad-.org"), '"x@-bad-.org"');
    assert.equal(formatPvalue("AbC/dE+f"), '"AbC/dE+f"');
  });

  it("never lets a CR or LF through (it would end the field)", () => {
    assert.equal(quoteValue("a\r\nInjected: yes"), '"a Injected: yes"');
    assert.equal(formatComment("x\r\nInjected: yes"), "(x Injected: yes)");
    assert.equal(formatPvalue("a\nb@example.org"), '"a b@example.org"');
  });

  it("escapes parentheses and backslashes in comments, and cuts long ones", () => {
    assert.equal(formatComment("a (b) c\\d"), "(a \\(b\\) c\\\\d)");
    const long = formatComment(`Unknown mechanism ${"x".repeat(5000)}`);
    assert.equal(long.length, MAX_COMMENT + 2);
    assert.ok(long.endsWith("...)"));
  });

  it("formats a resinfo on one line", () => {
    const r: ResInfo = {
      method: "iprev",
      result: "pass",
      props: [["policy.iprev", "192.0.2.1"]],
      note: "mail.example.org",
    };
    assert.equal(formatResinfo(r), "iprev=pass policy.iprev=192.0.2.1 (mail.example.org)");
    assert.equal(
      formatResinfo({
        method: "spf",
        result: "fail",
        comment: "not allowed",
        props: [["smtp.mailfrom", "a@b.example"]],
      }),
      "spf=fail (not allowed) smtp.mailfrom=a@b.example",
    );
  });
});

describe("composeAuthResults", () => {
  const results: ResInfo[] = [
    {
      method: "spf",
      result: "pass",
      comment: "mx.example.net: domain of alice@example.org designates 192.0.2.1 as permitted sender",
      props: [["smtp.mailfrom", "alice@example.org"]],
    },
    {
      method: "dkim",
      result: "pass",
      props: [
        ["header.d", "example.org"],
        ["header.s", "sel"],
        ["header.a", "rsa-sha256"],
        ["header.b", "Ab/cD+eF"],
      ],
    },
    { method: "dmarc", result: "pass", comment: "p=REJECT", props: [["header.from", "example.org"]] },
    { method: "arc", result: "none" },
    { method: "iprev", result: "pass", props: [["policy.iprev", "2001:db8::1"]], note: "mail.example.org" },
  ];

  it("puts each resinfo on its own line, folded with CRLF TAB within the limit", () => {
    const field = composeAuthResults("mx.example.net", results);
    const lines = field.slice(0, -2).split("\r\n");
    assert.equal(lines[0], "Authentication-Results: mx.example.net;");
    for (const l of lines.slice(1)) assert.ok(l.startsWith("\t"), JSON.stringify(l));
    for (const l of lines) assert.ok(l.length <= 78, `${l.length}: ${l}`);
    // the long SPF comment had to be folded
    assert.ok(lines.length > results.length + 1, field);
    const unfolded = field.replace(/\r\n\t/g, " ");
    assert.match(unfolded, /; spf=pass \(mx\.example\.net: domain of alice@example\.org designates/);
    assert.match(
      unfolded,
      /dkim=pass header\.d=example\.org header\.s=sel header\.a=rsa-sha256 header\.b="Ab\/cD\+eF";/,
    );
    assert.match(unfolded, /iprev=pass policy\.iprev="2001:db8::1" \(mail\.example\.org\)\r\n$/);
    assert.equal((field.match(/;/g) ?? []).length, results.length, "one ; per resinfo");
  });

  it("round-trips through the parser", () => {
    const field = composeAuthResults("mx.example.net", results, 40);
    const parsed = parseAuthResults(fieldValue(field));
    assert.ok(parsed, field);
    assert.equal(parsed.authservId, "mx.example.net");
    assert.deepEqual(
      parsed.results.map((r) => [r.method, r.result]),
      [
        ["spf", "pass"],
        ["dkim", "pass"],
        ["dmarc", "pass"],
        ["arc", "none"],
        ["iprev", "pass"],
      ],
    );
    assert.deepEqual(parsed.results[1]!.props, [
      ["header.d", "example.org"],
      ["header.s", "sel"],
      ["header.a", "rsa-sha256"],
      ["header.b", "Ab/cD+eF"],
    ]);
    assert.deepEqual(parsed.results[4]!.props, [["policy.iprev", "2001:db8::1"]]);
    assert.deepEqual(parsed.results[4]!.comments, ["mail.example.org"]);
    assert.match(
      parsed.results[0]!.comments[0]!,
      /^mx\.example\.net: domain of alice@example\.org designates/,
    );
  });

  it("quotes an authserv-id that is not a token, and writes 'none' without results", () => {
    assert.equal(composeAuthResults("mx example", []), 'Authentication-Results: "mx example"; none\r\n');
    assert.deepEqual(parseAuthResults(' "mx example"; none'), { authservId: "mx example", results: [] });
  });

  it("any comment and value text composes into a field that parses back to it", () => {
    const text = fc.string({
      unit: fc.constantFrom("a", "Z", " ", "(", ")", "\\", '"', ";", "=", "@", ".", "é", "\t", "\r\n"),
      maxLength: 40,
    });
    fc.assert(
      fc.property(text, text, fc.integer({ min: 20, max: 100 }), (comment, value, width) => {
        const field = composeAuthResults(
          "mx.example.net",
          [
            { method: "dkim", result: "fail", comment, props: [["header.d", value]] },
            { method: "spf", result: "none" },
          ],
          width,
        );
        assert.ok(!/\r\n(?!\t)/.test(field.slice(0, -2)), "every CRLF inside the field is a fold");
        const parsed = parseAuthResults(fieldValue(field));
        assert.ok(parsed, field);
        const clean = (s: string) =>
          s
            .replace(/[\x00-\x1f\x7f]+/g, " ")
            .replace(/ {2,}/g, " ")
            .trim();
        assert.equal(parsed.results[0]!.props[0]![1], clean(value));
        // a folded comment unfolds with the fold's TAB where a space was
        assert.equal((parsed.results[0]!.comments[0] ?? "").replace(/\t/g, " "), clean(comment));
      }),
      { numRuns: 500 },
    );
  });
});

describe("readAuthservId", () => {
  const cases: Array<[string, string | null | "unknown"]> = [
    [" mx.example.net; spf=pass", "mx.example.net"],
    ["MX.Example.NET.;spf=pass", "mx.example.net"],
    [" (comment (nested) \\) ) mx.example.net 1; none", "mx.example.net"],
    ['\r\n\t"mx.example.net"; dkim=pass', "mx.example.net"],
    [" mx.example.net(c);", "mx.example.net"],
    [" ; spf=pass", null],
    ["", null],
    [" (unclosed mx.example.net;", "unknown"],
    [' "unclosed', "unknown"],
  ];
  for (const [value, want] of cases) {
    it(JSON.stringify(value), () => {
      const r = readAuthservId(value);
      if (want === "unknown") assert.equal(r.kind, "unknown");
      else if (want === null) assert.equal(r.kind, "none");
      else assert.deepEqual(r, { kind: "id", id: want });
    });
  }

  it("with a partial value, an id that runs to the end may be cut", () => {
    assert.equal(readAuthservId(" mx.exam", true).kind, "unknown");
    assert.equal(readAuthservId(" (comment", true).kind, "unknown");
    assert.equal(readAuthservId("  ", true).kind, "unknown");
    assert.deepEqual(readAuthservId(" mx.example.net;", true), { kind: "id", id: "mx.example.net" });
  });
});

describe("parseAuthResults", () => {
  it("parses the RFC 8601 appendix examples", () => {
    const a = parseAuthResults(
      ' example.com;\r\n   spf=pass smtp.mailfrom=example.net\r\n (comment) ;\r\n dkim/1=pass reason="good sig" header.i=@mail-router.example.net',
    );
    assert.ok(a);
    assert.equal(a.authservId, "example.com");
    assert.deepEqual(a.results[0]!.props, [["smtp.mailfrom", "example.net"]]);
    assert.equal(a.results[1]!.version, "1");
    assert.equal(a.results[1]!.reason, "good sig");
    assert.deepEqual(a.results[1]!.props, [["header.i", "@mail-router.example.net"]]);
    const v = parseAuthResults(" example.org 1; auth=pass smtp . auth = sender@example.com");
    assert.ok(v);
    assert.equal(v.version, "1");
    assert.deepEqual(v.results[0]!.props, [["smtp.auth", "sender@example.com"]]);
  });

  it("rejects what does not follow the grammar", () => {
    for (const bad of [
      "",
      " example.com",
      " example.com; spf",
      " example.com; spf=",
      " example.com; spf=pass smtp.mailfrom",
      " (x",
    ]) {
      assert.equal(parseAuthResults(bad), null, JSON.stringify(bad));
    }
  });
});
