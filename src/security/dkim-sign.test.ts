import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import { dkimSignatures, RelaxedBodyHash, relaxedHeader, signingDomainFor } from "./dkim-sign.js";

/**
 * RFC 6376 §3.4.4 written the way dkimpy does it (regular expressions over the whole body), applied to the
 * wire form: bare LF as CRLF, and a final CRLF when the body does not end with one.
 */
function referenceRelaxedBody(body: string): string {
  let s = body.replace(/\r?\n/g, "\r\n");
  if (s.length && !s.endsWith("\r\n")) s += "\r\n";
  s = s.replace(/[\t ]+\r\n/g, "\r\n").replace(/[\t ]+/g, " ");
  s = s.replace(/(\r\n)+$/, "\r\n");
  return s === "\r\n" ? "" : s;
}

function streamingHash(body: string, cuts: number[]): string {
  const h = new RelaxedBodyHash();
  const buf = Buffer.from(body, "latin1");
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(c, buf.length);
    if (to > at) h.update(buf.subarray(at, to));
    at = Math.max(at, to);
  }
  h.update(buf.subarray(at));
  return h.digest();
}

describe("relaxed body canonicalization (RFC 6376 §3.4.4)", () => {
  const sha = (s: string) => createHash("sha256").update(s, "latin1").digest("base64");

  it("matches the RFC's worked cases", () => {
    assert.equal(streamingHash("", []), sha(""));
    assert.equal(streamingHash("\r\n\r\n", []), sha(""));
    assert.equal(streamingHash(" C \r\nD \t E\r\n\r\n\r\n", []), sha(" C\r\nD E\r\n"));
    assert.equal(streamingHash("abc", []), sha("abc\r\n"));
    assert.equal(streamingHash("a\n\n  \nb\n\n", []), sha("a\r\n\r\n\r\nb\r\n"));
  });

  it("equals a whole-body reference for any input and any chunking", () => {
    const body = fc
      .array(fc.constantFrom("a", "b", " ", "\t", "\r", "\n", "\r\n", "é"), { maxLength: 60 })
      .map((a) => a.join(""));
    fc.assert(
      fc.property(body, fc.array(fc.nat({ max: 80 }), { maxLength: 6 }), (b, cuts) => {
        assert.equal(streamingHash(b, cuts), sha(referenceRelaxedBody(b)), JSON.stringify(b));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("relaxed header canonicalization (RFC 6376 §3.4.2)", () => {
  it("lower-cases the name, unfolds and compresses whitespace", () => {
    assert.equal(relaxedHeader("SubJect \t:  hello \t there\r\n\t again  "), "subject:hello there again");
    assert.equal(relaxedHeader("To:x"), "to:x");
    assert.equal(relaxedHeader("X-Empty:   "), "x-empty:");
  });
});

describe("dkimSignatures", () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const keys = [{ domain: "example.test", selector: "s1", algorithm: "ed25519" as const, privateKey }];
  const message =
    "Received: by x\r\nFrom: a@example.test\r\nTo: b@other.test\r\nSubject: hi\r\nX-Other: y\r\n\r\nbody\r\n";
  const now = new Date("2026-01-02T03:04:05Z");

  it("signs the listed fields bottom-up, oversigns From, sets t= and no l=", async () => {
    const sig = await dkimSignatures(Buffer.from(message), keys, { now });
    assert.match(
      sig,
      /^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed\/relaxed; d=example\.test;\r\n s=s1;/,
    );
    assert.match(sig, / t=1767323045;/);
    assert.match(sig.replace(/\r\n /g, ""), /h=from:from:to:subject;/);
    assert.doesNotMatch(sig, /[; ]l=/);
    assert.ok(sig.endsWith("\r\n"));
    for (const line of sig.split("\r\n")) assert.ok(line.length <= 78, line);
  });

  it("gives the same signature for a buffer, a stream in tiny chunks and a prefix + stream", async () => {
    const whole = await dkimSignatures(Buffer.from(message), keys, { now });
    const bytes = Buffer.from(message);
    const tiny = Readable.from([...bytes].map((b) => Buffer.from([b])));
    assert.equal(await dkimSignatures({ body: tiny }, keys, { now }), whole);
    const cut = message.indexOf("\r\n\r\n") + 1;
    const split = { prefix: bytes.subarray(0, cut), body: Readable.from([bytes.subarray(cut)]) };
    assert.equal(await dkimSignatures(split, keys, { now }), whole);
  });

  it("signs LF-only line ends as the CRLF wire form", async () => {
    const crlf = await dkimSignatures(Buffer.from(message), keys, { now });
    const lf = await dkimSignatures(Buffer.from(message.replace(/\r\n/g, "\n")), keys, { now });
    assert.equal(lf, crlf);
  });

  it("handles a message without a body or without any header", async () => {
    const noBody = await dkimSignatures(Buffer.from("From: a@example.test\r\n"), keys, { now });
    assert.match(noBody, /bh=47DEQpj8HBSa\+\/TImW\+5JCeuQeRkm5NMpJWZG3hSuFU=;/);
    const noHeader = await dkimSignatures(Buffer.from("\r\nbody\r\n"), keys, { now });
    assert.match(noHeader.replace(/\r\n /g, ""), /h=from;/);
  });
});

describe("signingDomainFor", () => {
  const local = (d: string) => d === "example.test" || d === "xn--bcher-kva.test";

  it("prefers the From domain when it is local (DMARC alignment)", () => {
    assert.equal(signingDomainFor("Example.TEST", "example.test", local), "example.test");
    assert.equal(signingDomainFor("example.test", "other.test", local), "example.test");
  });

  it("falls back to the envelope sender's domain, else null", () => {
    assert.equal(signingDomainFor("other.test", "example.test", local), "example.test");
    assert.equal(signingDomainFor(null, "example.test", local), "example.test");
    assert.equal(signingDomainFor("other.test", "third.test", local), null);
    assert.equal(signingDomainFor(undefined, null, local), null);
  });

  it("compares A-labels", () => {
    assert.equal(signingDomainFor("bücher.test.", null, local), "xn--bcher-kva.test");
  });
});
