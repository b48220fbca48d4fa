// Property tests of the IMAP response side: whatever compose produces, a strict reader of the
// RFC 9051 grammar gets the same bytes back; BODY/BODYSTRUCTURE/ENVELOPE of arbitrary messages
// are single well-formed values; the CTE decoders do not depend on chunking; the HEADER.FIELDS
// filter partitions a header. Bounded for CI: FUZZ_RUNS runs per property (default 200).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { astring, nstring, string } from "../../src/imap/protocol/compose.js";
import { body, bodyStructure } from "../../src/mail/bodystructure.js";
import { imapEnvelope } from "../../src/mail/imap-envelope.js";
import { parseMime } from "../../src/mail/mime-parser.js";
import type { MimeNode } from "../../src/mail/mime-types.js";
import { createByteDecoder, decodeAll, filterHeaderFields, resolveSection } from "../../src/mail/sections.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

// ---------------------------------------------------------------------------------------------
// A strict reader for what servers send: atoms, NIL, numbers, quoted strings, literals, lists

type Value =
  | { t: "atom"; text: string }
  | { t: "nil" }
  | { t: "string"; bytes: Buffer; literal: boolean }
  | { t: "list"; items: Value[] };

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  value(): Value {
    const c = this.buf[this.pos];
    if (c === undefined) throw new Error("unexpected end");
    if (c === 0x28) return this.list();
    if (c === 0x22) return this.quoted();
    if (c === 0x7b || (c === 0x7e && this.buf[this.pos + 1] === 0x7b)) return this.literal();
    return this.atom();
  }

  private list(): Value {
    this.pos++;
    const items: Value[] = [];
    while (this.buf[this.pos] !== 0x29) {
      // items are separated by one SP, except that lists may follow lists directly (body-type-mpart)
      if (items.length > 0 && this.buf[this.pos] === 0x20) this.pos++;
      else if (items.length > 0 && !(items[items.length - 1]!.t === "list" && this.buf[this.pos] === 0x28)) {
        throw new Error(`expected SP at ${this.pos}`);
      }
      items.push(this.value());
    }
    this.pos++;
    return { t: "list", items };
  }

  private quoted(): Value {
    this.pos++;
    const out: number[] = [];
    for (;;) {
      const c = this.buf[this.pos++];
      if (c === undefined) throw new Error("unterminated quoted string");
      if (c === 0x22) break;
      if (c === 0x0d || c === 0x0a || c === 0) throw new Error("CR, LF or NUL in a quoted string");
      if (c === 0x5c) {
        const e = this.buf[this.pos++];
        if (e !== 0x22 && e !== 0x5c) throw new Error("bad quoted-pair");
        out.push(e);
      } else out.push(c);
    }
    return { t: "string", bytes: Buffer.from(out), literal: false };
  }

  private literal(): Value {
    const eight = this.buf[this.pos] === 0x7e;
    if (eight) this.pos++;
    const close = this.buf.indexOf("}\r\n", this.pos, "latin1");
    const n = Number(this.buf.toString("latin1", this.pos + 1, close));
    if (!/^\d+$/.test(this.buf.toString("latin1", this.pos + 1, close)))
      throw new Error("bad literal length");
    const start = close + 3;
    const bytes = this.buf.subarray(start, start + n);
    if (bytes.length !== n) throw new Error("short literal");
    if (!eight && bytes.includes(0)) throw new Error("NUL in a literal");
    this.pos = start + n;
    return { t: "string", bytes: Buffer.from(bytes), literal: true };
  }

  private atom(): Value {
    const start = this.pos;
    while (this.pos < this.buf.length) {
      const c = this.buf[this.pos]!;
      if (c <= 0x20 || c >= 0x7f || '(){%*"\\'.includes(String.fromCharCode(c))) break;
      this.pos++;
    }
    if (this.pos === start) throw new Error(`unexpected byte ${this.buf[start]} at ${start}`);
    const text = this.buf.toString("latin1", start, this.pos);
    return text.toUpperCase() === "NIL" ? { t: "nil" } : { t: "atom", text };
  }
}

/** Reads exactly one value from the whole text. */
function readOne(text: string): Value {
  const r = new Reader(Buffer.from(text, "utf8"));
  const v = r.value();
  assert.equal(r.pos, r.buf.length, "trailing bytes after the value");
  return v;
}

/** Bytes outside literals are 7-bit (what a rev1 client without UTF-8 may be sent). */
function sevenBitOutsideLiterals(text: string): boolean {
  const buf = Buffer.from(text, "utf8");
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0x7b) {
      const m = /^\{(\d+)\}\r\n/.exec(buf.toString("latin1", i, i + 24));
      if (m) {
        i += m[0].length + Number(m[1]);
        continue;
      }
    }
    if (buf[i]! >= 0x80) return false;
    i++;
  }
  return true;
}

const nasty = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', "\\", "\r", "\n", "\0", " ", "\t", "(", ")", "{", "}", "]", "%", "*", "~", "NIL"),
    fc.string({ maxLength: 3 }),
    fc.string({ unit: "binary", maxLength: 2 }),
  ),
  maxLength: 30,
});

describe("strings survive a strict reader", () => {
  const expectBytes = (s: string) => Buffer.from(s.replace(/\0/g, "\ufffd"), "utf8");

  it("string / nstring / astring, with and without UTF-8", () => {
    fc.assert(
      fc.property(nasty, fc.boolean(), (s, utf8) => {
        for (const enc of [string(s, { utf8 }), nstring(s, { utf8 }), astring(s, { utf8 })]) {
          const v = readOne(enc);
          if (v.t === "atom") assert.equal(v.text, s);
          else {
            assert.equal(v.t, "string");
            if (v.t === "string") assert.deepEqual(v.bytes, expectBytes(s));
          }
          if (!utf8) assert.ok(sevenBitOutsideLiterals(enc), JSON.stringify(enc));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("lists of strings stay separable", () => {
    fc.assert(
      fc.property(fc.array(fc.option(nasty, { nil: null }), { maxLength: 6 }), (items) => {
        const v = readOne(`(${items.map((s) => nstring(s)).join(" ")})`);
        assert.equal(v.t, "list");
        if (v.t !== "list") return;
        assert.equal(v.items.length, items.length);
        items.forEach((s, i) => {
          const it = v.items[i]!;
          if (s === null) assert.equal(it.t, "nil");
          else assert.deepEqual(it.t === "string" && it.bytes, expectBytes(s));
        });
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// BODYSTRUCTURE / ENVELOPE of arbitrary messages

const HEADER_TOKENS = [
  "Content-Type: multipart/mixed; boundary=a\r\n",
  'Content-Type: multipart/alternative; boundary="b"\r\n',
  "Content-Type: message/rfc822\r\n",
  'Content-Type: text/plain; charset="ut\\"f-8"; name*=utf-8\'\'%E2%82%AC%22.txt\r\n',
  "Content-Type: application/x; name*0*=iso-8859-1''%FC; name*1=\"\\\\\"\r\n",
  'Content-Disposition: attachment; filename="a\\"b"\r\n',
  'Content-Description: \u00e4 "q" \\\r\n',
  "Content-Language: en, (c) de\r\n",
  "Content-ID: <id@x>\r\n",
  "Content-MD5: abc\r\n",
  "Content-Location: http://x/\u00ff\r\n",
  "Content-Transfer-Encoding: base64\r\n",
  "Subject: {3}\r\n",
  'Subject: \u00e9"\\\r\n',
  'From: "A\\"B" <a@b>, g: \u00e4@c;\r\n',
  "To: NIL <nil@nil>\r\n",
  "Date: \u00ff\r\n",
];
const BODY_TOKENS = [
  "\r\n",
  "--a\r\n",
  "--a--\r\n",
  "--b\r\n",
  "--b--\r\n",
  "\r\n\r\n",
  "text\r\n",
  "\u00fc\r\n",
];

const message = fc
  .array(fc.oneof(fc.constantFrom(...HEADER_TOKENS, ...BODY_TOKENS), fc.string({ maxLength: 6 })), {
    maxLength: 60,
  })
  .map((parts) => Buffer.from(parts.join(""), "latin1"));

function countParts(node: MimeNode): number {
  let n = 1;
  for (const c of node.children) n += countParts(c);
  if (node.message) n += countParts(node.message);
  return n;
}

/** Counts body structures in a read value: lists whose first item is a string (1part) or a list (mpart). */
function countBodies(v: Value): number {
  if (v.t !== "list") return 0;
  const first = v.items[0];
  if (first === undefined) return 0;
  if (first.t === "list") {
    // multipart: children, then the subtype
    let n = 1;
    for (const item of v.items) {
      if (item.t !== "list") break;
      n += countBodies(item);
    }
    return n;
  }
  // single part; message/rfc822 carries the encapsulated body as the 9th item (after the envelope)
  const isMsg = v.items.length > 9 && v.items[7]?.t === "list" && v.items[8]?.t === "list";
  return 1 + (isMsg ? countBodies(v.items[8]!) : 0);
}

describe("BODYSTRUCTURE and ENVELOPE are single well-formed values", () => {
  it("for arbitrary messages, in both string modes", () => {
    fc.assert(
      fc.property(message, fc.boolean(), (buf, utf8) => {
        const { root, envelope } = parseMime(buf);
        for (const text of [bodyStructure(root, { utf8 }), body(root, { utf8 })]) {
          const v = readOne(text);
          const expected = countParts(root);
          const got = countBodies(v);
          // an empty parsed multipart is written with one placeholder part
          assert.ok(got === expected || got === expected + 1, `${got} bodies for ${expected} parts: ${text}`);
          if (!utf8) assert.ok(sevenBitOutsideLiterals(text));
        }
        const env = readOne(imapEnvelope(envelope, { utf8 }));
        assert.equal(env.t === "list" && env.items.length, 10);
      }),
      { numRuns: RUNS },
    );
  });

  it("every part's BODY[n], HEADER and TEXT ranges lie inside the message", () => {
    fc.assert(
      fc.property(message, fc.nat(200), (buf, prefixLen) => {
        const { root } = parseMime(buf);
        const total = prefixLen + buf.length;
        const visit = (node: MimeNode, path: number[]) => {
          for (const text of [null, "MIME", "HEADER", "TEXT"] as const) {
            if (path.length === 0 && text === "MIME") continue;
            const r = resolveSection(root, prefixLen, { part: path, text });
            if (r.kind === "range") {
              assert.ok(0 <= r.range.start && r.range.start <= r.range.end && r.range.end <= total);
            } else assert.ok(r.kind === "empty");
          }
          const kids = node.children.length > 0 ? node.children : node.message ? [node.message] : [];
          kids.forEach((k, i) => {
            if (path.length < 6) visit(k, [...path, i + 1]);
          });
        };
        visit(root, []);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Decoders: any chunking gives the one-shot result; encoded data round-trips

/** Splits at the given cut points. */
function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** The decoder behind createDecoder, fed chunk by chunk. */
function decodeChunks(chunks: Buffer[], encoding: string): Buffer {
  const d = createByteDecoder(encoding)!;
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(Buffer.from(d.push(c)));
  parts.push(Buffer.from(d.end()));
  return Buffer.concat(parts);
}

/** A reference quoted-printable encoder: every CR, LF, "=" and 8-bit byte as =XX, lines ≤ 76. */
function qpEncode(data: Buffer): string {
  let out = "";
  let line = "";
  for (const b of data) {
    const tok =
      b === 0x3d || b === 0x0d || b === 0x0a || b >= 0x7f || b < 0x20
        ? `=${b.toString(16).toUpperCase().padStart(2, "0")}`
        : String.fromCharCode(b);
    if (line.length + tok.length > 75) {
      out += `${line}=\r\n`;
      line = "";
    }
    line += tok;
  }
  // whitespace at the end of the encoded text would be dropped: protect it
  if (line.endsWith(" ") || line.endsWith("\t")) line += "=\r\n";
  return out + line;
}

describe("CTE decoders", () => {
  const soup = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "=",
          "=\r\n",
          "= \r\n",
          "=3D",
          "=4",
          "\r",
          "\n",
          "\r\n",
          " ",
          "\t",
          "A",
          "=a",
          "/",
          "+",
        ),
        fc.string({ unit: "binary", maxLength: 3 }),
      ),
      { maxLength: 60 },
    )
    .map((p) => Buffer.from(p.join(""), "latin1"));

  for (const enc of ["base64", "quoted-printable", "7bit"]) {
    it(`${enc}: chunking never changes the output`, () => {
      fc.assert(
        fc.property(
          fc.oneof(
            soup,
            fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
          ),
          fc.array(fc.nat(), { maxLength: 8 }),
          (buf, cuts) => {
            const whole = decodeAll(buf, enc)!;
            assert.deepEqual(decodeChunks(chunked(buf, cuts), enc), whole);
            // byte by byte too
            const bytes: Buffer[] = [];
            for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1));
            assert.deepEqual(decodeChunks(bytes, enc), whole);
          },
        ),
        { numRuns: RUNS },
      );
    });
  }

  it("base64 round-trips, with line breaks, in any chunking", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.integer({ min: 1, max: 80 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (data, width, cuts) => {
          const b64 = Buffer.from(data).toString("base64");
          const wrapped = Buffer.from(b64.replace(new RegExp(`(.{${width * 4}})`, "g"), "$1\r\n"));
          assert.deepEqual(decodeChunks(chunked(wrapped, cuts), "base64"), Buffer.from(data));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("quoted-printable round-trips in any chunking", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 8 }), (data, cuts) => {
        const encoded = Buffer.from(qpEncode(Buffer.from(data)), "latin1");
        assert.deepEqual(decodeChunks(chunked(encoded, cuts), "quoted-printable"), Buffer.from(data));
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe("HEADER.FIELDS filter", () => {
  const headerLine = fc.oneof(
    fc.constantFrom(
      "Subject: s",
      "subject: t",
      "From: f",
      "X-A: 1",
      " folded",
      "\tfolded",
      "no colon",
      "To : x",
    ),
    fc
      .string({ unit: fc.constantFrom(..."ab:- \t".split("")), maxLength: 8 })
      .filter((s) => s.trim().length > 0),
  );
  it("FIELDS and FIELDS.NOT partition the header; the blank line goes to both", () => {
    fc.assert(
      fc.property(
        fc.array(headerLine, { maxLength: 12 }),
        fc.subarray(["subject", "FROM", "to", "x-a"]),
        fc.boolean(),
        (lines, names, blank) => {
          const header = Buffer.from(lines.map((l) => `${l}\r\n`).join("") + (blank ? "\r\n" : ""));
          const yes = filterHeaderFields(header, names, false);
          const no = filterHeaderFields(header, names, true);
          assert.equal(yes.length + no.length, header.length + (blank ? 2 : 0));
          if (blank) {
            assert.ok(yes.subarray(-2).toString() === "\r\n" && no.subarray(-2).toString() === "\r\n");
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
