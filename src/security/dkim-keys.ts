// DKIM signing keys, one per local domain, kept in <data_dir>/dkim/<domain>/<selector>.pem. Created
// when a domain is added so that `postamt dns` can print the record to publish before any mail is sent;
// the outbound signer (RFC 6376) reads the same file.
import { createPublicKey, generateKeyPair } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const generateKeyPairAsync = promisify(generateKeyPair);

export const DEFAULT_DKIM_SELECTOR = "postamt";

export interface DkimKey {
  domain: string;
  selector: string;
  path: string;
  privateKeyPem: string;
  /** base64 SubjectPublicKeyInfo, the p= tag of the DNS record */
  publicKeyBase64: string;
}

export function dkimKeyPath(dataDir: string, domain: string, selector = DEFAULT_DKIM_SELECTOR): string {
  return join(dataDir, "dkim", domain, `${selector}.pem`);
}

/** Reads the domain's key, generating an RSA-2048 key (RFC 8301 §3.2 minimum 1024, 2048 advised) when missing. */
export async function ensureDkimKey(
  dataDir: string,
  domain: string,
  selector = DEFAULT_DKIM_SELECTOR,
): Promise<DkimKey> {
  const path = dkimKeyPath(dataDir, domain, selector);
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const { privateKey } = await generateKeyPairAsync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    });
    pem = privateKey;
    await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
    await writeFile(`${path}.tmp`, pem, { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }
  const spki = createPublicKey(pem).export({ type: "spki", format: "der" });
  return { domain, selector, path, privateKeyPem: pem, publicKeyBase64: spki.toString("base64") };
}
