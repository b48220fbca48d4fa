// DNS blocklists (RFC 5782): is the client's address listed in one of the configured zones? The
// address is turned into a name under each zone (reversed octets, or nibbles for IPv6, §2.1 and
// §2.4), and an A record there means "listed"; the TXT record at the same name says why.
//
// A DNSBL is advice, never a reason to stall or lose mail: every failure (SERVFAIL, timeout, an
// answer that is not a listing) counts as "not listed" and is reported through onError, so check()
// never throws.
import { DnsError, type DnsResolver } from "../dns/types.js";
import { ipBytes } from "../net/cidr.js";
import { ExpiringLru } from "../dns/cache.js";

export interface DnsblListing {
  zone: string;
  /** the A answers, e.g. ["127.0.0.2"] */
  codes: string[];
  /** the TXT answer, or a default "listed by <zone>" */
  text: string;
}

export interface DnsblCheckerOptions {
  /** e.g. ["zen.spamhaus.org"]; queried in parallel, the first listing in this order wins */
  zones: readonly string[];
  resolver: DnsResolver;
  /** per zone (the A lookup, and the TXT lookup after a listing); default 3000 ms */
  timeoutMs?: number;
  /** how long an answer (listed or not) is kept per address and zone; default 5 min, 0 = no cache */
  cacheMs?: number;
  now?: () => number;
  /** a zone could not be asked or gave an unusable answer; that zone counted as "not listed" */
  onError?: (zone: string, err: unknown) => void;
}

/** A zone answered, but with codes that report a problem with the query rather than a listing. */
export class DnsblAnswerError extends Error {
  constructor(
    readonly zone: string,
    readonly codes: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = "DnsblAnswerError";
  }
}

/** most cached (address, zone) answers */
const CACHE_ENTRIES = 10_000;
/** TXT text is quoted in an SMTP reply: keep it short and printable */
const MAX_TEXT = 200;

/**
 * The name to look up for `ip` in `zone` (RFC 5782 §2.1, §2.4): "192.0.2.99" in "bl.example" is
 * "99.2.0.192.bl.example"; an IPv6 address becomes its 32 nibbles, least significant first. An
 * IPv4-mapped IPv6 address ("::ffff:192.0.2.99", as dual-stack sockets report IPv4 clients) is
 * looked up as the IPv4 address. Throws TypeError when `ip` is not an IP address.
 */
export function dnsblQueryName(ip: string, zone: string): string {
  const bytes = ipBytes(ip.trim());
  if (!bytes) throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
  const z = normalizeZone(zone);
  if (bytes.length === 4) return `${Array.from(bytes).reverse().join(".")}.${z}`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 0xf).toString(16));
  return `${nibbles.reverse().join(".")}.${z}`;
}

function normalizeZone(zone: string): string {
  return zone.trim().toLowerCase().replace(/\.$/, "");
}

export class DnsblChecker {
  private readonly zones: string[];
  private readonly resolver: DnsResolver;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly cache: ExpiringLru<DnsblListing | null>;
  /** lookups under way, by query name: simultaneous connections from one address ask once */
  private readonly inflight = new Map<string, Promise<DnsblListing | null>>();
  private readonly onError: (zone: string, err: unknown) => void;

  constructor(opts: DnsblCheckerOptions) {
    this.zones = opts.zones.map(normalizeZone).filter((z) => z !== "");
    this.resolver = opts.resolver;
    this.timeoutMs = opts.timeoutMs ?? 3_000;
    this.cacheMs = opts.cacheMs ?? 5 * 60_000;
    this.cache = new ExpiringLru(CACHE_ENTRIES, opts.now ?? Date.now);
    const report = opts.onError;
    this.onError = (zone, err) => {
      try {
        report?.(zone, err);
      } catch {
        // a failing logger must not turn into a failed check
      }
    };
  }

  /** The first listing among the zones (in configured order), or null. Never throws. */
  async check(ip: string): Promise<DnsblListing | null> {
    if (this.zones.length === 0 || !ipBytes(ip.trim())) return null;
    // all zones are asked at once; the answers are taken in order, so a later zone's listing waits
    // only for the earlier zones, and the result does not depend on which server is faster
    const lookups = this.zones.map((zone) => this.lookup(ip, zone));
    for (const l of lookups) {
      const listing = await l;
      if (listing) return listing;
    }
    return null;
  }

  private lookup(ip: string, zone: string): Promise<DnsblListing | null> {
    const qname = dnsblQueryName(ip, zone);
    const cached = this.cache.get(qname);
    if (cached !== undefined) return Promise.resolve(cached);
    let p = this.inflight.get(qname);
    if (!p) {
      p = this.ask(qname, zone).finally(() => this.inflight.delete(qname));
      this.inflight.set(qname, p);
    }
    return p;
  }

  /** One zone: the A lookup, then TXT when listed. Resolves null on every failure. */
  private async ask(qname: string, zone: string): Promise<DnsblListing | null> {
    let answers: string[];
    try {
      answers = (await this.withTimeout(this.resolver.a(qname), qname, "A")).records;
    } catch (err) {
      // NXDOMAIN is the normal "not listed" answer (RFC 5782 §2.1)
      if (err instanceof DnsError && err.kind === "nxdomain") {
        this.cache.set(qname, null, this.cacheMs);
      } else {
        // not cached: a temporary failure should not hide a listing for cacheMs
        this.onError(zone, err);
      }
      return null;
    }
    const listed: string[] = [];
    const errors: string[] = [];
    const foreign: string[] = [];
    for (const a of new Set(answers)) {
      if (isQueryErrorCode(a)) errors.push(a);
      else if (a.startsWith("127.")) listed.push(a);
      else foreign.push(a);
    }
    if (listed.length === 0) {
      if (errors.length > 0) {
        // Spamhaus answers 127.255.255.252 (typo in the zone name), .254 (query through a public or
        // unattributable resolver), .255 (over the free-use quota): the list did not look us up
        this.onError(
          zone,
          new DnsblAnswerError(
            zone,
            errors,
            `${zone} refused the query (answered ${errors.join(", ")}): check the zone name, ` +
              "use a resolver of your own rather than a public one, and the list's usage terms",
          ),
        );
      } else if (foreign.length > 0) {
        // only 127.0.0.0/8 is a listing (RFC 5782 §2.1); anything else is e.g. a parked domain's
        // wildcard, or a resolver that rewrites NXDOMAIN
        this.onError(
          zone,
          new DnsblAnswerError(
            zone,
            foreign,
            `${zone} answered ${foreign.join(", ")}, outside 127.0.0.0/8: not a DNSBL answer, ignored`,
          ),
        );
      } else {
        this.cache.set(qname, null, this.cacheMs); // NOERROR without an A record: not listed
        return null;
      }
      return null;
    }
    // frozen: the cache hands the same object to every caller
    const listing: DnsblListing = Object.freeze({
      zone,
      codes: Object.freeze(listed) as string[],
      text: await this.reason(qname, zone),
    });
    this.cache.set(qname, listing, this.cacheMs);
    return listing;
  }

  /** The TXT record at the listing's name (RFC 5782 §2.1), made safe to quote in a reply. */
  private async reason(qname: string, zone: string): Promise<string> {
    try {
      const txt = (await this.withTimeout(this.resolver.txt(qname), qname, "TXT")).records;
      for (const t of txt) {
        const clean = printable(t);
        if (clean) return clean;
      }
    } catch (err) {
      if (!(err instanceof DnsError && err.kind === "nxdomain")) this.onError(zone, err);
    }
    return `listed by ${zone}`;
  }

  private withTimeout<T>(p: Promise<T>, qname: string, qtype: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DnsError("timeout", qname, qtype, `DNS ${qtype} ${qname}: no answer in ${this.timeoutMs} ms`),
          ),
        this.timeoutMs,
      );
      timer.unref();
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Spamhaus's "your query was not answered" codes, 127.255.255.252–255. */
function isQueryErrorCode(a: string): boolean {
  return /^127\.255\.255\.(25[2-5])$/.test(a);
}

/** Printable ASCII only (the text ends up in an SMTP reply line), whitespace collapsed, length capped. */
function printable(text: string): string {
  const clean = text
    .replace(/[^\x20-\x7e]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT - 3)}...` : clean;
}
