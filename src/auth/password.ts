// Password storage. The login hash is scrypt (memory-hard; Node's crypto, no native add-on) in a
// PHC-style string; alongside it we keep SCRAM-SHA-256 server keys (RFC 5802 §3, RFC 7677) so the
// SASL mechanism can authenticate without the plaintext. Both are derived from the SASLprepped password.
import { createHash, createHmac, pbkdf2, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { ScramCredentials } from "../store/types.js";
import { saslprep } from "./saslprep.js";

const scryptAsync = promisify(scrypt) as (
  password: string | Buffer,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const pbkdf2Async = promisify(pbkdf2);

/** scrypt cost: N = 2^15, r = 8, p = 1 (the OWASP/RFC 7914 interactive-login recommendation). */
const DEFAULT_LN = 15;
const KEY_LEN = 32;
/** RFC 7677 §4 asks for at least 4096; we follow it (clients compute this on every login). */
export const SCRAM_ITERATIONS = 4096;

export interface PasswordCredentials {
  passwordHash: string;
  scram: ScramCredentials;
}

export class PasswordPolicyError extends Error {}

export function checkPasswordPolicy(password: string): void {
  if (password.length === 0) throw new PasswordPolicyError("the password is empty");
  if (password.length > 1024) throw new PasswordPolicyError("the password is longer than 1024 characters");
  saslprep(password); // throws on prohibited characters
}

export async function hashPassword(password: string, ln = DEFAULT_LN): Promise<string> {
  const salt = randomBytes(16);
  const N = 2 ** ln;
  const hash = await scryptAsync(saslprep(password), salt, KEY_LEN, { N, r: 8, p: 1, maxmem: 256 * N * 8 });
  return `$scrypt$ln=${ln},r=8,p=1$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Constant-time check of a password against a stored hash; false for malformed hashes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 1 || ln > 24 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(m[4]!, "base64");
  const expected = Buffer.from(m[5]!, "base64");
  let prepared: string;
  try {
    prepared = saslprep(password);
  } catch {
    return false;
  }
  const N = 2 ** ln;
  const actual = await scryptAsync(prepared, salt, expected.length, {
    N,
    r,
    p,
    maxmem: 256 * N * r + 1024 * 1024,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** SCRAM-SHA-256 StoredKey and ServerKey for a password (RFC 5802 §3). */
export async function scramCredentials(
  password: string,
  iterations = SCRAM_ITERATIONS,
  salt: Buffer = randomBytes(16),
): Promise<ScramCredentials> {
  const salted = await pbkdf2Async(saslprep(password), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return {
    iterations,
    salt: salt.toString("base64"),
    storedKey: storedKey.toString("base64"),
    serverKey: serverKey.toString("base64"),
  };
}

export async function deriveCredentials(password: string): Promise<PasswordCredentials> {
  checkPasswordPolicy(password);
  const [passwordHash, scram] = await Promise.all([hashPassword(password), scramCredentials(password)]);
  return { passwordHash, scram };
}
