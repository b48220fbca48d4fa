// DKIM keys on disk, signing, and verification by two independent verifiers: mailauth (in process) and
// dkimpy (Debian's python3-dkim). Both must accept the rsa-sha256 and the ed25519-sha256 signature, and
// both must reject a message changed after signing.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_DKIM_SELECTOR,
  DEFAULT_ED25519_SELECTOR,
  DkimKeyError,
  dkimKeyPath,
  dkimStatePath,
  dropRetiredDomainKeys,
  ensureDkimKey,
  ensureDomainKeys,
  listDomainKeys,
  rotateDomainKeys,
} from "../../src/security/dkim-keys.js";
import { DkimSigner } from "../../src/security/dkim-sign.js";
import {
  DKIMPY_MISSING,
  findDkimPython,
  type TxtRecords,
  type Verdict,
  verifyWithDkimpy,
  verifyWithMailauth,
} from "./dkim-helpers.js";

const DOMAIN = "example.test";

const MESSAGE = [
  "Received: from [192.0.2.1] by mail.example.test",
  "From: Alice Example <alice@example.test>",
  "To: Bob <bob@other.test>,",
  "  carol@other.test",
  "Cc: dave@other.test",
  "Subject:   Quarterly   numbers\t(draft)",
  "Date: Tue, 03 Nov 2026 10:00:00 +0100",
  "Message-ID: <q3.1@example.test>",
  "MIME-Version: 1.0",
  "Content-Type: text/plain; charset=utf-8",
  "Content-Transfer-Encoding: 8bit",
  "List-Id: <numbers.example.test>",
  "X-Mailer: test",
  "",
  "Hello Bob,   ",
  "",
  "\tthe numbers are in — grüße.",
  "",
  "",
  "",
].join("\r\n");

async function records(dataDir: string): Promise<TxtRecords> {
  const out: TxtRecords = {};
  for (const k of await listDomainKeys(dataDir, DOMAIN))
    out[`${k.selector}._domainkey.${DOMAIN}`] = k.dnsRecord;
  return out;
}

function assertAllPass(verdicts: Verdict[], selectors: string[], who: string): void {
  assert.deepEqual(
    verdicts.map((v) => v.selector),
    selectors,
    `${who}: one verdict per signature, in order`,
  );
  for (const v of verdicts)
    assert.ok(v.pass, `${who}: ${v.selector} (${v.algorithm}) should pass: ${v.detail}`);
  assert.deepEqual(verdicts.map((v) => v.algorithm).sort(), ["ed25519-sha256", "rsa-sha256"], who);
}

function assertAllFail(verdicts: Verdict[], who: string): void {
  assert.equal(verdicts.length, 2, who);
  for (const v of verdicts) assert.ok(!v.pass, `${who}: ${v.selector} should fail`);
}

describe("DKIM keys", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-dkim-keys-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("makes an RSA-2048 and an Ed25519 key per domain, private files 0600 in a 0700 directory", async () => {
    const keys = await ensureDomainKeys(dir, DOMAIN);
    assert.equal(keys.rsa.selector, DEFAULT_DKIM_SELECTOR);
    assert.equal(keys.ed25519.selector, DEFAULT_ED25519_SELECTOR);
    assert.equal(keys.rsa.algorithm, "rsa");
    assert.equal(keys.ed25519.algorithm, "ed25519");
    assert.equal(keys.rsa.path, join(dir, "dkim", DOMAIN, "postamt.pem"));

    const spki = createPublicKey({
      key: Buffer.from(keys.rsa.publicKeyBase64, "base64"),
      format: "der",
      type: "spki",
    });
    assert.equal(spki.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(keys.rsa.dnsRecord, `v=DKIM1; k=rsa; p=${keys.rsa.publicKeyBase64}`);

    // RFC 8463 §4.2: the raw 32-byte key, 44 base64 characters; not SPKI
    assert.equal(Buffer.from(keys.ed25519.publicKeyBase64, "base64").length, 32);
    assert.equal(keys.ed25519.publicKeyBase64.length, 44);
    assert.equal(keys.ed25519.dnsRecord, `v=DKIM1; k=ed25519; p=${keys.ed25519.publicKeyBase64}`);

    for (const p of [keys.rsa.path, keys.ed25519.path, dkimStatePath(dir, DOMAIN)]) {
      assert.equal((await stat(p)).mode & 0o777, 0o600, p);
    }
    assert.equal((await stat(join(dir, "dkim", DOMAIN))).mode & 0o777, 0o700);

    const again = await ensureDomainKeys(dir, DOMAIN);
    assert.equal(again.rsa.privateKeyPem, keys.rsa.privateKeyPem);
    assert.equal(again.ed25519.privateKeyPem, keys.ed25519.privateKeyPem);
  });

  it("keeps a domain's existing postamt.pem (from before Ed25519) as its active RSA key", async () => {
    const old = await ensureDkimKey(dir, "legacy.test");
    assert.equal(old.algorithm, "rsa");
    assert.equal(existsSync(dkimStatePath(dir, "legacy.test")), false);
    const keys = await ensureDomainKeys(dir, "legacy.test");
    assert.equal(keys.rsa.selector, "postamt");
    assert.equal(keys.rsa.privateKeyPem, old.privateKeyPem);
    assert.equal(keys.ed25519.algorithm, "ed25519");
    // and the old API still returns the same key
    assert.equal((await ensureDkimKey(dir, "legacy.test")).publicKeyBase64, old.publicKeyBase64);
  });

  it("agrees with itself when two callers create a domain's keys at once", async () => {
    const [a, b, c] = await Promise.all([
      ensureDomainKeys(dir, "race.test"),
      ensureDomainKeys(dir, "race.test"),
      listDomainKeys(dir, "race.test"),
    ]);
    assert.equal(a.rsa.privateKeyPem, b.rsa.privateKeyPem);
    assert.equal(a.ed25519.privateKeyPem, b.ed25519.privateKeyPem);
    assert.equal(c[1]!.publicKeyBase64, a.ed25519.publicKeyBase64);
  });

  it("rotates to dated selectors, unique within a month, and keeps the old keys published", async () => {
    const before = await ensureDomainKeys(dir, DOMAIN);
    const now = new Date("2026-11-15T12:00:00Z");
    const r1 = await rotateDomainKeys(dir, DOMAIN, now);
    assert.equal(r1.active.rsa.selector, "p202611r");
    assert.equal(r1.active.ed25519.selector, "p202611e");
    assert.deepEqual(
      r1.retired.map((k) => k.selector),
      [before.rsa.selector, before.ed25519.selector],
    );
    const r2 = await rotateDomainKeys(dir, DOMAIN, new Date("2026-11-20T12:00:00Z"));
    assert.equal(r2.active.rsa.selector, "p202611r2");
    assert.equal(r2.active.ed25519.selector, "p202611e2");
    assert.notEqual(r2.active.rsa.publicKeyBase64, r1.active.rsa.publicKeyBase64);

    const active = await ensureDomainKeys(dir, DOMAIN);
    assert.equal(active.rsa.selector, "p202611r2");
    const listed = await listDomainKeys(dir, DOMAIN);
    assert.deepEqual(
      listed.map((k) => [k.selector, k.status]),
      [
        ["p202611r2", "active"],
        ["p202611e2", "active"],
        ["p202611r", "retired"],
        ["p202611e", "retired"],
        ["postamt", "retired"],
        ["postamt-ed25519", "retired"],
      ],
    );

    // dropping the retired keys older than a date deletes them and their records
    const dropped = await dropRetiredDomainKeys(dir, DOMAIN, new Date("2026-11-18T00:00:00Z"));
    assert.deepEqual(dropped.sort(), ["postamt", "postamt-ed25519"]);
    assert.equal(existsSync(dkimKeyPath(dir, DOMAIN, "postamt")), false);
    assert.deepEqual(
      (await listDomainKeys(dir, DOMAIN)).map((k) => k.selector),
      ["p202611r2", "p202611e2", "p202611r", "p202611e"],
    );
    // a dropped selector's name is never handed out again (resolvers may still cache its old record)
    assert.deepEqual((await dropRetiredDomainKeys(dir, DOMAIN)).sort(), ["p202611e", "p202611r"]);
    const r3 = await rotateDomainKeys(dir, DOMAIN, new Date("2026-11-21T00:00:00Z"));
    assert.equal(r3.active.rsa.selector, "p202611r3");
    assert.equal(r3.active.ed25519.selector, "p202611e3");
  });

  it("refuses to regenerate a missing active key silently", async () => {
    await ensureDomainKeys(dir, "lost.test");
    await rm(dkimKeyPath(dir, "lost.test", DEFAULT_ED25519_SELECTOR));
    await assert.rejects(ensureDomainKeys(dir, "lost.test"), (err: unknown) => {
      assert.ok(err instanceof DkimKeyError);
      assert.match(err.message, /missing.*dkim-rotate lost\.test/);
      return true;
    });
  });

  it("refuses domain names that are not plain A-labels (they become paths)", async () => {
    await assert.rejects(ensureDomainKeys(dir, "../etc"), DkimKeyError);
    await assert.rejects(ensureDomainKeys(dir, "Example.test"), DkimKeyError);
  });
});

describe("DKIM signatures verified by mailauth and dkimpy", () => {
  let dir: string;
  let signer: DkimSigner;
  let txt: TxtRecords;
  let sigs: string;
  const python = findDkimPython();
  const dkimpy = { skip: python ? false : DKIMPY_MISSING };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-dkim-sign-"));
    signer = new DkimSigner({ dataDir: dir, hostname: "mail.example.test" });
    sigs = await signer.sign(Buffer.from(MESSAGE), { domain: DOMAIN });
    txt = await records(dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const signed = () => Buffer.from(sigs + MESSAGE);
  const order = [DEFAULT_DKIM_SELECTOR, DEFAULT_ED25519_SELECTOR];

  it("produces an rsa-sha256 and an ed25519-sha256 signature, RSA first", () => {
    const fields = sigs.split(/\r\n(?=\S)/).filter(Boolean);
    assert.equal(fields.length, 2);
    assert.match(fields[0]!, /a=rsa-sha256;.*s=postamt;/s);
    assert.match(fields[1]!, /a=ed25519-sha256;.*s=postamt-ed25519;/s);
    const h = /h=([^;]*);/.exec(fields[0]!.replace(/\r\n /g, ""))![1]!;
    assert.equal(
      h,
      "from:from:to:cc:subject:date:message-id:mime-version:content-type:content-transfer-encoding:list-id",
    );
  });

  it("mailauth: both pass", async () => {
    assertAllPass(await verifyWithMailauth(signed(), txt), order, "mailauth");
  });

  it("dkimpy: both pass", dkimpy, async () => {
    assertAllPass(await verifyWithDkimpy(python!, signed(), txt), order, "dkimpy");
  });

  const bodyChanged = () => Buffer.from(sigs + MESSAGE.replace("numbers are in", "numbers are out"));
  const subjectChanged = () => Buffer.from(sigs + MESSAGE.replace("Quarterly", "Annual"));
  // A From added above the signed one: without oversigning, verifiers would check the bottom From (the
  // signed one) and pass, while a mail client might show the added one (RFC 6376 §8.15).
  const fromAdded = () => Buffer.from(`${sigs}From: mallory@evil.test\r\n${MESSAGE}`);

  it("mailauth: a changed body, a changed Subject or an added From fails", async () => {
    assertAllFail(await verifyWithMailauth(bodyChanged(), txt), "mailauth body");
    assertAllFail(await verifyWithMailauth(subjectChanged(), txt), "mailauth subject");
    assertAllFail(await verifyWithMailauth(fromAdded(), txt), "mailauth extra From");
  });

  it("dkimpy: a changed body, a changed Subject or an added From fails", dkimpy, async () => {
    assertAllFail(await verifyWithDkimpy(python!, bodyChanged(), txt), "dkimpy body");
    assertAllFail(await verifyWithDkimpy(python!, subjectChanged(), txt), "dkimpy subject");
    assertAllFail(await verifyWithDkimpy(python!, fromAdded(), txt), "dkimpy extra From");
  });

  it("unsigned additions on the way (a Received field, refolding) still verify", async () => {
    const relayed = Buffer.from(
      `Received: from mail.example.test by mx.other.test\r\n${sigs}${MESSAGE.replace("Cc: dave", "Cc:    dave")}`,
    );
    assertAllPass(await verifyWithMailauth(relayed, txt), order, "mailauth relayed");
    if (python) assertAllPass(await verifyWithDkimpy(python, relayed, txt), order, "dkimpy relayed");
  });

  it("signs an LF-only message as its CRLF wire form", async () => {
    const lf = MESSAGE.replace(/\r\n/g, "\n");
    const now = new Date();
    const fromLf = await signer.sign(Buffer.from(lf), { domain: DOMAIN, now });
    assert.equal(fromLf, await signer.sign(Buffer.from(MESSAGE), { domain: DOMAIN, now }));
    assert.doesNotMatch(fromLf, /[^\r]\n/, "the signature fields use CRLF");
    const wire = Buffer.from(fromLf + MESSAGE);
    assertAllPass(await verifyWithMailauth(wire, txt), order, "mailauth LF");
    if (python) assertAllPass(await verifyWithDkimpy(python, wire, txt), order, "dkimpy LF");
  });

  it("streams a large message given as prefix + stream", async () => {
    const line = `${"0123456789abcdef ".repeat(4)}\t \r\n`;
    const big = Buffer.from(MESSAGE + line.repeat(50_000)); // ~3.5 MB
    const head = big.subarray(0, 300);
    const rest = big.subarray(300);
    const chunks = function* () {
      for (let i = 0; i < rest.length; i += 65_521) yield rest.subarray(i, i + 65_521);
    };
    const fromStream = await signer.sign({ prefix: head, body: Readable.from(chunks()) }, { domain: DOMAIN });
    const wire = Buffer.concat([Buffer.from(fromStream), big]);
    assertAllPass(await verifyWithMailauth(wire, txt), order, "mailauth big");
    if (python) assertAllPass(await verifyWithDkimpy(python, wire, txt), order, "dkimpy big");
  });

  it("signs with the new selectors after a rotation, and the old records still verify old mail", async () => {
    const old = signed();
    await rotateDomainKeys(dir, DOMAIN);
    const fresh = await signer.sign(Buffer.from(MESSAGE), { domain: DOMAIN });
    const sel = [...fresh.matchAll(/ s=([^;]+);/g)].map((m) => m[1]!);
    assert.equal(sel.length, 2);
    assert.ok(!sel.includes(DEFAULT_DKIM_SELECTOR) && !sel.includes(DEFAULT_ED25519_SELECTOR), sel.join());
    const all = await records(dir);
    assertAllPass(await verifyWithMailauth(Buffer.from(fresh + MESSAGE), all), sel, "mailauth rotated");
    assertAllPass(await verifyWithMailauth(old, all), order, "mailauth old mail");
    if (python) {
      assertAllPass(await verifyWithDkimpy(python, Buffer.from(fresh + MESSAGE), all), sel, "dkimpy rotated");
      assertAllPass(await verifyWithDkimpy(python, old, all), order, "dkimpy old mail");
    }
  });

  it("rereads keys.json when another process rotated (or reload())", async () => {
    const s1 = await signer.sign(Buffer.from(MESSAGE), { domain: DOMAIN });
    // another process (the CLI) writes keys.json; the signer notices by the file's identity
    const state = JSON.parse(await readFile(dkimStatePath(dir, DOMAIN), "utf8")) as {
      active: { rsa: string; ed25519: string };
    };
    await rotateDomainKeys(dir, DOMAIN);
    const s2 = await signer.sign(Buffer.from(MESSAGE), { domain: DOMAIN });
    assert.ok(s1.includes(` s=${state.active.rsa};`));
    assert.ok(!s2.includes(` s=${state.active.rsa};`));
    signer.reload();
    assert.equal(
      (await signer.keysFor(DOMAIN)).map((k) => k.selector).join(),
      (await ensureDomainKeys(dir, DOMAIN)).rsa.selector +
        "," +
        (await ensureDomainKeys(dir, DOMAIN)).ed25519.selector,
    );
  });

  it("fails clearly on a corrupt keys.json", async () => {
    const d2 = await mkdtemp(join(tmpdir(), "postamt-dkim-bad-"));
    try {
      await ensureDomainKeys(d2, DOMAIN);
      await writeFile(dkimStatePath(d2, DOMAIN), "{nope");
      const s = new DkimSigner({ dataDir: d2, hostname: "mail.example.test" });
      await assert.rejects(s.sign(Buffer.from(MESSAGE), { domain: DOMAIN }), /keys\.json is not valid JSON/);
    } finally {
      await rm(d2, { recursive: true, force: true });
    }
  });
});
