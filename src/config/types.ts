// The typed, frozen configuration (DESIGN.md §2, contract). Keys mirror the TOML file exactly
// (snake_case), so a key in a log line, an error, `config describe` and the file are the same word.
// The schema table in schema.ts is the single source of defaults, types and documentation.

import type { NextHop, Route } from "./values.js";

export type { NextHop, Route };

export type ListenerName =
  | "smtp"
  | "submission"
  | "submissions"
  | "imap"
  | "imaps"
  | "pop3"
  | "pop3s"
  | "http";

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

/**
 * `pop3.expire` (RFC 2449 §6.7): "never"; 0, delete what RETR sent whole at QUIT; or n > 0 days
 * (at most 36500), delete a message n days after POP3 first retrieved it (checked at login).
 */
export type Pop3Expire = "never" | number;

export type SmarthostTls = "starttls" | "implicit" | "none";

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
    /** null = deliver to each domain's MX; otherwise every remote message goes to this next hop
     *  (a valid "next hop" text: read it with parseNextHop from values.ts) */
    readonly smarthost: string | null;
    readonly smarthost_tls: SmarthostTls;
    readonly smarthost_user: string;
    readonly smarthost_password: string;
    /** per-domain next hops, checked before the smarthost and MX lookup */
    readonly routes: readonly Route[];
    /** TLS towards MX hosts without an MTA-STS or DANE policy */
    readonly tls: "opportunistic" | "required";
    readonly mta_sts: boolean;
    readonly dane: boolean;
    /** extra trust anchors (PEM file) for certificate checks, or null */
    readonly tls_ca: string | null;
    /** HTTPS port of MTA-STS policy hosts */
    readonly https_port: number;
    /** source addresses ("" = the system's choice) */
    readonly bind_address: string;
    readonly bind_address6: string;
    /** seconds */
    readonly connect_timeout: number;
  };
  readonly queue: {
    /** seconds between attempts; the last repeats */
    readonly retry_intervals: readonly number[];
    /** seconds after which an undelivered message is bounced */
    readonly lifetime: number;
    /** seconds after which a delay notice is sent; 0 = never */
    readonly delay_warning: number;
    readonly concurrency: number;
    readonly destination_concurrency: number;
  };
  readonly dkim: {
    readonly sign: boolean;
  };
  readonly inbound: {
    readonly authenticate: boolean;
    readonly dmarc_enforce: boolean;
    readonly protect_local_domains: boolean;
    readonly spf_reject: boolean;
    /** ARC sealer domains whose recorded dmarc=pass overrides a local DMARC failure */
    readonly trusted_arc_sealers: readonly string[];
    readonly dmarc_reports: boolean;
  };
  readonly dnsbl: {
    readonly zones: readonly string[];
  };
  readonly greylist: {
    readonly enabled: boolean;
    /** seconds */
    readonly delay: number;
    readonly retry_window: number;
    readonly auto_allow_time: number;
    /** CIDR texts */
    readonly allow_networks: readonly string[];
    /** sender domains */
    readonly allow_senders: readonly string[];
  };
  readonly rspamd: {
    /** e.g. "http://127.0.0.1:11333"; null = no external scanner */
    readonly url: string | null;
    /** seconds */
    readonly timeout: number;
    readonly on_error: "accept" | "tempfail";
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
    /** recipients per SMTP transaction (RFC 5321 §4.5.3.1.8: at least 100) */
    readonly recipients: number;
    /** protocol errors in one session before it is closed (SMTP 421) */
    readonly bad_commands: number;
    /** NOOP/RSET/VRFY/HELP… per SMTP session before it is closed (Postfix smtpd_junk_command_limit) */
    readonly junk_commands: number;
    /** Received header fields a message may carry before it is refused as looping (RFC 5321 §6.3) */
    readonly hops: number;
    /** simultaneous connections from one IP address (IPv6: one /64) per protocol; 0 = unlimited */
    readonly connections_per_ip: number;
    /** simultaneous connections from one IPv4 /24 or IPv6 /48 per protocol; 0 = unlimited */
    readonly connections_per_network: number;
    /** new connections per IP (IPv6 /64) per minute over all listeners; 0 = unlimited */
    readonly connection_rate: number;
    /** messages per client IP per minute on the smtp listener; 0 = unlimited */
    readonly message_rate: number;
    /** recipients per client IP per minute on the smtp listener; 0 = unlimited */
    readonly recipient_rate: number;
    /** CIDR texts exempt from rates, DNSBL and greylisting */
    readonly exempt_networks: readonly string[];
    /** recipients of one null-sender message on the smtp listener */
    readonly null_sender_recipients: number;
    /** per account on submission; 0 = unlimited */
    readonly send_messages_per_hour: number;
    readonly send_recipients_per_day: number;
  };
  readonly timeouts: {
    /** seconds a client may take to send one complete command line (a deadline, not an idle timer) */
    readonly smtp_command: number;
    /** seconds a client may take for one whole DATA or BDAT transfer */
    readonly smtp_data: number;
  };
  readonly smtp: {
    /** seconds the MX listener waits before its greeting; a client that talks first is refused */
    readonly greet_pause: number;
  };
  readonly pop3: {
    /**
     * RFC 2449 §6.7 EXPIRE: "never" (Postamt never deletes mail on its own) or 0 (messages
     * retrieved whole with RETR are deleted when the session QUITs, even without DELE)
     */
    readonly expire: Pop3Expire;
    /** RFC 2449 §6.5 LOGIN-DELAY: minimum seconds between one account's POP3 logins; 0 = none */
    readonly login_delay: number;
  };
  readonly auth: {
    /** failed logins from one IP address or for one account before a temporary ban */
    readonly max_failures: number;
    /** seconds a banned IP address or account is refused without a password check */
    readonly ban_time: number;
    /** seconds the answer to a failed login is delayed, doubling with each failure (capped at 8×) */
    readonly failure_delay: number;
  };
  readonly proxy: {
    /** listeners whose connections start with a PROXY protocol v1/v2 header from a load balancer */
    readonly listeners: readonly ListenerName[];
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
