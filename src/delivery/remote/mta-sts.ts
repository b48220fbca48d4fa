// MTA-STS (RFC 8461): a recipient domain publishes `_mta-sts.<domain> TXT "v=STSv1; id=…"` and a policy
// at https://mta-sts.<domain>/.well-known/mta-sts.txt. In "enforce" mode we deliver only to an MX the
// policy names, over TLS with a certificate valid for that name; "testing" only logs. Policies are
// cached (memory and data_dir/mta-sts/) for max_age and refreshed when the TXT id changes (§5.1).
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { parsePolicy } from "mailauth/lib/mta-sts.js";
import { DnsError, type DnsResolver } from "../../dns/types.js";

export interface StsPolicy {
  domain: string;
  id: string;
  mode: "enforce" | "testing" | "none";
  /** allowed MX patterns, lower case ("mx.example.com", "*.example.com") */
  mx: string[];
  /** seconds */
  maxAge: number;
  /** epoch ms when fetched (expiry = fetchedAt + maxAge) */
  fetchedAt: number;
}

export interface MtaStsOptions {
  resolver: DnsResolver;
  /** port of the policy host (443; tests use another) */
  httpsPort: number;
  /** extra trusted CAs (PEM), added to the system's */
  ca?: string;
  /** directory for the persistent cache, or null */
  cacheDir: string | null;
  now?: () => number;
  /** HTTP timeout, ms (RFC 8461 §3.3 suggests at least a minute for whole fetches; we use 20 s) */
  timeoutMs?: number;
}

/** RFC 8461 §3.3: the policy body is at most 64 KiB. */
const MAX_POLICY_BYTES = 64 * 1024;

/**
 * RFC 8461 §4.1: "mx.example.com" matches only itself; "*.example.com" matches exactly one extra
 * leftmost label ("a.example.com", not "a.b.example.com" nor "example.com").
 */
export function mxMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === h;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}

export function policyAllows(policy: StsPolicy, host: string): boolean {
  return policy.mx.some((p) => mxMatches(p, host));
}

export class MtaStsPolicies {
  private readonly memory = new Map<string, StsPolicy>();
  private readonly now: () => number;
  private readonly ca: string[] | undefined;

  constructor(private readonly opts: MtaStsOptions) {
    this.now = opts.now ?? Date.now;
    this.ca = opts.ca ? [...rootCertificates, opts.ca] : undefined;
  }

  /**
   * The policy in force for a domain, or null (none published, or none we could fetch and none
   * cached). Never throws: a failure to refresh keeps an unexpired cached policy (RFC 8461 §5.1).
   */
  async policyFor(domain: string): Promise<StsPolicy | null> {
    const d = domain.toLowerCase();
    const cached = await this.cached(d);
    let id: string | null;
    try {
      id = await this.txtId(d);
    } catch {
      return cached; // DNS trouble: keep what we have
    }
    if (id === null) return cached;
    if (cached && cached.id === id) return cached;
    try {
      const body = await this.fetch(d);
      const parsed = parsePolicy(body) as { mode: StsPolicy["mode"]; mx?: string[]; maxAge: number };
      const policy: StsPolicy = {
        domain: d,
        id,
        mode: parsed.mode,
        mx: parsed.mx ?? [],
        maxAge: parsed.maxAge,
        fetchedAt: this.now(),
      };
      await this.remember(policy);
      return policy;
    } catch {
      return cached;
    }
  }

  private async txtId(domain: string): Promise<string | null> {
    let records: string[];
    try {
      records = (await this.opts.resolver.txt(`_mta-sts.${domain}`)).records;
    } catch (err) {
      if (err instanceof DnsError && err.kind === "nxdomain") return null;
      throw err;
    }
    // RFC 8461 §3.1: exactly one record starting with v=STSv1; several → treat as none.
    const sts = records.filter((r) => /^v=STSv1\s*(;|$)/.test(r.trim()));
    if (sts.length !== 1) return null;
    const m = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(?:;|$)/.exec(sts[0] as string);
    return m ? (m[1] as string) : null;
  }

  private async fetch(domain: string): Promise<Buffer> {
    const host = `mta-sts.${domain}`;
    let address: string | undefined;
    try {
      address = (await this.opts.resolver.a(host)).records[0];
    } catch {
      /* try AAAA */
    }
    if (!address) address = (await this.opts.resolver.aaaa(host)).records[0];
    if (!address) throw new Error(`${host} has no address`);
    return new Promise<Buffer>((resolve, reject) => {
      const req = https.request(
        {
          host: address,
          port: this.opts.httpsPort,
          servername: host,
          path: "/.well-known/mta-sts.txt",
          method: "GET",
          headers: { host },
          // RFC 8461 §3.3: the certificate must be valid for mta-sts.<domain>
          rejectUnauthorized: true,
          ...(this.ca ? { ca: this.ca } : {}),
          timeout: this.opts.timeoutMs ?? 20_000,
          agent: false,
        },
        (res) => {
          // §3.3: no redirects; only 200 with a text/plain body counts.
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const type = String(res.headers["content-type"] ?? "");
          if (!/^text\/plain\b/i.test(type)) {
            res.resume();
            reject(new Error(`content type ${type || "missing"}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLICY_BYTES) {
              req.destroy(new Error("policy larger than 64 KiB"));
              return;
            }
            chunks.push(c);
          });
          res.on("end", () => resolve(Buffer.concat(chunks)));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end();
    });
  }

  private expired(p: StsPolicy): boolean {
    return this.now() > p.fetchedAt + p.maxAge * 1000;
  }

  private async cached(domain: string): Promise<StsPolicy | null> {
    let p = this.memory.get(domain) ?? null;
    if (!p && this.opts.cacheDir) {
      try {
        p = JSON.parse(await readFile(this.file(domain), "utf8")) as StsPolicy;
        this.memory.set(domain, p);
      } catch {
        p = null;
      }
    }
    if (p && this.expired(p)) {
      this.memory.delete(domain);
      return null;
    }
    return p;
  }

  private async remember(p: StsPolicy): Promise<void> {
    this.memory.set(p.domain, p);
    if (!this.opts.cacheDir) return;
    try {
      await mkdir(this.opts.cacheDir, { recursive: true, mode: 0o700 });
      const f = this.file(p.domain);
      await writeFile(`${f}.tmp`, JSON.stringify(p));
      await rename(`${f}.tmp`, f);
    } catch {
      /* the memory copy still works; the disk cache is an optimisation */
    }
  }

  private file(domain: string): string {
    return join(this.opts.cacheDir as string, `${domain.replace(/[^a-z0-9.-]/g, "_")}.json`);
  }
}
