// The resolver the server uses, from the `dns.servers` configuration key.
import { StubResolver } from "./stub-resolver.js";

export interface CreateResolverOptions {
  /** `dns.servers`; empty: the nameservers of /etc/resolv.conf */
  servers: readonly string[];
  /** per try; default 2000 ms */
  timeoutMs?: number;
  /** rounds over the servers; default 2 */
  attempts?: number;
  /** cached answers; default 10000 */
  cacheSize?: number;
}

export function createResolver(opts: CreateResolverOptions): StubResolver {
  const { servers, timeoutMs, attempts, cacheSize } = opts;
  return new StubResolver({ servers, timeoutMs, attempts, cacheSize });
}
