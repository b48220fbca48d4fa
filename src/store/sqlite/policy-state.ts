// Inbound policy state (schema v6): greylisting entries (RFC 6647) and DMARC aggregate report
// counts (RFC 7489 §7.2). Small tables beside the mail; nothing here is on the delivery path.
import type { DmarcRecord, GreylistEntry } from "../types.js";
import type { Db } from "./db.js";

interface GreylistRow {
  key: string;
  first_seen: number;
  last_seen: number;
  passed: number;
  expires_at: number;
}

interface DmarcRow {
  day: string;
  domain: string;
  source_ip: string;
  policy: string;
  disposition: string;
  dmarc: string;
  spf: string;
  spf_domain: string;
  dkim: string;
  dkim_domain: string;
  count: number;
}

export class PolicyState {
  constructor(private readonly db: Db) {}

  greylistGet(key: string): GreylistEntry | null {
    const r = this.db.prep<GreylistRow>("SELECT * FROM greylist WHERE key = ?").get(key);
    return r
      ? { key: r.key, firstSeen: r.first_seen, lastSeen: r.last_seen, passed: r.passed !== 0, expiresAt: r.expires_at }
      : null;
  }

  greylistPut(e: GreylistEntry): void {
    this.db
      .prep(
        "INSERT OR REPLACE INTO greylist (key, first_seen, last_seen, passed, expires_at) VALUES (?, ?, ?, ?, ?)",
      )
      .run(e.key, e.firstSeen, e.lastSeen, e.passed ? 1 : 0, e.expiresAt);
  }

  greylistExpire(now: number): number {
    return this.db.prep("DELETE FROM greylist WHERE expires_at < ?").run(now).changes;
  }

  recordDmarc(rows: DmarcRecord[]): void {
    const st = this.db.prep(
      `INSERT INTO dmarc_records (day, domain, source_ip, policy, disposition, dmarc, spf, spf_domain, dkim, dkim_domain, count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (day, domain, source_ip, policy, disposition, dmarc, spf, spf_domain, dkim, dkim_domain)
       DO UPDATE SET count = count + excluded.count`,
    );
    for (const r of rows) {
      st.run(
        r.day,
        r.domain.toLowerCase(),
        r.sourceIp,
        r.policy,
        r.disposition,
        r.dmarc,
        r.spf,
        r.spfDomain.toLowerCase(),
        r.dkim,
        r.dkimDomain.toLowerCase(),
        r.count,
      );
    }
  }

  listDmarc(opts: { since?: string; domain?: string } = {}): DmarcRecord[] {
    const rows = this.db
      .prep<DmarcRow>(
        `SELECT * FROM dmarc_records WHERE day >= ? AND (? IS NULL OR domain = ?)
         ORDER BY day DESC, domain, count DESC, source_ip`,
      )
      .all(opts.since ?? "", opts.domain?.toLowerCase() ?? null, opts.domain?.toLowerCase() ?? null);
    return rows.map((r) => ({
      day: r.day,
      domain: r.domain,
      sourceIp: r.source_ip,
      policy: r.policy,
      disposition: r.disposition,
      dmarc: r.dmarc,
      spf: r.spf,
      spfDomain: r.spf_domain,
      dkim: r.dkim,
      dkimDomain: r.dkim_domain,
      count: r.count,
    }));
  }
}
