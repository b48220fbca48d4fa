// A size-bounded LRU map whose entries expire: the resolver's answer cache. A Map keeps insertion
// order, so re-inserting on every hit makes the first key the least recently used one.

export class ExpiringLru<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (this.now() >= e.expiresAt) return undefined;
    this.entries.set(key, e);
    return e.value;
  }

  /** Keeps `value` for `ttlMs`; a TTL of 0 (or a cache of size 0) stores nothing. */
  set(key: string, value: V, ttlMs: number): void {
    if (this.maxEntries <= 0 || ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
