// Property tests of the Authentication-Results filter (RFC 8601 §5). Headers are built from pieces
// whose fate is known (ours: removed; anything else: kept byte for byte), then fed in random chunks;
// random bytes check that the filter never throws, never depends on the chunking and never lets a
// field claiming our authserv-id through. FUZZ_RUNS runs per property (default 200).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { readAuthservId } from "../../src/security/auth-results.js";
import { AuthResultsFilter } from "../../src/security/header-filter.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 200);
const ID = "mx.example.net";

function filter(input: Buffer, cuts: number[], maxHeaderBytes: number): { out: Buffer; removed: number } {
  const f = new AuthResultsFilter({ authservId: ID, maxHeaderBytes });
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    parts.push(f.push(input.subarray(prev, p)));
    prev = p;
  }
  parts.push(f.push(input.subarray(prev)), f.end());
  return { out: Buffer.concat(parts), removed: f.removed };
}

// ---- pieces of a header ----

const eol = fc.constantFrom("\r\n", "\n");
const name = (nl: string) =>
  fc.constantFrom(
    "Authentication-Results",
    "authentication-results",
    "AUTHENTICATION-RESULTS",
    "Authentication-Results \t",
    // invalid (a fold before the colon), but a reader that unfolds first sees the field
    `Authentication-Results${nl} `,
  );
const cfws = (nl: string) =>
  fc.constantFrom(" ", "", `${nl}\t`, " (c) ", " (a (b\\)) c) ", `${nl} (x)${nl} `);
const ourId = fc.constantFrom(ID, "MX.EXAMPLE.NET", `"${ID}"`, `${ID}.`, '"Mx.Example.Net"');
const otherId = fc.constantFrom(
  "other.example",
  `${ID}.evil`,
  `evil.${ID}`,
  '"other"',
  "mx.example",
  `${ID}x`,
);
const rest = (nl: string) =>
  fc.constantFrom("; spf=pass", ";", " 1; none", `;${nl} dkim=pass header.d=bank.example`, "(c);x=y");
const text = fc.string({
  unit: fc.constantFrom(
    "a",
    "b",
    " ",
    ":",
    ";",
    "(",
    ")",
    '"',
    "=",
    "é",
    "\t",
    "Authentication-Results: mx.example.net;",
  ),
  maxLength: 30,
});

interface Field {
  text: string;
  ours: boolean;
}

const field = (nl: string): fc.Arbitrary<Field> =>
  fc.oneof(
    fc
      .tuple(name(nl), cfws(nl), ourId, rest(nl))
      .map(([n, c, id, r]) => ({ text: `${n}:${c}${id}${r}${nl}`, ours: true })),
    fc
      .tuple(name(nl), cfws(nl), otherId, rest(nl))
      .map(([n, c, id, r]) => ({ text: `${n}:${c}${id}${r}${nl}`, ours: false })),
    fc
      .tuple(
        fc.constantFrom(
          "Subject",
          "Received",
          "ARC-Authentication-Results",
          "X-Authentication-Results",
          "Authentication-Results-Original",
          "From",
        ),
        text,
        fc.array(text, { maxLength: 2 }),
      )
      .map(([n, v, more]) => ({
        // continuation lines start with WSP; their text may look like anything
        text: `${n}: ${v}${nl}${more.map((m) => ` ${m}${nl}`).join("")}`,
        ours: false,
      })),
  );

const message = eol.chain((nl) =>
  fc.record({
    nl: fc.constant(nl),
    fields: fc.array(field(nl), { maxLength: 8 }),
    body: fc.option(text.map((t) => `${t}${nl}Authentication-Results: ${ID}; dkim=pass${nl}`)),
  }),
);

/** The header fields of a message (up to the first empty line), unfolded enough to judge them. */
function fieldsOf(msg: Buffer): string[] {
  const text = msg.toString("latin1");
  const out: string[] = [];
  for (const line of text.split(/(?<=\n)/)) {
    if (line === "\n" || line === "\r\n") break;
    if ((line.startsWith(" ") || line.startsWith("\t")) && out.length) out[out.length - 1] += line;
    else out.push(line);
  }
  return out;
}

function claimsOurs(f: string): boolean {
  const colon = f.indexOf(":");
  if (colon < 0) return false;
  // as lenient as a reader that unfolds before it looks for the colon
  const name = f.slice(0, colon).replace(/[ \t\r\n]+$/, "");
  if (name.toLowerCase() !== "authentication-results") return false;
  const r = readAuthservId(f.slice(colon + 1));
  return r.kind === "id" && r.id === ID;
}

describe("AuthResultsFilter properties", () => {
  it("removes exactly the fields claiming our id and passes everything else byte for byte", () => {
    fc.assert(
      fc.property(
        message,
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.constantFrom(64, 200, 64 * 1024),
        ({ nl, fields, body }, cuts, max) => {
          const input = fields.map((f) => f.text).join("") + (body === null ? "" : nl + body);
          const want =
            fields
              .filter((f) => !f.ours)
              .map((f) => f.text)
              .join("") + (body === null ? "" : nl + body);
          const r = filter(Buffer.from(input, "latin1"), cuts, max);
          assert.equal(r.out.toString("latin1"), want);
          assert.equal(r.removed, fields.filter((f) => f.ours).length);
          if (fields.every((f) => !f.ours)) assert.equal(r.out.toString("latin1"), input, "unchanged");
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("random bytes: never throws, same output for any split, no field claiming our id survives", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // bytes biased towards the interesting ones
      fc
        .array(
          fc.constantFrom(
            "\r",
            "\n",
            " ",
            "\t",
            ":",
            ";",
            "(",
            ")",
            '"',
            "\\",
            "x",
            "Authentication-Results:",
            ` ${ID}`,
            ID,
          ),
          { maxLength: 60 },
        )
        .map((a) => new Uint8Array(Buffer.from(a.join(""), "latin1"))),
    );
    fc.assert(
      fc.property(
        bytes,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom(64, 100, 64 * 1024),
        (b, cuts, max) => {
          const input = Buffer.from(b);
          const whole = filter(input, [], max);
          const split = filter(input, cuts, max);
          assert.deepEqual(split.out, whole.out);
          assert.equal(split.removed, whole.removed);
          for (const f of fieldsOf(whole.out)) assert.ok(!claimsOurs(f), `survived: ${JSON.stringify(f)}`);
          // removal only ever takes bytes away, never adds
          assert.ok(whole.out.length <= input.length);
          if (whole.removed === 0) assert.deepEqual(whole.out, input);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
