// Which mechanisms exist, which may be offered on a connection, and how SMTP/IMAP/POP3 carry the
// "additional data with success" they cannot put in their success reply.
//
// Plaintext mechanisms (PLAIN, LOGIN) are offered only on secure connections (TLS, or loopback as
// DESIGN.md §2 says): RFC 4954 §4, RFC 9051 §6.2.2 and RFC 5034 §4 require a configuration that
// refuses them otherwise.
import { LoginMechanism } from "./login.js";
import { PlainMechanism } from "./plain.js";
import { type ScramOptions, ScramSha256Mechanism } from "./scram-sha-256.js";
import { challenge, failure, type SaslCredentialLookup, type SaslMechanism, type SaslStep } from "./types.js";

export interface MechanismOptions {
  /** TLS is active, or the client is on loopback */
  secure: boolean;
  scram?: ScramOptions;
  /**
   * How a success with additional data (SCRAM's "v=…") is reported:
   * - "challenge" (default; SMTP, IMAP, POP3): as one more challenge; the client must answer it with
   *   an empty response, and only then does the exchange succeed (RFC 4422 §3.6).
   * - "outcome": inside the success step, for protocols whose success reply carries data.
   */
  successData?: "challenge" | "outcome";
}

export interface MechanismInfo {
  name: string;
  /** sends the password in clear: offered only when secure */
  plaintext: boolean;
}

interface Entry extends MechanismInfo {
  create(lookup: SaslCredentialLookup, options: MechanismOptions): SaslMechanism;
}

/** In order of preference, as protocols should advertise them. */
const MECHANISMS: readonly Entry[] = [
  {
    name: "SCRAM-SHA-256",
    plaintext: false,
    create: (lookup, options) => new ScramSha256Mechanism(lookup, options.scram),
  },
  { name: "PLAIN", plaintext: true, create: (lookup) => new PlainMechanism(lookup) },
  { name: "LOGIN", plaintext: true, create: (lookup) => new LoginMechanism(lookup) },
];

/** The mechanism names to advertise (EHLO AUTH, IMAP AUTH=, POP3 CAPA SASL). */
export function listMechanisms(options: { secure: boolean }): string[] {
  return MECHANISMS.filter((m) => options.secure || !m.plaintext).map((m) => m.name);
}

/**
 * What we know about a mechanism name (case-insensitive), whether or not it may be used now; lets a
 * protocol tell "unknown mechanism" (SMTP 504 5.5.4) from "needs TLS first" (SMTP 538 5.7.11).
 */
export function mechanismInfo(name: string): MechanismInfo | null {
  const entry = MECHANISMS.find((m) => m.name === name.toUpperCase());
  return entry ? { name: entry.name, plaintext: entry.plaintext } : null;
}

/** A fresh mechanism for one exchange, or null when unknown or not allowed on this connection. */
export function createMechanism(
  name: string,
  lookup: SaslCredentialLookup,
  options: MechanismOptions,
): SaslMechanism | null {
  const entry = MECHANISMS.find((m) => m.name === name.toUpperCase());
  if (!entry || (entry.plaintext && !options.secure)) return null;
  const mechanism = entry.create(lookup, options);
  return (options.successData ?? "challenge") === "challenge" ? successDataAsChallenge(mechanism) : mechanism;
}

/**
 * Adapt a mechanism for protocols without "additional data with success" (RFC 4422 §3.6): a success
 * carrying data becomes a challenge with that data; the client's next response must be empty, and
 * then the success (without data) is returned. Anything else there is malformed.
 *
 *   SMTP (RFC 4954 §4):  S: 334 dj1…  C: (empty line)  S: 235 2.7.0
 *   IMAP (RFC 9051):     S: + dj1…    C: (empty line)  S: A1 OK
 *   POP3 (RFC 5034):     S: + dj1…    C: (empty line)  S: +OK
 */
export function successDataAsChallenge(inner: SaslMechanism): SaslMechanism {
  let pending: Extract<SaslStep, { kind: "success" }> | null = null;
  const adapt = (step: SaslStep): SaslStep => {
    if (step.kind !== "success" || step.data === undefined) return step;
    const { data, ...withoutData } = step;
    if (data.length === 0) return withoutData;
    pending = withoutData;
    return challenge(data);
  };
  return {
    name: inner.name,
    start: async (initialResponse) => adapt(await inner.start(initialResponse)),
    step: async (response) => {
      if (pending === null) return adapt(await inner.step(response));
      const success = pending;
      pending = null;
      // the inner mechanism has ended, so any later step() fails there
      return response.length === 0
        ? success
        : failure("malformed", `${inner.name}: expected an empty response after the server's final data`);
    },
  };
}
