import { describe, expect, it } from '@jest/globals';
import { TerminalStatus, type AuthRecord } from '#terminals';
import { AuthRecordLoader } from './auth-record-loader.js';

const record = (tag: string, status: AuthRecord['status'] = TerminalStatus.Active): AuthRecord => ({ hash: Buffer.from(tag), status });

/** A fetch stub backed by a mutable table; records each call's SN list. */
class FakeStore {
  readonly table = new Map<string, AuthRecord>();
  readonly calls: string[][] = [];
  failWhen: (sns: string[]) => boolean = () => false;

  readonly fetch = async (sns: string[]): Promise<Map<string, AuthRecord>> => {
    this.calls.push([...sns]);
    if (this.failWhen(sns)) throw new Error(`database unavailable for ${sns.join(',')}`);
    const out = new Map<string, AuthRecord>();
    for (const sn of sns) {
      const r = this.table.get(sn);
      if (r) out.set(sn, r);
    }
    return out;
  };
}

const defaults = { ttlMs: 60_000, maxEntries: 1000, maxBatch: 100 };

describe('AuthRecordLoader', () => {
  it('coalesces loads made in the same tick into one fetch with every SN once', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    store.table.set('B001', record('b'));
    const loader = new AuthRecordLoader(store.fetch, defaults);
    const results = await Promise.all([loader.load('A001'), loader.load('B001'), loader.load('C001'), loader.load('A001')]);
    expect(store.calls.length).toBe(1);
    expect([...store.calls[0]].sort()).toStrictEqual(['A001', 'B001', 'C001']);
    expect(results[0]?.hash.toString()).toBe('a');
    expect(results[1]?.hash.toString()).toBe('b');
    expect(results[2]).toBe(null);
    expect(results[3]?.hash.toString()).toBe('a');
  });

  it('does not fetch on a cache hit within the TTL', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await loader.load('A001');
    store.table.set('A001', record('changed'));
    const again = await loader.load('A001');
    expect(store.calls.length).toBe(1);
    expect(again?.hash.toString()).toBe('a');
  });

  it('caches negative results', async () => {
    const store = new FakeStore();
    const loader = new AuthRecordLoader(store.fetch, defaults);
    expect(await loader.load('NONE1')).toBe(null);
    expect(await loader.load('NONE1')).toBe(null);
    expect(store.calls.length).toBe(1);
  });

  it('refetches once the TTL has expired', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('old'));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, ttlMs: 1000 });
    await loader.load('A001');
    store.table.set('A001', record('new'));
    expect((await loader.load('A001', Date.now() + 500))?.hash.toString()).toBe('old');
    expect(store.calls.length).toBe(1);
    expect((await loader.load('A001', Date.now() + 1500))?.hash.toString()).toBe('new');
    expect(store.calls.length).toBe(2);
  });

  it('does not cache at all with ttlMs 0', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, ttlMs: 0 });
    await loader.load('A001');
    await loader.load('A001');
    expect(store.calls.length).toBe(2);
  });

  it('refetches after invalidate()', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('old'));
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await loader.load('A001');
    store.table.set('A001', record('rotated'));
    loader.invalidate('A001');
    expect((await loader.load('A001'))?.hash.toString()).toBe('rotated');
    expect(store.calls.length).toBe(2);
  });

  it('evicts the oldest entry beyond maxEntries', async () => {
    const store = new FakeStore();
    for (const sn of ['A001', 'B001', 'C001']) store.table.set(sn, record(sn));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxEntries: 2 });
    await loader.load('A001');
    await loader.load('B001');
    await loader.load('C001');
    expect(store.calls.length).toBe(3);
    await loader.load('B001');
    await loader.load('C001');
    expect(store.calls.length).toBe(3);
    await loader.load('A001');
    expect(store.calls.length).toBe(4);
    expect(store.calls[3]).toStrictEqual(['A001']);
  });

  it('splits a large burst into fetches of at most maxBatch SNs', async () => {
    const store = new FakeStore();
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxBatch: 2 });
    await Promise.all(['A001', 'B001', 'C001', 'D001', 'E001'].map((sn) => loader.load(sn)));
    expect(store.calls.map((c) => c.length)).toStrictEqual([2, 2, 1]);
    expect(store.calls.flat().sort()).toStrictEqual(['A001', 'B001', 'C001', 'D001', 'E001']);
  });

  it('rejects every waiter of a failed chunk, resolves the other chunks and caches nothing from the failure', async () => {
    const store = new FakeStore();
    for (const sn of ['A001', 'B001', 'C001']) store.table.set(sn, record(sn));
    store.failWhen = (sns) => sns.includes('A001');
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxBatch: 2 });
    const settled = await Promise.allSettled([loader.load('A001'), loader.load('B001'), loader.load('C001'), loader.load('A001')]);
    expect(settled.map((s) => s.status)).toStrictEqual(['rejected', 'rejected', 'fulfilled', 'rejected']);
    const first = settled[0];
    expect(first.status === 'rejected' && first.reason instanceof Error && /database unavailable/.test(first.reason.message)).toBeTruthy();
    const third = settled[2];
    expect(third.status === 'fulfilled' && third.value?.hash.toString() === 'C001').toBeTruthy();
    // The failure is not cached: the next load retries.
    store.failWhen = () => false;
    expect((await loader.load('A001'))?.hash.toString()).toBe('A001');
    expect(store.calls.length).toBe(3);
  });

  it('a failed fetch does not break later loads in the next tick', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    store.failWhen = () => true;
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await expect(loader.load('A001')).rejects.toThrow();
    store.failWhen = () => false;
    expect((await loader.load('A001'))?.hash.toString()).toBe('a');
  });

  it('runs at most maxInFlight lookups; the misses of later ticks gather into the next batch', async () => {
    const store = new FakeStore();
    for (const sn of ['A001', 'B001', 'C001', 'D001']) store.table.set(sn, record(sn));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sizes: number[] = [];
    const loader = new AuthRecordLoader(
      async (sns) => {
        if (store.calls.length === 0) await gate;
        return store.fetch(sns);
      },
      { ...defaults, maxInFlight: 1, onFetch: (n) => sizes.push(n) },
    );
    const tick = () => new Promise((r) => setImmediate(r));
    const first = loader.load('A001');
    await tick();
    // Three more CONNECTs in three later ticks, and a second CONNECT of the SN being fetched.
    const later = [];
    for (const sn of ['B001', 'C001', 'D001', 'A001']) {
      later.push(loader.load(sn));
      await tick();
    }
    expect(sizes).toStrictEqual([1]);
    release();
    const results = await Promise.all([first, ...later]);
    expect(results.map((r) => r?.hash.toString())).toStrictEqual(['A001', 'B001', 'C001', 'D001', 'A001']);
    expect(store.calls).toStrictEqual([['A001'], ['B001', 'C001', 'D001']]);
    expect(sizes).toStrictEqual([1, 3]);
  });

  it('a load after invalidate() does not join a lookup that started before it', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('old'));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loader = new AuthRecordLoader(async (sns) => {
      const answer = store.fetch(sns);
      if (store.calls.length === 1) await gate;
      return answer;
    }, defaults);
    const before = loader.load('A001');
    await new Promise((r) => setImmediate(r));
    store.table.set('A001', record('rotated'));
    loader.invalidate('A001');
    const after = loader.load('A001');
    release();
    expect((await before)?.hash.toString()).toBe('old');
    expect((await after)?.hash.toString()).toBe('rotated');
  });
});
