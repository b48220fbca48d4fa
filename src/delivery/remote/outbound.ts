// Wires outbound delivery together from the config: the DNS resolver, MTA-STS policy cache, the
// SMTP RemoteTransport and the queue runner that drives it. server.ts starts it after the listeners
// are bound (the loop check needs our own SMTP addresses) and stops it before the store closes.
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import { join } from "node:path";
import type { Config } from "../../config/types.js";
import { createResolver } from "../../dns/create.js";
import type { DnsResolver } from "../../dns/types.js";
import type { Log } from "../../log/logger.js";
import { StoreBounceSink } from "../../queue/bounce-sink.js";
import { QueueRunner } from "../../queue/runner.js";
import { type Clock, systemClock } from "../../queue/types.js";
import { connect as smtpConnect } from "../../smtp/client/connection.js";
import type { ConnectFn } from "../../smtp/client/types.js";
import type { MailStore } from "../../store/types.js";
import { MtaStsPolicies } from "./mta-sts.js";
import { RemoteTransport } from "./transport.js";

export interface OutboundService {
  readonly resolver: DnsResolver;
  readonly transport: RemoteTransport;
  readonly runner: QueueRunner;
  /** new mail was queued: attempt it now */
  wake(): void;
  stop(): Promise<void>;
}

export interface OutboundDeps {
  config: Config;
  store: MailStore;
  log: Log;
  /** where our SMTP (port 25) listener is bound, for the mail-loop check */
  smtpAddresses: readonly AddressInfo[];
  clock?: Clock;
  resolver?: DnsResolver;
  connect?: ConnectFn;
}

export async function startOutbound(deps: OutboundDeps): Promise<OutboundService> {
  const { config, store, log } = deps;
  const out = config.outbound;
  const resolver = deps.resolver ?? createResolver({ servers: config.dns.servers });
  const ca = out.tls_ca ? await readFile(out.tls_ca, "utf8") : undefined;
  const mtaSts = out.mta_sts
    ? new MtaStsPolicies({
        resolver,
        httpsPort: out.https_port,
        ...(ca ? { ca } : {}),
        cacheDir: join(config.data_dir, "mta-sts"),
        ...(deps.clock ? { now: deps.clock.now } : {}),
      })
    : null;
  const transport = new RemoteTransport({
    store,
    resolver,
    connect: deps.connect ?? smtpConnect,
    hostname: config.hostname,
    routing: {
      port: out.port,
      routes: out.routes,
      smarthost: out.smarthost,
      isSelf: selfCheck(config.hostname, deps.smtpAddresses),
    },
    smarthost: { tls: out.smarthost_tls, user: out.smarthost_user, password: out.smarthost_password },
    defaultTls: out.tls,
    mtaSts,
    dane: out.dane,
    ...(ca ? { ca } : {}),
    maxHops: config.limits.hops,
    connectTimeoutMs: out.connect_timeout * 1000,
    bindAddress: { v4: out.bind_address, v6: out.bind_address6 },
    log: log.child({ component: "outbound" }),
  });
  const runner = new QueueRunner({
    store,
    transport,
    clock: deps.clock ?? systemClock,
    owner: config.hostname,
    hostname: config.hostname,
    log: log.child({ component: "queue" }),
    concurrency: config.queue.concurrency,
    destinationConcurrency: config.queue.destination_concurrency,
    retryIntervals: config.queue.retry_intervals,
    lifetime: config.queue.lifetime,
    delayWarning: config.queue.delay_warning,
    bounceSink: new StoreBounceSink({ store }),
  });
  await runner.start();
  return {
    resolver,
    transport,
    runner,
    wake: () => runner.wake(),
    async stop() {
      await runner.stop();
      await transport.close();
    },
  };
}

/**
 * RFC 5321 §5.1: never relay to ourselves. True when the address and port are one of our SMTP
 * listeners (a wildcard listener counts every local interface and all of loopback), or the host
 * name is our own.
 */
export function selfCheck(
  hostname: string,
  listeners: readonly AddressInfo[],
): (address: string, port: number, name: string) => boolean {
  const local = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) local.add(i.address);
  return (address, port, name) => {
    if (name.toLowerCase() === hostname.toLowerCase()) return true;
    for (const l of listeners) {
      if (l.port !== port) continue;
      if (l.address === address) return true;
      const wildcard = l.address === "0.0.0.0" || l.address === "::";
      if (wildcard && (local.has(address) || address.startsWith("127.") || address === "::1")) return true;
    }
    return false;
  };
}

