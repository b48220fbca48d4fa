// One better-sqlite3 connection with the settings every Postamt process must share, and a cache of
// prepared statements (compiling SQL costs more than running it on the delivery path).

import Database from "better-sqlite3";

export interface DbOptions {
  /** how long a writer waits for another process's transaction (the admin CLI) before SQLITE_BUSY */
  busyTimeoutMs?: number;
}

export class Db {
  readonly raw: Database.Database;
  private readonly statements = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(
    readonly path: string,
    opts: DbOptions = {},
  ) {
    this.raw = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
    // WAL: readers never block the writer, and the CLI can work while the server runs
    this.raw.pragma("journal_mode = WAL");
    // FULL: NORMAL in WAL mode may lose the last committed transactions on power loss, and a
    // delivery must be on disk before we answer 250
    this.raw.pragma("synchronous = FULL");
    this.raw.pragma("foreign_keys = ON");
    // after a checkpoint, shrink a WAL that a burst of deliveries grew
    this.raw.pragma("journal_size_limit = 67108864");
    this.raw.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
  }

  /** a cached prepared statement; R is the row shape the caller expects */
  prep<R = unknown>(sql: string): Database.Statement<unknown[], R> {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.raw.prepare(sql);
      this.statements.set(sql, st);
    }
    return st as Database.Statement<unknown[], R>;
  }

  /** runs fn in BEGIN IMMEDIATE … COMMIT (a savepoint when already inside a transaction) */
  write<T>(fn: () => T): T {
    return this.raw.transaction(fn).immediate();
  }

  close(): void {
    this.statements.clear();
    this.raw.close();
  }
}

/** lastInsertRowid as a number (rowids stay far below 2^53) */
export function rowid(result: Database.RunResult): number {
  return Number(result.lastInsertRowid);
}
