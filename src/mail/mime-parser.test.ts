// Table-driven tests of the streaming MIME parser. Every input is parsed whole, split at every
// byte boundary, and one byte at a time; all runs must give the identical tree, defects and
// extracted text. Offsets are checked by slicing the input.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { MimeParser, type MimeParseResult, type MimeParserOptions, parseMime } from "./mime-parser.js";
import type { MimeNode } from "./mime-types.js";

const FIXTURES = new URL("../../../test/fixtures/mime/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));
const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"));

interface Run {
  result: MimeParseResult;
  /** decoded text per part, keyed by headerStart */
  text: Record<number, string>;
}

function run(chunks: Buffer[], opts: Omit<MimeParserOptions, "onText"> = {}): Run {
  const text: Record<number, string> = {};
  const p = new MimeParser({
    ...opts,
    onText: (t, node) => {
      text[node.headerStart] = (text[node.headerStart] ?? "") + t;
    },
  });
  for (const c of chunks) p.push(c);
  return { result: p.end(), text };
}

/** Parses whole, split at every byte boundary and byte by byte; asserts identical results. */
function parseEveryWay(input: Buffer, opts: Omit<MimeParserOptions, "onText"> = {}): Run {
  const whole = run([input], opts);
  for (let i = 0; i <= input.length; i++) {
    const split = run([input.subarray(0, i), input.subarray(i)], opts);
    assert.deepEqual(split, whole, `split at byte ${i} differs`);
  }
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  assert.deepEqual(run(bytes, opts), whole, "byte-by-byte parse differs");
  checkInvariants(whole.result.root, input, 0, input.length);
  assert.equal(whole.result.size, input.length);
  return whole;
}

/** Structural invariants of every node: ordered, nested offsets and the bodyLines rule. */
function checkInvariants(node: MimeNode, buf: Buffer, min: number, max: number): void {
  assert.ok(min <= node.headerStart && node.headerStart <= node.headerEnd);
  assert.equal(node.headerEnd, node.bodyStart);
  assert.ok(node.bodyStart <= node.bodyEnd && node.bodyEnd <= max, "node within its parent");
  assert.equal(node.bodyLines, countLf(buf.subarray(node.bodyStart, node.bodyEnd)), "bodyLines = LF count");
  let prev = node.bodyStart;
  for (const c of node.children) {
    checkInvariants(c, buf, prev, node.bodyEnd);
    prev = c.bodyEnd;
  }
  if (node.message) {
    assert.equal(node.message.headerStart, node.bodyStart);
    assert.equal(node.message.bodyEnd, node.bodyEnd);
    checkInvariants(node.message, buf, node.bodyStart, node.bodyEnd);
  }
}

function countLf(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** The node of an IMAP section number ("1.2"), descending into message/rfc822 parts. */
function part(root: MimeNode, section: string): MimeNode {
  let node = root;
  for (const n of section.split(".").map(Number)) {
    if (node.message) node = node.message;
    if (node.contentType.type === "multipart") node = node.children[n - 1]!;
    else assert.equal(n, 1, `section ${section}: no part ${n}`);
    assert.ok(node, `section ${section} exists`);
  }
  return node;
}

const str = (buf: Buffer, a: number, b: number) => buf.subarray(a, b).toString("utf8");
const body = (buf: Buffer, n: MimeNode) => str(buf, n.bodyStart, n.bodyEnd);
const header = (buf: Buffer, n: MimeNode) => str(buf, n.headerStart, n.headerEnd);
const mime = (n: MimeNode) => `${n.contentType.type}/${n.contentType.subtype}`;

interface Case {
  name: string;
  input: Buffer;
  opts?: Omit<MimeParserOptions, "onText">;
  check(r: MimeParseResult, buf: Buffer, text: Record<number, string>): void;
}

const cases: Case[] = [
  {
    name: "simple text/plain message",
    input: fixture("simple.eml"),
    check(r, buf, text) {
      const root = r.root;
      assert.equal(mime(root), "text/plain");
      assert.deepEqual(root.contentType.params, { charset: "utf-8", format: "flowed" });
      assert.equal(root.contentTypeDefaulted, false);
      assert.equal(root.encoding, "8bit");
      assert.ok(header(buf, root).startsWith("Return-Path: <alice@example.org>\r\n"));
      assert.ok(header(buf, root).endsWith("Content-Transfer-Encoding: 8bit\r\n\r\n"));
      const expected =
        "Hi Bob,\r\n\r\nare you free for lunch on Friday? The café on the corner\r\nhas a new menu.\r\n\r\nAlice\r\n";
      assert.equal(body(buf, root), expected);
      assert.equal(root.bodyEnd, buf.length);
      assert.equal(root.bodyLines, 6);
      assert.equal(r.envelope.subject, "Lunch on Friday?");
      assert.equal(r.envelope.date, "Tue, 14 May 2024 09:12:44 +0200");
      assert.equal(r.envelope.messageId, "<20240514091244.1234@example.org>");
      assert.deepEqual(r.envelope.from, [
        { name: "Alice Example", adl: null, mailbox: "alice", host: "example.org" },
      ]);
      assert.deepEqual(r.envelope.sender, r.envelope.from);
      assert.deepEqual(r.envelope.replyTo, r.envelope.from);
      assert.deepEqual(r.envelope.to, [{ name: "Bob", adl: null, mailbox: "bob", host: "example.com" }]);
      assert.equal(r.subject, "Lunch on Friday?");
      assert.equal(text[0], expected);
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "multipart/alternative with quoted-printable text and html",
    input: fixture("alternative.eml"),
    check(r, buf, text) {
      assert.equal(mime(r.root), "multipart/alternative");
      assert.equal(r.root.contentType.params["boundary"], "----=_Part_4711_1234567.1715796190000");
      assert.equal(r.root.children.length, 2);
      const p1 = part(r.root, "1");
      const p2 = part(r.root, "2");
      assert.equal(
        header(buf, p1),
        "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
      );
      assert.equal(
        body(buf, p1),
        "This week: 20% off everything. Gr=FC=DFe from the shop!\r\nSee https://shop.example/deals=20",
      );
      assert.equal(p1.bodyLines, 1);
      assert.equal(p1.encoding, "quoted-printable");
      assert.equal(
        body(buf, p2),
        "<html><head><style>p {color: red}</style></head><body><p>This week: <b>20%=\r\n" +
          " off</b> everything.</p><p>Gr=C3=BC=C3=9Fe &amp; thanks</p></body></html>",
      );
      assert.ok(str(buf, p2.bodyEnd, buf.length).startsWith("\r\n------=_Part_4711_1234567.1715796190000--"));
      assert.equal(
        text[p1.headerStart],
        "This week: 20% off everything. Grüße from the shop!\r\nSee https://shop.example/deals ",
      );
      const html = text[p2.headerStart]!;
      assert.ok(html.includes("This week: 20% off everything."), html);
      assert.ok(html.includes("Grüße & thanks"), html);
      assert.ok(!html.includes("color") && !html.includes("<"), html);
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "multipart/mixed with a base64 attachment and a preamble",
    input: fixture("mixed-attachment.eml"),
    check(r, buf, text) {
      assert.equal(r.root.children.length, 2);
      const [p1, p2] = r.root.children as [MimeNode, MimeNode];
      assert.equal(
        str(buf, r.root.bodyStart, p1.headerStart),
        "This is a multi-part message in MIME format.\r\n\r\n--mixed-boundary-1\r\n",
      );
      assert.equal(body(buf, p1), "Please find the report attached.\r\n");
      assert.equal(p1.bodyLines, 1);
      assert.deepEqual(p1.contentType.params, { charset: "us-ascii" });
      assert.equal(mime(p2), "application/pdf");
      assert.equal(p2.encoding, "base64");
      assert.deepEqual(p2.disposition, {
        type: "attachment",
        params: { filename: "report-q2.pdf", size: "1500" },
      });
      assert.equal(p2.contentType.params["name"], "report-q2.pdf");
      const decoded = Buffer.from(body(buf, p2), "base64");
      assert.equal(decoded.length, 1500);
      for (let i = 0; i < 1500; i++) assert.equal(decoded[i], (i * 7 + 3) % 256);
      assert.equal(text[p2.headerStart], undefined, "no text from application/pdf");
      assert.equal(text[p1.headerStart], "Please find the report attached.\r\n");
      assert.deepEqual(r.envelope.to, [
        { name: null, adl: null, mailbox: "dave", host: "example.com" },
        { name: "Eve, the auditor", adl: null, mailbox: "eve", host: "example.com" },
      ]);
      assert.deepEqual(r.envelope.cc, [
        { name: null, adl: null, mailbox: "undisclosed-recipients", host: null },
        { name: null, adl: null, mailbox: null, host: null },
      ]);
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "message/rfc822 with its own multipart, inside a multipart",
    input: fixture("nested-rfc822.eml"),
    check(r, buf, text) {
      const fwd = part(r.root, "2");
      assert.equal(mime(fwd), "message/rfc822");
      assert.equal(fwd.disposition?.type, "inline");
      const inner = fwd.message!;
      assert.ok(inner);
      assert.equal(inner.headerStart, fwd.bodyStart);
      assert.ok(header(buf, inner).startsWith("Date: Thu, 16 May 2024 17:45:00 +0000\r\n"));
      assert.ok(body(buf, fwd).endsWith("\r\n--inner--\r\n"), "the rfc822 body stops before CRLF--outer--");
      assert.ok(str(buf, fwd.bodyEnd, buf.length).startsWith("\r\n--outer--"));
      assert.equal(fwd.bodyLines, countLf(buf.subarray(fwd.bodyStart, fwd.bodyEnd)));
      assert.equal(mime(inner), "multipart/alternative");
      assert.equal(body(buf, part(r.root, "2.1")), "1. Budget approved\r\n2. Next meeting in June");
      assert.equal(part(r.root, "2.1").bodyLines, 1);
      assert.equal(
        body(buf, part(r.root, "2.2")),
        "<ol><li>Budget approved</li><li>Next meeting in June</li></ol>",
      );
      assert.equal(fwd.envelope, inner.envelope);
      const env = fwd.envelope!;
      assert.equal(env.subject, "Meeting notes");
      assert.equal(env.inReplyTo, "<agenda-3@example.com>");
      assert.deepEqual(env.to, [
        { name: "Frank", adl: null, mailbox: "frank", host: "example.org" },
        { name: null, adl: null, mailbox: "team", host: null },
        { name: null, adl: null, mailbox: "ivan", host: "example.com" },
        { name: null, adl: null, mailbox: "judy", host: "example.com" },
        { name: null, adl: null, mailbox: null, host: null },
      ]);
      assert.equal(r.envelope.subject, "Fwd: Meeting notes");
      assert.equal(text[part(r.root, "1").headerStart], "See the forwarded message below.\r\n");
      assert.equal(text[part(r.root, "2.1").headerStart], "1. Budget approved\r\n2. Next meeting in June");
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "multipart/digest: parts default to message/rfc822",
    input: fixture("digest.eml"),
    check(r, buf) {
      assert.equal(r.root.children.length, 3);
      const [d1, d2, d3] = r.root.children as [MimeNode, MimeNode, MimeNode];
      for (const d of [d1, d2]) {
        assert.equal(mime(d), "message/rfc822");
        assert.equal(d.contentTypeDefaulted, true);
        assert.equal(header(buf, d), "\r\n", "an empty part header is just the blank line");
      }
      assert.equal(d1.message!.envelope!.subject, "First post");
      assert.equal(d2.envelope!.subject, "Re: First post");
      assert.deepEqual(d2.envelope!.from, [{ name: null, adl: null, mailbox: "lee", host: "example.com" }]);
      assert.equal(body(buf, d1.message!), "Hello list.\r\n");
      assert.equal(mime(d1.message!), "text/plain");
      assert.equal(mime(d3), "text/plain");
      assert.equal(d3.contentTypeDefaulted, false);
      assert.equal(body(buf, d3), "List footer: unsubscribe at https://lists.example/");
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "RFC 2231 parameters and comments",
    input: fixture("rfc2231.eml"),
    check(r, buf) {
      const [p1, p2] = r.root.children as [MimeNode, MimeNode];
      assert.equal(p1.contentType.params["name"], "报告 final.txt");
      assert.deepEqual(p1.disposition, { type: "attachment", params: { filename: "Grüße (Entwurf).txt" } });
      assert.equal(body(buf, p1), "SGVsbG8=");
      // encoded-words inside parameters are not decoded (RFC 2047 §5): clients do that
      assert.equal(p2.contentType.params["name"], "=?utf-8?B?w6TDtsO8LnR4dA==?=");
      assert.deepEqual(p2.disposition, { type: "attachment", params: { filename: "plain (1).txt" } });
      assert.equal(body(buf, p2), "plain");
    },
  },
  {
    name: "encoded-word subject and names; base64 text",
    input: fixture("encoded-words.eml"),
    check(r, _buf, text) {
      assert.equal(
        r.envelope.subject,
        "=?utf-8?B?8J+Ogw==?= Party =?utf-8?q?invitation_f=C3=BCr?= =?utf-8?q?_alle?= =?x-unknown?q?zz?=",
      );
      assert.equal(r.subject, "🎃 Party invitation für alle =?x-unknown?q?zz?=");
      assert.deepEqual(r.envelope.from, [
        { name: "=?iso-8859-1?q?Andr=E9?= Pirard", adl: null, mailbox: "PIRARD", host: "vm1.ulg.ac.be" },
      ]);
      assert.equal(r.envelope.to[0]!.name, "=?utf-8?b?5bGx55Sw5aSq6YOO?=");
      assert.equal(text[0], "🎉 Ja, wir feiern!");
    },
  },
  {
    name: "missing close delimiters: the outer boundary ends the inner parts, EOF the rest",
    input: fixture("broken-boundaries.eml"),
    check(r, buf) {
      const [a1, a2] = r.root.children as [MimeNode, MimeNode];
      assert.equal(mime(a1), "multipart/alternative");
      assert.equal(a1.children.length, 2);
      assert.equal(body(buf, part(r.root, "1.1")), "inner one");
      assert.equal(body(buf, part(r.root, "1.2")), "<p>inner two</p>");
      assert.equal(a1.bodyEnd, part(r.root, "1.2").bodyEnd);
      assert.equal(body(buf, a2), "last part, never closed\r\n");
      assert.equal(a2.bodyEnd, buf.length);
      assert.deepEqual(r.defects, ["part 1: missing close delimiter", "root: missing close delimiter"]);
      assert.deepEqual(a1.defects, ["missing close delimiter"]);
    },
  },
  {
    name: "LF-only line endings",
    input: fixture("lf-only.eml"),
    check(r, buf) {
      const [p1, p2] = r.root.children as [MimeNode, MimeNode];
      assert.equal(header(buf, p1), "Content-Type: text/plain\n\n");
      assert.equal(body(buf, p1), "line one\nline two");
      assert.equal(p1.bodyLines, 1);
      assert.equal(body(buf, p2), "second");
      assert.equal(p2.bodyLines, 0);
      assert.equal(r.envelope.subject, "stored with LF");
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "empty message",
    input: Buffer.alloc(0),
    check(r) {
      const root = r.root;
      assert.deepEqual(
        [root.headerStart, root.headerEnd, root.bodyStart, root.bodyEnd, root.bodyLines],
        [0, 0, 0, 0, 0],
      );
      assert.equal(mime(root), "text/plain");
      assert.equal(root.contentTypeDefaulted, true);
      assert.deepEqual(root.contentType.params, { charset: "us-ascii" });
      assert.equal(r.envelope.subject, null);
      assert.deepEqual(r.envelope.from, []);
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "header without a blank line",
    input: crlf("Subject: only a header\nFrom: a@b.example"),
    check(r, buf) {
      assert.equal(r.root.headerEnd, buf.length);
      assert.equal(r.root.bodyEnd, buf.length);
      assert.equal(r.envelope.subject, "only a header");
      assert.deepEqual(r.envelope.from, [{ name: null, adl: null, mailbox: "a", host: "b.example" }]);
      assert.deepEqual(r.defects, ["root: header not ended by an empty line"]);
    },
  },
  {
    name: "header lines without a colon, folded fields",
    input: crlf("From nobody Mon Jan 1 00:00:00 2024\nSubject: folded\n  subject\nnot a header\n\nbody"),
    check(r, buf) {
      assert.equal(body(buf, r.root), "body");
      assert.equal(r.envelope.subject, "folded  subject");
      assert.deepEqual(r.root.defects, ["header line without a colon"]);
    },
  },
  {
    name: "multipart without boundary parameter becomes text/plain",
    input: crlf("Content-Type: multipart/mixed\n\n--x\nhello\n--x--\n"),
    check(r, buf, text) {
      assert.equal(mime(r.root), "text/plain");
      assert.equal(r.root.contentTypeDefaulted, true);
      assert.equal(r.root.children.length, 0);
      assert.equal(body(buf, r.root), "--x\r\nhello\r\n--x--\r\n");
      assert.equal(text[0], "--x\r\nhello\r\n--x--\r\n");
      assert.deepEqual(r.defects, [
        "root: multipart/mixed without a usable boundary parameter: treated as text/plain",
      ]);
    },
  },
  {
    name: "transport padding, close delimiter variants, look-alike lines",
    input: crlf(
      'Content-Type: multipart/mixed; boundary="b"\n\n--b \t\n\none\n--bX\n---b\n -b\n--b\t\n\ntwo\n--b-- \nepilogue\n--b\nnot a part\n',
    ),
    check(r, buf) {
      assert.equal(r.root.children.length, 2);
      assert.equal(body(buf, part(r.root, "1")), "one\r\n--bX\r\n---b\r\n -b");
      assert.equal(body(buf, part(r.root, "2")), "two");
      assert.equal(r.root.bodyEnd, buf.length);
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "empty parts, header ended by a delimiter, no preamble",
    input: crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\nContent-Type: text/html\n--b\n\n--b--",
    ),
    check(r, buf) {
      const [e1, e2, e3] = r.root.children as [MimeNode, MimeNode, MimeNode];
      assert.equal(r.root.children.length, 3);
      assert.equal(e1.headerStart, e1.bodyEnd, "zero-length part");
      assert.equal(header(buf, e2), "Content-Type: text/html");
      assert.equal(mime(e2), "text/html");
      assert.equal(e2.bodyStart, e2.bodyEnd);
      assert.equal(header(buf, e3), "\r\n");
      assert.equal(body(buf, e3), "");
      assert.equal(r.root.bodyEnd, buf.length);
      assert.deepEqual(r.root.defects, undefined);
      assert.deepEqual(e2.defects, ["header not ended by an empty line"]);
    },
  },
  {
    name: "boundary that is a prefix of the inner boundary",
    input: crlf(
      "Content-Type: multipart/mixed; boundary=abc\n\n--abc\nContent-Type: multipart/related; boundary=abcdef\n\n--abcdef\n\ninner\n--abcdef--\n--abc\n\nouter\n--abc--\n",
    ),
    check(r, buf) {
      assert.equal(body(buf, part(r.root, "1.1")), "inner");
      assert.equal(body(buf, part(r.root, "2")), "outer");
      assert.deepEqual(r.defects, []);
    },
  },
  {
    name: "message/rfc822 in base64 stays opaque; empty message/rfc822",
    input: crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQp5\n--b\nContent-Type: message/rfc822\n--b--\n",
    ),
    check(r, buf) {
      const [m1, m2] = r.root.children as [MimeNode, MimeNode];
      assert.equal(m1.message, null);
      assert.equal(body(buf, m1), "U3ViamVjdDogeA0KDQp5");
      assert.ok(m2.message);
      assert.equal(m2.message!.headerStart, m2.bodyEnd);
      assert.equal(m2.envelope!.subject, null);
      assert.deepEqual(r.defects, [
        "part 1: message/rfc822 with base64 encoding: not parsed",
        "part 2: header not ended by an empty line",
      ]);
    },
  },
  {
    name: "message/global, encoded message/global, unparsable Content-Type",
    input: crlf(
      "Content-Type: multipart/mixed; boundary=g\n\n--g\nContent-Type: message/global\n\nSubject: Grüße 8bit\n\nbody\n--g\nContent-Type: message/global\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n--g\nContent-Type: text\n\nplain\n--g--\n",
    ),
    check(r, buf) {
      const [g1, g2, g3] = r.root.children as [MimeNode, MimeNode, MimeNode];
      assert.equal(g1.envelope!.subject, "Grüße 8bit");
      assert.equal(body(buf, g1.message!), "body");
      assert.equal(g2.message, null, "RFC 6532 allows an encoded message/global: left opaque");
      assert.equal(mime(g3), "text/plain");
      assert.equal(g3.contentTypeDefaulted, true);
      assert.deepEqual(r.defects, ["part 3: unparsable Content-Type: default applied"]);
    },
  },
  {
    name: "lines longer than the delimiter window",
    input: crlf(
      `References: ${"<r@x> ".repeat(200)}\nSubject: long\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\n${"x".repeat(1500)}\n--b${" ".repeat(1100)}\nstill part one\n--b--\n`,
    ),
    check(r, buf) {
      assert.equal(r.envelope.subject, "long");
      assert.equal(r.root.children.length, 1);
      assert.equal(
        body(buf, part(r.root, "1")),
        `${"x".repeat(1500)}\r\n--b${" ".repeat(1100)}\r\nstill part one`,
      );
    },
  },
  {
    name: "bare CR is data, not a line break",
    input: Buffer.from("Subject: a\rb\r\n\r\nx\ry\r\r\n"),
    check(r, buf) {
      assert.equal(r.envelope.subject, "a\rb");
      assert.equal(body(buf, r.root), "x\ry\r\r\n");
      assert.equal(r.root.bodyLines, 1);
    },
  },
  {
    name: "maxDepth: deeper multiparts become opaque leaves",
    opts: { limits: { maxDepth: 2 } },
    input: crlf(
      "Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\ndeep\n--c--\n--b--\n--a--\n",
    ),
    check(r, buf) {
      const opaque = part(r.root, "1.1");
      assert.equal(mime(opaque), "multipart/mixed");
      assert.equal(opaque.children.length, 0);
      assert.equal(body(buf, opaque), "--c\r\n\r\ndeep\r\n--c--");
      assert.deepEqual(r.defects, ["part 1.1: nested deeper than 2: not parsed"]);
    },
  },
  {
    name: "maxParts: parts beyond the limit are not created",
    opts: { limits: { maxParts: 3 } },
    input: crlf(
      "Content-Type: multipart/mixed; boundary=a\n\n--a\n\none\n--a\n\ntwo\n--a\n\nthree\n--a\n\nfour\n--a--\nepilogue\n",
    ),
    check(r, buf) {
      assert.equal(r.root.children.length, 2);
      assert.equal(body(buf, part(r.root, "2")), "two");
      assert.equal(r.root.bodyEnd, buf.length);
      assert.deepEqual(r.defects, ["root: more than 3 parts: the rest of this multipart is not parsed"]);
    },
  },
  {
    name: "maxHeaderBytes: the rest of a long header is skipped",
    opts: { limits: { maxHeaderBytes: 40 } },
    input: crlf(`Subject: kept\nX-Long: ${"y".repeat(100)}\nFrom: lost@example.com\n\nbody`),
    check(r, buf) {
      assert.equal(r.envelope.subject, "kept");
      assert.deepEqual(r.envelope.from, []);
      assert.equal(body(buf, r.root), "body");
      assert.deepEqual(r.defects, ["root: header longer than 40 bytes: the rest is skipped"]);
    },
  },
  {
    name: "textLimit caps the extracted text for the whole message",
    opts: { textLimit: 12 },
    input: crlf("Content-Type: multipart/mixed; boundary=a\n\n--a\n\n0123456789\n--a\n\nabcdefghij\n--a--\n"),
    check(r, _buf, text) {
      assert.equal(text[part(r.root, "1").headerStart], "0123456789");
      assert.equal(text[part(r.root, "2").headerStart], "ab");
    },
  },
  {
    name: "quoted-printable soft breaks and a CTE in upper case",
    input: crlf(
      "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: Quoted-Printable\n\nsoft=\nbreak =C3=A4=\n=3D end=",
    ),
    check(r, _buf, text) {
      assert.equal(r.root.encoding, "quoted-printable");
      assert.equal(text[0], "softbreak ä=3D end=".replace("=3D", "="));
    },
  },
];

describe("MimeParser", () => {
  for (const c of cases) {
    it(c.name, () => {
      const { result, text } = parseEveryWay(c.input, c.opts);
      c.check(result, c.input, text);
    });
  }

  it("parseMime equals streaming", () => {
    const buf = fixture("nested-rfc822.eml");
    assert.deepEqual(parseMime(buf), run([buf]).result);
  });

  it("results are plain JSON", () => {
    const r = parseMime(fixture("nested-rfc822.eml"));
    assert.deepEqual(JSON.parse(JSON.stringify(r.root)), r.root);
  });

  it("push after end is ignored, end is idempotent", () => {
    const p = new MimeParser();
    p.push(Buffer.from("Subject: x\r\n\r\nbody"));
    const r = p.end();
    p.push(Buffer.from("more"));
    assert.equal(p.end(), r);
    assert.equal(r.size, 18);
  });

  it("does not keep the caller's buffers", () => {
    const p = new MimeParser();
    const chunk = Buffer.from("Subject: first\r\n");
    p.push(chunk.subarray(0, 10));
    chunk.fill(0x41);
    p.push(Buffer.from("irst\r\n\r\n"));
    assert.equal(p.end().envelope.subject, "first");
  });
});

describe("MimeParser memory", () => {
  it("streams a 50 MB base64 attachment without holding it", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const line = `${Buffer.alloc(57, 0xa5).toString("base64")}\r\n`; // 76 characters + CRLF
    const chunk = Buffer.from(line.repeat(840)); // 65,520 bytes, reused for every push
    const head = crlf(
      'From: big@example.com\nSubject: big\nContent-Type: multipart/mixed; boundary="big"\n\n--big\nContent-Type: text/plain\n\nsee attachment\n--big\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n',
    );
    const tail = crlf("--big--\n");
    gc?.();
    const before = process.memoryUsage();
    const p = new MimeParser({ onText: () => {} });
    p.push(head);
    let maxHeap = 0;
    let maxBuffered = 0;
    const chunks = Math.ceil((50 * 1024 * 1024) / chunk.length);
    for (let i = 0; i < chunks; i++) {
      // split unevenly so that lines straddle pushes
      p.push(chunk.subarray(0, 1000));
      p.push(chunk.subarray(1000));
      maxBuffered = Math.max(maxBuffered, p.buffered);
      if (i % 64 === 0) maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    }
    p.push(tail);
    const r = p.end();
    gc?.();
    const after = process.memoryUsage();
    const total = head.length + chunks * chunk.length + tail.length;
    assert.equal(r.size, total);
    assert.equal(r.root.children.length, 2);
    const att = part(r.root, "2");
    assert.equal(att.bodyEnd, total - tail.length - 2);
    assert.equal(att.bodyLines, chunks * 840 - 1);
    assert.ok(maxBuffered <= 1024, `parser held ${maxBuffered} bytes`);
    const growth = Math.max(maxHeap, after.heapUsed) - before.heapUsed;
    assert.ok(growth < 20 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MB`);
    assert.ok(after.arrayBuffers - before.arrayBuffers < 20 * 1024 * 1024, "no retained buffers");
  });
});
