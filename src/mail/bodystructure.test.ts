// BODY / BODYSTRUCTURE goldens. The fixture strings are what Dovecot (imap-bodystructure.c)
// returns for these messages, worked out by hand from its rules and RFC 9051 §7.5.2, except
// where noted: Postamt prints type, subtype, parameter names and encodings lower-case (Dovecot
// prints them as written, and every fixture writes them lower-case), re-encodes non-ASCII
// parameter values as utf-8 RFC 2231 (Dovecot keeps the original charset), and counts sizes in
// stored octets (Dovecot counts LF-only lines as CRLF).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { body, bodyStructure, rfc2231Encode } from "./bodystructure.js";
import { parseMime } from "./mime-parser.js";
import type { MimeNode } from "./mime-types.js";

const FIXTURES = new URL("../../../test/fixtures/mime/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"));

const T = (charset = "us-ascii") => `("charset" "${charset}")`;

const GOLDEN: Record<string, { bodystructure: string; body: string }> = {
  "simple.eml": {
    bodystructure: `("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "8bit" 96 6 NIL NIL NIL NIL)`,
    body: `("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "8bit" 96 6)`,
  },
  "alternative.eml": {
    bodystructure:
      `(("text" "plain" ${T("iso-8859-1")} NIL NIL "quoted-printable" 90 1 NIL NIL NIL NIL)` +
      `("text" "html" ${T("utf-8")} NIL NIL "quoted-printable" 150 1 NIL NIL NIL NIL)` +
      ` "alternative" ("boundary" "----=_Part_4711_1234567.1715796190000") NIL NIL NIL)`,
    body:
      `(("text" "plain" ${T("iso-8859-1")} NIL NIL "quoted-printable" 90 1)` +
      `("text" "html" ${T("utf-8")} NIL NIL "quoted-printable" 150 1) "alternative")`,
  },
  "mixed-attachment.eml": {
    bodystructure:
      `(("text" "plain" ${T()} NIL NIL "7bit" 34 1 NIL NIL NIL NIL)` +
      `("application" "pdf" ("name" "report-q2.pdf") NIL NIL "base64" 2052 NIL` +
      ` ("attachment" ("filename" "report-q2.pdf" "size" "1500")) NIL NIL)` +
      ` "mixed" ("boundary" "mixed-boundary-1") NIL NIL NIL)`,
    body: `(("text" "plain" ${T()} NIL NIL "7bit" 34 1)("application" "pdf" ("name" "report-q2.pdf") NIL NIL "base64" 2052) "mixed")`,
  },
  "nested-rfc822.eml": {
    bodystructure:
      `(("text" "plain" ${T()} NIL NIL "7bit" 34 1 NIL NIL NIL NIL)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 541` +
      ` ("Thu, 16 May 2024 17:45:00 +0000" "Meeting notes" (("Heidi" NIL "heidi" "example.com"))` +
      ` (("Heidi" NIL "heidi" "example.com")) (("Heidi" NIL "heidi" "example.com"))` +
      ` (("Frank" NIL "frank" "example.org")(NIL NIL "team" NIL)(NIL NIL "ivan" "example.com")` +
      `(NIL NIL "judy" "example.com")(NIL NIL NIL NIL)) NIL NIL "<agenda-3@example.com>" "<notes-7@example.com>")` +
      ` (("text" "plain" ${T("utf-8")} NIL NIL "7bit" 43 1 NIL NIL NIL NIL)` +
      `("text" "html" ${T("utf-8")} NIL NIL "7bit" 62 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL)` +
      ` 19 NIL ("inline" NIL) NIL NIL) "mixed" ("boundary" "outer") NIL NIL NIL)`,
    body:
      `(("text" "plain" ${T()} NIL NIL "7bit" 34 1)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 541` +
      ` ("Thu, 16 May 2024 17:45:00 +0000" "Meeting notes" (("Heidi" NIL "heidi" "example.com"))` +
      ` (("Heidi" NIL "heidi" "example.com")) (("Heidi" NIL "heidi" "example.com"))` +
      ` (("Frank" NIL "frank" "example.org")(NIL NIL "team" NIL)(NIL NIL "ivan" "example.com")` +
      `(NIL NIL "judy" "example.com")(NIL NIL NIL NIL)) NIL NIL "<agenda-3@example.com>" "<notes-7@example.com>")` +
      ` (("text" "plain" ${T("utf-8")} NIL NIL "7bit" 43 1)("text" "html" ${T("utf-8")} NIL NIL "7bit" 62 0) "alternative")` +
      ` 19) "mixed")`,
  },
  // digest children without Content-Type are message/rfc822 (RFC 2046 §5.1.5); the footer part
  // has a Content-Type without charset: Dovecot adds ("charset" "us-ascii")
  "digest.eml": {
    bodystructure:
      `(("message" "rfc822" NIL NIL NIL "7bit" 59 (NIL "First post" ((NIL NIL "kim" "example.com"))` +
      ` ((NIL NIL "kim" "example.com")) ((NIL NIL "kim" "example.com")) NIL NIL NIL NIL NIL)` +
      ` ("text" "plain" ${T()} NIL NIL "7bit" 13 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 62 (NIL "Re: First post" ((NIL NIL "lee" "example.com"))` +
      ` ((NIL NIL "lee" "example.com")) ((NIL NIL "lee" "example.com")) NIL NIL NIL NIL NIL)` +
      ` ("text" "plain" ${T()} NIL NIL "7bit" 12 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)` +
      `("text" "plain" ${T()} NIL NIL "7bit" 50 0 NIL NIL NIL NIL) "digest" ("boundary" "digest-sep") NIL NIL NIL)`,
    body:
      `(("message" "rfc822" NIL NIL NIL "7bit" 59 (NIL "First post" ((NIL NIL "kim" "example.com"))` +
      ` ((NIL NIL "kim" "example.com")) ((NIL NIL "kim" "example.com")) NIL NIL NIL NIL NIL)` +
      ` ("text" "plain" ${T()} NIL NIL "7bit" 13 1) 4)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 62 (NIL "Re: First post" ((NIL NIL "lee" "example.com"))` +
      ` ((NIL NIL "lee" "example.com")) ((NIL NIL "lee" "example.com")) NIL NIL NIL NIL NIL)` +
      ` ("text" "plain" ${T()} NIL NIL "7bit" 12 1) 4)` +
      `("text" "plain" ${T()} NIL NIL "7bit" 50 0) "digest")`,
  },
  // Dovecot: ("name*" "utf-8''%E6%8A%A5%E5%91%8A%20final.txt") too (continuations merged, the
  // plain segment appended as is); for filename* it keeps "iso-8859-1'de'Gr%FC%DFe…".
  "rfc2231.eml": {
    bodystructure:
      `(("application" "octet-stream" ("name*" "utf-8''%E6%8A%A5%E5%91%8A%20final.txt") NIL NIL "base64" 8 NIL` +
      ` ("attachment" ("filename*" "utf-8''Gr%C3%BC%C3%9Fe%20%28Entwurf%29.txt")) NIL NIL)` +
      `("text" "plain" ("name" "=?utf-8?B?w6TDtsO8LnR4dA==?=" "charset" "us-ascii") NIL NIL "7bit" 5 0 NIL` +
      ` ("attachment" ("filename" "plain (1).txt")) NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL)`,
    body:
      `(("application" "octet-stream" ("name*" "utf-8''%E6%8A%A5%E5%91%8A%20final.txt") NIL NIL "base64" 8)` +
      `("text" "plain" ("name" "=?utf-8?B?w6TDtsO8LnR4dA==?=" "charset" "us-ascii") NIL NIL "7bit" 5 0) "mixed")`,
  },
  "encoded-words.eml": {
    bodystructure: `("text" "plain" ${T("utf-8")} NIL NIL "base64" 30 1 NIL NIL NIL NIL)`,
    body: `("text" "plain" ${T("utf-8")} NIL NIL "base64" 30 1)`,
  },
  // Content-Type without MIME-Version counts (Dovecot sets IS_MIME on Content-Type); the outer
  // delimiter ends the unclosed inner multipart; the last part runs to the end of the message
  "broken-boundaries.eml": {
    bodystructure:
      `((("text" "plain" ${T()} NIL NIL "7bit" 9 0 NIL NIL NIL NIL)("text" "html" ${T()} NIL NIL "7bit" 16 0 NIL NIL NIL NIL)` +
      ` "alternative" ("boundary" "B") NIL NIL NIL)("text" "plain" ${T()} NIL NIL "7bit" 25 1 NIL NIL NIL NIL)` +
      ` "mixed" ("boundary" "A") NIL NIL NIL)`,
    body:
      `((("text" "plain" ${T()} NIL NIL "7bit" 9 0)("text" "html" ${T()} NIL NIL "7bit" 16 0) "alternative")` +
      `("text" "plain" ${T()} NIL NIL "7bit" 25 1) "mixed")`,
  },
  // Dovecot would say 18 and 7 octets (virtual size: LF counted as CRLF); we serve and count the
  // stored bytes, so BODY[1] is exactly 17 octets
  "lf-only.eml": {
    bodystructure:
      `(("text" "plain" ${T()} NIL NIL "7bit" 17 1 NIL NIL NIL NIL)("text" "plain" ${T()} NIL NIL "7bit" 6 0 NIL NIL NIL NIL)` +
      ` "mixed" ("boundary" "lf") NIL NIL NIL)`,
    body: `(("text" "plain" ${T()} NIL NIL "7bit" 17 1)("text" "plain" ${T()} NIL NIL "7bit" 6 0) "mixed")`,
  },
};

/** A leaf node for hand-built trees. */
function leaf(over: Partial<MimeNode>): MimeNode {
  return {
    headerStart: 0,
    headerEnd: 0,
    bodyStart: 0,
    bodyEnd: 0,
    bodyLines: 0,
    contentType: { type: "text", subtype: "plain", params: {} },
    contentTypeDefaulted: false,
    disposition: null,
    encoding: "7bit",
    contentId: null,
    description: null,
    language: null,
    location: null,
    md5: null,
    children: [],
    message: null,
    envelope: null,
    ...over,
  };
}

describe("BODYSTRUCTURE of the fixtures", () => {
  for (const [name, want] of Object.entries(GOLDEN)) {
    it(name, () => {
      const { root } = parseMime(fixture(name));
      assert.equal(bodyStructure(root), want.bodystructure);
      assert.equal(body(root), want.body);
    });
  }

  it("every fixture has a golden", async () => {
    const { readdirSync } = await import("node:fs");
    const names = readdirSync(FIXTURES).filter((n) => n.endsWith(".eml"));
    assert.deepEqual(names.sort(), Object.keys(GOLDEN).sort());
  });
});

describe("RFC 9051 §7.5.2 examples", () => {
  it("a simple text message", () => {
    const node = leaf({
      contentType: { type: "TEXT", subtype: "PLAIN", params: { CHARSET: "US-ASCII" } },
      encoding: "7BIT",
      bodyEnd: 2279,
      bodyLines: 48,
    });
    assert.equal(body(node), '("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 2279 48)');
  });

  it("a text and a base64-encoded text attachment", () => {
    const root = leaf({
      contentType: { type: "MULTIPART", subtype: "MIXED", params: {} },
      children: [
        leaf({
          contentType: { type: "TEXT", subtype: "PLAIN", params: { CHARSET: "US-ASCII" } },
          encoding: "7BIT",
          bodyEnd: 1152,
          bodyLines: 23,
        }),
        leaf({
          contentType: { type: "TEXT", subtype: "PLAIN", params: { CHARSET: "US-ASCII", NAME: "cc.diff" } },
          contentId: "<960723163407.20117h@cac.washington.edu>",
          description: "Compiler diff",
          encoding: "BASE64",
          bodyEnd: 4554,
          bodyLines: 73,
        }),
      ],
    });
    assert.equal(
      body(root),
      '(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)' +
        '("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff")' +
        ' "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")',
    );
  });
});

describe("edge cases", () => {
  it("a one-part message: the body size and lines of the text", () => {
    const { root } = parseMime(crlf("Subject: x\n\nhello\n"));
    assert.equal(bodyStructure(root), `("text" "plain" ${T()} NIL NIL "7bit" 7 1 NIL NIL NIL NIL)`);
  });

  it("no Content-Type: text/plain us-ascii", () => {
    const { root } = parseMime(crlf("From: a@b\n\nx"));
    assert.equal(body(root), `("text" "plain" ${T()} NIL NIL "7bit" 1 0)`);
  });

  it("extension data: md5, disposition with parameters, languages, location", () => {
    const { root } = parseMime(
      crlf(
        "Content-Type: image/png; name=a.png\nContent-Transfer-Encoding: base64\n" +
          "Content-ID: <img1@x>\nContent-Description: A picture\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n" +
          "Content-Disposition: inline; filename=a.png\nContent-Language: en, de-CH\n" +
          "Content-Location: http://x.example/a.png\n\niVBORw0KGgo=\n",
      ),
    );
    assert.equal(
      bodyStructure(root),
      '("image" "png" ("name" "a.png") "<img1@x>" "A picture" "base64" 14 "Q2hlY2sgSW50ZWdyaXR5IQ=="' +
        ' ("inline" ("filename" "a.png")) ("en" "de-CH") "http://x.example/a.png")',
    );
  });

  it("a parsed multipart without parts gets Dovecot's empty text part", () => {
    const { root } = parseMime(crlf("Content-Type: multipart/mixed; boundary=x\n\nno parts here\n"));
    assert.equal(root.children.length, 0);
    assert.equal(
      bodyStructure(root),
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)',
    );
    assert.equal(body(root), '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")');
  });

  it("a multipart beyond the depth limit is a basic body with its declared type", () => {
    const msg = crlf(
      "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\nx\n--i--\n--o--\n",
    );
    const { root } = parseMime(msg, { limits: { maxDepth: 1 } });
    const inner = root.children[0]!;
    assert.equal(inner.children.length, 0);
    assert.equal(
      bodyStructure(root),
      `(("multipart" "mixed" ("boundary" "i") NIL NIL "7bit" ${inner.bodyEnd - inner.bodyStart} NIL NIL NIL NIL)` +
        ' "mixed" ("boundary" "o") NIL NIL NIL)',
    );
  });

  it("message/rfc822 that was not parsed (base64) is a basic body", () => {
    const msg = crlf(
      "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n" +
        "Content-Transfer-Encoding: base64\n\nU3ViamVjdDogaGkKCmhp\n--o--\n",
    );
    const { root } = parseMime(msg);
    assert.equal(root.children[0]!.message, null);
    assert.equal(body(root), '(("message" "rfc822" NIL NIL NIL "base64" 20) "mixed")');
  });

  it("message/global is written like message/rfc822", () => {
    const msg = crlf("Content-Type: message/global\n\nSubject: =?utf-8?q?x?=\n\nhi\n");
    const { root } = parseMime(msg);
    assert.equal(
      body(root),
      '("message" "global" NIL NIL NIL "7bit" 30 (NIL "=?utf-8?q?x?=" NIL NIL NIL NIL NIL NIL NIL NIL)' +
        ` ("text" "plain" ${T()} NIL NIL "7bit" 4 1) 3)`,
    );
  });

  it("8-bit header text: literal for rev1, quoted for UTF-8 sessions", () => {
    const msg = Buffer.concat([
      Buffer.from("Content-Type: text/plain; charset=utf-8\r\nContent-Description: "),
      Buffer.from("Grüße", "utf8"),
      Buffer.from("\r\n\r\nx"),
    ]);
    const { root } = parseMime(msg);
    assert.equal(body(root), `("text" "plain" ("charset" "utf-8") NIL {7}\r\nGrüße "7bit" 1 0)`);
    assert.equal(body(root, { utf8: true }), `("text" "plain" ("charset" "utf-8") NIL "Grüße" "7bit" 1 0)`);
  });

  it("quotes and backslashes in parameters are escaped", () => {
    const { root } = parseMime(crlf('Content-Type: text/plain; name="a \\"b\\" \\\\c"\n\nx'));
    assert.equal(
      body(root),
      `("text" "plain" ("name" "a \\"b\\" \\\\c" "charset" "us-ascii") NIL NIL "7bit" 1 0)`,
    );
  });

  it("RFC 2231 re-encoding", () => {
    assert.equal(rfc2231Encode("Grüße (1).txt"), "utf-8''Gr%C3%BC%C3%9Fe%20%281%29.txt");
    assert.equal(rfc2231Encode("100%*'"), "utf-8''100%25%2A%27");
  });
});
