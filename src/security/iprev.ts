// The "iprev" check of RFC 8601 §3: the client's PTR names, and for each (at most 10) its forward
// A/AAAA records, one of which must be the client's address. Results per RFC 8601 §2.7.3:
//   pass      a PTR name resolves back to the address
//   fail      PTR names exist but none resolves back (no answer, NXDOMAIN or other addresses)
//   temperror a lookup failed temporarily (SERVFAIL, timeout) and nothing passed
//   permerror no PTR data for the address (NXDOMAIN or an empty answer), or no address at all
import { isIPv4 } from "node:net";
import { ipv6Groups } from "../dns/names.js";
import { DnsError, type DnsResolver } from "../dns/types.js";

export interface IprevResult {
  result: "pass" | "fail" | "temperror" | "permerror";
  /** the verified PTR name (lower case, no trailing dot); null unless pass */
  name: string | null;
  /** the PTR names found (lower case, at most 10) */
  ptr?: string[];
}

/** RFC 8601 §3 leaves the bound to the verifier; 10 follows RFC 7208 §4.6.4's PTR limit. */
export const MAX_PTR_NAMES = 10;

/** An address in one canonical text: dotted IPv4 (also for IPv4-mapped IPv6), or 8 full hex groups. */
export function canonicalIp(ip: string): string | null {
  const text = ip.trim();
  if (isIPv4(text)) return text.split(".").map(Number).join(".");
  const g = ipv6Groups(text);
  if (!g) return null;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join(".");
  }
  return g.map((x) => x.toString(16).padStart(4, "0")).join(":");
}

function isTemporary(err: unknown): boolean {
  // anything that is not a definitive DNS answer counts as temporary (RFC 8601 §2.7.3 "temperror")
  return !(err instanceof DnsError) || err.temporary;
}

function cleanName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/** Never rejects: every DNS failure is a result. */
export async function checkIprev(ip: string, resolver: DnsResolver): Promise<IprevResult> {
  const addr = canonicalIp(ip);
  if (addr === null) return { result: "permerror", name: null, ptr: [] };
  const v4 = !addr.includes(":");

  let names: string[];
  try {
    names = (await resolver.ptr(addr)).records.map(cleanName).filter((n) => n !== "");
  } catch (err) {
    return { result: isTemporary(err) ? "temperror" : "permerror", name: null, ptr: [] };
  }
  names = [...new Set(names)].slice(0, MAX_PTR_NAMES);
  if (names.length === 0) return { result: "permerror", name: null, ptr: [] };

  const outcomes = await Promise.all(
    names.map(async (name): Promise<"match" | "nomatch" | "temp"> => {
      try {
        const r = v4 ? await resolver.a(name) : await resolver.aaaa(name);
        return r.records.some((a) => canonicalIp(a) === addr) ? "match" : "nomatch";
      } catch (err) {
        return isTemporary(err) ? "temp" : "nomatch";
      }
    }),
  );
  // the first name in PTR order that resolves back is the one reported
  const at = outcomes.indexOf("match");
  if (at >= 0) return { result: "pass", name: names[at]!, ptr: names };
  return { result: outcomes.includes("temp") ? "temperror" : "fail", name: null, ptr: names };
}
