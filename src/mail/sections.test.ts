// Section resolution against every fixture stored behind a trace prefix: each BODY[section]
// slice of the full message must equal the text cut out of the message by hand. Also partials,
// the HEADER.FIELDS filter, range splitting and the BINARY decoders.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { parseMime } from "./mime-parser.js";
import {
  applyPartial,
  type ByteRange,
  createDecoder,
  decodeAll,
  decodedSize,
  filterHeaderFields,
  formatSection,
  type Partial,
  rangeSource,
  resolveBinarySection,
  resolveSection,
  type SectionSpec,
  splitRange,
} from "./sections.js";

const FIXTURES = new URL("../../../test/fixtures/mime/", import.meta.url);
const PREFIX = Buffer.from(
  "Return-Path: <bounce@relay.example>\r\nReceived: from relay.example by mx.example;\r\n Tue, 14 May 2024 09:13:00 +0200\r\n",
);

/** "1.2.HEADER.FIELDS (A B)" → SectionSpec (test helper; the real parser is elsewhere). */
function spec(s: string): SectionSpec {
  const m = /^((?:\d+\.)*\d+)?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?(?: \((.*)\))?$/.exec(
    s,
  );
  if (!m) throw new Error(`bad section ${s}`);
  return {
    part: m[1] ? m[1].split(".").map(Number) : [],
    text: (m[2] as SectionSpec["text"]) ?? null,
    ...(m[3] !== undefined ? { fields: m[3].split(" ") } : {}),
  };
}

interface Msg {
  full: Buffer;
  text: string;
  fetch(section: string, partial?: Partial): string | null;
}

function load(name: string): Msg {
  const blob = readFileSync(new URL(name, FIXTURES));
  const { root } = parseMime(blob);
  const full = Buffer.concat([PREFIX, blob]);
  return {
    full,
    text: full.toString("latin1"),
    fetch(section, partial) {
      const r = resolveSection(root, PREFIX.length, spec(section));
      let value: Buffer;
      if (r.kind === "empty") value = Buffer.alloc(0);
      else if (r.kind === "invalid") return null;
      else if (r.kind === "range") value = full.subarray(r.range.start, r.range.end);
      else value = filterHeaderFields(full.subarray(r.range.start, r.range.end), r.fields, r.not);
      const p = applyPartial(value.length, partial);
      return value.subarray(p.start, p.end).toString("latin1");
    },
  };
}

/** text[from(startMarker), to(endMarker)) — the end marker excluded, "" = to the end. */
function cut(text: string, start: string, end: string, endInclusive = false): string {
  const s = text.indexOf(start);
  assert.ok(s >= 0, `marker ${JSON.stringify(start)}`);
  if (end === "") return text.slice(s);
  const e = text.indexOf(end, s + start.length);
  assert.ok(e >= 0, `marker ${JSON.stringify(end)}`);
  return text.slice(s, endInclusive ? e + end.length : e);
}

const HDR_END = "\r\n\r\n";

describe("BODY[section] of every fixture behind a trace prefix", () => {
  it("simple.eml", () => {
    const m = load("simple.eml");
    const t = m.text;
    const header = t.slice(0, t.indexOf(HDR_END) + 4);
    const textPart = t.slice(header.length);
    assert.ok(header.startsWith("Return-Path: <bounce@relay.example>\r\nReceived:"));
    assert.equal(m.fetch(""), t);
    assert.equal(m.fetch("HEADER"), header);
    assert.equal(m.fetch("TEXT"), textPart);
    assert.equal(m.fetch("1"), textPart);
    assert.equal(m.fetch("1.MIME"), header);
    assert.equal(m.fetch("2"), "");
    assert.equal(m.fetch("1.1"), "");
    assert.equal(m.fetch("1.HEADER"), "");
    assert.equal(m.fetch("1.TEXT"), "");
    assert.equal(
      m.fetch("HEADER.FIELDS (SUBJECT from)"),
      "From: Alice Example <alice@example.org>\r\nSubject: Lunch on Friday?\r\n\r\n",
    );
    // the prefix's Return-Path and the message's own, in order
    assert.equal(
      m.fetch("HEADER.FIELDS (return-path)"),
      "Return-Path: <bounce@relay.example>\r\nReturn-Path: <alice@example.org>\r\n\r\n",
    );
    assert.equal(
      m.fetch("HEADER.FIELDS (Received)"),
      "Received: from relay.example by mx.example;\r\n Tue, 14 May 2024 09:13:00 +0200\r\n\r\n",
    );
    assert.equal(
      m.fetch("HEADER.FIELDS.NOT (Received Return-Path Date From To Subject Message-ID)"),
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    assert.equal(m.fetch("MIME"), null);
  });

  it("alternative.eml", () => {
    const m = load("alternative.eml");
    const t = m.text;
    const B = "------=_Part_4711_1234567.1715796190000";
    assert.equal(m.fetch("TEXT"), t.slice(t.indexOf(HDR_END) + 4));
    assert.equal(
      m.fetch("1"),
      "This week: 20% off everything. Gr=FC=DFe from the shop!\r\nSee https://shop.example/deals=20",
    );
    assert.equal(
      m.fetch("1.MIME"),
      "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    assert.equal(m.fetch("2"), cut(t, "<html>", "</html>", true));
    assert.equal(m.fetch("2.MIME"), cut(t, "Content-Type: text/html", `${HDR_END}<html>`) + HDR_END);
    assert.equal(m.fetch("TEXT"), cut(t, `${B}\r\n`, ""));
    assert.equal(m.fetch("3"), "");
    assert.equal(m.fetch("1.HEADER"), "");
  });

  it("mixed-attachment.eml", () => {
    const m = load("mixed-attachment.eml");
    const t = m.text;
    assert.equal(m.fetch("TEXT"), cut(t, "This is a multi-part message", ""));
    assert.equal(m.fetch("1"), "Please find the report attached.\r\n");
    assert.equal(m.fetch("2"), cut(t, "AwoRGB8", "\r\n--mixed-boundary-1--"));
    assert.ok(m.fetch("2")!.endsWith("iZCXnqWss7rByM/W3eTr8vkA"));
    assert.equal(
      m.fetch("2.MIME"),
      'Content-Type: application/pdf; name="report-q2.pdf"\r\nContent-Transfer-Encoding: base64\r\n' +
        'Content-Disposition: attachment; filename="report-q2.pdf"; size=1500\r\n\r\n',
    );
    assert.equal(m.fetch("HEADER.FIELDS (CC)"), "Cc: undisclosed-recipients:;\r\n\r\n");
  });

  it("nested-rfc822.eml", () => {
    const m = load("nested-rfc822.eml");
    const t = m.text;
    const inner = cut(t, "Date: Thu, 16 May 2024 17:45", "--inner--\r\n", true);
    const innerHeader = cut(t, "Date: Thu, 16 May 2024 17:45", 'boundary="inner"\r\n\r\n', true);
    assert.equal(m.fetch("1"), "See the forwarded message below.\r\n");
    assert.equal(m.fetch("2"), inner);
    assert.equal(m.fetch("2.MIME"), "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n");
    assert.equal(m.fetch("2.HEADER"), innerHeader);
    assert.equal(m.fetch("2.TEXT"), inner.slice(innerHeader.length));
    assert.equal(m.fetch("2.1"), "1. Budget approved\r\n2. Next meeting in June");
    assert.equal(m.fetch("2.2"), "<ol><li>Budget approved</li><li>Next meeting in June</li></ol>");
    assert.equal(m.fetch("2.1.MIME"), "Content-Type: text/plain; charset=utf-8\r\n\r\n");
    assert.equal(m.fetch("2.HEADER.FIELDS (In-Reply-To)"), "In-Reply-To: <agenda-3@example.com>\r\n\r\n");
    assert.equal(
      m.fetch("2.HEADER.FIELDS.NOT (Date From To Subject Message-ID In-Reply-To MIME-Version)"),
      'Content-Type: multipart/alternative; boundary="inner"\r\n\r\n',
    );
    assert.equal(m.fetch("2.3"), "");
    assert.equal(m.fetch("2.1.1"), "");
    assert.equal(m.fetch("1.HEADER"), "");
    assert.equal(m.fetch("2.1.HEADER"), "");
  });

  it("digest.eml", () => {
    const m = load("digest.eml");
    assert.equal(m.fetch("1"), "From: kim@example.com\r\nSubject: First post\r\n\r\nHello list.\r\n");
    assert.equal(m.fetch("1.MIME"), "\r\n");
    assert.equal(m.fetch("1.HEADER"), "From: kim@example.com\r\nSubject: First post\r\n\r\n");
    assert.equal(m.fetch("1.TEXT"), "Hello list.\r\n");
    // a single-part encapsulated message has a part 1: its body; its MIME header is its header
    assert.equal(m.fetch("1.1"), "Hello list.\r\n");
    assert.equal(m.fetch("1.1.MIME"), "From: kim@example.com\r\nSubject: First post\r\n\r\n");
    assert.equal(m.fetch("1.2"), "");
    assert.equal(m.fetch("2.HEADER.FIELDS (SUBJECT)"), "Subject: Re: First post\r\n\r\n");
    assert.equal(m.fetch("3"), "List footer: unsubscribe at https://lists.example/");
    assert.equal(m.fetch("3.MIME"), "Content-Type: text/plain\r\n\r\n");
  });

  it("rfc2231.eml and encoded-words.eml", () => {
    const a = load("rfc2231.eml");
    assert.equal(a.fetch("1"), "SGVsbG8=");
    assert.equal(a.fetch("2"), "plain");
    const b = load("encoded-words.eml");
    assert.equal(b.fetch("1"), "8J+OiSBKYSwgd2lyIGZlaWVybiE=\r\n");
    assert.equal(b.fetch("TEXT"), "8J+OiSBKYSwgd2lyIGZlaWVybiE=\r\n");
    assert.equal(
      b.fetch("HEADER.FIELDS (Subject)"),
      "Subject: =?utf-8?B?8J+Ogw==?= Party =?utf-8?q?invitation_f=C3=BCr?=\r\n =?utf-8?q?_alle?= =?x-unknown?q?zz?=\r\n\r\n",
    );
  });

  it("broken-boundaries.eml", () => {
    const m = load("broken-boundaries.eml");
    assert.equal(
      m.fetch("1"),
      "--B\r\nContent-Type: text/plain\r\n\r\ninner one\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>inner two</p>",
    );
    assert.equal(m.fetch("1.1"), "inner one");
    assert.equal(m.fetch("1.2"), "<p>inner two</p>");
    assert.equal(m.fetch("1.MIME"), 'Content-Type: multipart/alternative; boundary="B"\r\n\r\n');
    assert.equal(m.fetch("2"), "last part, never closed\r\n");
  });

  it("lf-only.eml (a prefix with CRLF before an LF-only blob)", () => {
    const m = load("lf-only.eml");
    assert.equal(
      m.fetch("HEADER"),
      `${PREFIX.toString("latin1")}From: unix@example.com\nTo: root@localhost\nSubject: stored with LF\nContent-Type: multipart/mixed; boundary=lf\n\n`,
    );
    assert.equal(m.fetch("1"), "line one\nline two");
    assert.equal(m.fetch("1.MIME"), "Content-Type: text/plain\n\n");
    assert.equal(m.fetch("2"), "second");
    assert.equal(m.fetch("HEADER.FIELDS (subject)"), "Subject: stored with LF\n\n");
  });
});

describe("partials", () => {
  const m = load("simple.eml");
  it("<start.length> slices after the section is cut", () => {
    assert.equal(m.fetch("", { offset: 0, length: 12 }), "Return-Path:");
    assert.equal(m.fetch("1", { offset: 3, length: 3 }), "Bob");
    assert.equal(m.fetch("HEADER.FIELDS (Subject)", { offset: 9, length: 5 }), "Lunch");
  });
  it("truncates at the end; a start beyond the end is empty", () => {
    const body = m.fetch("1")!;
    assert.equal(m.fetch("1", { offset: 90, length: 1000 }), body.slice(90));
    assert.equal(m.fetch("1", { offset: 5000, length: 10 }), "");
    assert.deepEqual(applyPartial(100, { offset: 150, length: 10 }), { start: 100, end: 100 });
    assert.deepEqual(applyPartial(100, undefined), { start: 0, end: 100 });
  });
});

describe("HEADER.FIELDS filter", () => {
  const header = Buffer.from(
    "Subject: a\r\n  folded\r\nX-Foo: 1\r\nsubject: second\r\nFrom : spaced\r\n\tcontinued\r\nNoColon line\r\nX-Subject: no\r\n\r\n",
  );
  it("keeps matching fields with their folded lines, any case, and the blank line", () => {
    assert.equal(
      filterHeaderFields(header, ["SUBJECT", "from"], false).toString(),
      "Subject: a\r\n  folded\r\nsubject: second\r\nFrom : spaced\r\n\tcontinued\r\n\r\n",
    );
  });
  it(".NOT keeps the others", () => {
    assert.equal(
      filterHeaderFields(header, ["subject", "FROM"], true).toString(),
      "X-Foo: 1\r\nNoColon line\r\nX-Subject: no\r\n\r\n",
    );
  });
  it("no match still gives the blank line; a header without one gives none", () => {
    assert.equal(filterHeaderFields(header, ["Date"], false).toString(), "\r\n");
    assert.equal(filterHeaderFields(Buffer.from("A: 1\r\nB: 2\r\n"), ["b"], false).toString(), "B: 2\r\n");
    assert.equal(filterHeaderFields(Buffer.from("A: 1\nB: 2\n\n"), ["a"], false).toString(), "A: 1\n\n");
    assert.equal(filterHeaderFields(Buffer.alloc(0), ["a"], false).length, 0);
  });
  it("8-bit bytes pass through untouched", () => {
    const h = Buffer.concat([Buffer.from("Subject: "), Buffer.from([0xfc, 0xff]), Buffer.from("\r\n\r\n")]);
    assert.deepEqual(filterHeaderFields(h, ["subject"], false), h);
  });
});

describe("ranges and names", () => {
  it("splitRange separates prefix and blob", () => {
    assert.deepEqual(splitRange({ start: 0, end: 10 }, 4), {
      prefix: { start: 0, end: 4 },
      blob: { start: 0, end: 6 },
    });
    assert.deepEqual(splitRange({ start: 5, end: 10 }, 4), { prefix: null, blob: { start: 1, end: 6 } });
    assert.deepEqual(splitRange({ start: 1, end: 3 }, 4), { prefix: { start: 1, end: 3 }, blob: null });
    assert.deepEqual(splitRange({ start: 4, end: 4 }, 4), { prefix: null, blob: null });
  });

  it("rangeSource streams prefix then blob", async () => {
    const prefix = Buffer.from("PREFIX\r\n");
    const blob = Buffer.from("Subject: x\r\n\r\nbody");
    const calls: ByteRange[] = [];
    const read = async function* (start: number, end: number) {
      calls.push({ start, end });
      yield blob.subarray(start, end);
    };
    const chunks: Uint8Array[] = [];
    for await (const c of rangeSource(prefix, { start: 3, end: 12 }, read)) chunks.push(c);
    assert.equal(Buffer.concat(chunks).toString(), "FIX\r\nSubj");
    assert.deepEqual(calls, [{ start: 0, end: 4 }]);
  });

  it("formatSection", () => {
    assert.equal(formatSection(spec("")), "");
    assert.equal(formatSection(spec("1.2.MIME")), "1.2.MIME");
    assert.equal(formatSection(spec("HEADER.FIELDS (Date From)")), "HEADER.FIELDS (Date From)");
    assert.equal(
      formatSection({ part: [3], text: "HEADER.FIELDS.NOT", fields: ["X y"] }),
      '3.HEADER.FIELDS.NOT ("X y")',
    );
  });

  it("invalid specs", () => {
    const { root } = parseMime(Buffer.from("A: b\r\n\r\nx"));
    assert.equal(resolveSection(root, 0, { part: [], text: "MIME" }).kind, "invalid");
    assert.equal(resolveSection(root, 0, { part: [], text: "HEADER.FIELDS", fields: [] }).kind, "invalid");
    assert.equal(resolveSection(root, 0, { part: [0] }).kind, "empty");
  });
});

describe("BINARY", () => {
  const loadTree = (name: string) => {
    const blob = readFileSync(new URL(name, FIXTURES));
    const full = Buffer.concat([PREFIX, blob]);
    return { root: parseMime(blob).root, full };
  };

  it("base64 attachment decodes while streaming; BINARY.SIZE matches", async () => {
    const { root, full } = loadTree("mixed-attachment.eml");
    const r = resolveBinarySection(root, PREFIX.length, [2]);
    assert.equal(r.kind, "range");
    if (r.kind !== "range") return;
    assert.equal(r.encoding, "base64");
    assert.equal(r.literal8, true);
    const encoded = full.subarray(r.range.start, r.range.end);
    const want = Buffer.from(encoded.toString("latin1"), "base64");
    assert.equal(want.length, 1500);
    // small chunks through the Transform
    const pieces: Buffer[] = [];
    for (let i = 0; i < encoded.length; i += 7) pieces.push(encoded.subarray(i, i + 7));
    const out: Buffer[] = [];
    await pipeline(Readable.from(pieces), createDecoder("base64")!, async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) out.push(c);
    });
    assert.deepEqual(Buffer.concat(out), want);
    assert.equal(await decodedSize(pieces, "base64"), 1500);
  });

  it("quoted-printable parts", () => {
    const { root, full } = loadTree("alternative.eml");
    const part = (n: number) => {
      const r = resolveBinarySection(root, PREFIX.length, [n]);
      assert.equal(r.kind, "range");
      if (r.kind !== "range") throw new Error();
      assert.equal(r.literal8, true);
      return decodeAll(full.subarray(r.range.start, r.range.end), r.encoding)!;
    };
    assert.deepEqual(
      part(1),
      Buffer.from(
        "This week: 20% off everything. Grüße from the shop!\r\nSee https://shop.example/deals ",
        "latin1",
      ),
    );
    assert.equal(
      part(2).toString("utf8"),
      "<html><head><style>p {color: red}</style></head><body><p>This week: <b>20% off</b> everything.</p><p>Grüße &amp; thanks</p></body></html>",
    );
  });

  it("leaves only; unknown encodings; missing parts; the whole message", () => {
    const { root } = loadTree("nested-rfc822.eml");
    assert.equal(resolveBinarySection(root, 0, [2]).kind, "not-leaf");
    assert.equal(resolveBinarySection(root, 0, [9]).kind, "empty");
    const r1 = resolveBinarySection(root, 0, [1]);
    assert.deepEqual(r1.kind === "range" && [r1.encoding, r1.literal8], ["7bit", false]);
    assert.deepEqual(resolveBinarySection(root, 10, []), {
      kind: "range",
      range: { start: 0, end: root.bodyEnd + 10 },
      encoding: "binary",
      literal8: true,
    });
    const odd = parseMime(Buffer.from("Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n")).root;
    assert.deepEqual(resolveBinarySection(odd, 0, [1]), { kind: "unknown-cte", encoding: "x-uuencode" });
    assert.equal(createDecoder("x-uuencode"), null);
    assert.equal(decodeAll(Buffer.from("x"), "x-uuencode"), null);
  });

  it("quoted-printable rules (RFC 2045 §6.7)", () => {
    const qp = (s: string) => decodeAll(Buffer.from(s, "latin1"), "quoted-printable")!.toString("latin1");
    assert.equal(qp("a=3Db"), "a=b");
    assert.equal(qp("a=3db=C3=bc"), "a=b\xc3\xbc"); // lower-case hex accepted
    assert.equal(qp("soft=\r\nbreak"), "softbreak");
    assert.equal(qp("soft=\nbreak"), "softbreak");
    assert.equal(qp("padded= \t\r\nbreak"), "paddedbreak");
    assert.equal(qp("trailing   \r\nspace\t\r\n"), "trailing\r\nspace\r\n");
    assert.equal(qp("inner  space"), "inner  space");
    assert.equal(qp("kept =\r\n"), "kept ");
    assert.equal(qp("lf\nonly\n"), "lf\r\nonly\r\n");
    assert.equal(qp("lone\rcr"), "lone\rcr");
    assert.equal(qp("bad=G1"), "bad=G1");
    assert.equal(qp("bad=4"), "bad=4");
    assert.equal(qp("bad=4x"), "bad=4x");
    assert.equal(qp("eq= x"), "eq= x");
    assert.equal(qp("eq=\rx"), "eq=\rx");
    assert.equal(qp("end="), "end=");
    assert.equal(qp("end  "), "end");
  });

  it("base64 rules", () => {
    const b = (s: string) => decodeAll(Buffer.from(s), "base64")!.toString("latin1");
    assert.equal(b("SGVs\r\nbG8="), "Hello");
    assert.equal(b("SGVsbG8"), "Hello");
    assert.equal(b("SGk=SGk="), "HiHi");
    assert.equal(b("S*G!V s b G 8 ="), "Hello");
    assert.equal(decodeAll(Buffer.from("abc"), "8bit")!.toString(), "abc");
  });
});
