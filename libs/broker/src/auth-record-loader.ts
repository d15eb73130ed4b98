import type { AuthRecord } from '#terminals';

interface CacheEntry {
  record: AuthRecord | null;
  expiresAt: number;
}

/**
 * Credential lookups for CONNECT storms: a TTL cache (positive and negative), and lookups that
 * miss it coalesced into one query per tick, so thousands of CONNECTs cost a handful of round trips.
 */
export class AuthRecordLoader {
  private readonly cache = new Map<string, CacheEntry>();
  private pending = new Map<string, { resolve: (r: AuthRecord | null) => void; reject: (e: unknown) => void }[]>();
  private scheduled = false;

  constructor(
    private readonly fetch: (sns: string[]) => Promise<Map<string, AuthRecord>>,
    private readonly options: { ttlMs: number; maxEntries: number; maxBatch: number },
  ) {}

  load(sn: string, now = Date.now()): Promise<AuthRecord | null> {
    const hit = this.cache.get(sn);
    if (hit && hit.expiresAt > now) return Promise.resolve(hit.record);
    return new Promise((resolve, reject) => {
      const waiters = this.pending.get(sn);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(sn, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  invalidate(sn: string): void {
    this.cache.delete(sn);
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const sns = [...batch.keys()];
    for (let i = 0; i < sns.length; i += this.options.maxBatch) {
      const chunk = sns.slice(i, i + this.options.maxBatch);
      try {
        const found = await this.fetch(chunk);
        const expiresAt = Date.now() + this.options.ttlMs;
        for (const sn of chunk) {
          const record = found.get(sn) ?? null;
          if (this.options.ttlMs > 0) this.remember(sn, { record, expiresAt });
          for (const w of batch.get(sn) ?? []) w.resolve(record);
        }
      } catch (err) {
        for (const sn of chunk) for (const w of batch.get(sn) ?? []) w.reject(err);
      }
    }
  }

  private remember(sn: string, entry: CacheEntry): void {
    this.cache.delete(sn);
    if (this.cache.size >= this.options.maxEntries) {
      // Map iterates in insertion order: the first key is the least recently loaded.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    if (this.options.maxEntries > 0) this.cache.set(sn, entry);
  }
}
