import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  hostnameProblem,
  hostKey,
  type Parsed,
  parseDnsServer,
  parseDuration,
  parseListenAddress,
  parsePath,
  parsePort,
  parseSize,
  parseStoreUrl,
} from "./values.js";

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

function expectOk<T>(r: Parsed<T>, expected: T, input: unknown): void {
  assert.ok(r.ok, `${JSON.stringify(input)}: expected ok, got ${r.ok ? "" : r.reason}`);
  assert.deepEqual(r.value, expected, JSON.stringify(input));
}

function expectFail(r: Parsed<unknown>, fragment: string, input: unknown): void {
  assert.ok(
    !r.ok,
    `${JSON.stringify(input)}: expected a failure, got ${r.ok ? JSON.stringify(r.value) : ""}`,
  );
  assert.ok(
    r.reason.includes(fragment),
    `${JSON.stringify(input)}: "${r.reason}" should contain "${fragment}"`,
  );
}

describe("parseSize", () => {
  const good: Array<[unknown, number]> = [
    [0, 0],
    [1024, 1024],
    ["0", 0],
    ["1", 1],
    ["100b", 100],
    ["100B", 100],
    ["1k", KiB],
    ["1K", KiB],
    ["1kb", KiB],
    ["1KiB", KiB],
    ["512KiB", 512 * KiB],
    ["50MB", 50 * MiB],
    ["50 MiB", 50 * MiB],
    ["10M", 10 * MiB],
    [" 2g ", 2 * GiB],
    ["1.5G", 1.5 * GiB],
    ["1.5k", 1536],
    ["0.5KiB", 512],
    ["1.25k", 1280],
    ["1t", 1024 ** 4],
    ["007k", 7 * KiB],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ];
  for (const [input, expected] of good) {
    it(`accepts ${JSON.stringify(input)} = ${expected}`, () => expectOk(parseSize(input), expected, input));
  }
  const bad: Array<[unknown, string]> = [
    ["", "is not a size"],
    ["k", "is not a size"],
    ["-1", "is not a size"],
    [-1, "must not be negative"],
    [1.5, "whole number of bytes"],
    ["1.1k", "whole number of bytes"],
    ["1.5", "whole number of bytes"],
    ["10 parsecs", 'unknown unit "parsecs"'],
    ["5 kibibytes", "unknown unit"],
    ["1e3", "is not a size"],
    ["0x10", "is not a size"],
    ["1 000", "is not a size"],
    [2 ** 53, "too large"],
    ["9007199254740992", "too large"],
    ["8388608T", "too large"],
    [true, "must be a size, not true/false"],
    [null, "must be a size"],
    [["1k"], "not a list"],
    [{}, "not a table"],
  ];
  for (const [input, fragment] of bad) {
    it(`rejects ${JSON.stringify(input)}: ${fragment}`, () => expectFail(parseSize(input), fragment, input));
  }
});

describe("parseDuration", () => {
  const good: Array<[unknown, number]> = [
    [0, 0],
    [30, 30],
    ["30", 30],
    ["30s", 30],
    ["10m", 600],
    ["2h", 7200],
    ["1d", 86400],
    ["1h30m", 5400],
    ["1H 30M", 5400],
    [" 45 s ", 45],
    ["1d1s", 86401],
  ];
  for (const [input, expected] of good) {
    it(`accepts ${JSON.stringify(input)} = ${expected}s`, () =>
      expectOk(parseDuration(input), expected, input));
  }
  const bad: Array<[unknown, string]> = [
    ["", "is empty"],
    ["   ", "is empty"],
    ["5ms", "not milliseconds"],
    ["1w", 'unknown unit "w"'],
    ["-1", "is not a duration"],
    [-1, "must not be negative"],
    [1.5, "whole number of seconds"],
    ["1.5h", "is not a duration"],
    ["h", "is not a duration"],
    ["30s x", "is not a duration"],
    ["99999999999999999999d", "too large"],
    [true, "must be a duration"],
  ];
  for (const [input, fragment] of bad) {
    it(`rejects ${JSON.stringify(input)}: ${fragment}`, () =>
      expectFail(parseDuration(input), fragment, input));
  }
});

describe("size and duration parsers never throw (property)", () => {
  const runs = Number(process.env["FUZZ_RUNS"] ?? 2000);
  // strings built from the characters the grammar cares about find more edge cases than random text
  const sizeish = fc.stringMatching(/^[ 0-9.kmgtibsdhKMGTIBSDHx-]{0,12}$/);
  const inputs = fc.oneof(fc.string({ unit: "binary" }), sizeish, fc.anything(), fc.double(), fc.bigInt());

  for (const [name, parse] of [
    ["parseSize", parseSize],
    ["parseDuration", parseDuration],
  ] as const) {
    it(`${name}: a safe non-negative integer or a reason, never an exception`, () => {
      fc.assert(
        fc.property(inputs, (input) => {
          const r = parse(input);
          if (r.ok) return Number.isSafeInteger(r.value) && r.value >= 0;
          return typeof r.reason === "string" && r.reason.length > 0;
        }),
        { numRuns: runs },
      );
    });
  }

  it("parseSize: N with a unit is N times the unit", () => {
    const units: Array<[string, number]> = [
      ["", 1],
      ["k", KiB],
      ["MB", MiB],
      ["GiB", GiB],
    ];
    fc.assert(
      fc.property(fc.nat({ max: 1_000_000 }), fc.constantFrom(...units), (n, [unit, factor]) => {
        const r = parseSize(`${n}${unit}`);
        return r.ok && r.value === n * factor;
      }),
      { numRuns: runs },
    );
  });
});

describe("hostnameProblem", () => {
  const valid = [
    "mail.example.com",
    "localhost",
    "a-b.c",
    "xn--mller-kva.de",
    "123.example.com",
    "MX1.Example.COM",
  ];
  valid.push(`${"a".repeat(63)}.example.com`);
  for (const name of valid) it(`accepts ${name}`, () => assert.equal(hostnameProblem(name), undefined));

  const invalid: Array<[string, string]> = [
    ["", "is empty"],
    ["-a.com", 'invalid label "-a"'],
    ["a-.com", 'invalid label "a-"'],
    ["a..b", "empty label"],
    [".a", "empty label"],
    ["a.", "trailing dot"],
    ["a_b.com", 'invalid label "a_b"'],
    ["1.2.3.4", "is an IP address"],
    ["::1", "is an IP address"],
    ["1.2.3.999", "not a valid one"],
    [`${"a".repeat(64)}.com`, "at most 63"],
    [`${"abcdefghi.".repeat(26)}com`, "longer than 253"],
    ["müller.de", "punycode"],
    ["mail example.com", "invalid label"],
  ];
  for (const [name, fragment] of invalid) {
    it(`rejects ${JSON.stringify(name)}: ${fragment}`, () => {
      const problem = hostnameProblem(name);
      assert.ok(problem?.includes(fragment), `${problem} should contain ${fragment}`);
    });
  }
});

describe("parseListenAddress", () => {
  const good: Array<[string, string, number]> = [
    ["0.0.0.0:25", "0.0.0.0", 25],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["[::1]:143", "::1", 143],
    ["[::]:993", "::", 993],
    ["[2001:db8::1]:65535", "2001:db8::1", 65535],
    ["*:25", "0.0.0.0", 25],
    ["localhost:8080", "localhost", 8080],
    ["mail.example.com:587", "mail.example.com", 587],
  ];
  for (const [text, host, port] of good) {
    it(`accepts ${text}`, () => expectOk(parseListenAddress(text), { host, port, text }, text));
  }
  const bad: Array<[unknown, string]> = [
    ["0.0.0.0:99999", "port must be 1-65535"],
    ["0.0.0.0:65536", "port must be 1-65535"],
    ["0.0.0.0", "needs a port"],
    ["0.0.0.0:", "port is missing"],
    ["0.0.0.0:smtp", 'port "smtp" is not a number'],
    ["0.0.0.0:-1", "is not a number"],
    ["::1:25", "brackets"],
    ["[::1]", 'needs a port after "]"'],
    ["[::1:25", 'without "]"'],
    ["[1.2.3.4]:25", "is not an IPv6 address"],
    [":25", "no address"],
    ["999.1.1.1:25", "not a valid one"],
    ["bad_host:25", 'invalid label "bad_host"'],
    [25, 'must be an "address:port" string, not a number'],
  ];
  for (const [input, fragment] of bad) {
    it(`rejects ${JSON.stringify(input)}: ${fragment}`, () =>
      expectFail(parseListenAddress(input), fragment, input));
  }
  it("hostKey compares IPv6 spellings and host name case alike", () => {
    assert.equal(hostKey("0:0:0:0:0:0:0:1"), hostKey("::1"));
    assert.equal(hostKey("Mail.Example.com"), "mail.example.com");
  });
});

describe("parsePort", () => {
  it("takes 1-65535, and 0 only where allowed", () => {
    expectOk(parsePort(25), 25, 25);
    expectOk(parsePort(0, true), 0, 0);
    expectFail(parsePort(0), "port must be 1-65535", 0);
    expectFail(parsePort(70000, true), "port must be 1-65535 (or 0", 70000);
    expectFail(parsePort("25"), "write 25 without quotes", "25");
    expectFail(parsePort(25.5), "whole number", 25.5);
  });
});

describe("parseDnsServer", () => {
  for (const ok of ["1.1.1.1", "127.0.0.1:5353", "[::1]:53", "::1", "2001:db8::53"]) {
    it(`accepts ${ok}`, () => expectOk(parseDnsServer(ok), ok, ok));
  }
  const bad: Array<[unknown, string]> = [
    ["dns.google", "is not an IP address"],
    ["1.1.1.1:0", "port must be 1-65535"],
    ["1.1.1.1:x", 'port "x" is not a number'],
    ["[::1]", "is not an IP address"],
    [5, "must be a string"],
  ];
  for (const [input, fragment] of bad) {
    it(`rejects ${JSON.stringify(input)}: ${fragment}`, () =>
      expectFail(parseDnsServer(input), fragment, input));
  }
});

describe("parsePath and parseStoreUrl", () => {
  const base = path.resolve("/srv/postamt");
  it("resolves relative paths against the base directory", () => {
    expectOk(parsePath("data", base), path.join(base, "data"), "data");
    expectOk(parsePath("../x", base), path.resolve(base, "../x"), "../x");
    expectOk(parsePath("/abs/dir", base), path.resolve("/abs/dir"), "/abs/dir");
    expectFail(parsePath("~/data", base), "not expanded", "~/data");
    expectFail(parsePath("", base), "is empty", "");
    expectFail(parsePath(3, base), "must be a path string", 3);
  });
  it("store urls", () => {
    expectOk(parseStoreUrl("sqlite:db/x.db", base), `sqlite:${path.join(base, "db/x.db")}`, "sqlite:db/x.db");
    expectOk(
      parseStoreUrl("sqlite:/var/x.db", base),
      `sqlite:${path.resolve("/var/x.db")}`,
      "sqlite:/var/x.db",
    );
    expectOk(parseStoreUrl("postgres://u@h/db", base), "postgres://u@h/db", "pg");
    expectOk(parseStoreUrl("postgresql://u:p@h:5432/db", base), "postgresql://u:p@h:5432/db", "pg");
    const bad: Array<[unknown, string]> = [
      ["sqlite::memory:", "in-memory"],
      ["sqlite:", "database path is empty"],
      ["sqlite:///var/x.db", 'without "//"'],
      ["mysql://h/db", "unknown scheme"],
      ["postgres://[bad/db", "not a valid URL"],
      [5, "must be a string"],
    ];
    for (const [input, fragment] of bad) expectFail(parseStoreUrl(input, base), fragment, input);
  });
});
