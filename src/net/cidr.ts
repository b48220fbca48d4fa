// IP networks in CIDR notation ("192.0.2.0/24", "2001:db8::/32", or a bare address = one host),
// for exempt lists, greylisting allowlists and per-network counting. IPv4-mapped IPv6 addresses
// ("::ffff:192.0.2.1", how a dual-stack socket reports IPv4 clients) are treated as IPv4.
import { isIPv4, isIPv6 } from "node:net";

export interface Network {
  family: 4 | 6;
  /** the network address, 4 or 16 bytes, host bits cleared */
  bytes: Uint8Array;
  prefix: number;
  /** canonical text, e.g. "192.0.2.0/24" */
  text: string;
}

/** An address as 4 (IPv4, also IPv4-mapped IPv6) or 16 bytes; null when it is not an IP address. */
export function ipBytes(address: string): Uint8Array | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const a = mapped ? mapped[1]! : address;
  if (isIPv4(a)) return Uint8Array.from(a.split(".").map(Number));
  if (!isIPv6(a)) return null;
  const [head, tail] = a.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  // an embedded IPv4 tail ("::1.2.3.4") counts as two groups
  const groups = (parts: string[]): number[] =>
    parts.flatMap((p) => {
      if (p.includes(".")) {
        const [b0, b1, b2, b3] = p.split(".").map(Number) as [number, number, number, number];
        return [(b0 << 8) | b1, (b2 << 8) | b3];
      }
      return [Number.parseInt(p, 16)];
    });
  const hg = groups(h);
  const tg = groups(t);
  const all = tail === undefined ? hg : [...hg, ...new Array<number>(8 - hg.length - tg.length).fill(0), ...tg];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return out;
}

function format(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  // compress the longest run of zero groups (RFC 5952)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** "192.0.2.0/24", "2001:db8::/32" or "192.0.2.7"; null with no reason when malformed. */
export function parseNetwork(text: string): Network | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text.trim() : text.slice(0, slash).trim();
  const bytes = ipBytes(addr);
  if (!bytes) return null;
  const family = bytes.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  const net = mask(bytes, prefix);
  return { family, bytes: net, prefix, text: `${format(net)}/${prefix}` };
}

export function networkContains(net: Network, address: string): boolean {
  const bytes = ipBytes(address);
  if (!bytes || bytes.length !== net.bytes.length) return false;
  const m = mask(bytes, net.prefix);
  for (let i = 0; i < m.length; i++) if (m[i] !== net.bytes[i]) return false;
  return true;
}

/** A list of networks; `has` answers whether an address falls in any of them. */
export class NetworkSet {
  private readonly nets: Network[];
  constructor(list: readonly string[]) {
    this.nets = list.map((t) => parseNetwork(t)).filter((n): n is Network => n !== null);
  }
  has(address: string): boolean {
    return this.nets.some((n) => networkContains(n, address));
  }
  get size(): number {
    return this.nets.length;
  }
}

/**
 * The network an address is counted under: IPv4 /24 and IPv6 /48 by default (the usual size of
 * one customer's allocation), as "192.0.2.0/24". Non-IP input is returned unchanged.
 */
export function networkKey(address: string, v4Prefix = 24, v6Prefix = 48): string {
  const bytes = ipBytes(address);
  if (!bytes) return address;
  const prefix = bytes.length === 4 ? v4Prefix : v6Prefix;
  return `${format(mask(bytes, prefix))}/${prefix}`;
}
