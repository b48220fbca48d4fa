// A per-installation secret, created once and kept in <dataDir>/server-secret (mode 0600). SCRAM
// derives the fake salts of unknown users from it (RFC 5802 §9, RFC 7677 §4): they must stay the
// same across restarts, or a changing salt would tell an attacker the user does not exist.

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { join } from "node:path";

export const SERVER_SECRET_FILE = "server-secret";
const SECRET_BYTES = 32;

/** Reads the secret, creating it on first use (temporary file, fsync, rename, fsync directory). */
export async function loadServerSecret(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, SERVER_SECRET_FILE);
  const existing = await readIfExists(path);
  if (existing !== null) return check(existing, path);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(SECRET_BYTES);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(secret);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dataDir);
  return secret;
}

function check(data: Buffer, path: string): Buffer {
  if (data.length !== SECRET_BYTES) {
    throw new Error(
      `${path} holds ${data.length} bytes instead of ${SECRET_BYTES}: it is damaged; remove it and a new one is made`,
    );
  }
  return data;
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
