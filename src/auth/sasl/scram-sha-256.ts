// SCRAM-SHA-256 (RFC 5802 with SHA-256, RFC 7677), server side, without channel binding: we do not
// offer SCRAM-SHA-256-PLUS, so a "p=" client fails and a "y" client is accepted (RFC 5802 §6).
//
//   C: n,,n=user,r=<client nonce>                      client-first (gs2 header + bare)
//   S: r=<client nonce><server nonce>,s=<salt>,i=4096  server-first
//   C: c=biws,r=<full nonce>,p=<ClientProof>           client-final
//   S: v=<ServerSignature>                             additional data with success
//
// The server holds only StoredKey and ServerKey (auth/password.ts scramCredentials). An unknown user
// gets a salt and keys derived from a server secret and the name, so the exchange looks exactly like
// a wrong password: same messages, same failure, same work (RFC 5802 §9; RFC 7677 §4).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ScramCredentials } from "../../store/types.js";
import { SCRAM_ITERATIONS } from "../password.js";
import { saslprep } from "../saslprep.js";
import { decodeBase64Strict } from "./base64.js";
import {
  authorizeStep,
  challenge,
  decodeUtf8,
  failure,
  type SaslCredentialLookup,
  type SaslFailureReason,
  type SaslIdentity,
  type SaslStep,
  StepMachine,
} from "./types.js";

export interface ScramOptions {
  /**
   * Secret for the fake salts of unknown users. Keep it stable across restarts (e.g. stored in the
   * data directory): a real user's salt never changes, so a fake one that changes on restart would
   * tell unknown users apart. Default: random per process.
   */
  secret?: Uint8Array;
  /** Iteration count announced for unknown users; default SCRAM_ITERATIONS, what accounts get. */
  fakeIterations?: number;
  /** The server's nonce part (printable ASCII except ","); default 18 random bytes in base64. For tests. */
  serverNonce?: () => string;
}

/** Client messages are small; this bounds work on hostile input. */
const MAX_MESSAGE_OCTETS = 4096;
const KEY_OCTETS = 32;
const PROCESS_SECRET = randomBytes(32);
/** RFC 5802 §7 printable: %x21-2B / %x2D-7E */
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
/** RFC 5802 §7 attr-val = ALPHA "=" value; value-char excludes NUL (and "," by the split) */
const ATTR_VAL = /^[A-Za-z]=[^\x00]+$/;
const CB_NAME = /^[A-Za-z0-9.-]+$/;

type ScramError = { reason: SaslFailureReason; error: string; message: string };

interface ClientFirst {
  gs2Header: string;
  authzid: string | null;
  username: string;
  clientNonce: string;
  bare: string;
}

interface ServerKeys {
  /** null when the user is unknown (fake keys) */
  identity: SaslIdentity | null;
  note: string;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

function scramError(reason: SaslFailureReason, error: string, message: string): ScramError {
  return { reason, error, message };
}

/** saslname (RFC 5802 §5.1, §7): "=2C" → ",", "=3D" → "="; any other "=" fails. null = invalid. */
export function decodeSaslname(text: string): string | null {
  if (text === "") return null;
  let out = "";
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if (ch === "\x00" || ch === ",") return null;
    if (ch !== "=") {
      out += ch;
      i += 1;
      continue;
    }
    const code = text.slice(i + 1, i + 3).toUpperCase(); // ABNF strings are case-insensitive
    if (code === "2C") out += ",";
    else if (code === "3D") out += "=";
    else return null;
    i += 3;
  }
  return out;
}

export function encodeSaslname(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

/** Optional extensions are ignored; the reserved mandatory one "m=" MUST fail (RFC 5802 §5.1). */
function checkExtensions(attrs: string[]): ScramError | null {
  for (const attr of attrs) {
    if (!ATTR_VAL.test(attr)) return scramError("malformed", "invalid-encoding", `bad attribute "${attr}"`);
    if (attr.startsWith("m=")) {
      return scramError("unsupported", "extensions-not-supported", "mandatory extension requested");
    }
  }
  return null;
}

export function parseClientFirst(text: string): ClientFirst | ScramError {
  const c1 = text.indexOf(",");
  const c2 = c1 < 0 ? -1 : text.indexOf(",", c1 + 1);
  if (c2 < 0) return scramError("malformed", "invalid-encoding", "no GS2 header");
  const flag = text.slice(0, c1);
  const authzPart = text.slice(c1 + 1, c2);
  const bare = text.slice(c2 + 1);
  // RFC 5802 §5: the message starts with "n", "y" or "p", else authentication MUST fail
  if (flag.startsWith("p=")) {
    if (!CB_NAME.test(flag.slice(2)))
      return scramError("malformed", "invalid-encoding", "bad channel binding name");
    return scramError(
      "unsupported",
      "channel-binding-not-supported",
      `channel binding ${flag.slice(2)} requested`,
    );
  }
  if (flag !== "n" && flag !== "y")
    return scramError("malformed", "invalid-encoding", "bad GS2 channel binding flag");
  let authzid: string | null = null;
  if (authzPart !== "") {
    authzid = authzPart.startsWith("a=") ? decodeSaslname(authzPart.slice(2)) : null;
    if (authzid === null) return scramError("malformed", "invalid-encoding", "bad authorization identity");
  }
  const attrs = bare.split(",");
  if (attrs[0]!.startsWith("m=")) {
    return scramError("unsupported", "extensions-not-supported", "mandatory extension requested");
  }
  if (attrs.length < 2 || !attrs[0]!.startsWith("n=") || !attrs[1]!.startsWith("r=")) {
    return scramError("malformed", "invalid-encoding", "expected n=…,r=…");
  }
  const username = decodeSaslname(attrs[0]!.slice(2));
  if (username === null) return scramError("malformed", "invalid-username-encoding", "bad username encoding");
  const clientNonce = attrs[1]!.slice(2);
  if (!NONCE.test(clientNonce)) return scramError("malformed", "invalid-encoding", "bad client nonce");
  const ext = checkExtensions(attrs.slice(2));
  if (ext) return ext;
  return { gs2Header: text.slice(0, c2 + 1), authzid, username, clientNonce, bare };
}

function hmac(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function fakeKeys(secret: Uint8Array, username: string, iterations: number, note: string): ServerKeys {
  // lower-cased because the directory matches addresses case-insensitively: "Bob@x" and "bob@x"
  // must get the same fake salt, as they would get the same real one
  const key = hmac(secret, `postamt scram fake\x00${username.toLowerCase()}`);
  return {
    identity: null,
    note,
    salt: hmac(key, "salt").subarray(0, 16),
    iterations,
    storedKey: hmac(key, "stored key"),
    serverKey: hmac(key, "server key"),
  };
}

/** The stored credentials decoded, or null when unusable (then the user is treated as unknown). */
function realKeys(identity: SaslIdentity, c: ScramCredentials): ServerKeys | null {
  const salt = decodeBase64Strict(c.salt);
  const storedKey = decodeBase64Strict(c.storedKey);
  const serverKey = decodeBase64Strict(c.serverKey);
  const iterationsOk = Number.isSafeInteger(c.iterations) && c.iterations > 0;
  if (!iterationsOk || !salt || salt.length === 0 || storedKey?.length !== KEY_OCTETS) return null;
  if (serverKey?.length !== KEY_OCTETS) return null;
  return { identity, note: "wrong password", salt, iterations: c.iterations, storedKey, serverKey };
}

export class ScramSha256Mechanism extends StepMachine {
  readonly name = "SCRAM-SHA-256";
  private state:
    | { at: "client-first" }
    | { at: "client-final"; first: ClientFirst; serverFirst: string; nonce: string; keys: ServerKeys } = {
    at: "client-first",
  };

  constructor(
    private readonly lookup: SaslCredentialLookup,
    private readonly options: ScramOptions = {},
  ) {
    super();
  }

  protected async onStart(initialResponse: Buffer | null): Promise<SaslStep> {
    // client-first (RFC 5802 §5.2 2a): without an initial response, ask for it with an empty challenge
    return initialResponse === null ? challenge(Buffer.alloc(0)) : this.onStep(initialResponse);
  }

  protected async onStep(response: Buffer): Promise<SaslStep> {
    if (response.length > MAX_MESSAGE_OCTETS)
      return this.fail(scramError("malformed", "other-error", "too long"));
    const text = decodeUtf8(response);
    if (text === null) return this.fail(scramError("malformed", "invalid-encoding", "not valid UTF-8"));
    return this.state.at === "client-first" ? this.clientFirst(text) : this.clientFinal(text);
  }

  private fail(e: ScramError): SaslStep {
    return failure(e.reason, `SCRAM-SHA-256: ${e.message}`, e.error);
  }

  private async clientFirst(text: string): Promise<SaslStep> {
    const first = parseClientFirst(text);
    if ("reason" in first) return this.fail(first);
    let username: string;
    try {
      username = saslprep(first.username);
    } catch {
      return this.fail(scramError("malformed", "invalid-username-encoding", "username fails SASLprep"));
    }
    if (username === "")
      return this.fail(scramError("malformed", "invalid-username-encoding", "empty username"));
    const keys = await this.serverKeys(username);
    const serverNonce = (this.options.serverNonce ?? defaultServerNonce)();
    if (!NONCE.test(serverNonce)) throw new Error("SCRAM server nonce must be printable ASCII without ','");
    const nonce = first.clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${keys.salt.toString("base64")},i=${keys.iterations}`;
    this.state = { at: "client-final", first, serverFirst, nonce, keys };
    return challenge(serverFirst);
  }

  private async serverKeys(username: string): Promise<ServerKeys> {
    const secret = this.options.secret ?? PROCESS_SECRET;
    const iterations = this.options.fakeIterations ?? SCRAM_ITERATIONS;
    const account = await this.lookup.scramCredentials(username);
    if (account === null) return fakeKeys(secret, username, iterations, `unknown user ${username}`);
    const keys = realKeys(account.identity, account.credentials);
    return (
      keys ?? fakeKeys(secret, username, iterations, `unusable stored SCRAM credentials for ${username}`)
    );
  }

  private async clientFinal(text: string): Promise<SaslStep> {
    if (this.state.at !== "client-final")
      return this.fail(scramError("malformed", "other-error", "bad state"));
    const { first, serverFirst, nonce, keys } = this.state;
    const attrs = text.split(",");
    const last = attrs.length - 1;
    if (
      attrs.length < 3 ||
      !attrs[0]!.startsWith("c=") ||
      !attrs[1]!.startsWith("r=") ||
      !attrs[last]!.startsWith("p=")
    ) {
      return this.fail(scramError("malformed", "invalid-encoding", "expected c=…,r=…,p=…"));
    }
    const ext = checkExtensions(attrs.slice(2, last));
    if (ext) return this.fail(ext);
    const cbind = attrs[0]!.slice(2);
    // RFC 5802 §6: the server MUST validate c=; without channel binding it is base64(gs2-header)
    if (cbind !== Buffer.from(first.gs2Header, "utf8").toString("base64")) {
      if (decodeBase64Strict(cbind) === null)
        return this.fail(scramError("malformed", "invalid-encoding", "bad c="));
      return this.fail(scramError("invalid-credentials", "channel-bindings-dont-match", "c= does not match"));
    }
    if (attrs[1]!.slice(2) !== nonce) {
      return this.fail(scramError("invalid-credentials", "other-error", "nonce does not match server-first"));
    }
    const proof = decodeBase64Strict(attrs[last]!.slice(2));
    if (proof === null) return this.fail(scramError("malformed", "invalid-encoding", "bad proof encoding"));
    // AuthMessage (RFC 5802 §3): the bytes as received, which decodeUtf8 + UTF-8 encoding preserve
    const withoutProof = text.slice(0, text.lastIndexOf(","));
    const authMessage = `${first.bare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(keys.storedKey, authMessage);
    let proofOk = false;
    if (proof.length === KEY_OCTETS) {
      const clientKey = Buffer.alloc(KEY_OCTETS);
      for (let i = 0; i < KEY_OCTETS; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
      const storedKey = createHash("sha256").update(clientKey).digest();
      proofOk = timingSafeEqual(storedKey, keys.storedKey);
    }
    if (!proofOk || keys.identity === null) {
      return this.fail(scramError("invalid-credentials", "invalid-proof", keys.note));
    }
    const step = await authorizeStep(this.lookup, keys.identity, first.authzid, saslprep);
    if (step.kind === "failure") return { ...step, mechanismError: "other-error" };
    if (step.kind !== "success") return step;
    const serverSignature = hmac(keys.serverKey, authMessage);
    return { ...step, data: Buffer.from(`v=${serverSignature.toString("base64")}`, "utf8") };
  }
}

function defaultServerNonce(): string {
  return randomBytes(18).toString("base64"); // 24 characters of [A-Za-z0-9+/], all "printable"
}
