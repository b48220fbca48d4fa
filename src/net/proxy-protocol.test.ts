import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseProxyHeader } from "./proxy-protocol.js";

function v2(famProto: number, addr: Buffer, cmd = 1, tlv = Buffer.alloc(0)): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const hdr = Buffer.alloc(4);
  hdr[0] = 0x20 | cmd;
  hdr[1] = famProto;
  hdr.writeUInt16BE(addr.length + tlv.length, 2);
  return Buffer.concat([sig, hdr, addr, tlv]);
}

describe("PROXY protocol", () => {
  it("parses v1 TCP4 and TCP6 and returns the rest", () => {
    const r = parseProxyHeader(Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n"));
    assert.equal(r.kind, "done");
    if (r.kind !== "done") return;
    assert.deepEqual(r.header, {
      command: "PROXY",
      family: "IPv4",
      sourceAddress: "192.0.2.1",
      sourcePort: 56324,
      destAddress: "198.51.100.2",
      destPort: 25,
    });
    assert.equal(r.rest.toString(), "EHLO x\r\n");
    const r6 = parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::1 2001:db8::2 1000 993\r\n"));
    assert.equal(r6.kind === "done" && r6.header.sourceAddress, "2001:db8::1");
    const u = parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n"));
    assert.equal(u.kind === "done" && u.header.family, "unknown");
  });

  it("rejects malformed v1 headers and non-PROXY starts", () => {
    for (const bad of [
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
      "PROXY TCP4 300.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "EHLO example.com\r\n",
      `PROXY TCP4 ${"1".repeat(120)}`,
    ]) {
      assert.equal(parseProxyHeader(Buffer.from(bad)).kind, "error", bad);
    }
  });

  it("parses v2 IPv4, IPv6 and LOCAL, skipping TLVs", () => {
    const a4 = Buffer.from([192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0, 25]);
    const r = parseProxyHeader(
      Buffer.concat([v2(0x11, a4, 1, Buffer.from([1, 0, 2, 0x68, 0x32])), Buffer.from("rest")]),
    );
    assert.equal(r.kind, "done");
    if (r.kind === "done") {
      assert.equal(r.header.sourceAddress, "192.0.2.1");
      assert.equal(r.header.sourcePort, 0xdc04);
      assert.equal(r.rest.toString(), "rest");
    }
    const a6 = Buffer.alloc(36);
    a6[0] = 0x20;
    a6[1] = 0x01;
    a6[15] = 1;
    a6.writeUInt16BE(4242, 32);
    const r6 = parseProxyHeader(v2(0x21, a6));
    assert.equal(r6.kind === "done" && r6.header.sourceAddress, "2001::1");
    const local = parseProxyHeader(v2(0x00, Buffer.alloc(0), 0));
    assert.equal(local.kind === "done" && local.header.command, "LOCAL");
  });

  it("gives the same answer for every split of the input", () => {
    const inputs = [
      Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nX"),
      Buffer.concat([v2(0x11, Buffer.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2])), Buffer.from("X")]),
    ];
    for (const input of inputs) {
      const full = parseProxyHeader(input);
      // every strict prefix of the header (the input minus its last byte, "X") needs more
      for (let i = 0; i < input.length - 1; i++) {
        const partial = parseProxyHeader(input.subarray(0, i));
        assert.equal(partial.kind, "need-more", `prefix of ${i} bytes`);
      }
      assert.equal(full.kind, "done");
    }
  });

  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        parseProxyHeader(Buffer.from(bytes));
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
