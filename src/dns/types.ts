// The DnsResolver contract (DESIGN.md §4): every MX/route, SPF, DKIM, DMARC, MTA-STS and DANE lookup
// goes through it. It distinguishes the four outcomes mail needs to tell apart (RFC 5321 §5.1,
// RFC 7505, RFC 7208 §2.6): an answer (possibly empty = no data), NXDOMAIN, SERVFAIL and timeout.

/** Why a lookup gave no answer; "nodata" is NOT an error (an empty `records` list is returned). */
export type DnsErrorKind = "nxdomain" | "servfail" | "timeout" | "refused" | "network";

export class DnsError extends Error {
  constructor(
    readonly kind: DnsErrorKind,
    readonly qname: string,
    readonly qtype: string,
    message?: string,
  ) {
    super(message ?? `DNS ${qtype} ${qname}: ${kind}`);
    this.name = "DnsError";
  }

  /** temporary problems (retry later) as opposed to a definitive "this name does not exist" */
  get temporary(): boolean {
    return this.kind !== "nxdomain";
  }
}

export interface DnsResult<T> {
  records: T[];
  /** the answer carried the AD bit (DNSSEC-validated by a trusted resolver; RFC 6840 §5.7, RFC 7672) */
  authenticated: boolean;
  /** the owner name after following CNAMEs (lower case, no trailing dot) */
  canonicalName: string;
}

export interface MxRecord {
  /** lower case, no trailing dot; "" for the null MX "." (RFC 7505) */
  exchange: string;
  priority: number;
}

export interface TlsaRecord {
  /** 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE (RFC 6698 §2.1.1) */
  usage: number;
  /** 0 full certificate, 1 SubjectPublicKeyInfo */
  selector: number;
  /** 0 exact, 1 SHA-256, 2 SHA-512 */
  matchingType: number;
  data: Buffer;
}

/**
 * Lookups by record type. Names are given without a trailing dot, case-insensitive. A name that
 * exists without records of the type resolves to `records: []`; NXDOMAIN, SERVFAIL, timeouts and
 * refusals reject with DnsError. CNAMEs are followed (the answer's records are those of the target).
 */
export interface DnsResolver {
  mx(name: string): Promise<DnsResult<MxRecord>>;
  a(name: string): Promise<DnsResult<string>>;
  aaaa(name: string): Promise<DnsResult<string>>;
  /** each TXT record's character-strings joined (RFC 7208 §3.3) */
  txt(name: string): Promise<DnsResult<string>>;
  /** reverse lookup of an IPv4 or IPv6 address; names without trailing dot */
  ptr(ip: string): Promise<DnsResult<string>>;
  tlsa(name: string): Promise<DnsResult<TlsaRecord>>;
}
