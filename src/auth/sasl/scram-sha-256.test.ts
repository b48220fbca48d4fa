import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import type { ScramCredentials } from "../../store/types.js";
import { SCRAM_ITERATIONS, scramCredentials } from "../password.js";
import { parseSaslResponse } from "./base64.js";
import { createMechanism } from "./registry.js";
import { decodeSaslname, encodeSaslname, ScramSha256Mechanism, type ScramOptions } from "./scram-sha-256.js";
import type { SaslCredentialLookup, SaslMechanism, SaslStep } from "./types.js";

const RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ==";
const SECRET = Buffer.from("test secret for fake salts");

/** Accounts by lower-cased address → password; SCRAM keys computed once. */
async function makeLookup(
  accounts: Record<string, string>,
): Promise<SaslCredentialLookup & { asked: string[] }> {
  const creds = new Map<string, ScramCredentials>();
  for (const [user, pw] of Object.entries(accounts))
    creds.set(user.toLowerCase(), await scramCredentials(pw));
  const asked: string[] = [];
  return {
    asked,
    async verifyPlain() {
      return null;
    },
    async scramCredentials(authcid) {
      asked.push(authcid);
      const c = creds.get(authcid.toLowerCase());
      return c ? { identity: { username: authcid.toLowerCase() }, credentials: c } : null;
    },
  };
}

const ALICE = "alice@example.com";
let shared: Promise<SaslCredentialLookup & { asked: string[] }> | undefined;
const lookup = () => {
  shared ??= makeLookup({ [ALICE]: "correct horse", "o,dd=name@example.com": "p\u00E4ss \u00BD" });
  return shared;
};

function mech(l: SaslCredentialLookup, options: ScramOptions = {}): SaslMechanism {
  return new ScramSha256Mechanism(l, { secret: SECRET, ...options });
}

/** A minimal, independent SCRAM-SHA-256 client (RFC 5802 §3, §7) on node:crypto. */
function nodeClient(username: string, password: string, opts: { authzid?: string; flag?: string } = {}) {
  const cnonce = randomBytes(18).toString("base64");
  const esc = (s: string) => s.replace(/=/g, "=3D").replace(/,/g, "=2C");
  const gs2 = `${opts.flag ?? "n"},${opts.authzid ? `a=${esc(opts.authzid)}` : ""},`;
  const bare = `n=${esc(username)},r=${cnonce}`;
  let expectedV = "";
  return {
    first: Buffer.from(gs2 + bare),
    final(
      serverFirst: Buffer,
      tamper: { nonce?: string; cbind?: string; proof?: (p: Buffer) => Buffer } = {},
    ) {
      const text = serverFirst.toString();
      const m = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(text);
      assert.ok(m, text);
      assert.ok(m[1]!.startsWith(cnonce));
      const salted = pbkdf2Sync(
        password.normalize("NFKC"),
        Buffer.from(m[2]!, "base64"),
        Number(m[3]),
        32,
        "sha256",
      );
      const clientKey = createHmac("sha256", salted).update("Client Key").digest();
      const storedKey = createHash("sha256").update(clientKey).digest();
      const withoutProof = `c=${tamper.cbind ?? Buffer.from(gs2).toString("base64")},r=${tamper.nonce ?? m[1]}`;
      const authMessage = `${bare},${text},${withoutProof}`;
      const signature = createHmac("sha256", storedKey).update(authMessage).digest();
      let proof: Buffer = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
      if (tamper.proof) proof = tamper.proof(proof);
      const serverKey = createHmac("sha256", salted).update("Server Key").digest();
      expectedV = `v=${createHmac("sha256", serverKey).update(authMessage).digest("base64")}`;
      return Buffer.from(`${withoutProof},p=${proof.toString("base64")}`);
    },
    get expectedV() {
      return expectedV;
    },
  };
}

function challengeOf(step: SaslStep): Buffer {
  assert.equal(step.kind, "challenge", JSON.stringify(step));
  return step.kind === "challenge" ? step.data : Buffer.alloc(0);
}

function failureOf(step: SaslStep) {
  assert.equal(step.kind, "failure", JSON.stringify(step));
  return step.kind === "failure" ? { reason: step.reason, error: step.mechanismError } : null;
}

async function firstThenFinal(client: ReturnType<typeof nodeClient>, m: SaslMechanism) {
  const serverFirst = challengeOf(await m.start(client.first));
  return {
    serverFirst,
    final: (t?: Parameters<typeof client.final>[1]) => m.step(client.final(serverFirst, t)),
  };
}

describe("SCRAM-SHA-256 (RFC 5802, RFC 7677)", () => {
  it("reproduces the RFC 7677 §3 example exchange byte for byte", async () => {
    const credentials = await scramCredentials("pencil", 4096, Buffer.from(RFC_SALT, "base64"));
    const l: SaslCredentialLookup = {
      verifyPlain: async () => null,
      scramCredentials: async (u) => (u === "user" ? { identity: { username: "user" }, credentials } : null),
    };
    const m = mech(l, { serverNonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" });
    const serverFirst = challengeOf(await m.start(Buffer.from("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")));
    assert.equal(
      serverFirst.toString(),
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    const final = await m.step(
      Buffer.from(
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
      ),
    );
    assert.equal(final.kind, "success");
    if (final.kind !== "success") return;
    assert.equal(final.data?.toString(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    assert.deepEqual(final.identity, { username: "user" });
  });

  it("authenticates an independent node:crypto client, with an empty challenge first", async () => {
    const m = mech(await lookup());
    assert.deepEqual(await m.start(null), { kind: "challenge", data: Buffer.alloc(0) });
    const c = nodeClient(ALICE, "correct horse");
    const serverFirst = challengeOf(await m.step(c.first));
    assert.match(serverFirst.toString(), /^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/);
    const done = await m.step(c.final(serverFirst));
    assert.equal(done.kind, "success");
    if (done.kind === "success") assert.equal(done.data?.toString(), c.expectedV);
  });

  it("generates fresh printable server nonces of at least 18 random bytes", async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const c = nodeClient(ALICE, "x");
      const first = challengeOf(await mech(await lookup()).start(c.first)).toString();
      const nonce = /^r=([^,]+),/.exec(first)![1]!;
      const server = nonce.slice(c.first.toString().split("r=")[1]!.length);
      assert.ok(server.length >= 24 && /^[\x21-\x2B\x2D-\x7E]+$/.test(server), server);
      nonces.add(server);
    }
    assert.equal(nonces.size, 5);
  });

  it("prepares and unescapes usernames: saslname =2C / =3D, NFKC passwords (RFC 5802 §3, §5.1)", async () => {
    const c = nodeClient("o,dd=name@example.com", "p\u00E4ss \u00BD");
    assert.match(c.first.toString(), /n=o=2Cdd=3Dname@example.com,/);
    const { final } = await firstThenFinal(c, mech(await lookup()));
    assert.equal((await final()).kind, "success");
    // lower-case escapes are the same saslname (ABNF strings are case-insensitive)
    assert.equal(decodeSaslname("o=2cdd=3dname"), "o,dd=name");
    for (const bad of ["", "a=", "a=4", "a=41", "a=2", "a,b", "a\0b"])
      assert.equal(decodeSaslname(bad), null, bad);
    assert.equal(encodeSaslname("a=b,c"), "a=3Db=2Cc");
  });

  it("fails a wrong password and an unknown user indistinguishably", async () => {
    const l = await lookup();
    const run = async (user: string) => {
      const c = nodeClient(user, "wrong password");
      const { serverFirst, final } = await firstThenFinal(c, mech(l));
      const s = /^r=[^,]+,s=([^,]+),i=(\d+)$/.exec(serverFirst.toString())!;
      return { salt: s[1]!, iterations: Number(s[2]), outcome: failureOf(await final()) };
    };
    const wrong = await run(ALICE);
    const ghost = await run("ghost@example.com");
    assert.deepEqual(wrong.outcome, { reason: "invalid-credentials", error: "invalid-proof" });
    assert.deepEqual(ghost.outcome, wrong.outcome);
    assert.equal(ghost.iterations, SCRAM_ITERATIONS);
    assert.equal(ghost.iterations, wrong.iterations);
    assert.equal(Buffer.from(ghost.salt, "base64").length, Buffer.from(wrong.salt, "base64").length);
    // the fake salt is stable per user (as a real one is), case-insensitively, and differs between users
    assert.equal((await run("ghost@example.com")).salt, ghost.salt);
    assert.equal((await run("Ghost@Example.COM")).salt, ghost.salt);
    assert.notEqual((await run("phantom@example.com")).salt, ghost.salt);
    // even the right password of nobody cannot succeed against fake keys
    const c = nodeClient("ghost@example.com", "");
    assert.equal((await (await firstThenFinal(c, mech(l))).final()).kind, "failure");
  });

  it("treats unusable stored credentials like an unknown user", async () => {
    const l: SaslCredentialLookup = {
      verifyPlain: async () => null,
      scramCredentials: async () => ({
        identity: { username: ALICE },
        credentials: { iterations: 0, salt: "", storedKey: "AA==", serverKey: "AA==" },
      }),
    };
    const { final } = await firstThenFinal(nodeClient(ALICE, "correct horse"), mech(l));
    assert.deepEqual(failureOf(await final()), { reason: "invalid-credentials", error: "invalid-proof" });
  });

  it("rejects a tampered nonce, a wrong channel binding and a forged proof", async () => {
    const l = await lookup();
    const cases: Array<[Parameters<ReturnType<typeof nodeClient>["final"]>[1], object]> = [
      [{ nonce: "tampered" }, { reason: "invalid-credentials", error: "other-error" }],
      [
        { cbind: Buffer.from("y,,").toString("base64") },
        { reason: "invalid-credentials", error: "channel-bindings-dont-match" },
      ],
      [{ cbind: "biws!" }, { reason: "malformed", error: "invalid-encoding" }],
      [
        { proof: (p) => Buffer.from(p.map((b, i) => (i === 0 ? b ^ 1 : b))) },
        { reason: "invalid-credentials", error: "invalid-proof" },
      ],
      [{ proof: (p) => p.subarray(1) }, { reason: "invalid-credentials", error: "invalid-proof" }],
    ];
    for (const [tamper, expected] of cases) {
      const { final } = await firstThenFinal(nodeClient(ALICE, "correct horse"), mech(l));
      assert.deepEqual(failureOf(await final(tamper)), expected, JSON.stringify(tamper));
    }
  });

  it("accepts the 'y' flag (we do not offer -PLUS) and refuses 'p=' channel binding", async () => {
    const l = await lookup();
    const y = nodeClient(ALICE, "correct horse", { flag: "y" });
    assert.equal((await (await firstThenFinal(y, mech(l))).final()).kind, "success");
    const p = await mech(l).start(Buffer.from("p=tls-exporter,,n=alice@example.com,r=abcdef"));
    assert.deepEqual(failureOf(p), { reason: "unsupported", error: "channel-binding-not-supported" });
  });

  it("refuses mandatory extensions and ignores optional ones", async () => {
    const l = await lookup();
    for (const msg of ["n,,m=foo,n=alice@example.com,r=abcdef", "n,,n=alice@example.com,r=abcdef,m=x"]) {
      assert.deepEqual(failureOf(await mech(l).start(Buffer.from(msg))), {
        reason: "unsupported",
        error: "extensions-not-supported",
      });
    }
    assert.equal(
      (await mech(l).start(Buffer.from("n,,n=alice@example.com,r=abcdef,x=future"))).kind,
      "challenge",
    );
    const m = mech(l);
    const c = nodeClient(ALICE, "correct horse");
    const serverFirst = challengeOf(await m.start(c.first));
    const final = c.final(serverFirst).toString();
    const withMext = final.replace(",p=", ",m=ext,p=");
    assert.deepEqual(failureOf(await m.step(Buffer.from(withMext))), {
      reason: "unsupported",
      error: "extensions-not-supported",
    });
  });

  it("rejects malformed client-first messages without asking the lookup", async () => {
    const l = await makeLookup({});
    const bad: Array<[string | Buffer, string]> = [
      ["", "invalid-encoding"],
      ["n,,", "invalid-encoding"],
      ["x,,n=alice,r=abc", "invalid-encoding"],
      ["F,n,,n=alice,r=abc", "invalid-encoding"],
      ["n,n=alice,r=abc", "invalid-encoding"],
      ["p=bad name,,n=alice,r=abc", "invalid-encoding"],
      ["n,b=x,n=alice,r=abc", "invalid-encoding"],
      ["n,a=,n=alice,r=abc", "invalid-encoding"],
      ["n,a=x=41,n=alice,r=abc", "invalid-encoding"],
      ["n,,r=abc,n=alice", "invalid-encoding"],
      ["n,,n=alice", "invalid-encoding"],
      ["n,,n=alice,r=", "invalid-encoding"],
      ["n,,n=alice,r=a b", "invalid-encoding"],
      ["n,,n=alice,r=abc,junk", "invalid-encoding"],
      ["n,,n=alice,r=abc,", "invalid-encoding"],
      ["n,,n=,r=abc", "invalid-username-encoding"],
      ["n,,n=al=ice,r=abc", "invalid-username-encoding"],
      ["n,,n=al\u0007ice,r=abc", "invalid-username-encoding"],
      ["n,,n=\u00AD,r=abc", "invalid-username-encoding"], // empty after SASLprep
      [Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xc3, 0x28, 0x2c, 0x72, 0x3d, 0x61]), "invalid-encoding"],
      [Buffer.alloc(5000, 0x61), "other-error"],
    ];
    for (const [msg, error] of bad) {
      const outcome = failureOf(await mech(l).start(Buffer.isBuffer(msg) ? msg : Buffer.from(msg)));
      assert.deepEqual(outcome, { reason: "malformed", error }, JSON.stringify(msg));
    }
    assert.deepEqual(l.asked, []);
  });

  it("rejects malformed client-final messages", async () => {
    const l = await lookup();
    const cases: Array<[(nonce: string) => string, string]> = [
      [() => "", "malformed"],
      [() => "c=biws", "malformed"],
      [(n) => `c=biws,r=${n}`, "malformed"],
      [(n) => `r=${n},c=biws,p=AAAA`, "malformed"],
      [(n) => `c=biws,r=${n},p=AAAA,x=1`, "malformed"],
      [(n) => `c=biws,r=${n},junk,p=AAAA`, "malformed"],
      [(n) => `c=biws,r=${n},p=AA!A`, "malformed"],
      [(n) => `c=biws,r=${n},p=`, "invalid-credentials"], // well-formed, but a 0-octet proof
      [(n) => `c=biws,r=${n},x=later,p=AAAA`, "invalid-credentials"], // optional extension ignored
    ];
    for (const [make, reason] of cases) {
      const m = mech(l);
      const first = challengeOf(await m.start(Buffer.from("n,,n=alice@example.com,r=abcdef"))).toString();
      const text = make(/^r=([^,]+)/.exec(first)![1]!);
      assert.equal(failureOf(await m.step(Buffer.from(text)))?.reason, reason, text);
    }
  });

  it("authorizes authzid a= only for the account itself unless authorize() allows it", async () => {
    const l = await lookup();
    const self = nodeClient(ALICE, "correct horse", { authzid: "Alice@example.com" });
    const ok = await (await firstThenFinal(self, mech(l))).final();
    assert.equal(ok.kind, "success");
    const other = nodeClient(ALICE, "correct horse", { authzid: "postmaster@example.com" });
    assert.deepEqual(failureOf(await (await firstThenFinal(other, mech(l))).final()), {
      reason: "authz-denied",
      error: "other-error",
    });
    const admin: SaslCredentialLookup = { ...l, authorize: async (_who, authzid) => ({ username: authzid }) };
    const proxied = await (
      await firstThenFinal(nodeClient(ALICE, "correct horse", { authzid: "b,ob@example.com" }), mech(admin))
    ).final();
    assert.equal(proxied.kind, "success");
    if (proxied.kind === "success") {
      assert.deepEqual(proxied.identity, { username: "b,ob@example.com" });
      assert.deepEqual(proxied.authenticated, { username: ALICE });
    }
  });

  it("ends after the outcome and refuses concurrent steps", async () => {
    const l = await lookup();
    const c = nodeClient(ALICE, "correct horse");
    const m = mech(l);
    const serverFirst = challengeOf(await m.start(c.first));
    const final = c.final(serverFirst);
    const [a, b] = await Promise.all([m.step(final), m.step(final)]);
    assert.equal(a.kind, "success");
    assert.equal(failureOf(b)?.reason, "malformed");
    assert.equal(failureOf(await m.step(final))?.reason, "malformed");
  });
});

// ---------------------------------------------------------------------------------------------
// Interop with an implementation that is not ours: the client steps in Python (hashlib.pbkdf2_hmac),
// driven line by line like a protocol would (base64 lines; "*" to cancel; empty line after v=).

const PY_CLIENT = `
import base64, hashlib, hmac, os, sys, unicodedata
user, password = sys.argv[1], sys.argv[2]
def esc(s): return s.replace("=", "=3D").replace(",", "=2C")
def send(b): print(base64.b64encode(b).decode(), flush=True)
def recv(): return base64.b64decode(sys.stdin.readline().strip(), validate=True).decode()
cnonce = base64.b64encode(os.urandom(18)).decode()
gs2 = "n,,"
bare = "n=" + esc(user) + ",r=" + cnonce
send((gs2 + bare).encode())
server_first = recv()
attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
assert attrs["r"].startswith(cnonce)
salted = hashlib.pbkdf2_hmac("sha256", unicodedata.normalize("NFKC", password).encode(),
                             base64.b64decode(attrs["s"]), int(attrs["i"]))
client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
stored_key = hashlib.sha256(client_key).digest()
without_proof = "c=" + base64.b64encode(gs2.encode()).decode() + ",r=" + attrs["r"]
auth_message = (bare + "," + server_first + "," + without_proof).encode()
signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
proof = bytes(a ^ b for a, b in zip(client_key, signature))
send((without_proof + ",p=" + base64.b64encode(proof).decode()).encode())
server_final = recv()
server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
expected = "v=" + base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
print("" if hmac.compare_digest(server_final, expected) else "*", flush=True)
`;

const hasPython = spawnSync("python3", ["-c", "import hashlib, hmac"]).status === 0;

/** Drive the Python client against a registry mechanism as SMTP would; returns the final step. */
async function pythonExchange(user: string, password: string, l: SaslCredentialLookup): Promise<SaslStep> {
  const child = spawn("python3", ["-c", PY_CLIENT, user, password], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const readLine = async () => {
    const r = await lines.next();
    assert.ok(!r.done, "the Python client ended early");
    return r.value as string;
  };
  try {
    const m = createMechanism("scram-sha-256", l, { secure: false, scram: { secret: SECRET } })!;
    const initial = parseSaslResponse(await readLine(), true); // AUTH SCRAM-SHA-256 <initial response>
    assert.equal(initial.kind, "data");
    let step = await m.start(initial.kind === "data" ? initial.data : null);
    while (step.kind === "challenge") {
      child.stdin.write(`${step.data.toString("base64")}\n`); // 334 <base64>
      const response = parseSaslResponse(await readLine());
      if (response.kind === "cancel")
        return { kind: "failure", reason: "cancelled", message: "client cancelled" };
      assert.equal(response.kind, "data");
      step = await m.step(response.kind === "data" ? response.data : Buffer.alloc(0));
    }
    return step;
  } finally {
    child.kill();
  }
}

describe("SCRAM-SHA-256 interop with a Python client", {
  skip: hasPython ? false : "python3 not available",
}, () => {
  it("authenticates, and the Python client verifies our ServerSignature", async () => {
    const step = await pythonExchange(ALICE, "correct horse", await lookup());
    assert.equal(step.kind, "success", JSON.stringify(step));
    if (step.kind === "success") assert.equal(step.data, undefined); // v= went out as a challenge
  });

  it("agrees on escaped usernames and NFKC-normalised non-ASCII passwords", async () => {
    const step = await pythonExchange("o,dd=name@example.com", "p\u00E4ss \u00BD", await lookup());
    assert.equal(step.kind, "success", JSON.stringify(step));
  });

  it("fails a wrong password and an unknown user the same way", async () => {
    const wrong = await pythonExchange(ALICE, "wrong", await lookup());
    const ghost = await pythonExchange("ghost@example.com", "wrong", await lookup());
    assert.deepEqual(failureOf(wrong), { reason: "invalid-credentials", error: "invalid-proof" });
    assert.deepEqual(failureOf(ghost), failureOf(wrong));
  });
});
