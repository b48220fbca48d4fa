// Idle SMTP connections kept for a few seconds after a transaction, so a burst of messages to one
// destination shares a connection (as Postfix's connection cache does) instead of paying TCP, EHLO and
// STARTTLS for each. Keyed by address, port and TLS policy: a connection made under a weaker policy is
// never reused for a stricter one.
import type { SmtpConnection } from "../../smtp/client/types.js";

interface Idle {
  conn: SmtpConnection;
  timer: NodeJS.Timeout;
  /** transactions already carried */
  uses: number;
}

export class ConnectionPool {
  private readonly idle = new Map<string, Idle[]>();
  private readonly uses = new WeakMap<SmtpConnection, number>();

  constructor(
    private readonly opts: {
      /** ms an unused connection stays open (Postfix smtp_connection_cache_time_limit: 2 s) */
      idleMs: number;
      /** transactions per connection before it is closed (Postfix smtp_connection_reuse_count_limit) */
      maxUses: number;
    },
  ) {}

  take(key: string): SmtpConnection | null {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop() as Idle;
      clearTimeout(entry.timer);
      if (list.length === 0) this.idle.delete(key);
      if (entry.conn.usable) {
        this.uses.set(entry.conn, entry.uses);
        return entry.conn;
      }
      entry.conn.destroy();
    }
    return null;
  }

  /** hands a connection back after a transaction; closes it when spent or unusable */
  give(key: string, conn: SmtpConnection): void {
    const uses = (this.uses.get(conn) ?? 0) + 1;
    if (!conn.usable || uses >= this.opts.maxUses) {
      void conn.quit();
      return;
    }
    const entry: Idle = {
      conn,
      uses,
      timer: setTimeout(() => {
        const list = this.idle.get(key);
        const i = list?.indexOf(entry) ?? -1;
        if (list && i >= 0) {
          list.splice(i, 1);
          if (list.length === 0) this.idle.delete(key);
        }
        void conn.quit();
      }, this.opts.idleMs),
    };
    entry.timer.unref();
    const list = this.idle.get(key);
    if (list) list.push(entry);
    else this.idle.set(key, [entry]);
  }

  async closeAll(): Promise<void> {
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(
      all.map((e) => {
        clearTimeout(e.timer);
        return e.conn.quit();
      }),
    );
  }
}
