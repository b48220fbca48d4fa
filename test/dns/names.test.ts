// The pure name helpers of the stub resolver: reverse names, query-name normalisation, server syntax.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  addressFromReverseName,
  ipv6Groups,
  nameserversFromResolvConf,
  normalizeName,
  parseServer,
  reverseName,
} from "../../src/dns/names.js";

describe("reverseName", () => {
  it("reverses IPv4 octets under in-addr.arpa", () => {
    assert.equal(reverseName("192.0.2.1"), "1.2.0.192.in-addr.arpa");
  });

  it("writes 32 nibbles under ip6.arpa (RFC 3596 §2.5)", () => {
    assert.equal(
      reverseName("2001:db8::567:89ab"),
      "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    );
    assert.equal(reverseName("::1"), `1.${"0.".repeat(31)}ip6.arpa`);
  });

  it("looks up an IPv4-mapped IPv6 address as IPv4", () => {
    assert.equal(reverseName("::ffff:198.51.100.7"), "7.100.51.198.in-addr.arpa");
  });

  it("handles an embedded IPv4 tail that is not a mapped address", () => {
    assert.deepEqual(ipv6Groups("64:ff9b::192.0.2.33"), [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]);
  });

  it("refuses what is not an address", () => {
    assert.equal(reverseName("example.com"), null);
    assert.equal(reverseName("300.1.1.1"), null);
    assert.equal(reverseName(""), null);
  });

  it("round-trips through addressFromReverseName", () => {
    for (const ip of ["192.0.2.1", "2001:db8::1", "fe80::1:2:3:4"]) {
      const back = addressFromReverseName(reverseName(ip)!);
      assert.equal(reverseName(back!), reverseName(ip), ip);
    }
    assert.equal(addressFromReverseName("4.3.2.1.in-addr.arpa."), "1.2.3.4");
    assert.equal(addressFromReverseName("example.com"), null);
    assert.equal(addressFromReverseName("1.2.3.in-addr.arpa"), null);
  });
});

describe("normalizeName", () => {
  it("lower-cases and drops the trailing dot", () => {
    assert.equal(normalizeName("Mail.Example.COM."), "mail.example.com");
    assert.equal(normalizeName("_dmarc.example.com"), "_dmarc.example.com");
  });

  it("turns an IDN into A-labels", () => {
    assert.equal(normalizeName("bücher.example"), "xn--bcher-kva.example");
  });

  it("refuses names that cannot exist (RFC 1035 §2.3.4)", () => {
    assert.equal(normalizeName(""), null);
    assert.equal(normalizeName("."), null);
    assert.equal(normalizeName("a..b"), null);
    assert.equal(normalizeName(`${"x".repeat(64)}.example`), null);
    assert.equal(normalizeName(`${"abcdefghi.".repeat(26)}com`), null);
    assert.equal(normalizeName(`${"x".repeat(63)}.example`), `${"x".repeat(63)}.example`);
  });
});

describe("parseServer", () => {
  it("takes the dns.servers forms", () => {
    assert.deepEqual(parseServer("192.0.2.53"), { host: "192.0.2.53", port: 53, family: 4 });
    assert.deepEqual(parseServer("127.0.0.1:5353"), { host: "127.0.0.1", port: 5353, family: 4 });
    assert.deepEqual(parseServer("[::1]:5353"), { host: "::1", port: 5353, family: 6 });
    assert.deepEqual(parseServer("2001:db8::53"), { host: "2001:db8::53", port: 53, family: 6 });
  });

  it("refuses names and bad ports", () => {
    for (const bad of [
      "dns.example",
      "dns.example:53",
      "127.0.0.1:0",
      "127.0.0.1:65536",
      "[127.0.0.1]:53",
      "",
    ]) {
      assert.equal(parseServer(bad), null, bad);
    }
  });

  it("reads the nameserver lines of resolv.conf", () => {
    const text =
      "# comment\nsearch example.com\nnameserver 192.0.2.1\nnameserver  2001:db8::1 \nnameserver bogus\n";
    assert.deepEqual(nameserversFromResolvConf(text), ["192.0.2.1", "2001:db8::1"]);
  });
});
