import type { AuthRecord } from '#terminals';

interface CacheEntry {
  record: AuthRecord | null;
  expiresAt: number;
}

interface Waiter {
  resolve: (r: AuthRecord | null) => void;
  reject: (e: unknown) => void;
}

export interface AuthRecordLoaderOptions {
  ttlMs: number;
  maxEntries: number;
  maxBatch: number;
  /** Lookups running at once (default 2); misses arriving meanwhile wait and go in the next batch. */
  maxInFlight?: number;
  /** Called with each lookup's size (metrics). */
  onFetch?: (sns: number) => void;
}

/**
 * Credential lookups for CONNECT storms: a TTL cache (positive and negative), and lookups that
 * miss it coalesced into batched queries with at most `maxInFlight` running. While they run, new
 * misses gather, so the batch size grows with the database's latency: a reconnect storm of 19,000
 * terminals costs tens of queries, not thousands, and never more than `maxInFlight` connections.
 */
export class AuthRecordLoader {
  private readonly cache = new Map<string, CacheEntry>();
  private pending = new Map<string, Waiter[]>();
  /** SNs being fetched: a second CONNECT of the same terminal meanwhile waits for that answer. */
  private readonly inFlight = new Map<string, Waiter[]>();
  private running = 0;
  private scheduled = false;
  private readonly maxInFlight: number;

  constructor(
    private readonly fetch: (sns: string[]) => Promise<Map<string, AuthRecord>>,
    private readonly options: AuthRecordLoaderOptions,
  ) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 2);
  }

  load(sn: string, now = Date.now()): Promise<AuthRecord | null> {
    const hit = this.cache.get(sn);
    if (hit && hit.expiresAt > now) return Promise.resolve(hit.record);
    return new Promise((resolve, reject) => {
      const waiters = this.inFlight.get(sn) ?? this.pending.get(sn);
      if (waiters) waiters.push({ resolve, reject });
      else this.pending.set(sn, [{ resolve, reject }]);
      this.schedule();
    });
  }

  invalidate(sn: string): void {
    this.cache.delete(sn);
    // A lookup already running may predate the change: later loads must not join it.
    this.inFlight.delete(sn);
  }

  /** Next tick, so the loads of this tick share a query. */
  private schedule(): void {
    if (this.scheduled || this.running >= this.maxInFlight || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.running < this.maxInFlight && this.pending.size > 0) {
      const chunk = new Map<string, Waiter[]>();
      for (const [sn, waiters] of this.pending) {
        if (chunk.size >= this.options.maxBatch) break;
        chunk.set(sn, waiters);
      }
      for (const [sn, waiters] of chunk) {
        this.pending.delete(sn);
        this.inFlight.set(sn, waiters);
      }
      this.running++;
      void this.fetchChunk(chunk).finally(() => {
        this.running--;
        this.schedule();
      });
    }
  }

  private async fetchChunk(chunk: Map<string, Waiter[]>): Promise<void> {
    const sns = [...chunk.keys()];
    this.options.onFetch?.(sns.length);
    try {
      const found = await this.fetch(sns);
      const expiresAt = Date.now() + this.options.ttlMs;
      for (const sn of sns) {
        const record = found.get(sn) ?? null;
        if (this.options.ttlMs > 0) this.remember(sn, { record, expiresAt });
        const waiters = chunk.get(sn) ?? [];
        if (this.inFlight.get(sn) === waiters) this.inFlight.delete(sn);
        for (const w of waiters) w.resolve(record);
      }
    } catch (err) {
      for (const sn of sns) {
        const waiters = chunk.get(sn) ?? [];
        if (this.inFlight.get(sn) === waiters) this.inFlight.delete(sn);
        for (const w of waiters) w.reject(err);
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
