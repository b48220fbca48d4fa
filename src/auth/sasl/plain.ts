// PLAIN (RFC 4616): one client message `[authzid] NUL authcid NUL passwd`, UTF-8. A client-first
// mechanism; without an initial response the server sends an empty challenge (RFC 4422 §5 2a).
import { saslprep } from "../saslprep.js";
import {
  authorizeStep,
  challenge,
  decodeUtf8,
  failure,
  type SaslCredentialLookup,
  type SaslStep,
  StepMachine,
} from "./types.js";

/**
 * RFC 4616 §2: servers MUST accept authzid, authcid and passwd of up to 255 octets. Identities are
 * addresses (at most 254 octets, RFC 5321 §4.5.3.1.3), so 255 is also our limit for them; passwords
 * may be up to 1024 characters (auth/password.ts checkPasswordPolicy), hence 4 octets each.
 */
export const MAX_IDENTITY_OCTETS = 255;
export const MAX_PASSWORD_OCTETS = 4096;

export type PlainMessage = { authzid: string | null; authcid: string; password: string };

/** Parse the PLAIN message; a string is the reason it is malformed. */
export function parsePlainMessage(bytes: Buffer): PlainMessage | string {
  const first = bytes.indexOf(0);
  const second = first < 0 ? -1 : bytes.indexOf(0, first + 1);
  if (first < 0 || second < 0) return "expected two NUL separators";
  if (bytes.indexOf(0, second + 1) >= 0) return "more than two NUL separators";
  const parts = [bytes.subarray(0, first), bytes.subarray(first + 1, second), bytes.subarray(second + 1)];
  const [authzBytes, authcBytes, passBytes] = parts as [Buffer, Buffer, Buffer];
  if (authcBytes.length === 0) return "empty authentication identity";
  if (passBytes.length === 0) return "empty password";
  if (authzBytes.length > MAX_IDENTITY_OCTETS) return "authorization identity too long";
  if (authcBytes.length > MAX_IDENTITY_OCTETS) return "authentication identity too long";
  if (passBytes.length > MAX_PASSWORD_OCTETS) return "password too long";
  const [authzid, authcid, password] = parts.map((p) => decodeUtf8(p));
  if (authzid == null || authcid == null || password == null) return "not valid UTF-8";
  return { authzid: authzid === "" ? null : authzid, authcid, password };
}

/** Verify a username and password through the lookup, then authorize (shared by PLAIN and LOGIN). */
export async function verifyPlainCredentials(
  lookup: SaslCredentialLookup,
  authcid: string,
  password: string,
  authzid: string | null,
): Promise<SaslStep> {
  let prepared: string;
  try {
    prepared = saslprep(authcid);
  } catch {
    // RFC 4616 §2: if preparation fails, verification SHALL fail (no such account can exist)
    return failure("invalid-credentials", "the authentication identity fails SASLprep");
  }
  if (prepared === "")
    return failure("invalid-credentials", "the authentication identity is empty after SASLprep");
  const identity = await lookup.verifyPlain(prepared, password);
  if (identity === null)
    return failure("invalid-credentials", `unknown user or wrong password for ${prepared}`);
  return authorizeStep(lookup, identity, authzid, saslprep);
}

export class PlainMechanism extends StepMachine {
  readonly name = "PLAIN";

  constructor(private readonly lookup: SaslCredentialLookup) {
    super();
  }

  protected async onStart(initialResponse: Buffer | null): Promise<SaslStep> {
    return initialResponse === null ? challenge(Buffer.alloc(0)) : this.onStep(initialResponse);
  }

  protected async onStep(response: Buffer): Promise<SaslStep> {
    const message = parsePlainMessage(response);
    if (typeof message === "string") return failure("malformed", `PLAIN: ${message}`);
    return verifyPlainCredentials(this.lookup, message.authcid, message.password, message.authzid);
  }
}
