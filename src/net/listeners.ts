// Which listeners of DESIGN.md §2 this build can serve, and how each is created. A protocol issue
// adds its factory here; until then its addresses are reported as unavailable rather than opened
// as ports that answer nothing.
import { createServer as createHttpServer } from "node:http";
import type { Server } from "node:net";
import type { Config, ListenerName } from "../config/types.js";
import { createHttpHandler } from "../http/server.js";
import type { Metrics } from "../http/metrics.js";
import type { Log } from "../log/logger.js";
import type { TlsMaterial } from "../tls/certificates.js";
import type { MailStore } from "../store/types.js";
import type { SecureContext } from "node:tls";
import type { AccountLookup } from "../auth/account-lookup.js";
import type { AuthThrottle } from "../auth/throttle.js";
import type { LocalDeliveryAgent } from "../delivery/local-delivery.js";
import type { DkimSigner } from "../security/dkim-sign.js";
import { createSmtpListener } from "../smtp/server/listener.js";
import { createImapListener } from "../imap/server/listener.js";
import { createPop3Listener } from "../pop3/server/listener.js";
import type { RecentTracker } from "../imap/server/recent.js";
import type { ConnectionTracker } from "./connection-tracker.js";
import type { ConnectionGate } from "./admission.js";
import type { InboundPolicy } from "../policy/inbound.js";

export interface ServerContext {
  config: Config;
  log: Log;
  store: MailStore;
  metrics: Metrics;
  tls: TlsMaterial;
  tracker: ConnectionTracker;
  secureContext: SecureContext;
  /** connection limits and rates, one gate per protocol */
  limiters: Record<"smtp" | "imap" | "pop3", ConnectionGate>;
  /** the inbound policy of the SMTP listeners */
  policy: InboundPolicy;
  throttle: AuthThrottle;
  accounts: AccountLookup;
  delivery: LocalDeliveryAgent;
  /** DKIM signer for submitted mail (null: dkim.sign = false) */
  signer: DkimSigner | null;
  /** stable secret from the data directory (SCRAM fake salts) */
  serverSecret: Buffer;
  /** IMAP \Recent bookkeeping shared by all IMAP sessions of this process */
  recent: RecentTracker;
  version: string;
  isShuttingDown(): boolean;
}

export type ListenerFactory = (ctx: ServerContext, name: ListenerName) => Server;

const http: ListenerFactory = (ctx, name) => {
  const server = createHttpServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 },
    createHttpHandler({
      store: ctx.store,
      metrics: ctx.metrics,
      log: ctx.log.child({ listener: name }),
      version: ctx.version,
      isShuttingDown: ctx.isShuttingDown,
    }),
  );
  server.on("connection", (socket) => {
    ctx.tracker.add(socket);
    ctx.metrics.connections.inc({ listener: name });
  });
  return server;
};

export const LISTENER_FACTORIES: Readonly<Record<ListenerName, ListenerFactory | null>> = {
  smtp: createSmtpListener,
  submission: createSmtpListener,
  submissions: createSmtpListener,
  imap: createImapListener,
  imaps: createImapListener,
  pop3: createPop3Listener,
  pop3s: createPop3Listener,
  http,
};
