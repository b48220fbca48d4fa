// DMARC aggregate report data (RFC 7489 §7.2): one count per (day, From domain, source IP, outcome).
// Counted in memory and written in one batch every few seconds, so judging a message costs no
// store write; at most the last interval's counts are lost in a crash (report data, not mail).
import type { DmarcRecord, MailStore } from "../store/types.js";

export type DmarcOutcome = Omit<DmarcRecord, "day" | "count">;

export class DmarcRecorder {
  private pending = new Map<string, DmarcRecord>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<MailStore, "recordDmarc">,
    private readonly opts: { flushMs?: number; now?: () => number; onError?: (err: unknown) => void } = {},
  ) {}

  record(outcome: DmarcOutcome): void {
    const day = new Date((this.opts.now ?? Date.now)()).toISOString().slice(0, 10);
    const row: DmarcRecord = { ...outcome, day, count: 1 };
    const key = JSON.stringify([
      day,
      row.domain.toLowerCase(),
      row.sourceIp,
      row.policy,
      row.disposition,
      row.dmarc,
      row.spf,
      row.spfDomain.toLowerCase(),
      row.dkim,
      row.dkimDomain.toLowerCase(),
    ]);
    const existing = this.pending.get(key);
    if (existing) existing.count++;
    else this.pending.set(key, row);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.opts.flushMs ?? 5000);
    this.timer.unref?.();
  }

  /** writes what is counted so far; resolves when it is in the store */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rows = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      if (rows.length === 0) return;
      try {
        await this.store.recordDmarc(rows);
      } catch (err) {
        this.opts.onError?.(err);
      }
    });
    return this.flushing;
  }
}
