// A self-signed certificate for tests, generated once per process with the server's own generator.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configFromObject } from "../../src/config/load.js";
import { silentLog } from "../../src/log/logger.js";
import { type TlsMaterial, loadTlsMaterial } from "../../src/tls/certificates.js";

let cached: Promise<TlsMaterial> | null = null;

export function testTlsMaterial(): Promise<TlsMaterial> {
  cached ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "postamt-tls-"));
    const config = configFromObject({ hostname: "mail.example.test", data_dir: dir });
    return loadTlsMaterial(config, silentLog());
  })();
  return cached;
}
