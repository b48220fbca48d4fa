import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMechanism, listMechanisms, mechanismInfo, successDataAsChallenge } from "./registry.js";
import type { SaslCredentialLookup, SaslMechanism, SaslStep } from "./types.js";

const lookup: SaslCredentialLookup = {
  verifyPlain: async (authcid, password) => (password === "pw" ? { username: authcid } : null),
  scramCredentials: async () => null,
};

/** A fake mechanism that succeeds at once, with the given additional data. */
function succeeding(data?: Buffer): SaslMechanism {
  const success: SaslStep = {
    kind: "success",
    identity: { username: "u" },
    authenticated: { username: "u" },
  };
  return {
    name: "TEST",
    start: async () => (data === undefined ? success : { ...success, data }),
    step: async () => ({ kind: "failure", reason: "malformed", message: "ended" }),
  };
}

describe("SASL mechanism registry", () => {
  it("offers plaintext mechanisms only on secure connections, strongest first", () => {
    assert.deepEqual(listMechanisms({ secure: true }), ["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
    assert.deepEqual(listMechanisms({ secure: false }), ["SCRAM-SHA-256"]);
  });

  it("creates mechanisms case-insensitively, and refuses unknown or insecure ones", () => {
    assert.equal(createMechanism("plain", lookup, { secure: true })?.name, "PLAIN");
    assert.equal(createMechanism("Login", lookup, { secure: true })?.name, "LOGIN");
    assert.equal(createMechanism("SCRAM-SHA-256", lookup, { secure: false })?.name, "SCRAM-SHA-256");
    assert.equal(createMechanism("PLAIN", lookup, { secure: false }), null);
    assert.equal(createMechanism("SCRAM-SHA-256-PLUS", lookup, { secure: true }), null);
    assert.equal(createMechanism("CRAM-MD5", lookup, { secure: true }), null);
    assert.deepEqual(mechanismInfo("plain"), { name: "PLAIN", plaintext: true });
    assert.deepEqual(mechanismInfo("scram-sha-256"), { name: "SCRAM-SHA-256", plaintext: false });
    assert.equal(mechanismInfo("GSSAPI"), null);
  });

  it("gives each exchange a fresh mechanism", async () => {
    const a = createMechanism("PLAIN", lookup, { secure: true })!;
    const b = createMechanism("PLAIN", lookup, { secure: true })!;
    assert.equal((await a.start(Buffer.from("\0u\0pw"))).kind, "success");
    assert.equal((await b.start(Buffer.from("\0u\0pw"))).kind, "success");
  });

  it("turns additional data with success into a final challenge answered by an empty response", async () => {
    const m = successDataAsChallenge(succeeding(Buffer.from("v=abc")));
    assert.deepEqual(await m.start(null), { kind: "challenge", data: Buffer.from("v=abc") });
    assert.deepEqual(await m.step(Buffer.alloc(0)), {
      kind: "success",
      identity: { username: "u" },
      authenticated: { username: "u" },
    });
    assert.equal((await m.step(Buffer.alloc(0))).kind, "failure");

    const bad = successDataAsChallenge(succeeding(Buffer.from("v=abc")));
    await bad.start(null);
    const step = await bad.step(Buffer.from("x"));
    assert.equal(step.kind === "failure" && step.reason, "malformed");
    assert.equal((await bad.step(Buffer.alloc(0))).kind, "failure");

    assert.equal((await successDataAsChallenge(succeeding()).start(null)).kind, "success");
    const empty = await successDataAsChallenge(succeeding(Buffer.alloc(0))).start(null);
    assert.equal(empty.kind === "success" && "data" in empty, false);
  });

  it("passes the data through in 'outcome' mode", async () => {
    const m = createMechanism("SCRAM-SHA-256", lookup, { secure: true, successData: "outcome" })!;
    assert.equal((await m.start(null)).kind, "challenge");
  });
});
