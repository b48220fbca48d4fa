// Chooses and opens the store backend for a [store] url.

import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { LocalChangeBus } from "./change-bus.js";
import { FsBlobStore } from "./fs-blob-store.js";
import { SqliteMailStore } from "./sqlite/sqlite-store.js";
import { type MailStore, StoreError } from "./types.js";

export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface OpenStoreOptions {
  /** holds the message files (blobs/) */
  dataDir: string;
  log?: StoreLogger;
  /** largest blob kept in the database instead of a file (default 128 KiB); 0: files only (tests) */
  inlineBlobMax?: number;
}

export type StoreLocation = { kind: "sqlite"; path: string } | { kind: "postgres"; url: string };

/**
 * "sqlite:PATH" (also "sqlite://PATH"; "sqlite:///abs" is absolute; relative paths are taken from
 * the working directory) or "postgres://…" / "postgresql://…". Throws StoreError "invalid".
 */
export function parseStoreUrl(url: string): StoreLocation {
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url.trim());
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql") return { kind: "postgres", url };
  if (scheme === "sqlite") {
    let path = m![2]!;
    if (path.startsWith("//")) path = path.slice(2);
    if (path === "")
      throw new StoreError("invalid", `store url ${JSON.stringify(url)} names no database file`);
    return { kind: "sqlite", path: path === ":memory:" ? path : resolve(path) };
  }
  throw new StoreError(
    "invalid",
    `store url ${JSON.stringify(url)} is not supported: use "sqlite:PATH" (or "postgres://…" later)`,
  );
}

export async function openStore(url: string, opts: OpenStoreOptions): Promise<MailStore> {
  const location = parseStoreUrl(url);
  if (location.kind === "postgres") {
    throw new StoreError(
      "invalid",
      'PostgreSQL is not yet supported as a store; use the embedded default, e.g. url = "sqlite:./data/postamt.db"',
    );
  }
  if (location.path !== ":memory:") await mkdir(dirname(location.path), { recursive: true });
  const blobs = new FsBlobStore(join(resolve(opts.dataDir), "blobs"));
  const bus = new LocalChangeBus((err) => opts.log?.warn({ err }, "change listener failed"));
  const store = new SqliteMailStore({
    path: location.path,
    blobs,
    bus,
    log: opts.log,
    inlineBlobMax: opts.inlineBlobMax,
  });
  await store.open();
  return store;
}
