// The three SMTP listeners (DESIGN.md §2): `smtp` (inbound MX, STARTTLS, no AUTH), `submission`
// (STARTTLS, AUTH required) and `submissions` (implicit TLS, RFC 8314). All run on the SessionRunner.
import type { Server } from "node:net";
import type { ListenerName } from "../../config/types.js";
import type { ServerContext } from "../../net/listeners.js";
import { createSessionServer } from "../../net/session-runner.js";
import type { SmtpRole } from "./context.js";
import { SmtpSession } from "./session.js";

export function createSmtpListener(ctx: ServerContext, name: ListenerName): Server {
  const role = name as SmtpRole;
  const { config } = ctx;
  return createSessionServer({
    listener: name,
    protocol: "smtp",
    implicitTls: role === "submissions",
    proxyProtocol: config.proxy.listeners.includes(name),
    // Silence longer than the command deadline ends the session (RFC 5321 §4.5.3.2.7).
    idleTimeoutMs: config.timeouts.smtp_command * 1000,
    secureContext: ctx.secureContext,
    log: ctx.log,
    metrics: ctx.metrics,
    tracker: ctx.tracker,
    limiter: ctx.limiters.smtp,
    tooManyConnections: `421 4.7.0 ${config.hostname} Error: too many connections from your address\r\n`,
    tooFast: `421 4.7.0 ${config.hostname} Error: too many connections from your address per minute, try again later\r\n`,
    internalError: `421 4.3.0 ${config.hostname} Error: internal error, closing connection\r\n`,
    createSession: (io) =>
      new SmtpSession(
        io,
        {
          config,
          store: ctx.store,
          metrics: ctx.metrics,
          throttle: ctx.throttle,
          accounts: ctx.accounts,
          delivery: ctx.delivery,
          signer: ctx.signer,
          scram: { secret: ctx.serverSecret },
          policy: ctx.policy,
          isShuttingDown: ctx.isShuttingDown,
        },
        role,
      ),
  });
}
