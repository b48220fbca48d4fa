// Starts a real Postamt server in this process on 127.0.0.1 ephemeral ports with a temp data dir,
// with a domain and users, for protocol and interop tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deriveCredentials } from "../../src/auth/password.js";
import { configFromObject } from "../../src/config/load.js";
import type { ListenerName } from "../../src/config/types.js";
import { silentLog } from "../../src/log/logger.js";
import { type RunningServer, type StartOptions, startServer } from "../../src/server.js";

export interface TestServer {
  server: RunningServer;
  dir: string;
  port(name: ListenerName): number;
  stop(): Promise<void>;
}

export interface TestUser {
  address: string;
  password: string;
  quota?: number | null;
}

export const DEFAULT_USERS: TestUser[] = [
  { address: "alice@example.test", password: "alice-secret" },
  { address: "bob@example.test", password: "bob-secret" },
];

/** `overrides` is merged into the config object (tables shallow-merged). */
export async function startTestServer(
  overrides: Record<string, unknown> = {},
  opts: { users?: TestUser[]; domains?: string[]; start?: StartOptions } = {},
): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-srv-"));
  const base: Record<string, Record<string, unknown> | string> = {
    hostname: "mail.example.test",
    data_dir: dir,
    listen: {
      smtp: ["127.0.0.1:0"],
      submission: ["127.0.0.1:0"],
      submissions: ["127.0.0.1:0"],
      imap: [],
      imaps: [],
      pop3: [],
      pop3s: [],
      http: [],
    },
    auth: { failure_delay: 0 },
    // outbound delivery must never reach the Internet from a test: a DNS server that isn't there
    dns: { servers: ["127.0.0.1:9"] },
    server: { shutdown_grace: 5 },
  };
  for (const [k, v] of Object.entries(overrides)) {
    const cur = base[k];
    base[k] =
      cur && typeof cur === "object" && v && typeof v === "object" && !Array.isArray(v)
        ? { ...cur, ...(v as Record<string, unknown>) }
        : (v as string);
  }
  const config = configFromObject(base);
  const server = await startServer(config, silentLog(), opts.start);
  for (const d of opts.domains ?? ["example.test"]) await server.store.addDomain(d);
  for (const u of opts.users ?? DEFAULT_USERS) {
    const creds = await deriveCredentials(u.password);
    await server.store.addAccount({ address: u.address, ...creds, quotaBytes: u.quota ?? null });
  }
  return {
    server,
    dir,
    port(name) {
      const a = server.addresses[name]?.[0];
      if (!a) throw new Error(`listener ${name} is not open`);
      return a.port;
    },
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
