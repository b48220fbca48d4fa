// Property tests of the MIME parser and header helpers. Bounded for CI: FUZZ_RUNS runs per
// property (default 200); `npm run fuzz` runs many more.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAddressList } from "../../src/mail/envelope.js";
import {
  decodeWords,
  parseContentDisposition,
  parseContentType,
  splitHeaderFields,
} from "../../src/mail/header.js";
import { MimeParser, type MimeParseResult, type MimeParserOptions } from "../../src/mail/mime-parser.js";
import type { MimeNode } from "../../src/mail/mime-types.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);

interface Run {
  result: MimeParseResult;
  text: Record<number, string>;
}

function parseChunks(chunks: Uint8Array[], opts: Omit<MimeParserOptions, "onText"> = {}): Run {
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

function splitAt(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function countLf(b: Uint8Array): number {
  let n = 0;
  for (const c of b) if (c === 10) n++;
  return n;
}

/** Offsets nest and are ordered; bodyLines is the LF count; returns the node count. */
function checkTree(node: MimeNode, buf: Uint8Array, min: number, max: number, depth = 0): number {
  assert.ok(min <= node.headerStart && node.headerStart <= node.headerEnd, "header start");
  assert.equal(node.headerEnd, node.bodyStart);
  assert.ok(node.bodyStart <= node.bodyEnd && node.bodyEnd <= max, "body within parent");
  assert.equal(node.bodyLines, countLf(buf.subarray(node.bodyStart, node.bodyEnd)));
  assert.ok(depth <= 100, "depth limit");
  let count = 1;
  let prev = node.bodyStart;
  for (const c of node.children) {
    count += checkTree(c, buf, prev, node.bodyEnd, depth + 1);
    prev = c.bodyEnd;
  }
  if (node.message) {
    assert.equal(node.message.headerStart, node.bodyStart);
    assert.equal(node.message.bodyEnd, node.bodyEnd);
    count += checkTree(node.message, buf, node.bodyStart, node.bodyEnd, depth + 1);
  }
  return count;
}

function noInternalError(r: MimeParseResult): void {
  assert.ok(!r.defects.some((d) => d.startsWith("internal")), r.defects.join("; "));
}

// Byte soup that often forms MIME structure, so the fuzzer gets past the first header.
const TOKENS = [
  "\r\n",
  "\n",
  "\r",
  "\r\n\r\n",
  " ",
  "\t",
  ":",
  "x",
  "--",
  "--a",
  "--a--",
  "--b",
  "--b--",
  "--a \r\n",
  "Content-Type: multipart/mixed; boundary=a\r\n",
  "Content-Type: multipart/digest; boundary=b\r\n",
  'Content-Type: multipart/alternative;\r\n boundary="b"\r\n',
  "Content-Type: message/rfc822\r\n",
  "Content-Type: message/global\r\n",
  "Content-Type: text/html; charset=iso-8859-1\r\n",
  "Content-Type: text/plain; charset=utf-8\r\n",
  "Content-Type: multipart/mixed\r\n",
  "Content-Transfer-Encoding: base64\r\n",
  "Content-Transfer-Encoding: quoted-printable\r\n",
  "Subject: =?utf-8?q?a=C3?= =?utf-8?b?pA==?=\r\n",
  "From: a <b@c>, g: d@e;\r\n",
  "<p>&amp;&#x41;<script>",
  "</script>",
  "=3D",
  "=\r\n",
  "SGVsbG8=",
  "\u00e4",
  "\xff",
];

const mimeSoup = fc
  .array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 8 })), { maxLength: 150 })
  .map((parts) => Buffer.from(parts.join(""), "latin1"));

const anyInput = fc.oneof(fc.uint8Array({ maxLength: 2000 }), mimeSoup);

// ---------------------------------------------------------------------------------------------
// Generated well-formed trees

type Tree =
  | { kind: "leaf"; type: string; lines: string[] }
  | {
      kind: "multipart";
      subtype: string;
      preamble: string[] | null;
      epilogue: string[] | null;
      children: Tree[];
    }
  | { kind: "message"; inner: Tree };

// Body lines never start with "-", so they cannot be delimiters.
const bodyLine = fc
  .string({ unit: fc.constantFrom(..."abc xyz-=:;<>.,\t\u00e9\u20ac".split("")), maxLength: 20 })
  .map((s) => (s.startsWith("-") ? `x${s}` : s));
const lines = fc.array(bodyLine, { maxLength: 4 });

const { tree } = fc.letrec<{ tree: Tree; leaf: Tree; multipart: Tree; message: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("leaf"),
    tie("multipart"),
    tie("message"),
  ),
  leaf: fc.record({
    kind: fc.constant("leaf" as const),
    type: fc.constantFrom("text/plain", "TEXT/Html", "application/octet-stream", "image/png"),
    lines,
  }),
  multipart: fc.record({
    kind: fc.constant("multipart" as const),
    subtype: fc.constantFrom("mixed", "alternative", "related", "digest"),
    preamble: fc.option(lines, { nil: null }),
    epilogue: fc.option(lines, { nil: null }),
    children: fc.array(tie("tree"), { minLength: 1, maxLength: 4 }),
  }),
  message: fc.record({ kind: fc.constant("message" as const), inner: tie("tree") }),
}));

interface Expect {
  type: string;
  header: string;
  body: string;
  subject: string | null;
  children: Expect[];
  message: Expect | null;
}

/** Serialises a tree, returning the bytes and what the parser must find. */
function serialize(t: Tree, eol: string, prefix: string, isMessage: boolean, counter: { n: number }): Expect {
  const id = counter.n++;
  const subject = isMessage ? `message ${id}` : null;
  const head = (ct: string) =>
    `${subject !== null ? `Subject: ${subject}${eol}` : ""}X-Id: ${id}${eol}${ct}${eol}${eol}`;
  if (t.kind === "leaf") {
    const body = t.lines.join(eol);
    return {
      type: t.type.toLowerCase(),
      header: head(`Content-Type: ${t.type}`),
      body,
      subject,
      children: [],
      message: null,
    };
  }
  if (t.kind === "message") {
    const inner = serialize(t.inner, eol, prefix, true, counter);
    return {
      type: "message/rfc822",
      header: head("Content-Type: message/rfc822"),
      body: inner.header + inner.body,
      subject,
      children: [],
      message: inner,
    };
  }
  // boundaries end in "Z" and carry a unique number: none is another one plus "--" or padding
  const boundary = `${prefix}_${id}Z`;
  const children = t.children.map((c) => serialize(c, eol, prefix, false, counter));
  let body = t.preamble !== null ? t.preamble.join(eol) + eol : "";
  for (const c of children) body += `--${boundary}${eol}${c.header}${c.body}${eol}`;
  body += `--${boundary}--`;
  if (t.epilogue !== null) body += eol + t.epilogue.join(eol);
  return {
    type: `multipart/${t.subtype}`,
    header: head(`Content-Type: multipart/${t.subtype};${eol}\tboundary="${boundary}"`),
    body,
    subject,
    children,
    message: null,
  };
}

function compare(exp: Expect, node: MimeNode, buf: Buffer, path: string): void {
  assert.equal(`${node.contentType.type}/${node.contentType.subtype}`, exp.type, `${path} type`);
  assert.equal(buf.subarray(node.headerStart, node.headerEnd).toString(), exp.header, `${path} header`);
  assert.equal(buf.subarray(node.bodyStart, node.bodyEnd).toString(), exp.body, `${path} body`);
  if (exp.subject !== null) assert.equal(node.envelope?.subject, exp.subject, `${path} subject`);
  assert.equal(node.children.length, exp.children.length, `${path} children`);
  for (const [i, c] of exp.children.entries()) compare(c, node.children[i]!, buf, `${path}.${i + 1}`);
  if (exp.message) compare(exp.message, node.message!, buf, `${path} message`);
  else assert.equal(node.message, null);
}

// ---------------------------------------------------------------------------------------------

describe("MIME parser properties", () => {
  it("(a) never throws on arbitrary bytes; invariants hold", () => {
    fc.assert(
      fc.property(anyInput, (buf) => {
        const { result } = parseChunks([buf]);
        noInternalError(result);
        assert.equal(result.size, buf.length);
        checkTree(result.root, buf, 0, buf.length);
        JSON.stringify(result);
      }),
      { numRuns: RUNS },
    );
  });

  it("(b) the result does not depend on chunking", () => {
    fc.assert(
      fc.property(anyInput, fc.array(fc.nat(), { maxLength: 20 }), (buf, cuts) => {
        const whole = parseChunks([buf]);
        assert.deepEqual(parseChunks(splitAt(buf, cuts)), whole);
      }),
      { numRuns: RUNS },
    );
  });

  it("(c) generated trees parse back to their structure and exact bodies", () => {
    const prefix = fc.string({ unit: fc.constantFrom(..."abcXYZ019'()+_,-./:=? ".split("")), maxLength: 40 });
    fc.assert(
      fc.property(
        tree,
        fc.constantFrom("\r\n", "\n"),
        prefix,
        fc.array(fc.nat(), { maxLength: 8 }),
        (t, eol, pre, cuts) => {
          const exp = serialize(t, eol, pre, true, { n: 0 });
          const buf = Buffer.from(exp.header + exp.body);
          const run = parseChunks(splitAt(buf, cuts));
          assert.deepEqual(run.result.defects, []);
          compare(exp, run.result.root, buf, "root");
          checkTree(run.result.root, buf, 0, buf.length);
          assert.deepEqual(run, parseChunks([buf]));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("header helpers never throw on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        parseAddressList(s);
        parseContentType(s);
        parseContentDisposition(s);
        decodeWords(s);
        splitHeaderFields(Buffer.from(s));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("MIME parser limits", () => {
  const nestedMultiparts = (levels: number) => {
    let s = "";
    for (let i = 0; i < levels; i++)
      s += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
    s += "\r\nleaf\r\n";
    for (let i = levels - 1; i >= 0; i--) s += `--b${i}--\r\n`;
    return Buffer.from(s);
  };

  const depthOf = (n: MimeNode): number => {
    let d = 0;
    for (let cur: MimeNode | undefined = n; cur; cur = cur.children[0] ?? cur.message ?? undefined) d++;
    return d - 1;
  };

  it("(d) 1,000 nested multiparts: depth capped at maxDepth, no stack overflow", () => {
    const buf = nestedMultiparts(1000);
    const { result } = parseChunks(splitAt(buf, [7, 5000, 20001]));
    assert.equal(depthOf(result.root), 100);
    assert.ok(
      result.defects.includes(
        "part 1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1: nested deeper than 100: not parsed",
      ),
    );
    checkTree(result.root, buf, 0, buf.length);
    assert.equal(result.root.bodyEnd, buf.length);
  });

  it("(d) 1,000 nested message/rfc822 parts: depth capped", () => {
    const buf = Buffer.from(
      `${"Content-Type: message/rfc822\r\n\r\n".repeat(1000)}Subject: deep\r\n\r\nbody\r\n`,
    );
    const { result } = parseChunks([buf]);
    assert.equal(depthOf(result.root), 100);
    assert.ok(result.defects.some((d) => d.endsWith("nested deeper than 100: not parsed")));
    checkTree(result.root, buf, 0, buf.length);
  });

  it("(d) 20,000 parts: capped at maxParts", () => {
    const flat = `Content-Type: multipart/mixed; boundary=p\r\n\r\n${"--p\r\n\r\nx\r\n".repeat(20_000)}--p--\r\n`;
    // 200 multiparts of 100 parts each
    const inner = `${"--q\r\n\r\ny\r\n".repeat(100)}--q--\r\n`;
    const nested = `Content-Type: multipart/mixed; boundary=p\r\n\r\n${`--p\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n${inner}`.repeat(200)}--p--\r\n`;
    for (const s of [flat, nested]) {
      const buf = Buffer.from(s);
      const { result } = parseChunks([buf]);
      assert.equal(checkTree(result.root, buf, 0, buf.length), 10_000);
      assert.ok(result.defects.some((d) => d.includes("more than 10000 parts")));
      assert.equal(result.root.bodyEnd, buf.length);
    }
  });
});
