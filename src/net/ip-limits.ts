// Connections open per client IP address, per listener group, so one address cannot take every slot.
// IPv6 clients are counted per /64, since one host usually has a whole /64 to pick addresses from.
import { isIPv6 } from "node:net";

export function ipKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const full = expandIPv6(address);
  return `${full.slice(0, 4).join(":")}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head, tail] = address.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}

export class IpConnectionLimiter {
  private readonly open = new Map<string, number>();
  constructor(private readonly maxPerIp: number) {}

  /** Counts a new connection; false when the address already has the maximum open. */
  acquire(address: string): boolean {
    const key = ipKey(address);
    const n = this.open.get(key) ?? 0;
    if (this.maxPerIp > 0 && n >= this.maxPerIp) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(address: string): void {
    const key = ipKey(address);
    const n = (this.open.get(key) ?? 1) - 1;
    if (n <= 0) this.open.delete(key);
    else this.open.set(key, n);
  }

  count(address: string): number {
    return this.open.get(ipKey(address)) ?? 0;
  }
}
