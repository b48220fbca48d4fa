// The closed set of event names that Postamt logs. Every log line carries one in its `event` field, so
// a sysadmin can grep for `"event":"listener.error"` and dashboards can count them; adding an event is
// a deliberate change here, not a string invented at the call site.
export const LOG_EVENTS = [
  "server.start",
  "server.ready",
  "server.stop",
  "server.shutdown",
  "server.next-steps",
  "config.loaded",
  "data.created",
  "tls.loaded",
  "tls.generated",
  "store.open",
  "store.close",
  "store.migrate",
  "store.gc",
  "listener.open",
  "listener.close",
  "listener.error",
  "listener.unavailable",
  "session.open",
  "session.close",
  "session.error",
  "http.request",
  "auth.success",
  "auth.failure",
  "auth.banned",
  "message.accepted",
  "message.rejected",
  "internal.error",
] as const;

export type LogEvent = (typeof LOG_EVENTS)[number];
