// The POP3 listeners (DESIGN.md §2): `pop3` (110, STLS) and `pop3s` (995, implicit TLS, RFC 8314).
import type { Server } from "node:net";
import type { ListenerName } from "../../config/types.js";
import type { ServerContext } from "../../net/listeners.js";
import { createSessionServer } from "../../net/session-runner.js";
import { err } from "../protocol/response.js";
import { LoginDelays } from "./login-delay.js";
import { MaildropLocks } from "./maildrop-lock.js";
import { Pop3Session } from "./session.js";
import { SizeCache } from "./size-cache.js";

/** RFC 1939 §3: an inactivity autologout timer of at least 10 minutes. */
export const AUTOLOGOUT_MS = 10 * 60_000;

export function createPop3Listener(ctx: ServerContext, name: ListenerName): Server {
  const { config } = ctx;
  // shared by both POP3 listeners of this server: they serve the same maildrops
  const locks = MaildropLocks.for(ctx.store);
  const sizes = SizeCache.for(ctx.store);
  const loginDelays = LoginDelays.for(ctx.store);
  return createSessionServer({
    listener: name,
    protocol: "pop3",
    implicitTls: name === "pop3s",
    proxyProtocol: config.proxy.listeners.includes(name),
    idleTimeoutMs: AUTOLOGOUT_MS,
    secureContext: ctx.secureContext,
    log: ctx.log,
    metrics: ctx.metrics,
    tracker: ctx.tracker,
    limiter: ctx.limiters.pop3,
    tooManyConnections: err("Too many connections from your address", "SYS/TEMP"),
    tooFast: err("Too many connections from your address per minute, try again later", "SYS/TEMP"),
    internalError: err("Internal server error", "SYS/TEMP"),
    createSession: (io) =>
      new Pop3Session(io, {
        config,
        store: ctx.store,
        throttle: ctx.throttle,
        accounts: ctx.accounts,
        scram: { secret: ctx.serverSecret },
        locks,
        sizes,
        loginDelays,
        isShuttingDown: ctx.isShuttingDown,
      }),
  });
}
