// Where mail for a domain goes (RFC 5321 §5.1): a configured route or smarthost, else the domain's MX
// hosts in preference order (equal preferences shuffled), else the domain itself as an implicit MX.
// The answer is a list of hosts, each with its addresses, or a verdict that says why there is none
// and whether that is worth retrying (SERVFAIL, timeouts) or final (NXDOMAIN, null MX).
import net from "node:net";
import { parseNextHop, type NextHop, type Route } from "../../config/values.js";
import { DnsError, type DnsResolver } from "../../dns/types.js";

export interface RouteHost {
  /** the MX host name (certificate name for TLS), or the IP for an IP literal next hop */
  name: string;
  port: number;
  /** IPv6 first, then IPv4 (each list in DNS order) */
  addresses: string[];
  /** MX preference, 0 for routes */
  preference: number;
  /** the MX answer and this host's address answers were DNSSEC-authenticated (DANE precondition) */
  authenticated: boolean;
}

export type RouteSource = "mx" | "implicit-mx" | "route" | "smarthost";

export type Destination =
  | { ok: true; source: RouteSource; hosts: RouteHost[]; /** skipped hosts and why, for logs */ notes: string[] }
  | { ok: false; temporary: boolean; status: string; reason: string };

export interface RoutingOptions {
  resolver: DnsResolver;
  /** destination port for MX hosts (config outbound.port) */
  port: number;
  routes: readonly Route[];
  /** config outbound.smarthost text, or null */
  smarthost: string | null;
  /** our own SMTP listening addresses as "ip:port", and our hostname: an MX that is us for a domain we
   *  do not host would loop (RFC 5321 §5.1 last paragraphs) */
  isSelf: (address: string, port: number, name: string) => boolean;
  /** randomness for shuffling equal preferences (tests pass a fixed one) */
  random?: () => number;
}

/** The route configured for a domain: exact match first, then the longest "*.suffix". */
export function configuredRoute(domain: string, routes: readonly Route[]): NextHop | null {
  const d = domain.toLowerCase();
  let best: Route | null = null;
  for (const r of routes) {
    if (r.domain === d) return r.hop;
    if (r.domain.startsWith("*.") && d.endsWith(r.domain.slice(1))) {
      if (!best || r.domain.length > best.domain.length) best = r;
    }
  }
  return best?.hop ?? null;
}

/** Orders MX records: by preference, equal preferences in random order (RFC 5321 §5.1). */
export function orderMx<T extends { priority: number }>(records: T[], random: () => number = Math.random): T[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return keyed.map((x) => x.r);
}

export async function resolveDestination(domain: string, opts: RoutingOptions): Promise<Destination> {
  const route = configuredRoute(domain, opts.routes);
  if (route) return resolveHop(route, "route", opts);
  if (opts.smarthost) {
    const hop = parseNextHop(opts.smarthost);
    if (!hop.ok) return { ok: false, temporary: true, status: "4.3.5", reason: `outbound.smarthost: ${hop.reason}` };
    return resolveHop(hop.value, "smarthost", opts);
  }
  return resolveMx(domain, opts.port, "mx", opts);
}

async function resolveHop(hop: NextHop, source: RouteSource, opts: RoutingOptions): Promise<Destination> {
  if (net.isIP(hop.host) !== 0) {
    return {
      ok: true,
      source,
      hosts: [{ name: hop.host, port: hop.port, addresses: [hop.host], preference: 0, authenticated: false }],
      notes: [],
    };
  }
  // "[host]" connects to the host itself; a bare name is looked up as a domain first (Postfix).
  if (!hop.literal) return resolveMx(hop.host, hop.port, source, opts);
  const host = await hostAddresses(hop.host, opts.resolver);
  if (host.addresses.length === 0) return noAddresses(hop.host, [host.error ?? "no A/AAAA records"], host.temporary);
  return {
    ok: true,
    source,
    hosts: [{ name: hop.host, port: hop.port, addresses: host.addresses, preference: 0, authenticated: host.authenticated }],
    notes: [],
  };
}

async function resolveMx(domain: string, port: number, source: RouteSource, opts: RoutingOptions): Promise<Destination> {
  let mx: Awaited<ReturnType<DnsResolver["mx"]>>;
  try {
    mx = await opts.resolver.mx(domain);
  } catch (err) {
    return dnsFailure(err, `MX lookup for ${domain}`);
  }
  const records = mx.records;
  if (records.length === 0) {
    // RFC 5321 §5.1: no MX records → the domain itself is the implicit MX (A/AAAA).
    const host = await hostAddresses(domain, opts.resolver);
    if (host.addresses.length === 0) {
      if (host.temporary) return { ok: false, temporary: true, status: "4.4.3", reason: host.error ?? "DNS failure" };
      return { ok: false, temporary: false, status: "5.1.2", reason: `${domain} has no MX, A or AAAA records` };
    }
    const self = host.addresses.find((a) => opts.isSelf(a, port, domain));
    if (self) return loop(domain, domain, self);
    return {
      ok: true,
      source: source === "mx" ? "implicit-mx" : source,
      hosts: [{ name: domain, port, addresses: host.addresses, preference: 0, authenticated: host.authenticated && mx.authenticated }],
      notes: [],
    };
  }
  // RFC 7505 §3: a single MX of "." says the domain accepts no mail; 556 5.1.10 is the advised reply.
  const real = records.filter((r) => r.exchange !== "");
  if (real.length === 0) {
    return { ok: false, temporary: false, status: "5.1.10", reason: `${domain} accepts no mail (null MX, RFC 7505)` };
  }
  const hosts: RouteHost[] = [];
  const notes: string[] = [];
  let temporary = false;
  for (const r of orderMx(real, opts.random)) {
    // RFC 5321 §5.1: MX names must be domain names; an IP address there is a misconfiguration we skip.
    if (net.isIP(r.exchange) !== 0 || r.exchange.startsWith("[")) {
      notes.push(`MX ${r.exchange} is an IP address, not a host name: skipped`);
      continue;
    }
    const host = await hostAddresses(r.exchange, opts.resolver);
    if (host.addresses.length === 0) {
      notes.push(`MX ${r.exchange}: ${host.error ?? "no addresses"}`);
      temporary ||= host.temporary;
      continue;
    }
    const self = host.addresses.find((a) => opts.isSelf(a, port, r.exchange));
    if (self) {
      // RFC 5321 §5.1: an MX list that contains us must be cut at our own preference; when we are
      // the best MX of a domain we don't host, the mail would loop.
      if (hosts.length === 0) return loop(domain, r.exchange, self);
      break;
    }
    hosts.push({
      name: r.exchange,
      port,
      addresses: host.addresses,
      preference: r.priority,
      authenticated: mx.authenticated && host.authenticated,
    });
  }
  if (hosts.length === 0) return noAddresses(domain, notes, temporary);
  return { ok: true, source, hosts, notes };
}

function loop(domain: string, host: string, address: string): Destination {
  return {
    ok: false,
    temporary: false,
    status: "5.4.6",
    reason: `mail for ${domain} loops back to myself (MX ${host} is ${address})`,
  };
}

function noAddresses(domain: string, notes: string[], temporary: boolean): Destination {
  return {
    ok: false,
    temporary,
    status: temporary ? "4.4.3" : "5.4.4",
    reason: `no reachable mail server for ${domain}: ${notes.join("; ")}`,
  };
}

function dnsFailure(err: unknown, what: string): Destination {
  if (err instanceof DnsError) {
    if (err.kind === "nxdomain") {
      return { ok: false, temporary: false, status: "5.1.2", reason: `${what}: domain does not exist (NXDOMAIN)` };
    }
    return { ok: false, temporary: true, status: "4.4.3", reason: `${what}: ${err.kind}` };
  }
  return { ok: false, temporary: true, status: "4.4.3", reason: `${what}: ${(err as Error).message}` };
}

interface HostAddresses {
  addresses: string[];
  authenticated: boolean;
  temporary: boolean;
  error: string | null;
}

/** AAAA and A of a host; definitive absence vs. temporary DNS trouble is kept apart. */
async function hostAddresses(name: string, resolver: DnsResolver): Promise<HostAddresses> {
  const [v6, v4] = await Promise.allSettled([resolver.aaaa(name), resolver.a(name)]);
  const addresses: string[] = [];
  let authenticated = true;
  let temporary = false;
  const errors: string[] = [];
  for (const r of [v6, v4]) {
    if (r.status === "fulfilled") {
      addresses.push(...r.value.records);
      authenticated &&= r.value.authenticated;
    } else {
      authenticated = false;
      const e = r.reason;
      if (e instanceof DnsError) {
        if (e.temporary) temporary = true;
        errors.push(`${e.qtype} ${e.kind}`);
      } else {
        temporary = true;
        errors.push(String((e as Error)?.message ?? e));
      }
    }
  }
  return {
    addresses,
    authenticated: authenticated && addresses.length > 0,
    temporary: addresses.length === 0 && temporary,
    error: errors.length > 0 ? [...new Set(errors)].join(", ") : null,
  };
}
