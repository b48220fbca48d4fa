// LOGIN (draft-murchison-sasl-login-00): the server asks "Username:" then "Password:", the client
// answers each with a UTF-8 string. Obsolete but still what many clients use; like PLAIN it sends the
// password in clear, so the registry only offers it over TLS or loopback. An initial response, which
// some clients send (AUTH LOGIN <username>, [MS-XLOGIN] §3.1.5.1), is the username.
import { MAX_IDENTITY_OCTETS, MAX_PASSWORD_OCTETS, verifyPlainCredentials } from "./plain.js";
import {
  challenge,
  decodeUtf8,
  failure,
  type SaslCredentialLookup,
  type SaslStep,
  StepMachine,
} from "./types.js";

export const LOGIN_USERNAME_CHALLENGE = "Username:";
export const LOGIN_PASSWORD_CHALLENGE = "Password:";

export class LoginMechanism extends StepMachine {
  readonly name = "LOGIN";
  private username: string | null = null;

  constructor(private readonly lookup: SaslCredentialLookup) {
    super();
  }

  protected async onStart(initialResponse: Buffer | null): Promise<SaslStep> {
    return initialResponse === null ? challenge(LOGIN_USERNAME_CHALLENGE) : this.onStep(initialResponse);
  }

  protected async onStep(response: Buffer): Promise<SaslStep> {
    if (this.username === null) {
      const username = decodeField(response, MAX_IDENTITY_OCTETS);
      if (typeof username !== "string") return failure("malformed", `LOGIN username: ${username.error}`);
      this.username = username;
      return challenge(LOGIN_PASSWORD_CHALLENGE);
    }
    const password = decodeField(response, MAX_PASSWORD_OCTETS);
    if (typeof password !== "string") return failure("malformed", `LOGIN password: ${password.error}`);
    return verifyPlainCredentials(this.lookup, this.username, password, null);
  }
}

function decodeField(bytes: Buffer, max: number): string | { error: string } {
  if (bytes.length === 0) return { error: "empty" };
  if (bytes.length > max) return { error: "too long" };
  if (bytes.includes(0)) return { error: "contains NUL" };
  const text = decodeUtf8(bytes);
  return text ?? { error: "not valid UTF-8" };
}
