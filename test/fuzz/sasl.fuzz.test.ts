// Property tests for the SASL step machines: whatever bytes a client sends, at any step, a mechanism
// answers with a well-formed step (never throws), fails only as malformed / invalid-credentials /
// unsupported, never answers after the outcome, and never lets anyone in without the password.
// FUZZ_RUNS bounds the work (default 200).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { scramCredentials } from "../../src/auth/password.js";
import { decodeBase64Strict, encodeBase64, parseSaslResponse } from "../../src/auth/sasl/base64.js";
import { LoginMechanism } from "../../src/auth/sasl/login.js";
import { PlainMechanism } from "../../src/auth/sasl/plain.js";
import { createMechanism } from "../../src/auth/sasl/registry.js";
import { decodeSaslname, encodeSaslname, ScramSha256Mechanism } from "../../src/auth/sasl/scram-sha-256.js";
import type { SaslCredentialLookup, SaslMechanism, SaslStep } from "../../src/auth/sasl/types.js";

const numRuns = Number(process.env["FUZZ_RUNS"] ?? 200);
const ALLOWED_FAILURES = new Set(["malformed", "invalid-credentials", "unsupported"]);
const USER = "alice@example.com";
const PASSWORD = "correct horse";

let lookup: SaslCredentialLookup;
/** set when the right password reached verifyPlain: only then may an exchange succeed */
let rightPasswordPresented = false;
before(async () => {
  const credentials = await scramCredentials(PASSWORD, 4096);
  lookup = {
    // the plain lookup is a fake: no hashing, so the fuzzer spends its time in the mechanisms
    verifyPlain: async (authcid, password) => {
      if (authcid !== USER || password !== PASSWORD) return null;
      rightPasswordPresented = true;
      return { username: USER };
    },
    scramCredentials: async (authcid) =>
      authcid === USER ? { identity: { username: USER }, credentials } : null,
  };
});

const factories: Record<string, () => SaslMechanism> = {
  PLAIN: () => new PlainMechanism(lookup),
  LOGIN: () => new LoginMechanism(lookup),
  "SCRAM-SHA-256": () => new ScramSha256Mechanism(lookup, { secret: Buffer.from("fuzz") }),
  "SCRAM-SHA-256 (registry)": () => createMechanism("SCRAM-SHA-256", lookup, { secure: true })!,
};

function assertWellFormed(step: SaslStep): void {
  switch (step.kind) {
    case "challenge":
      assert.ok(Buffer.isBuffer(step.data));
      return;
    case "failure":
      // authz-denied needs the right password first (the authzid is only judged after it)
      assert.ok(
        ALLOWED_FAILURES.has(step.reason) || (step.reason === "authz-denied" && rightPasswordPresented),
        `unexpected failure reason ${step.reason}`,
      );
      assert.equal(typeof step.message, "string");
      return;
    case "success":
      assert.ok(rightPasswordPresented, `random input must not authenticate: ${JSON.stringify(step)}`);
      assert.deepEqual(step.authenticated, { username: USER });
  }
}

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** Bytes that are often close to real messages, so the fuzzer gets past the first checks. */
const scramish = fc
  .tuple(
    fc.constantFrom("n", "y", "p=tls-unique", "x", "", "n=", "p"),
    fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    fc.string({ maxLength: 20 }),
    fc.string({ maxLength: 20 }),
    fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
  )
  .map(([flag, authz, user, nonce, ext]) =>
    Buffer.from([flag, authz === undefined ? "" : `a=${authz}`, `n=${user}`, `r=${nonce}`, ...ext].join(",")),
  );

const plainish = fc
  .array(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(USER), fc.constant(PASSWORD)), { maxLength: 4 })
  .map((parts) => Buffer.from(parts.join("\0")));

const message = fc.oneof(bytes, scramish, plainish, fc.constant(Buffer.alloc(0)));

describe("SASL mechanisms under arbitrary input", () => {
  for (const [name, create] of Object.entries(factories)) {
    it(`${name}: every step returns a well-formed step and never succeeds without the password`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.option(message, { nil: null }),
          fc.array(message, { maxLength: 4 }),
          async (first, rest) => {
            const m = create();
            let step = await m.start(first);
            assertWellFormed(step);
            for (const response of rest) {
              const next = await m.step(response);
              assertWellFormed(next);
              if (step.kind !== "challenge") {
                assert.equal(
                  next.kind === "failure" && next.reason,
                  "malformed",
                  "no step after the outcome",
                );
              }
              step = next;
            }
          },
        ),
        { numRuns },
      );
    });
  }

  it("SCRAM-SHA-256: arbitrary client-final messages after a valid client-first never authenticate", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          bytes,
          fc.string({ maxLength: 120 }).map((s) => Buffer.from(s)),
        ),
        async (final) => {
          const m = factories["SCRAM-SHA-256"]!();
          rightPasswordPresented = false;
          const first = await m.start(Buffer.from(`n,,n=${USER},r=fuzznonce`));
          assert.equal(first.kind, "challenge");
          const nonce = /^r=([^,]+)/.exec(first.kind === "challenge" ? first.data.toString() : "")![1]!;
          // splice the right nonce and channel binding in half of the time
          const text = final.toString("latin1");
          const msg = text.length % 2 === 0 ? Buffer.from(`c=biws,r=${nonce},${text}`, "latin1") : final;
          assertWellFormed(await m.step(msg));
        },
      ),
      { numRuns },
    );
  });
});

describe("SASL helpers under arbitrary input", () => {
  it("decodeBase64Strict accepts exactly the canonical encodings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (a) => {
        assert.deepEqual(decodeBase64Strict(encodeBase64(a)), Buffer.from(a));
      }),
      { numRuns },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 24, unit: fc.constantFrom(..."AQgw+/=_- \r\nx") }), (s) => {
        const decoded = decodeBase64Strict(s);
        if (decoded !== null) assert.equal(decoded.toString("base64"), s);
        const line = parseSaslResponse(s);
        assert.ok(["data", "cancel", "malformed"].includes(line.kind));
      }),
      { numRuns },
    );
  });

  it("saslname escaping round-trips", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (s) => {
        fc.pre(!s.includes("\0"));
        assert.equal(decodeSaslname(encodeSaslname(s)), s);
      }),
      { numRuns },
    );
  });
});
