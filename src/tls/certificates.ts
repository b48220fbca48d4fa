// TLS material for every TLS listener: the configured certificate and key, or, when none is configured,
// a self-signed certificate generated once into <data_dir>/tls/ so that a fresh install speaks TLS at
// once (clients will ask the user to trust it; the README says how to install a real one).
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";
import type { Config } from "../config/types.js";
import type { Log } from "../log/logger.js";

export interface TlsMaterial {
  cert: string;
  key: string;
  /** where it came from, for logs */
  certPath: string;
  selfSigned: boolean;
  fingerprint256: string;
  validTo: string;
}

export function selfSignedPaths(dataDir: string): { cert: string; key: string } {
  return {
    cert: join(dataDir, "tls", "selfsigned-cert.pem"),
    key: join(dataDir, "tls", "selfsigned-key.pem"),
  };
}

/** Loads the configured certificate, or the generated self-signed one (creating it when missing). */
export async function loadTlsMaterial(config: Config, log: Log): Promise<TlsMaterial> {
  if (config.tls.cert && config.tls.key) {
    const [cert, key] = await Promise.all([
      readFile(config.tls.cert, "utf8"),
      readFile(config.tls.key, "utf8"),
    ]);
    const m = describe(cert, key, config.tls.cert, false);
    log.info("tls.loaded", `TLS certificate ${config.tls.cert} (valid to ${m.validTo})`, {
      cert: config.tls.cert,
    });
    return m;
  }
  const paths = selfSignedPaths(config.data_dir);
  try {
    const [cert, key] = await Promise.all([readFile(paths.cert, "utf8"), readFile(paths.key, "utf8")]);
    const m = describe(cert, key, paths.cert, true);
    if (new Date(m.validTo).getTime() > Date.now() + 7 * 86400_000) {
      log.info("tls.loaded", `self-signed TLS certificate ${paths.cert}`, { sha256: m.fingerprint256 });
      return m;
    }
    // Expiring: fall through and make a new one.
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const m = await generateSelfSigned(config.hostname, paths);
  log.info(
    "tls.generated",
    `generated a self-signed TLS certificate for ${config.hostname} in ${paths.cert}; set [tls] cert and key to use a real one`,
    { sha256: m.fingerprint256 },
  );
  return m;
}

async function generateSelfSigned(
  hostname: string,
  paths: { cert: string; key: string },
): Promise<TlsMaterial> {
  const now = new Date();
  const pems = await generate([{ name: "commonName", value: hostname }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now.getTime() - 86400_000),
    notAfterDate: new Date(now.getTime() + 825 * 86400_000),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: hostname },
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
          { type: 7, ip: "::1" },
        ],
      },
    ],
  });
  await mkdir(join(paths.cert, ".."), { recursive: true, mode: 0o700 });
  // Write-then-rename, so a crash never leaves half a key for the next start.
  await writeFile(`${paths.key}.tmp`, pems.private, { mode: 0o600 });
  await writeFile(`${paths.cert}.tmp`, pems.cert, { mode: 0o644 });
  await rename(`${paths.key}.tmp`, paths.key);
  await rename(`${paths.cert}.tmp`, paths.cert);
  return describe(pems.cert, pems.private, paths.cert, true);
}

function describe(cert: string, key: string, certPath: string, selfSigned: boolean): TlsMaterial {
  const x = new X509Certificate(cert);
  createPrivateKey(key); // throws on a bad key
  return { cert, key, certPath, selfSigned, fingerprint256: x.fingerprint256, validTo: x.validTo };
}
