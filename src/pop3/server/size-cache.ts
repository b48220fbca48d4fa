// Message sizes in the CRLF form that POP3 sends (RFC 1939 §11).
//
// The store's size is the stored octets (trace prefix + blob). Everything SMTP accepts is already
// in CRLF form (bare CR and LF are refused at DATA/BDAT), so for those the stored size is exact.
// A message stored with bare LFs (possible through IMAP APPEND) grows by one octet per bare LF when
// the dot-stuffer normalises it. Finding that out in advance would mean reading every message at
// login, which is what makes a POP3 server slow; instead the first RETR of such a message learns its
// real size and every later LIST/STAT/RETR in this process reports it exactly. Only such messages
// are recorded (a few bytes each), bounded by dropping the oldest.

export class SizeCache {
  private static readonly byOwner = new WeakMap<object, SizeCache>();
  /** message id → CRLF-form size, only where it differs from the stored size */
  private readonly sizes = new Map<number, number>();

  constructor(private readonly maxEntries = 100_000) {}

  /** The cache for a store (created on first use). */
  static for(owner: object): SizeCache {
    let cache = SizeCache.byOwner.get(owner);
    if (!cache) {
      cache = new SizeCache();
      SizeCache.byOwner.set(owner, cache);
    }
    return cache;
  }

  /** the size to report for a message whose stored size is `stored` */
  size(messageId: number, stored: number): number {
    return this.sizes.get(messageId) ?? stored;
  }

  /** records the CRLF-form size after sending the whole message */
  learn(messageId: number, stored: number, crlfSize: number): void {
    if (crlfSize === stored) return;
    this.sizes.delete(messageId);
    this.sizes.set(messageId, crlfSize);
    if (this.sizes.size > this.maxEntries) {
      const oldest = this.sizes.keys().next().value;
      if (oldest !== undefined) this.sizes.delete(oldest);
    }
  }
}
