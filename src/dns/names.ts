// Pure helpers for the stub resolver: query names, reverse-lookup names and server addresses.
import { isIP, isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";

/**
 * A query name in the form we put on the wire and use as a cache key: trimmed, without the trailing
 * dot, lower case, IDNs as A-labels. Returns null for names that cannot exist in the DNS (empty
 * labels, a label over 63 octets or a name over 253 characters, RFC 1035 §2.3.4).
 */
export function normalizeName(name: string): string | null {
  let n = name.trim();
  if (n.endsWith(".")) n = n.slice(0, -1);
  if (n === "") return null;
  // domainToASCII would also reject names it considers bad URL hosts, so only use it for IDNs
  if (/[^\x00-\x7f]/.test(n)) {
    n = domainToASCII(n);
    if (n === "") return null;
  }
  n = n.toLowerCase();
  if (n.length > 253) return null;
  for (const label of n.split(".")) {
    if (label.length === 0 || label.length > 63) return null;
  }
  return n;
}

/** A name as it came off the wire (dns-packet gives "." for the root): lower case, no trailing dot. */
export function wireName(name: string): string {
  const n = name.toLowerCase();
  if (n === ".") return "";
  return n.endsWith(".") ? n.slice(0, -1) : n;
}

/** The eight 16-bit groups of an IPv6 address, or null if it is not one. */
export function ipv6Groups(ip: string): number[] | null {
  let text = ip;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  if (!isIPv6(text)) return null;
  const groupsOf = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        // an embedded IPv4 address makes up the last two groups (RFC 4291 §2.2, form 3)
        const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else {
        out.push(Number.parseInt(g, 16));
      }
    }
    return out;
  };
  const gap = text.indexOf("::");
  if (gap < 0) return groupsOf(text);
  const head = groupsOf(text.slice(0, gap));
  const tail = groupsOf(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa" (RFC 1035 §3.5) or 32 nibbles under
 * "ip6.arpa" (RFC 3596 §2.5). An IPv4-mapped IPv6 address (::ffff:1.2.3.4, what a dual-stack socket
 * reports for an IPv4 client) is looked up as the IPv4 address, which is where its PTR lives.
 * Returns null when `ip` is not an IP address.
 */
export function reverseName(ip: string): string | null {
  const text = ip.trim();
  if (isIPv4(text)) return `${text.split(".").reverse().join(".")}.in-addr.arpa`;
  const groups = ipv6Groups(text);
  if (!groups) return null;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const v4 = [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff];
    return `${v4.reverse().join(".")}.in-addr.arpa`;
  }
  const hex = groups.map((g) => g.toString(16).padStart(4, "0")).join("");
  return `${[...hex].reverse().join(".")}.ip6.arpa`;
}

/** The address a reverse-lookup name stands for (the inverse of reverseName), or null. */
export function addressFromReverseName(name: string): string | null {
  const n = wireName(name.trim());
  if (n.endsWith(".in-addr.arpa")) {
    const parts = n.slice(0, -".in-addr.arpa".length).split(".");
    if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
    return parts.map(Number).reverse().join(".");
  }
  if (n.endsWith(".ip6.arpa")) {
    const nibbles = n.slice(0, -".ip6.arpa".length).split(".");
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return null;
    const hex = nibbles.reverse().join("");
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ""));
    return groups.join(":");
  }
  return null;
}

export interface ServerAddress {
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353" (the forms `dns.servers` accepts). Returns null for
 * anything else: the resolver cannot look up its own servers by name.
 */
export function parseServer(text: string): ServerAddress | null {
  const t = text.trim();
  const bare = isIP(t);
  if (bare !== 0) return { host: t, port: 53, family: bare === 4 ? 4 : 6 };
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (!isIPv6(host)) return null;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(t);
    if (!m || !isIPv4(m[1]!)) return null;
    host = m[1]!;
    portText = m[2]!;
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host, port, family: isIPv4(host) ? 4 : 6 };
}

/** The `nameserver` lines of a resolv.conf text (resolv.conf(5)), in order. */
export function nameserversFromResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && parseServer(m[1]!)) out.push(m[1]!);
  }
  return out;
}
