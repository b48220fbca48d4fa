// The Postamt server: one process that owns the data directory, the store and every listener.
// `postamt serve` runs it; tests start it in-process with ports set to 127.0.0.1:0.
import { mkdir, stat } from "node:fs/promises";
import type { AddressInfo, Server } from "node:net";
import { type Config, LISTENER_NAMES, type ListenerName } from "./config/types.js";
import { type Metrics, createMetrics } from "./http/metrics.js";
import type { Log } from "./log/logger.js";
import { bindServer } from "./net/bind.js";
import { ConnectionTracker } from "./net/connection-tracker.js";
import { LISTENER_FACTORIES, type ServerContext } from "./net/listeners.js";
import { instrumentStore } from "./store/instrument.js";
import { openStore } from "./store/open-store.js";
import type { MailStore } from "./store/types.js";
import { loadTlsMaterial } from "./tls/certificates.js";
import { serverSecureContext } from "./tls/context.js";
import { AccountLookup } from "./auth/account-lookup.js";
import { loadServerSecret } from "./auth/server-secret.js";
import { AuthThrottle } from "./auth/throttle.js";
import { LocalDeliveryAgent } from "./delivery/local-delivery.js";
import { IpConnectionLimiter } from "./net/ip-limits.js";
import { ConnectionAdmission } from "./net/admission.js";
import { createResolver } from "./dns/create.js";
import { InboundPolicy } from "./policy/inbound.js";
import { AbuseLimits } from "./policy/rate-limits.js";
import { DnsblChecker } from "./policy/dnsbl.js";
import { Greylist } from "./policy/greylist.js";
import { RspamdClient } from "./policy/rspamd.js";
import { DmarcRecorder } from "./policy/dmarc-recorder.js";
import { RecentTracker } from "./imap/server/recent.js";
import { type OutboundDeps, type OutboundService, startOutbound } from "./delivery/remote/outbound.js";
import { type BounceSink, StoreBounceSink } from "./queue/bounce-sink.js";
import { DkimSigner } from "./security/dkim-sign.js";
import { VERSION } from "./version.js";
import { Gauge } from "prom-client";

export interface RunningServer {
  readonly config: Config;
  readonly store: MailStore;
  readonly metrics: Metrics;
  /** the bound addresses of each open listener (real ports when the config said 0) */
  readonly addresses: Readonly<Partial<Record<ListenerName, AddressInfo[]>>>;
  /** the outbound queue runner and its transport */
  readonly outbound: OutboundService;
  /** the inbound policy (tests read its counters) */
  readonly policy: InboundPolicy;
  /** DMARC aggregate counts not yet written (flush() writes them); null when off */
  readonly dmarc: DmarcRecorder | null;
  /** stop accepting, let sessions finish (bounded by server.shutdown_grace), close the store */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** replaces parts of outbound delivery (tests: an injectable clock, a resolver) */
  outbound?: Pick<OutboundDeps, "clock" | "resolver" | "connect">;
  /** the clock of login throttling, rate limits and greylisting (tests move it forward); default Date.now */
  now?: () => number;
  /** largest blob kept in the database instead of a file (default 128 KiB); 0: files only (tests) */
  inlineBlobMax?: number;
}

export async function startServer(config: Config, log: Log, opts: StartOptions = {}): Promise<RunningServer> {
  log.info("server.start", `Postamt ${VERSION} starting as ${config.hostname}`, {
    config: config.source ?? "(built-in defaults)",
    data_dir: config.data_dir,
  });
  await ensureDataDir(config.data_dir, log);
  const tls = await loadTlsMaterial(config, log);
  const metrics = createMetrics();
  const rawStore = await openStore(config.store.url, {
    dataDir: config.data_dir,
    log: storeLog(log),
    inlineBlobMax: opts.inlineBlobMax,
  });
  const store = instrumentStore(rawStore, metrics);
  log.info("store.open", `store open: ${redactUrl(config.store.url)}`, {
    schema: await store.schemaVersion(),
  });

  let shuttingDown = false;
  let outbound: OutboundService | undefined;
  const tracker = new ConnectionTracker();
  const perIp = config.limits.connections_per_ip;
  const now = opts.now ?? Date.now;
  // one resolver for inbound checks and outbound delivery (its cache serves both)
  const resolver = opts.outbound?.resolver ?? createResolver({ servers: config.dns.servers });
  const abuse = new AbuseLimits({
    connectionRate: config.limits.connection_rate,
    messageRate: config.limits.message_rate,
    recipientRate: config.limits.recipient_rate,
    sendMessagesPerHour: config.limits.send_messages_per_hour,
    sendRecipientsPerDay: config.limits.send_recipients_per_day,
    connectionsPerNetwork: config.limits.connections_per_network,
    exemptNetworks: config.limits.exempt_networks,
    now,
  });
  const dmarc = config.inbound.authenticate && config.inbound.dmarc_reports
    ? new DmarcRecorder(store, { now, onError: (err) => log.warn("policy.error", "could not record DMARC report data", { err }) })
    : null;
  const greylist = config.greylist.enabled
    ? new Greylist({
        store,
        delayMs: config.greylist.delay * 1000,
        retryWindowMs: config.greylist.retry_window * 1000,
        autoAllowMs: config.greylist.auto_allow_time * 1000,
        allowNetworks: config.greylist.allow_networks,
        allowSenders: config.greylist.allow_senders,
        now,
      })
    : null;
  const policy = new InboundPolicy({
    config,
    store,
    resolver,
    log,
    abuse,
    dnsbl:
      config.dnsbl.zones.length > 0
        ? new DnsblChecker({
            zones: config.dnsbl.zones,
            resolver,
            now,
            onError: (zone, err) => log.warn("policy.error", `DNSBL ${zone} lookup failed; not counted as listed`, { err }),
          })
        : null,
    greylist,
    rspamd: config.rspamd.url ? new RspamdClient({ url: config.rspamd.url, timeoutMs: config.rspamd.timeout * 1000 }) : null,
    dmarc,
  });
  const ctx: ServerContext = {
    config,
    log,
    store,
    metrics,
    tls,
    tracker,
    secureContext: serverSecureContext(tls),
    limiters: {
      smtp: new ConnectionAdmission("smtp", new IpConnectionLimiter(perIp), abuse),
      imap: new ConnectionAdmission("imap", new IpConnectionLimiter(perIp), abuse),
      pop3: new ConnectionAdmission("pop3", new IpConnectionLimiter(perIp), abuse),
    },
    policy,
    throttle: new AuthThrottle({
      maxFailures: config.auth.max_failures,
      banMs: config.auth.ban_time * 1000,
      failureDelayMs: config.auth.failure_delay * 1000,
      now: opts.now,
    }),
    accounts: new AccountLookup(store),
    // queued mail wakes the outbound runner (started once the listeners are bound)
    delivery: new LocalDeliveryAgent({
      store,
      metrics,
      onQueued: () => outbound?.wake(),
      notices: { sink: wakingSink(new StoreBounceSink({ store, hostname: config.hostname }), () => outbound), hostname: config.hostname },
      onNoticeError: (err) => log.warn("queue.error", "could not send a delivery notice (NOTIFY=SUCCESS)", { err }),
    }),
    signer: config.dkim.sign ? new DkimSigner({ dataDir: config.data_dir, hostname: config.hostname }) : null,
    serverSecret: await loadServerSecret(config.data_dir),
    recent: new RecentTracker(),
    version: VERSION,
    isShuttingDown: () => shuttingDown,
  };

  const servers: Server[] = [];
  const addresses: Partial<Record<ListenerName, AddressInfo[]>> = {};
  const unavailable: string[] = [];
  try {
    for (const name of LISTENER_NAMES) {
      const addrs = config.listen[name];
      if (addrs.length === 0) continue;
      const factory = LISTENER_FACTORIES[name];
      if (!factory) {
        unavailable.push(`${name} (${addrs.map((a) => a.text).join(", ")})`);
        continue;
      }
      for (const addr of addrs) {
        const server = factory(ctx, name);
        servers.push(server);
        const bound = await bindServer(server, name, addr);
        addresses[name] = [...(addresses[name] ?? []), bound];
        log.info("listener.open", `${name} listening on ${formatAddress(bound)}`, { listener: name });
      }
    }
  } catch (err) {
    // A listener that cannot bind stops the start: half a mail server is worse than a clear error.
    await Promise.all(servers.map((s) => closeServer(s)));
    await rawStore.close();
    throw err;
  }
  if (unavailable.length > 0) {
    log.info(
      "listener.unavailable",
      `not yet served by this version (nothing opened): ${unavailable.join("; ")}`,
    );
  }
  log.info("server.ready", `Postamt ${VERSION} ready`, {
    listeners: Object.fromEntries(Object.entries(addresses).map(([k, v]) => [k, v.map(formatAddress)])),
  });
  try {
    outbound = await startOutbound({ config, store, log, smtpAddresses: addresses.smtp ?? [], ...opts.outbound, resolver });
  } catch (err) {
    await Promise.all(servers.map((s) => closeServer(s)));
    await rawStore.close();
    throw err;
  }
  const out = outbound;
  await logNextSteps(store, config, log);
  const gcTimer = scheduleGarbageCollection(store, log);
  // the limits' refusal counts: a Prometheus series, and a log line every 10 minutes when they grew
  new Gauge({
    name: "postamt_limit_refusals",
    help: "Connections, messages and recipients refused by a rate or connection limit since start, by limit",
    labelNames: ["limit"],
    registers: [metrics.registry],
    collect() {
      for (const [limit, n] of Object.entries(abuse.refused)) this.set({ limit }, n);
    },
  });
  let lastRefused = JSON.stringify(abuse.refused);
  const refusalTimer = setInterval(() => {
    const now = JSON.stringify(abuse.refused);
    if (now === lastRefused) return;
    lastRefused = now;
    log.info("policy.limit", "limit refusals since start", { refused: { ...abuse.refused } });
  }, 600_000);
  refusalTimer.unref();
  // forgotten triplets and allowances leave the table once an hour
  const greylistTimer = setInterval(() => {
    greylist?.expire().catch((err: unknown) => log.warn("policy.error", "greylist expiry failed", { err }));
  }, 3600_000);
  greylistTimer.unref();

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      shuttingDown = true;
      clearInterval(gcTimer);
      log.info(
        "server.shutdown",
        `shutting down: no new connections; waiting up to ${config.server.shutdown_grace}s for open sessions`,
        {
          open: tracker.size,
        },
      );
      const closed = Promise.all(servers.map((s) => closeServer(s)));
      const { forced } = await tracker.shutdown(config.server.shutdown_grace * 1000);
      await closed;
      await out.stop();
      clearInterval(greylistTimer);
      clearInterval(refusalTimer);
      await dmarc?.flush();
      await rawStore.close();
      log.info(
        "server.stop",
        forced ? `stopped (${forced} sessions cut off after the grace period)` : "stopped cleanly",
        {
          forced,
        },
      );
    })();
    return stopping;
  };
  return { config, store, metrics, addresses, outbound: out, policy, dmarc, stop };
}

/** A notice to a remote sender is queued; wake the runner so it goes out now, not at the next poll. */
function wakingSink(sink: BounceSink, outbound: () => OutboundService | undefined): BounceSink {
  return {
    async send(to, message) {
      await sink.send(to, message);
      outbound()?.wake();
    },
  };
}

/** Message files no message or queue entry refers to any more are removed once an hour. */
function scheduleGarbageCollection(store: MailStore, log: Log): NodeJS.Timeout {
  const timer = setInterval(() => {
    store.collectGarbage().then(
      ({ removed }) => {
        if (removed > 0) log.info("store.gc", `removed ${removed} unreferenced message files`, { removed });
      },
      (err: unknown) => log.error("store.gc", "garbage collection failed", { err }),
    );
  }, 3600_000);
  timer.unref();
  return timer;
}

async function ensureDataDir(dir: string, log: Log): Promise<void> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory())
      throw new Error(`data_dir ${dir} exists but is not a directory; set data_dir to a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    await mkdir(dir, { recursive: true, mode: 0o750 });
    log.info("data.created", `created the data directory ${dir}`);
  }
}

async function logNextSteps(store: MailStore, config: Config, log: Log): Promise<void> {
  const domains = await store.listDomains();
  const cfg = config.source ? ` --config ${config.source}` : "";
  if (domains.length === 0) {
    log.info(
      "server.next-steps",
      `no mail domain yet. Next: npx postamt domain add example.com${cfg} && npx postamt user add alice@example.com${cfg}`,
    );
  } else if ((await store.listAccounts()).length === 0) {
    log.info("server.next-steps", `no user yet. Next: npx postamt user add alice@${domains[0]!.name}${cfg}`);
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // HTTP keep-alive sockets would hold close() open; they are tracked and ended by the tracker.
    (server as Server & { closeIdleConnections?: () => void }).closeIdleConnections?.();
  });
}

function formatAddress(a: AddressInfo): string {
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

function storeLog(log: Log): { info(o: object, msg: string): void; warn(o: object, msg: string): void } {
  return {
    // The store reports migrations (with a schema version) and routine opening through one channel.
    info: (o, msg) =>
      log.info("version" in o ? "store.migrate" : "store.open", msg, o as Record<string, unknown>),
    warn: (o, msg) => log.warn("store.migrate", msg, o as Record<string, unknown>),
  };
}
