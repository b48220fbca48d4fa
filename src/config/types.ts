// The typed, frozen configuration (DESIGN.md §2, contract). Keys mirror the TOML file exactly
// (snake_case), so a key in a log line, an error, `config describe` and the file are the same word.
// The schema table in schema.ts is the single source of defaults, types and documentation.

export type ListenerName = "smtp" | "submission" | "submissions" | "imap" | "imaps" | "pop3" | "pop3s" | "http";

export const LISTENER_NAMES: readonly ListenerName[] = [
  "smtp",
  "submission",
  "submissions",
  "imap",
  "imaps",
  "pop3",
  "pop3s",
  "http",
];

/** One "address:port" of a listener; IPv6 written as "[::1]:25". */
export interface ListenAddress {
  host: string;
  port: number;
  /** as written in the file, for messages */
  text: string;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface Config {
  /** the file this was loaded from, or null for built-in defaults */
  readonly source: string | null;
  readonly hostname: string;
  /** absolute path */
  readonly data_dir: string;
  readonly listen: Readonly<Record<ListenerName, readonly ListenAddress[]>>;
  readonly tls: {
    /** absolute paths, or null: a self-signed certificate is generated into data_dir/tls */
    readonly cert: string | null;
    readonly key: string | null;
  };
  readonly store: {
    /** "sqlite:/abs/path.db" (default sqlite:<data_dir>/postamt.db) or "postgres://…" */
    readonly url: string;
  };
  readonly dns: {
    /** "ip" or "ip:port"; empty = the system resolver */
    readonly servers: readonly string[];
  };
  readonly outbound: {
    readonly port: number;
  };
  readonly log: {
    readonly level: LogLevel;
  };
  readonly limits: {
    /** largest message accepted, bytes */
    readonly message_size: number;
    /** MIME parser bounds (see mail/mime-types.ts) */
    readonly mime_header_bytes: number;
    readonly mime_parts: number;
    readonly mime_depth: number;
  };
  readonly accounts: {
    /** quota given to new accounts, bytes; 0 = unlimited */
    readonly default_quota: number;
  };
  readonly server: {
    /** how long SIGTERM/SIGINT waits for in-flight sessions, seconds */
    readonly shutdown_grace: number;
  };
}
