// DKIM signing keys per local domain, kept in <data_dir>/dkim/<domain>/:
//
//   <selector>.pem   one private key (PKCS#8 PEM, mode 0600) per selector, RSA-2048 or Ed25519
//   keys.json        which selectors sign now ("active": one RSA, one Ed25519) and which were replaced but
//                    stay published ("retired") so that mail signed before a rotation still verifies
//
// Created when a domain is added so that `postamt dns` can print the records to publish before any mail
// is sent; the outbound signer (dkim-sign.ts) reads the same files. A domain from before keys.json has
// only postamt.pem: that stays its active RSA key (selector "postamt") and an Ed25519 key is added.
//
// Every file is written to a temporary name and renamed (or linked, when it must not replace a file a
// concurrent process created) into place, so a reader never sees half a file. Changes to keys.json are
// serialised by a lock file, since the CLI and a running server share the directory.
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const generateKeyPairAsync = promisify(generateKeyPair);

/** The RSA selector of domains created before rotation existed, and of every new domain. */
export const DEFAULT_DKIM_SELECTOR = "postamt";
/** The first Ed25519 selector of a domain. */
export const DEFAULT_ED25519_SELECTOR = "postamt-ed25519";

export type DkimAlgorithm = "rsa" | "ed25519";

export interface DkimKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  path: string;
  privateKeyPem: string;
  /**
   * The p= tag of the DNS record: base64 SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1), the raw 32-byte
   * public key for Ed25519 (RFC 8463 §4.2; not SPKI).
   */
  publicKeyBase64: string;
  /** The TXT record value to publish at <selector>._domainkey.<domain>, e.g. "v=DKIM1; k=rsa; p=…". */
  dnsRecord: string;
}

/** The keys that sign a domain's mail now. */
export interface DomainKeys {
  rsa: DkimKey;
  ed25519: DkimKey;
}

/** A key whose record must be published, with why. */
export interface PublishedDkimKey extends DkimKey {
  status: "active" | "retired";
  /** ISO time the key stopped signing (retired keys only) */
  retiredAt?: string;
}

interface RetiredEntry {
  selector: string;
  algorithm: DkimAlgorithm;
  retiredAt: string;
}

interface KeyState {
  version: 1;
  active: { rsa: string; ed25519: string };
  retired: RetiredEntry[];
  /** selectors dropped by dropRetiredDomainKeys: never used again (resolvers may still cache the record) */
  dropped?: string[];
}

/** A key file or state file that is missing or unusable; the message says what to do. */
export class DkimKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DkimKeyError";
  }
}

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DOMAIN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** The directory is built from the domain: refuse anything that is not a plain lower-case A-label name. */
function checkDomain(domain: string): void {
  if (!DOMAIN.test(domain)) throw new DkimKeyError(`"${domain}" is not a lower-case ASCII domain name`);
}

function checkSelector(selector: string): void {
  if (!SELECTOR.test(selector)) throw new DkimKeyError(`"${selector}" is not a valid DKIM selector`);
}

export function dkimDomainDir(dataDir: string, domain: string): string {
  checkDomain(domain);
  return join(dataDir, "dkim", domain);
}

export function dkimKeyPath(dataDir: string, domain: string, selector = DEFAULT_DKIM_SELECTOR): string {
  checkSelector(selector);
  return join(dkimDomainDir(dataDir, domain), `${selector}.pem`);
}

/** keys.json: its change time tells a signer to reload (see DkimSigner). */
export function dkimStatePath(dataDir: string, domain: string): string {
  return join(dkimDomainDir(dataDir, domain), "keys.json");
}

// ---- keys ----

function describeKey(domain: string, selector: string, path: string, pem: string): DkimKey {
  let priv: KeyObject;
  try {
    priv = createPrivateKey(pem);
  } catch (err) {
    throw new DkimKeyError(`${path} does not hold a usable private key: ${(err as Error).message}`);
  }
  const type = priv.asymmetricKeyType;
  if (type !== "rsa" && type !== "ed25519") {
    throw new DkimKeyError(`${path} holds a ${type} key; DKIM keys are RSA or Ed25519`);
  }
  const pub = createPublicKey(priv);
  let p: string;
  if (type === "rsa") {
    p = pub.export({ type: "spki", format: "der" }).toString("base64");
  } else {
    // RFC 8463 §4.2: the bare 32-byte key. The JWK "x" member is exactly that, base64url-encoded.
    const x = pub.export({ format: "jwk" }).x;
    if (!x) throw new DkimKeyError(`${path}: cannot read the Ed25519 public key`);
    p = Buffer.from(x, "base64url").toString("base64");
  }
  return {
    domain,
    selector,
    algorithm: type,
    path,
    privateKeyPem: pem,
    publicKeyBase64: p,
    dnsRecord: `v=DKIM1; k=${type}; p=${p}`,
  };
}

async function generatePem(algorithm: DkimAlgorithm): Promise<string> {
  if (algorithm === "rsa") {
    // RFC 8301 §3.2: at least 1024 bits, 2048 advised; larger keys no longer fit one DNS packet comfortably.
    const { privateKey } = await generateKeyPairAsync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    return privateKey;
  }
  const { privateKey } = await generateKeyPairAsync("ed25519", {
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return privateKey;
}

function tmpName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Writes a file atomically, replacing what is there. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = tmpName(path);
  try {
    await writeFile(tmp, data, { mode: 0o600, flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the file with this content unless it exists: link(2) fails with EEXIST instead of replacing,
 * so two processes generating the same key at once agree on one of them. True when ours was used.
 */
async function createExclusive(path: string, data: string): Promise<boolean> {
  const tmp = tmpName(path);
  await writeFile(tmp, data, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Reads the key of a selector, generating one of the given algorithm when the file is missing. */
async function ensureKey(
  dataDir: string,
  domain: string,
  selector: string,
  algorithm: DkimAlgorithm,
): Promise<DkimKey> {
  const path = dkimKeyPath(dataDir, domain, selector);
  let pem = await readIfExists(path);
  if (pem === null) {
    await ensureDir(join(path, ".."));
    // false when somebody else created it meanwhile: theirs wins, and is read back below
    await createExclusive(path, await generatePem(algorithm));
    pem = await readFile(path, "utf8");
  }
  const key = describeKey(domain, selector, path, pem);
  if (key.algorithm !== algorithm) {
    throw new DkimKeyError(`${path} holds a ${key.algorithm} key, but keys.json lists it as ${algorithm}`);
  }
  return key;
}

/** Reads an existing key; a missing file is an error (its record is published: never regenerate it). */
async function loadKey(
  dataDir: string,
  domain: string,
  selector: string,
  algorithm: DkimAlgorithm,
): Promise<DkimKey> {
  const path = dkimKeyPath(dataDir, domain, selector);
  const pem = await readIfExists(path);
  if (pem === null) {
    throw new DkimKeyError(
      `the DKIM key ${path} (selector ${selector}) is missing: restore it from a backup, or make new keys ` +
        `with: postamt domain dkim-rotate ${domain}`,
    );
  }
  const key = describeKey(domain, selector, path, pem);
  if (key.algorithm !== algorithm) {
    throw new DkimKeyError(`${path} holds a ${key.algorithm} key, but keys.json lists it as ${algorithm}`);
  }
  return key;
}

/**
 * Reads the RSA key of one selector, generating an RSA-2048 key when missing (the API from before
 * keys.json; ensureDomainKeys is what signing and `postamt dns` use).
 */
export async function ensureDkimKey(
  dataDir: string,
  domain: string,
  selector = DEFAULT_DKIM_SELECTOR,
): Promise<DkimKey> {
  return ensureKey(dataDir, domain, selector, "rsa");
}

// ---- keys.json ----

function parseState(path: string, text: string): KeyState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new DkimKeyError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  const s = raw as Partial<KeyState> | null;
  const ok =
    s !== null &&
    typeof s === "object" &&
    s.version === 1 &&
    typeof s.active?.rsa === "string" &&
    typeof s.active?.ed25519 === "string" &&
    SELECTOR.test(s.active.rsa) &&
    SELECTOR.test(s.active.ed25519) &&
    Array.isArray(s.retired) &&
    s.retired.every(
      (r) =>
        typeof r?.selector === "string" &&
        SELECTOR.test(r.selector) &&
        (r.algorithm === "rsa" || r.algorithm === "ed25519") &&
        typeof r.retiredAt === "string",
    ) &&
    (s.dropped === undefined || (Array.isArray(s.dropped) && s.dropped.every((d) => typeof d === "string")));
  if (!ok) throw new DkimKeyError(`${path} is not a Postamt DKIM key list (version 1)`);
  return s as KeyState;
}

async function readState(dataDir: string, domain: string): Promise<KeyState | null> {
  const path = dkimStatePath(dataDir, domain);
  const text = await readIfExists(path);
  return text === null ? null : parseState(path, text);
}

async function writeState(dataDir: string, domain: string, state: KeyState): Promise<void> {
  await writeAtomic(dkimStatePath(dataDir, domain), `${JSON.stringify(state, null, 2)}\n`);
}

const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 15_000;

/** Runs fn holding <domain dir>/keys.lock (O_EXCL); a lock older than a minute is a crashed holder's. */
async function withLock<T>(dataDir: string, domain: string, fn: () => Promise<T>): Promise<T> {
  const dir = dkimDomainDir(dataDir, domain);
  await ensureDir(dir);
  const lock = join(dir, "keys.lock");
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fh = await open(lock, "wx", 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new DkimKeyError(`${lock} is held by another process; remove it if no postamt command runs`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** Reads keys.json, creating it (and the keys) for a new domain or one that has only postamt.pem. */
async function ensureState(dataDir: string, domain: string): Promise<KeyState> {
  const existing = await readState(dataDir, domain);
  if (existing) return existing;
  return withLock(dataDir, domain, async () => {
    const again = await readState(dataDir, domain);
    if (again) return again;
    // Fixed first selectors, so that concurrent creators (server and CLI) end with the same state.
    await ensureKey(dataDir, domain, DEFAULT_DKIM_SELECTOR, "rsa");
    await ensureKey(dataDir, domain, DEFAULT_ED25519_SELECTOR, "ed25519");
    const state: KeyState = {
      version: 1,
      active: { rsa: DEFAULT_DKIM_SELECTOR, ed25519: DEFAULT_ED25519_SELECTOR },
      retired: [],
    };
    await writeState(dataDir, domain, state);
    return state;
  });
}

async function activeKeys(dataDir: string, domain: string, state: KeyState): Promise<DomainKeys> {
  return {
    rsa: await loadKey(dataDir, domain, state.active.rsa, "rsa"),
    ed25519: await loadKey(dataDir, domain, state.active.ed25519, "ed25519"),
  };
}

// ---- public API ----

/**
 * The keys that sign the domain's mail now, one RSA-2048 (rsa-sha256, RFC 6376) and one Ed25519
 * (ed25519-sha256, RFC 8463), generated on first use.
 */
export async function ensureDomainKeys(dataDir: string, domain: string): Promise<DomainKeys> {
  return activeKeys(dataDir, domain, await ensureState(dataDir, domain));
}

/**
 * Every key whose record `postamt dns` must print: the active ones first (RSA, then Ed25519), then the
 * retired ones, newest first. A retired key whose file was deleted by hand is left out.
 */
export async function listDomainKeys(dataDir: string, domain: string): Promise<PublishedDkimKey[]> {
  const state = await ensureState(dataDir, domain);
  const active = await activeKeys(dataDir, domain, state);
  const out: PublishedDkimKey[] = [
    { ...active.rsa, status: "active" },
    { ...active.ed25519, status: "active" },
  ];
  for (const r of [...state.retired].sort((a, b) => b.retiredAt.localeCompare(a.retiredAt))) {
    try {
      const key = await loadKey(dataDir, domain, r.selector, r.algorithm);
      out.push({ ...key, status: "retired", retiredAt: r.retiredAt });
    } catch (err) {
      if (!(err instanceof DkimKeyError)) throw err;
    }
  }
  return out;
}

/** "p" + year + month + "r" (RSA) or "e" (Ed25519), e.g. p202611r; "p202611r2", "p202611r3"… when taken. */
function newSelector(now: Date, algorithm: DkimAlgorithm, taken: Set<string>): string {
  const base = `p${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, "0")}${algorithm === "rsa" ? "r" : "e"}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
}

/**
 * Makes a new RSA and Ed25519 key with fresh selectors and signs with them from now on; the previous
 * active keys become retired and stay published, so that mail signed with them still verifies while in
 * transit (publish the new records right away: until they are in DNS, new signatures do not verify).
 */
export async function rotateDomainKeys(
  dataDir: string,
  domain: string,
  now: Date = new Date(),
): Promise<{ active: DomainKeys; retired: DkimKey[] }> {
  await ensureState(dataDir, domain);
  return withLock(dataDir, domain, async () => {
    const state = await readState(dataDir, domain);
    if (!state) throw new DkimKeyError(`${dkimStatePath(dataDir, domain)} disappeared during the rotation`);
    const taken = new Set([
      state.active.rsa,
      state.active.ed25519,
      ...state.retired.map((r) => r.selector),
      ...(state.dropped ?? []),
    ]);
    const pick = async (algorithm: DkimAlgorithm): Promise<DkimKey> => {
      for (;;) {
        const selector = newSelector(now, algorithm, taken);
        taken.add(selector);
        // a leftover file of a selector dropped earlier is never reused: its record may still be cached
        if (
          await stat(dkimKeyPath(dataDir, domain, selector)).then(
            () => true,
            () => false,
          )
        )
          continue;
        return ensureKey(dataDir, domain, selector, algorithm);
      }
    };
    const rsa = await pick("rsa");
    const ed25519 = await pick("ed25519");
    const retiredAt = now.toISOString();
    const previous: RetiredEntry[] = [
      { selector: state.active.rsa, algorithm: "rsa", retiredAt },
      { selector: state.active.ed25519, algorithm: "ed25519", retiredAt },
    ];
    const next: KeyState = {
      version: 1,
      active: { rsa: rsa.selector, ed25519: ed25519.selector },
      retired: [...previous, ...state.retired],
      ...(state.dropped ? { dropped: state.dropped } : {}),
    };
    await writeState(dataDir, domain, next);
    const retired: DkimKey[] = [];
    for (const r of previous) {
      try {
        retired.push(await loadKey(dataDir, domain, r.selector, r.algorithm));
      } catch (err) {
        if (!(err instanceof DkimKeyError)) throw err;
      }
    }
    return { active: { rsa, ed25519 }, retired };
  });
}

/**
 * Forgets retired keys that stopped signing before `retiredBefore` (default: all of them) and deletes
 * their private keys; their DNS records can then be removed. Returns the selectors dropped.
 */
export async function dropRetiredDomainKeys(
  dataDir: string,
  domain: string,
  retiredBefore: Date = new Date(8.64e15),
): Promise<string[]> {
  const state = await readState(dataDir, domain);
  if (!state || state.retired.length === 0) return [];
  return withLock(dataDir, domain, async () => {
    const current = await readState(dataDir, domain);
    if (!current) return [];
    const drop = current.retired.filter((r) => Date.parse(r.retiredAt) < retiredBefore.getTime());
    if (drop.length === 0) return [];
    await writeState(dataDir, domain, {
      ...current,
      retired: current.retired.filter((r) => !drop.includes(r)),
      dropped: [...(current.dropped ?? []), ...drop.map((r) => r.selector)],
    });
    for (const r of drop) await unlink(dkimKeyPath(dataDir, domain, r.selector)).catch(() => undefined);
    return drop.map((r) => r.selector);
  });
}
