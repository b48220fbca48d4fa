// What every admin command needs: the validated config and the store the server uses. Admin commands
// open the same database as a running server (SQLite WAL allows both), so changes apply without a
// restart.
import { mkdir } from "node:fs/promises";
import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { type MailStore, StoreError } from "../store/types.js";
import { CliError } from "./errors.js";

export interface GlobalOptions {
  config?: string;
}

export function configFor(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig({ file: opts.config ?? null });
}

/** Runs fn with an open store and closes it afterwards, whatever happens. */
export async function withStore<T>(
  cmd: Command,
  fn: (store: MailStore, config: Config) => Promise<T>,
): Promise<T> {
  const config = configFor(cmd);
  await mkdir(config.data_dir, { recursive: true, mode: 0o750 });
  const { openStore } = await import("../store/open-store.js");
  const store = await openStore(config.store.url, { dataDir: config.data_dir });
  try {
    return await fn(store, config);
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(explainStoreError(err));
    throw err;
  } finally {
    await store.close();
  }
}

function explainStoreError(err: StoreError): string {
  return err.message;
}
