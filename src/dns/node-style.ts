// mailauth's `resolver` option expects node's `dns.promises.resolve(name, rrtype)`: plain arrays and
// errors whose `code` says what happened. mailauth (4.x) asks for TXT (SPF, DKIM, DMARC, MTA-STS,
// BIMI), MX, A, AAAA (SPF a/mx, MTA-STS) and PTR (SPF ptr, with a name it built itself), and tells
// ENOTFOUND/ENODATA ("none", counted as void lookups, RFC 7208 §4.6.4) apart from every other code
// (a temporary error).
import { addressFromReverseName } from "./names.js";
import { DnsError, type DnsErrorKind, type DnsResolver, type DnsResult } from "./types.js";

/** `dns.promises.resolve`'s shape; mailauth passes a third options argument, which is ignored. */
export type NodeStyleResolve = (name: string, rrtype: string) => Promise<unknown>;

/** node's error codes (dns.NOTFOUND …) for our error kinds */
const CODES: Record<DnsErrorKind, string> = {
  nxdomain: "ENOTFOUND",
  servfail: "ESERVFAIL",
  timeout: "ETIMEOUT",
  refused: "EREFUSED",
  network: "ECONNREFUSED",
};

const SYSCALLS: Record<string, string> = {
  A: "queryA",
  AAAA: "queryAaaa",
  MX: "queryMx",
  TXT: "queryTxt",
  PTR: "queryPtr",
};

/** An Error shaped like node's DNS errors: `queryTxt ENOTFOUND example.com`, with code and hostname. */
export function nodeDnsError(code: string, rrtype: string, hostname: string, cause?: unknown): Error {
  const syscall = SYSCALLS[rrtype] ?? `query${rrtype}`;
  const err = new Error(`${syscall} ${code} ${hostname}`, cause === undefined ? undefined : { cause });
  return Object.assign(err, { code, errno: undefined, syscall, hostname });
}

export function nodeStyleResolver(r: DnsResolver): NodeStyleResolve {
  return async (name, rrtype) => {
    const type = rrtype.toUpperCase();
    let result: DnsResult<unknown>;
    try {
      switch (type) {
        case "A":
          result = await r.a(name);
          break;
        case "AAAA":
          result = await r.aaaa(name);
          break;
        case "MX":
          result = await r.mx(name);
          break;
        case "TXT": {
          // node gives each record's character-strings separately; ours arrive joined, which every
          // consumer does anyway (RFC 7208 §3.3, RFC 6376 §3.6.2.2)
          const txt = await r.txt(name);
          result = { ...txt, records: txt.records.map((t) => [t]) };
          break;
        }
        case "PTR": {
          const ip = addressFromReverseName(name);
          // node would look up any name; the DnsResolver contract only knows reverse lookups
          if (ip === null) throw nodeDnsError("EBADNAME", type, name);
          result = await r.ptr(ip);
          break;
        }
        default:
          throw nodeDnsError("ENOTIMP", type, name);
      }
    } catch (e) {
      if (e instanceof DnsError) throw nodeDnsError(CODES[e.kind], type, name, e);
      throw e;
    }
    if (result.records.length === 0) throw nodeDnsError("ENODATA", type, name);
    return result.records;
  };
}
