// The `http` listener: /healthz for load balancers and process supervisors, /metrics for Prometheus.
// Later issues add the admin API, autoconfig and the MTA-STS policy here.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Log } from "../log/logger.js";
import type { MailStore } from "../store/types.js";
import type { Metrics } from "./metrics.js";

export interface HttpDeps {
  store: MailStore;
  metrics: Metrics;
  log: Log;
  version: string;
  isShuttingDown(): boolean;
}

export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      deps.log.error("internal.error", "HTTP request failed", { err, url: req.url });
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  };
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    send(res, 405, "text/plain", "method not allowed\n");
    return;
  }
  if (path === "/healthz") {
    // Healthy = the store answers. A shutting-down server reports 503 so balancers stop sending.
    if (deps.isShuttingDown()) {
      send(res, 503, "application/json", JSON.stringify({ status: "shutting-down" }) + "\n");
      return;
    }
    try {
      const schema = await deps.store.schemaVersion();
      send(
        res,
        200,
        "application/json",
        JSON.stringify({ status: "ok", version: deps.version, schema }) + "\n",
      );
    } catch (err) {
      deps.log.warn("http.request", "health check: the store does not answer", { err });
      send(res, 503, "application/json", JSON.stringify({ status: "store-unavailable" }) + "\n");
    }
    return;
  }
  if (path === "/metrics") {
    send(res, 200, deps.metrics.registry.contentType, await deps.metrics.registry.metrics());
    return;
  }
  send(res, 404, "text/plain", "not found: try /healthz or /metrics\n");
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
