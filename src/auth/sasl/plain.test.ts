import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashPassword, verifyPassword } from "../password.js";
import { LoginMechanism } from "./login.js";
import { parsePlainMessage, PlainMechanism } from "./plain.js";
import type { SaslCredentialLookup, SaslIdentity, SaslStep } from "./types.js";

const ALICE = "alice@example.com";

async function makeLookup(authorize?: SaslCredentialLookup["authorize"]): Promise<SaslCredentialLookup> {
  const hashes = new Map([[ALICE, await hashPassword("correct horse", 4)]]);
  const dummy = await hashPassword("dummy", 4);
  const lookup: SaslCredentialLookup = {
    async verifyPlain(authcid, password) {
      const stored = hashes.get(authcid.toLowerCase());
      const ok = await verifyPassword(password, stored ?? dummy); // same work for unknown users
      return ok && stored ? { username: authcid.toLowerCase() } : null;
    },
    async scramCredentials() {
      return null;
    },
  };
  if (authorize) lookup.authorize = authorize;
  return lookup;
}

const plain = (authzid: string, authcid: string, password: string) =>
  Buffer.from(`${authzid}\0${authcid}\0${password}`, "utf8");

function assertFailure(step: SaslStep, reason: string) {
  assert.equal(step.kind, "failure", JSON.stringify(step));
  if (step.kind === "failure") assert.equal(step.reason, reason, step.message);
}

function assertSuccess(step: SaslStep, identity: string, authenticated = identity) {
  assert.equal(step.kind, "success", JSON.stringify(step));
  if (step.kind === "success") {
    assert.deepEqual(step.identity, { username: identity });
    assert.deepEqual(step.authenticated, { username: authenticated });
    assert.equal(step.data, undefined);
  }
}

describe("PLAIN (RFC 4616)", () => {
  it("succeeds with an initial response", async () => {
    const m = new PlainMechanism(await makeLookup());
    assert.equal(m.name, "PLAIN");
    assertSuccess(await m.start(plain("", ALICE, "correct horse")), ALICE);
  });

  it("sends an empty challenge without an initial response, then succeeds", async () => {
    const m = new PlainMechanism(await makeLookup());
    const first = await m.start(null);
    assert.deepEqual(first, { kind: "challenge", data: Buffer.alloc(0) });
    assertSuccess(await m.step(plain("", "Alice@Example.com", "correct horse")), ALICE);
  });

  it("applies SASLprep to the password (soft hyphen maps to nothing, RFC 4013 §2.2)", async () => {
    const m = new PlainMechanism(await makeLookup());
    assertSuccess(await m.start(plain("", ALICE, "correct\u00AD horse")), ALICE);
  });

  it("fails a wrong password and an unknown user the same way", async () => {
    const wrong = await new PlainMechanism(await makeLookup()).start(plain("", ALICE, "wrong"));
    const unknown = await new PlainMechanism(await makeLookup()).start(plain("", "bob@example.com", "wrong"));
    assertFailure(wrong, "invalid-credentials");
    assertFailure(unknown, "invalid-credentials");
    assert.equal(
      wrong.kind === "failure" && wrong.mechanismError,
      unknown.kind === "failure" && unknown.mechanismError,
    );
  });

  it("authorizes authzid = authcid, denies others by default, and defers to authorize()", async () => {
    assertSuccess(
      await new PlainMechanism(await makeLookup()).start(plain("ALICE@example.com", ALICE, "correct horse")),
      ALICE,
    );
    assertFailure(
      await new PlainMechanism(await makeLookup()).start(
        plain("postmaster@example.com", ALICE, "correct horse"),
      ),
      "authz-denied",
    );
    const admin = async (who: SaslIdentity, authzid: string) =>
      who.username === ALICE ? { username: authzid } : null;
    assertSuccess(
      await new PlainMechanism(await makeLookup(admin)).start(
        plain("postmaster@example.com", ALICE, "correct horse"),
      ),
      "postmaster@example.com",
      ALICE,
    );
    // credentials are checked first: a wrong password never reveals the authorization decision
    assertFailure(
      await new PlainMechanism(await makeLookup()).start(plain("postmaster@example.com", ALICE, "wrong")),
      "invalid-credentials",
    );
    // an authzid that fails SASLprep fails the exchange (RFC 4954 §4)
    assertFailure(
      await new PlainMechanism(await makeLookup()).start(plain("a\u0007b", ALICE, "correct horse")),
      "authz-denied",
    );
  });

  it("rejects malformed messages", async () => {
    const cases: Array<[string, Buffer]> = [
      ["empty", Buffer.alloc(0)],
      ["no NUL", Buffer.from("alice@example.com correct horse")],
      ["one NUL", Buffer.from("alice@example.com\0correct horse")],
      ["three NULs", Buffer.from("\0alice@example.com\0correct\0horse")],
      ["empty authcid", plain("", "", "correct horse")],
      ["empty password", plain("", ALICE, "")],
      ["authcid too long", plain("", `${"a".repeat(244)}@example.com`, "x")],
      ["authzid too long", plain("z".repeat(256), ALICE, "x")],
      ["password too long", plain("", ALICE, "p".repeat(4097))],
      ["invalid UTF-8", Buffer.concat([Buffer.from("\0alice\0"), Buffer.from([0xc3, 0x28])])],
      ["overlong NUL", Buffer.concat([Buffer.from("\0alice\0pw"), Buffer.from([0xc0, 0x80])])],
      ["surrogate", Buffer.concat([Buffer.from("\0alice\0pw"), Buffer.from([0xed, 0xa0, 0x80])])],
    ];
    for (const [name, bytes] of cases) {
      const step = await new PlainMechanism(await makeLookup()).start(bytes);
      assert.equal(step.kind, "failure", name);
      if (step.kind === "failure") assert.equal(step.reason, "malformed", name);
    }
  });

  it("accepts 255-octet identities (RFC 4616 §2 MUST), e.g. in four-octet characters", async () => {
    const long = `${"a".repeat(243)}@example.com`; // 255 octets
    assert.equal(typeof parsePlainMessage(plain("", long, "x")), "object");
    const emoji = "\u{1F600}".repeat(63); // 252 octets
    const parsed = parsePlainMessage(plain(emoji, "bob", "\u{1F600}".repeat(300)));
    assert.deepEqual(parsed, { authzid: emoji, authcid: "bob", password: "\u{1F600}".repeat(300) });
    assertFailure(
      await new PlainMechanism(await makeLookup()).start(plain("", long, "x")),
      "invalid-credentials",
    );
  });

  it("fails an authcid that fails SASLprep without asking the lookup", async () => {
    let asked = false;
    const lookup = await makeLookup();
    const m = new PlainMechanism({
      ...lookup,
      verifyPlain: async () => {
        asked = true;
        return null;
      },
    });
    assertFailure(await m.start(plain("", "al\u0007ice", "pw")), "invalid-credentials");
    assert.equal(asked, false);
  });

  it("ends after the outcome, and refuses misuse without throwing", async () => {
    const m = new PlainMechanism(await makeLookup());
    assertFailure(await m.step(plain("", ALICE, "correct horse")), "malformed"); // before start
    assertSuccess(await m.start(plain("", ALICE, "correct horse")), ALICE);
    assertFailure(await m.step(plain("", ALICE, "correct horse")), "malformed");
    assertFailure(await m.start(null), "malformed");
  });

  it("refuses a second response while the first is being verified", async () => {
    const m = new PlainMechanism(await makeLookup());
    await m.start(null);
    const [a, b] = await Promise.all([
      m.step(plain("", ALICE, "correct horse")),
      m.step(plain("", ALICE, "x")),
    ]);
    assertSuccess(a, ALICE);
    assertFailure(b, "malformed");
  });

  it("lets a lookup failure propagate (the protocol answers with a temporary error)", async () => {
    const lookup = await makeLookup();
    const m = new PlainMechanism({
      ...lookup,
      verifyPlain: async () => {
        throw new Error("store down");
      },
    });
    await assert.rejects(m.start(plain("", ALICE, "pw")), /store down/);
    assertFailure(await m.step(plain("", ALICE, "pw")), "malformed");
  });
});

describe("LOGIN (draft-murchison-sasl-login)", () => {
  it("asks Username: then Password:", async () => {
    const m = new LoginMechanism(await makeLookup());
    assert.equal(m.name, "LOGIN");
    assert.deepEqual(await m.start(null), { kind: "challenge", data: Buffer.from("Username:") });
    assert.deepEqual(await m.step(Buffer.from(ALICE)), { kind: "challenge", data: Buffer.from("Password:") });
    assertSuccess(await m.step(Buffer.from("correct horse")), ALICE);
  });

  it("takes an initial response as the username", async () => {
    const m = new LoginMechanism(await makeLookup());
    assert.deepEqual(await m.start(Buffer.from(ALICE)), {
      kind: "challenge",
      data: Buffer.from("Password:"),
    });
    assertSuccess(await m.step(Buffer.from("correct horse")), ALICE);
  });

  it("fails a wrong password and an unknown user alike", async () => {
    for (const [user, pw] of [
      [ALICE, "wrong"],
      ["bob@example.com", "correct horse"],
    ] as const) {
      const m = new LoginMechanism(await makeLookup());
      await m.start(null);
      await m.step(Buffer.from(user));
      assertFailure(await m.step(Buffer.from(pw)), "invalid-credentials");
    }
  });

  it("rejects malformed usernames and passwords", async () => {
    const bad = [Buffer.alloc(0), Buffer.from("a\0b"), Buffer.from([0xff, 0xfe]), Buffer.alloc(256, 0x61)];
    for (const username of bad) {
      const m = new LoginMechanism(await makeLookup());
      await m.start(null);
      assertFailure(await m.step(username), "malformed");
    }
    for (const password of [
      Buffer.alloc(0),
      Buffer.from("a\0b"),
      Buffer.from([0xc3]),
      Buffer.alloc(4097, 0x61),
    ]) {
      const m = new LoginMechanism(await makeLookup());
      await m.start(Buffer.from(ALICE));
      assertFailure(await m.step(password), "malformed");
    }
  });

  it("ends after the outcome", async () => {
    const m = new LoginMechanism(await makeLookup());
    await m.start(Buffer.from(ALICE));
    assertFailure(await m.step(Buffer.from("wrong")), "invalid-credentials");
    assertFailure(await m.step(Buffer.from("correct horse")), "malformed");
  });
});
