import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    assert.equal(store.calls.length, 1);
    assert.deepEqual([...store.calls[0]].sort(), ['A001', 'B001', 'C001']);
    assert.equal(results[0]?.hash.toString(), 'a');
    assert.equal(results[1]?.hash.toString(), 'b');
    assert.equal(results[2], null, 'unknown SN resolves null');
    assert.equal(results[3]?.hash.toString(), 'a', 'duplicate waiter gets the same record');
  });

  it('does not fetch on a cache hit within the TTL', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await loader.load('A001');
    store.table.set('A001', record('changed'));
    const again = await loader.load('A001');
    assert.equal(store.calls.length, 1);
    assert.equal(again?.hash.toString(), 'a', 'served from cache');
  });

  it('caches negative results', async () => {
    const store = new FakeStore();
    const loader = new AuthRecordLoader(store.fetch, defaults);
    assert.equal(await loader.load('NONE1'), null);
    assert.equal(await loader.load('NONE1'), null);
    assert.equal(store.calls.length, 1);
  });

  it('refetches once the TTL has expired', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('old'));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, ttlMs: 1000 });
    await loader.load('A001');
    store.table.set('A001', record('new'));
    assert.equal((await loader.load('A001', Date.now() + 500))?.hash.toString(), 'old', 'still fresh');
    assert.equal(store.calls.length, 1);
    assert.equal((await loader.load('A001', Date.now() + 1500))?.hash.toString(), 'new', 'expired: refetched');
    assert.equal(store.calls.length, 2);
  });

  it('does not cache at all with ttlMs 0', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, ttlMs: 0 });
    await loader.load('A001');
    await loader.load('A001');
    assert.equal(store.calls.length, 2);
  });

  it('refetches after invalidate()', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('old'));
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await loader.load('A001');
    store.table.set('A001', record('rotated'));
    loader.invalidate('A001');
    assert.equal((await loader.load('A001'))?.hash.toString(), 'rotated');
    assert.equal(store.calls.length, 2);
  });

  it('evicts the oldest entry beyond maxEntries', async () => {
    const store = new FakeStore();
    for (const sn of ['A001', 'B001', 'C001']) store.table.set(sn, record(sn));
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxEntries: 2 });
    await loader.load('A001');
    await loader.load('B001');
    await loader.load('C001');
    assert.equal(store.calls.length, 3);
    await loader.load('B001');
    await loader.load('C001');
    assert.equal(store.calls.length, 3, 'the two newest stay cached');
    await loader.load('A001');
    assert.equal(store.calls.length, 4, 'the oldest was evicted');
    assert.deepEqual(store.calls[3], ['A001']);
  });

  it('splits a large burst into fetches of at most maxBatch SNs', async () => {
    const store = new FakeStore();
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxBatch: 2 });
    await Promise.all(['A001', 'B001', 'C001', 'D001', 'E001'].map((sn) => loader.load(sn)));
    assert.deepEqual(
      store.calls.map((c) => c.length),
      [2, 2, 1],
    );
    assert.deepEqual(store.calls.flat().sort(), ['A001', 'B001', 'C001', 'D001', 'E001']);
  });

  it('rejects every waiter of a failed chunk, resolves the other chunks and caches nothing from the failure', async () => {
    const store = new FakeStore();
    for (const sn of ['A001', 'B001', 'C001']) store.table.set(sn, record(sn));
    store.failWhen = (sns) => sns.includes('A001');
    const loader = new AuthRecordLoader(store.fetch, { ...defaults, maxBatch: 2 });
    const settled = await Promise.allSettled([loader.load('A001'), loader.load('B001'), loader.load('C001'), loader.load('A001')]);
    assert.deepEqual(
      settled.map((s) => s.status),
      ['rejected', 'rejected', 'fulfilled', 'rejected'],
    );
    const first = settled[0];
    assert.ok(first.status === 'rejected' && first.reason instanceof Error && /database unavailable/.test(first.reason.message));
    const third = settled[2];
    assert.ok(third.status === 'fulfilled' && third.value?.hash.toString() === 'C001');
    // The failure is not cached: the next load retries.
    store.failWhen = () => false;
    assert.equal((await loader.load('A001'))?.hash.toString(), 'A001');
    assert.equal(store.calls.length, 3);
  });

  it('a failed fetch does not break later loads in the next tick', async () => {
    const store = new FakeStore();
    store.table.set('A001', record('a'));
    store.failWhen = () => true;
    const loader = new AuthRecordLoader(store.fetch, defaults);
    await assert.rejects(loader.load('A001'));
    store.failWhen = () => false;
    assert.equal((await loader.load('A001'))?.hash.toString(), 'a');
  });
});
