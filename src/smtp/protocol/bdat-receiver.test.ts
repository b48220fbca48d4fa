import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BdatReceiver, type BdatVerdict } from "./bdat-receiver.js";
import { sameForEveryChunking } from "./testkit.js";

interface Got {
  content: string;
  done: boolean;
  remainder: string;
  verdict: BdatVerdict;
}

/** Receive one chunk of `size` octets out of `chunks`, like a session after "BDAT size". */
function receive(chunks: readonly Buffer[], size: number, maxSize?: number, prior?: BdatReceiver): Got {
  const r = prior ?? new BdatReceiver(maxSize === undefined ? {} : { maxSize });
  r.begin(size);
  const content: Buffer[] = [];
  const rest: Buffer[] = [];
  let done = false;
  for (const c of chunks) {
    if (done) {
      rest.push(c);
      continue;
    }
    const res = r.push(c);
    content.push(...res.chunks);
    if (res.done) {
      done = true;
      rest.push(res.remainder);
    }
  }
  return {
    content: Buffer.concat(content).toString("latin1"),
    done,
    remainder: Buffer.concat(rest).toString("latin1"),
    verdict: r.verdict,
  };
}

describe("BdatReceiver", () => {
  const cases: [string, string, number, number | undefined, Got][] = [
    [
      "takes exactly n octets, binary, no unstuffing, no terminator",
      "..\r\n.\r\n\n\rXBDAT 0 LAST\r\n",
      9,
      undefined,
      {
        content: "..\r\n.\r\n\n\r",
        done: true,
        remainder: "XBDAT 0 LAST\r\n",
        verdict: { size: 9, tooBig: false, eightBit: false },
      },
    ],
    [
      "incomplete chunk",
      "abc",
      10,
      undefined,
      { content: "abc", done: false, remainder: "", verdict: { size: 3, tooBig: false, eightBit: false } },
    ],
    [
      "8-bit octets recorded",
      "caf\xe9QUIT\r\n",
      4,
      undefined,
      {
        content: "caf\xe9",
        done: true,
        remainder: "QUIT\r\n",
        verdict: { size: 4, tooBig: false, eightBit: true },
      },
    ],
    [
      "size limit: drained beyond it, too big",
      "0123456789RSET\r\n",
      10,
      4,
      {
        content: "0123",
        done: true,
        remainder: "RSET\r\n",
        verdict: { size: 10, tooBig: true, eightBit: false },
      },
    ],
  ];
  for (const [name, input, size, max, expected] of cases) {
    it(name, () => {
      assert.deepEqual(
        sameForEveryChunking(input, (chunks) => receive(chunks, size, max)),
        expected,
      );
    });
  }

  it("BDAT 0: done at once, everything is remainder", () => {
    const r = new BdatReceiver();
    r.begin(0);
    const res = r.push(Buffer.from("QUIT\r\n"));
    assert.equal(res.done, true);
    assert.equal(res.done && res.remainder.toString(), "QUIT\r\n");
  });

  it("the size limit applies to the sum of a transaction's chunks; reset clears it", () => {
    const r = new BdatReceiver({ maxSize: 6 });
    const a = receive([Buffer.from("abcd")], 4, undefined, r);
    assert.equal(a.content, "abcd");
    const b = receive([Buffer.from("efgh")], 4, undefined, r);
    assert.equal(b.content, "ef");
    assert.deepEqual(r.verdict, { size: 8, tooBig: true, eightBit: false });
    r.reset();
    assert.deepEqual(r.verdict, { size: 0, tooBig: false, eightBit: false });
    assert.equal(r.remaining, 0);
  });

  it("rejects a nonsensical chunk size from the caller", () => {
    assert.throws(() => new BdatReceiver().begin(-1), RangeError);
    assert.throws(() => new BdatReceiver().begin(1.5), RangeError);
  });
});
