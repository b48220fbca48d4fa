// The IMAP listeners (DESIGN.md §2): `imap` (143, STARTTLS) and `imaps` (993, implicit TLS).
import type { Server } from "node:net";
import type { ListenerName } from "../../config/types.js";
import type { ServerContext } from "../../net/listeners.js";
import { createSessionServer } from "../../net/session-runner.js";
import { ImapSession } from "./session.js";

/** RFC 9051 §5.4: an inactivity autologout timer of at least 30 minutes. */
const AUTOLOGOUT_MS = 30 * 60_000;

export function createImapListener(ctx: ServerContext, name: ListenerName): Server {
  const { config } = ctx;
  return createSessionServer({
    listener: name,
    protocol: "imap",
    implicitTls: name === "imaps",
    proxyProtocol: config.proxy.listeners.includes(name),
    idleTimeoutMs: AUTOLOGOUT_MS,
    secureContext: ctx.secureContext,
    log: ctx.log,
    metrics: ctx.metrics,
    tracker: ctx.tracker,
    limiter: ctx.limiters.imap,
    tooManyConnections: "* BYE Too many connections from your address\r\n",
    tooFast: "* BYE [UNAVAILABLE] Too many connections from your address per minute, try again later\r\n",
    internalError: "* BYE Internal server error\r\n",
    createSession: (io) =>
      new ImapSession(io, {
        config,
        store: ctx.store,
        metrics: ctx.metrics,
        throttle: ctx.throttle,
        accounts: ctx.accounts,
        scram: { secret: ctx.serverSecret },
        recent: ctx.recent,
        isShuttingDown: ctx.isShuttingDown,
      }),
  });
}
