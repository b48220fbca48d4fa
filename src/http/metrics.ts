// Prometheus metrics (prom-client). One registry per server instance, so tests that start several
// servers in one process do not mix their counters. Names follow Prometheus conventions
// (postamt_<noun>_<unit>), labels are bounded sets (listener names, protocols, reasons).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  readonly registry: Registry;
  readonly connections: Counter<"listener">;
  readonly connectionsActive: Gauge<"listener">;
  readonly sessions: Counter<"protocol" | "result">;
  readonly messagesAccepted: Counter<"listener">;
  readonly messagesDelivered: Counter<"via">;
  readonly messagesRejected: Counter<"listener" | "reason">;
  readonly storeLatency: Histogram<"op">;
  readonly storeErrors: Counter<"op">;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "postamt_" });
  const registers = [registry];
  return {
    registry,
    connections: new Counter({
      name: "postamt_connections_total",
      help: "TCP connections accepted, by listener",
      labelNames: ["listener"],
      registers,
    }),
    connectionsActive: new Gauge({
      name: "postamt_connections_active",
      help: "Connections open now, by listener",
      labelNames: ["listener"],
      registers,
    }),
    sessions: new Counter({
      name: "postamt_sessions_total",
      help: "Protocol sessions ended, by protocol and result (ok, timeout, error, shutdown)",
      labelNames: ["protocol", "result"],
      registers,
    }),
    messagesAccepted: new Counter({
      name: "postamt_messages_accepted_total",
      help: "Messages acknowledged to a client (SMTP 250 after DATA/BDAT, IMAP APPEND OK)",
      labelNames: ["listener"],
      registers,
    }),
    messagesDelivered: new Counter({
      name: "postamt_messages_delivered_total",
      help: "Message copies delivered, by route (local, remote)",
      labelNames: ["via"],
      registers,
    }),
    messagesRejected: new Counter({
      name: "postamt_messages_rejected_total",
      help: "Messages or recipients refused, by listener and reason",
      labelNames: ["listener", "reason"],
      registers,
    }),
    storeLatency: new Histogram({
      name: "postamt_store_operation_seconds",
      help: "Latency of mail store operations, by operation",
      labelNames: ["op"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    storeErrors: new Counter({
      name: "postamt_store_errors_total",
      help: "Mail store operations that failed, by operation",
      labelNames: ["op"],
      registers,
    }),
  };
}
