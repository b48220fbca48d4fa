import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DnsError, type DnsErrorKind, type DnsResolver, type DnsResult } from "../dns/types.js";
import { canonicalIp, checkIprev, MAX_PTR_NAMES } from "./iprev.js";

type Answer = string[] | DnsErrorKind;

/** An in-memory resolver: "PTR ip", "A name", "AAAA name" → records or an error kind; else NXDOMAIN. */
function fakeResolver(zone: Record<string, Answer>, asked: string[] = []): DnsResolver {
  const lookup = async (type: string, name: string): Promise<DnsResult<string>> => {
    asked.push(`${type} ${name}`);
    const key = (t: string, n: string) => `${t} ${t === "PTR" ? canonicalIp(n) : n}`;
    const a = Object.entries(zone).find(([k]) => {
      const [t, n] = k.split(" ") as [string, string];
      return key(t, n) === key(type, name);
    })?.[1];
    if (a === undefined) throw new DnsError("nxdomain", name, type);
    if (typeof a === "string") throw new DnsError(a, name, type);
    return { records: a, authenticated: false, canonicalName: name };
  };
  const unused = async (): Promise<never> => {
    throw new Error("not used by iprev");
  };
  return {
    ptr: (ip) => lookup("PTR", ip),
    a: (n) => lookup("A", n),
    aaaa: (n) => lookup("AAAA", n),
    txt: unused,
    mx: unused,
    tlsa: unused,
  };
}

describe("canonicalIp", () => {
  it("gives one text per address", () => {
    assert.equal(canonicalIp("192.0.2.1"), "192.0.2.1");
    assert.equal(canonicalIp("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(canonicalIp("2001:DB8::1"), "2001:0db8:0000:0000:0000:0000:0000:0001");
    assert.equal(canonicalIp("2001:db8:0:0:0:0:0:1"), canonicalIp("2001:db8::1"));
    assert.equal(canonicalIp("mail.example.org"), null);
    assert.equal(canonicalIp("192.0.2.256"), null);
  });
});

describe("checkIprev (RFC 8601 §3)", () => {
  it("pass: a PTR name resolves back to the address", async () => {
    const r = await checkIprev(
      "192.0.2.1",
      fakeResolver({
        "PTR 192.0.2.1": ["Mail.Example.ORG."],
        "A mail.example.org": ["192.0.2.7", "192.0.2.1"],
      }),
    );
    assert.deepEqual(r, { result: "pass", name: "mail.example.org", ptr: ["mail.example.org"] });
  });

  it("pass for IPv6, whatever the textual form of either side", async () => {
    const r = await checkIprev(
      "2001:db8:0:0::1",
      fakeResolver({
        "PTR 2001:db8::1": ["v6.example.org"],
        "AAAA v6.example.org": ["2001:0db8:0000:0000:0000:0000:0000:0001"],
      }),
    );
    assert.equal(r.result, "pass");
    assert.equal(r.name, "v6.example.org");
  });

  it("an IPv4 client on a dual-stack socket is checked as IPv4", async () => {
    const asked: string[] = [];
    const r = await checkIprev(
      "::ffff:192.0.2.1",
      fakeResolver({ "PTR 192.0.2.1": ["mail.example.org"], "A mail.example.org": ["192.0.2.1"] }, asked),
    );
    assert.equal(r.result, "pass");
    assert.deepEqual(asked, ["PTR 192.0.2.1", "A mail.example.org"]);
  });

  it("the first PTR name (in answer order) that verifies is reported", async () => {
    const r = await checkIprev(
      "192.0.2.1",
      fakeResolver({
        "PTR 192.0.2.1": ["a.example.org", "b.example.org", "c.example.org"],
        "A a.example.org": ["192.0.2.9"],
        "A b.example.org": ["192.0.2.1"],
        "A c.example.org": ["192.0.2.1"],
      }),
    );
    assert.equal(r.name, "b.example.org");
  });

  it("fail: names exist, none resolves back (other address, no data, NXDOMAIN)", async () => {
    const r = await checkIprev(
      "192.0.2.1",
      fakeResolver({
        "PTR 192.0.2.1": ["a.example.org", "b.example.org", "c.example.org"],
        "A a.example.org": ["192.0.2.2"],
        "A b.example.org": [],
      }),
    );
    assert.deepEqual(r, {
      result: "fail",
      name: null,
      ptr: ["a.example.org", "b.example.org", "c.example.org"],
    });
  });

  it("permerror: no PTR data (NXDOMAIN or empty), or not an address", async () => {
    assert.equal((await checkIprev("192.0.2.1", fakeResolver({}))).result, "permerror");
    assert.equal((await checkIprev("192.0.2.1", fakeResolver({ "PTR 192.0.2.1": [] }))).result, "permerror");
    assert.equal((await checkIprev("not-an-ip", fakeResolver({}))).result, "permerror");
  });

  it("temperror: the PTR lookup failed, or a forward lookup failed and nothing passed", async () => {
    for (const kind of ["servfail", "timeout", "refused", "network"] as const) {
      assert.equal(
        (await checkIprev("192.0.2.1", fakeResolver({ "PTR 192.0.2.1": kind }))).result,
        "temperror",
        kind,
      );
    }
    const r = await checkIprev(
      "192.0.2.1",
      fakeResolver({
        "PTR 192.0.2.1": ["a.example.org", "b.example.org"],
        "A a.example.org": ["192.0.2.2"],
        "A b.example.org": "servfail",
      }),
    );
    assert.equal(r.result, "temperror");
    // … but a pass elsewhere is a pass
    const p = await checkIprev(
      "192.0.2.1",
      fakeResolver({
        "PTR 192.0.2.1": ["a.example.org", "b.example.org"],
        "A a.example.org": "timeout",
        "A b.example.org": ["192.0.2.1"],
      }),
    );
    assert.equal(p.result, "pass");
  });

  it(`checks at most ${MAX_PTR_NAMES} names`, async () => {
    const names = Array.from({ length: 15 }, (_, i) => `h${i}.example.org`);
    const zone: Record<string, Answer> = { "PTR 192.0.2.1": names };
    // only the 12th name would verify
    zone["A h11.example.org"] = ["192.0.2.1"];
    const asked: string[] = [];
    const r = await checkIprev("192.0.2.1", fakeResolver(zone, asked));
    assert.equal(r.result, "fail");
    assert.equal(asked.filter((q) => q.startsWith("A ")).length, MAX_PTR_NAMES);
    assert.equal(r.ptr?.length, MAX_PTR_NAMES);
  });

  it("never rejects, whatever the resolver throws", async () => {
    const broken = fakeResolver({});
    broken.ptr = async () => {
      throw new TypeError("boom");
    };
    assert.equal((await checkIprev("192.0.2.1", broken)).result, "temperror");
  });
});
