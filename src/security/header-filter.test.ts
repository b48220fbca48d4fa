import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthResultsFilter, filterAuthResults } from "./header-filter.js";

const ID = "mx.example.net";

function run(input: Buffer, cuts: number[], maxHeaderBytes = 64 * 1024): { out: Buffer; removed: number } {
  const f = new AuthResultsFilter({ authservId: ID, maxHeaderBytes });
  const parts: Buffer[] = [];
  let at = 0;
  for (const c of cuts) {
    parts.push(f.push(input.subarray(at, c)));
    at = c;
  }
  parts.push(f.push(input.subarray(at)), f.end());
  return { out: Buffer.concat(parts), removed: f.removed };
}

/** The same result whole, byte by byte, and split in two at every byte boundary (DESIGN.md §8). */
function filterEverySplit(input: string, maxHeaderBytes?: number): { out: string; removed: number } {
  const buf = Buffer.from(input, "latin1");
  const whole = run(buf, [], maxHeaderBytes);
  const bytewise = run(
    buf,
    Array.from({ length: buf.length }, (_, i) => i),
    maxHeaderBytes,
  );
  assert.equal(bytewise.out.toString("latin1"), whole.out.toString("latin1"), "byte by byte");
  assert.equal(bytewise.removed, whole.removed);
  for (let i = 0; i <= buf.length; i++) {
    const r = run(buf, [i], maxHeaderBytes);
    assert.equal(r.out.toString("latin1"), whole.out.toString("latin1"), `split at ${i}`);
    assert.equal(r.removed, whole.removed, `split at ${i}`);
  }
  return { out: whole.out.toString("latin1"), removed: whole.removed };
}

const BODY = "\r\nBody line\r\nAuthentication-Results: mx.example.net; dkim=pass\r\n";

interface Case {
  name: string;
  header: string;
  /** the header expected out; same as header when omitted */
  want?: string;
  removed: number;
  body?: string;
}

const cases: Case[] = [
  {
    name: "keeps everything when no field claims our id",
    header:
      "Received: from x\r\nAuthentication-Results: other.example; spf=pass\r\nARC-Authentication-Results: i=1; mx.example.net; dkim=pass\r\nSubject: hi\r\n",
    removed: 0,
  },
  {
    name: "removes a field with our id, with its folded lines",
    header:
      "Received: from x\r\nAuthentication-Results: mx.example.net;\r\n\tdkim=pass header.d=bank.example;\r\n dmarc=pass\r\nSubject: hi\r\n",
    want: "Received: from x\r\nSubject: hi\r\n",
    removed: 1,
  },
  {
    name: "matches case-insensitively, after comments, quoted, with a trailing dot",
    header:
      "authentication-results: MX.Example.Net; spf=pass\r\n" +
      "Authentication-Results: (forged (nested)) mx.example.net; dkim=pass\r\n" +
      'AUTHENTICATION-RESULTS: "mx.example.net"; dkim=pass\r\n' +
      "Authentication-Results:\r\n mx.example.net.;\r\n dkim=pass\r\n" +
      "Authentication-Results : mx.example.net; dkim=pass\r\n" +
      // not valid (no fold before the colon), but a reader that unfolds first sees the field
      "Authentication-Results\r\n : mx.example.net; dkim=pass\r\n" +
      "To: bob@example.net\r\n",
    want: "To: bob@example.net\r\n",
    removed: 6,
  },
  {
    name: "keeps fields that only look alike",
    header:
      "Authentication-Results: mx.example.net.evil; spf=pass\r\n" +
      "Authentication-Results: evil.mx.example.net; spf=pass\r\n" +
      "Authentication-Results-Original: mx.example.net; spf=pass\r\n" +
      "X-Authentication-Results: mx.example.net; spf=pass\r\n" +
      "Authentication-Results: ; mx.example.net\r\n" +
      "Subject: Authentication-Results: mx.example.net;\r\n" +
      " Authentication-Results: mx.example.net; dkim=pass\r\n",
    removed: 0,
  },
  {
    name: "removes a field whose id cannot be read (unclosed comment)",
    header: "Authentication-Results: (mx.example.net; dkim=pass\r\nSubject: x\r\n",
    want: "Subject: x\r\n",
    removed: 1,
  },
  {
    name: "several in a row, first and last field",
    header:
      "Authentication-Results: mx.example.net; a=pass\r\nAuthentication-Results: mx.example.net; b=pass\r\nFrom: a@b\r\nAuthentication-Results: mx.example.net; c=pass\r\n",
    want: "From: a@b\r\n",
    removed: 3,
  },
  {
    name: "bare LF line ends",
    header: "From: a@b\nAuthentication-Results: mx.example.net;\n dkim=pass\nSubject: s\n",
    want: "From: a@b\nSubject: s\n",
    removed: 1,
    body: "\nbody\nAuthentication-Results: mx.example.net; x=y\n",
  },
  {
    name: "mixed CRLF and LF",
    header: "From: a@b\r\nAuthentication-Results: mx.example.net; x=y\nSubject: s\r\n",
    want: "From: a@b\r\nSubject: s\r\n",
    removed: 1,
  },
  {
    name: "lines that are no fields pass through",
    header:
      "From someone Mon Jan  1 00:00:00 2026\r\n garbage continuation\r\nno colon here\r\n\rstray CR line\r\nAuthentication-Results: mx.example.net; x=y\r\n",
    want: "From someone Mon Jan  1 00:00:00 2026\r\n garbage continuation\r\nno colon here\r\n\rstray CR line\r\n",
    removed: 1,
  },
  {
    name: "a message that starts with a continuation line",
    header: " leading\r\nAuthentication-Results: mx.example.net; x=y\r\nA: b\r\n",
    want: " leading\r\nA: b\r\n",
    removed: 1,
  },
  {
    name: "no header at all",
    header: "",
    removed: 0,
    body: "\r\nAuthentication-Results: mx.example.net; x=y\r\n",
  },
];

describe("AuthResultsFilter (RFC 8601 §5)", () => {
  for (const c of cases) {
    it(c.name, () => {
      const body = c.body ?? BODY;
      const r = filterEverySplit(c.header + body);
      assert.equal(r.out, (c.want ?? c.header) + body);
      assert.equal(r.removed, c.removed);
    });
  }

  it("a message without a header/body separator: the last field ends at end of message", () => {
    const r = filterEverySplit("From: a@b\r\nAuthentication-Results: mx.example.net; x=y");
    assert.equal(r.out, "From: a@b\r\n");
    assert.equal(r.removed, 1);
    const k = filterEverySplit("From: a@b\r\nAuthentication-Results: other; x=y");
    assert.equal(k.out, "From: a@b\r\nAuthentication-Results: other; x=y");
    assert.equal(filterEverySplit("From: a@b\r\n\r").out, "From: a@b\r\n\r");
    assert.equal(filterEverySplit("Authentication-Results: mx.example.net").removed, 1);
  });

  it("passes kept fields on before the header ends (no whole-header buffering)", () => {
    const f = new AuthResultsFilter({ authservId: ID, maxHeaderBytes: 1024 });
    assert.equal(f.push(Buffer.from("Subject: hello")).toString(), "Subject: hello");
    assert.equal(f.push(Buffer.from(" world\r\nTo")).toString(), " world\r\n");
    assert.equal(
      f.push(Buffer.from(": x\r\nAuthentication-Results: mx.example.net;")).toString(),
      "To: x\r\n",
    );
    assert.equal(f.push(Buffer.from(" spf=pass\r\n")).toString(), "");
    assert.equal(f.push(Buffer.from("\r\nbody")).toString(), "\r\nbody");
    assert.equal(f.end().length, 0);
    assert.equal(f.removed, 1);
  });

  it("returns body chunks as they are, without copying", () => {
    const f = new AuthResultsFilter({ authservId: ID, maxHeaderBytes: 1024 });
    f.push(Buffer.from("A: b\r\n\r\n"));
    const chunk = Buffer.from("Authentication-Results: mx.example.net; x=y\r\n");
    assert.equal(f.push(chunk), chunk);
  });

  it("a huge header cannot hide a forged field (padding before it)", () => {
    const padding = Array.from({ length: 2000 }, (_, i) => `X-Pad-${i}: ${"p".repeat(60)}\r\n`).join("");
    const input = `${padding}Authentication-Results: mx.example.net; dkim=pass\r\n\r\nbody`;
    const { message, removed } = filterAuthResults(Buffer.from(input), {
      authservId: ID,
      maxHeaderBytes: 1024,
    });
    assert.equal(message.toString(), `${padding}\r\nbody`);
    assert.equal(removed, 1);
  });

  it("maxHeaderBytes bounds what is held of one field", () => {
    // a long kept field: judged by its name, passed on at once
    const long = `Subject: ${"s".repeat(300)}\r\n`;
    assert.equal(filterEverySplit(`${long}\r\nb`, 100).out, `${long}\r\nb`);
    // a long A-R field whose id is readable early: judged on the prefix
    const other = `Authentication-Results: other.example; ${"x=y ".repeat(100)}\r\n`;
    assert.deepEqual(filterEverySplit(`${other}\r\nb`, 100), { out: `${other}\r\nb`, removed: 0 });
    const ours = `Authentication-Results: mx.example.net; ${"x=y ".repeat(100)}\r\nA: b\r\n`;
    assert.deepEqual(filterEverySplit(`${ours}\r\nb`, 100), { out: "A: b\r\n\r\nb", removed: 1 });
    // the id hidden behind a comment longer than the limit: removed, it might be ours
    const hidden = `Authentication-Results: (${"c".repeat(200)}) other.example; x=y\r\nA: b\r\n`;
    assert.deepEqual(filterEverySplit(`${hidden}\r\nb`, 100), { out: "A: b\r\n\r\nb", removed: 1 });
    // the same field within the limit is judged by its real id
    assert.deepEqual(filterEverySplit(`${hidden}\r\nb`, 1000), { out: `${hidden}\r\nb`, removed: 0 });
    // a name padded with whitespace past the limit
    const padded = `Authentication-Results${" ".repeat(200)}: mx.example.net; x=y\r\nA: b\r\n`;
    assert.deepEqual(filterEverySplit(`${padded}\r\nb`, 100), { out: "A: b\r\n\r\nb", removed: 1 });
    // a first line without a colon longer than the limit
    const junk = `${"j".repeat(300)}\r\nA: b\r\n`;
    assert.deepEqual(filterEverySplit(`${junk}\r\nb`, 100), { out: `${junk}\r\nb`, removed: 0 });
  });
});
