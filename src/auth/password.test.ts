import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { checkPasswordPolicy, hashPassword, scramCredentials, verifyPassword } from "./password.js";
import { saslprep } from "./saslprep.js";

describe("password hashing", () => {
  it("verifies the right password and rejects a wrong one", async () => {
    const h = await hashPassword("correct horse", 10);
    assert.match(h, /^\$scrypt\$ln=10,r=8,p=1\$/);
    assert.equal(await verifyPassword("correct horse", h), true);
    assert.equal(await verifyPassword("correct horsE", h), false);
    assert.equal(await verifyPassword("", h), false);
  });

  it("salts: the same password hashes differently", async () => {
    assert.notEqual(await hashPassword("pw", 10), await hashPassword("pw", 10));
  });

  it("rejects malformed stored hashes instead of throwing", async () => {
    for (const bad of ["", "plain", "$scrypt$ln=99,r=8,p=1$AA==$AA==", "$argon2id$v=19$m=1,t=1,p=1$AA$AA"]) {
      assert.equal(await verifyPassword("x", bad), false);
    }
  });

  it("applies SASLprep, so equivalent spellings are one password", async () => {
    const h = await hashPassword("I\u00ADX", 10); // soft hyphen is mapped to nothing (RFC 4013 §3)
    assert.equal(await verifyPassword("IX", h), true);
    assert.equal(saslprep("a\u00A0b"), "a b");
    assert.throws(() => saslprep("a\u0007b"));
  });

  it("refuses empty and over-long passwords", () => {
    assert.throws(() => checkPasswordPolicy(""), /empty/);
    assert.throws(() => checkPasswordPolicy("x".repeat(1025)), /longer/);
  });
});

describe("SCRAM-SHA-256 keys", () => {
  it("reproduce the RFC 7677 §3 example's server signature", async () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const cred = await scramCredentials("pencil", 4096, salt);
    const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    const serverSig = createHmac("sha256", Buffer.from(cred.serverKey, "base64"))
      .update(authMessage)
      .digest("base64");
    assert.equal(serverSig, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    // The client proof of the example must verify against StoredKey (RFC 5802 §3).
    const proof = Buffer.from("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "base64");
    const clientSig = createHmac("sha256", Buffer.from(cred.storedKey, "base64"))
      .update(authMessage)
      .digest();
    const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSig[i]!));
    assert.equal(createHash("sha256").update(clientKey).digest("base64"), cred.storedKey);
  });
});
