import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  isAddressLiteral,
  isDomain,
  isDotString,
  isIPv4,
  isIPv6,
  parseMailbox,
  parsePath,
} from "./address.js";

describe("address literals (RFC 5321 §4.1.3)", () => {
  it("IPv4", () => {
    for (const ok of ["0.0.0.0", "192.0.2.1", "255.255.255.255", "01.002.3.4"]) assert.ok(isIPv4(ok), ok);
    for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.", "a.b.c.d", "1234.1.1.1", ""]) {
      assert.equal(isIPv4(bad), false, bad);
    }
  });

  it("IPv6", () => {
    const good = [
      "2001:db8:0:0:0:0:0:1",
      "2001:db8::1",
      "::1",
      "::",
      "1::",
      "1:2:3:4:5:6::",
      "::ffff:192.0.2.1",
      "1:2:3:4:5:6:192.0.2.1",
      "1:2:3:4::192.0.2.1",
      "ABCD:ef01::",
    ];
    for (const ok of good) assert.ok(isIPv6(ok), ok);
    const bad = [
      "",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      ":::",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7::", // "::" must replace at least 2 groups
      "1:2:3:4:5::192.0.2.1",
      "12345::",
      "g::",
      "::192.0.2",
      "1.2.3.4",
      "fe80::1%eth0",
    ];
    for (const b of bad) assert.equal(isIPv6(b), false, b);
  });

  it("general literals and brackets", () => {
    assert.ok(isAddressLiteral("[IPv6:::1]"));
    assert.ok(isAddressLiteral("[ipv6:::1]"));
    assert.ok(isAddressLiteral("[tag:v@lue]"));
    for (const bad of ["[]", "[tag:]", "[tag:a]b]", "[-tag:x]", "192.0.2.1", "[192.0.2.1", "[:x]"]) {
      assert.equal(isAddressLiteral(bad), false, bad);
    }
  });
});

describe("domains and local parts", () => {
  it("LDH labels; U-labels only with utf8", () => {
    for (const ok of ["a", "example.com", "a-b.c0", "1.2.3.4", "xn--bcher-kva.example"])
      assert.ok(isDomain(ok, false), ok);
    for (const bad of [
      "",
      ".a",
      "a.",
      "a..b",
      "-a",
      "a-",
      "a_b",
      "a b",
      "bücher.example",
      `${"a".repeat(64)}.b`,
    ]) {
      assert.equal(isDomain(bad, false), false, bad);
    }
    assert.ok(isDomain("bücher.example", true));
    assert.ok(isDomain("例え.テスト", true));
    assert.equal(isDomain("a。b", true), false); // no UTS #46 dot mapping
    assert.equal(isDomain("a\u200db.example", true), false);
    assert.ok(isDomain("a_b", false, true));
  });

  it("dot-strings", () => {
    for (const ok of ["a", "a.b", "!#$%&'*+-/=?^_`{|}~", "δοκιμή"]) assert.ok(isDotString(ok), ok);
    for (const bad of ["", ".", "a.", ".a", "a..b", "a b", "a@b", 'a"b', "a\\b", "\ud800"]) {
      assert.equal(isDotString(bad), false, bad);
    }
  });

  it("parseMailbox (bare, for AUTH=)", () => {
    assert.deepEqual(parseMailbox("a@b.example", false), {
      local: "a",
      domain: "b.example",
      address: "a@b.example",
      utf8: false,
    });
    assert.equal(parseMailbox("δ@b.example", false), null);
    assert.equal(parseMailbox("postmaster", false), null);
    assert.equal(parseMailbox("<a@b.example>", false), null);
  });

  it("parsePath reports where the path ends", () => {
    const r = parsePath('x <"a>b"@c.example> SIZE=1', 2, { utf8: false });
    assert.ok(r.ok);
    assert.equal(r.end, 19);
  });
});
