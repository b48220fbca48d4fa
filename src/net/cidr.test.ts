import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NetworkSet, ipBytes, networkKey, parseNetwork } from "./cidr.js";

describe("cidr", () => {
  it("parses and canonicalises networks", () => {
    assert.equal(parseNetwork("192.0.2.77/24")?.text, "192.0.2.0/24");
    assert.equal(parseNetwork("192.0.2.7")?.text, "192.0.2.7/32");
    assert.equal(parseNetwork("2001:DB8:0:0:1::/32")?.text, "2001:db8::/32");
    assert.equal(parseNetwork("::1")?.text, "::1/128");
    assert.equal(parseNetwork("::ffff:10.1.2.3/8")?.text, "10.0.0.0/8");
    for (const bad of ["", "10.0.0.0/33", "2001:db8::/129", "example.org", "10.0.0/8", "1.2.3.4/x", "1.2.3.4/ 8x"]) {
      assert.equal(parseNetwork(bad), null, bad);
    }
  });

  it("matches addresses, IPv4-mapped IPv6 as IPv4, never across families", () => {
    const set = new NetworkSet(["127.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"]);
    assert.equal(set.has("::ffff:127.0.0.1"), true);
    assert.equal(set.has("2001:db8:ffff::1"), true);
    assert.equal(set.has("2001:db9::1"), false);
    const v4 = new NetworkSet(["10.0.0.0/8"]);
    assert.equal(v4.has("10.255.0.1"), true);
    assert.equal(v4.has("11.0.0.1"), false);
    assert.equal(v4.has("::a00:1"), false, "an IPv6 address is not in an IPv4 network");
    assert.equal(new NetworkSet([]).has("10.0.0.1"), false);
  });

  it("keys addresses by /24 and /48", () => {
    assert.equal(networkKey("192.0.2.200"), "192.0.2.0/24");
    assert.equal(networkKey("::ffff:192.0.2.200"), "192.0.2.0/24");
    assert.equal(networkKey("2001:db8:1:2:3::9"), "2001:db8:1::/48");
    assert.equal(networkKey("not an ip"), "not an ip");
    assert.deepEqual(Array.from(ipBytes("::1.2.3.4") ?? []), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  });
});
