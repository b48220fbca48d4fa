// Wraps a MailStore so every async method's latency lands in the store latency histogram, without
// the backends knowing about metrics. A Proxy keeps the wrapper in step with the interface as it grows.
import type { Metrics } from "../http/metrics.js";
import type { MailStore } from "./types.js";

export function instrumentStore(store: MailStore, metrics: Metrics): MailStore {
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      let wrapped = cache.get(prop);
      if (!wrapped) {
        const fn = value as (...args: unknown[]) => unknown;
        wrapped = (...args: unknown[]) => {
          const end = metrics.storeLatency.startTimer({ op: prop });
          let result: unknown;
          try {
            result = fn.apply(target, args);
          } catch (err) {
            metrics.storeErrors.inc({ op: prop });
            throw err;
          }
          if (result instanceof Promise) {
            return result.then(
              (v) => {
                end();
                return v;
              },
              (err: unknown) => {
                end();
                metrics.storeErrors.inc({ op: prop });
                throw err;
              },
            );
          }
          end();
          return result;
        };
        cache.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
