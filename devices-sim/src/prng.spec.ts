import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prng, deriveSeed, hashString, lowDiscrepancy, pickByShare } from './prng.js';

describe('Prng', () => {
  it('is deterministic and can continue from its state', () => {
    const a = new Prng(123);
    const b = new Prng(123);
    const seqA = Array.from({ length: 50 }, () => a.next());
    assert.deepEqual(seqA, Array.from({ length: 50 }, () => b.next()));
    const c = new Prng(a.state);
    assert.equal(c.next(), a.next());
    assert.notDeepEqual(seqA, Array.from({ length: 50 }, () => new Prng(124).next()));
  });

  it('draws uniform values in range', () => {
    const rng = new Prng(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      assert.ok(x >= 0 && x < 1);
      buckets[Math.floor(x * 10)]++;
    }
    for (const n of buckets) assert.ok(Math.abs(n - 10_000) < 500, `bucket ${n}`);
    for (let i = 0; i < 1000; i++) {
      const k = rng.int(3, 5);
      assert.ok(k >= 3 && k <= 5 && Number.isInteger(k));
    }
    const normals = Array.from({ length: 20_000 }, () => rng.normal(10, 2));
    const mean = normals.reduce((s, x) => s + x, 0) / normals.length;
    const sd = Math.sqrt(normals.reduce((s, x) => s + (x - mean) ** 2, 0) / normals.length);
    assert.ok(Math.abs(mean - 10) < 0.1 && Math.abs(sd - 2) < 0.1, `mean ${mean} sd ${sd}`);
  });

  it('derives distinct seeds from labels', () => {
    assert.notEqual(deriveSeed('s', 'SIM-000001'), deriveSeed('s', 'SIM-000002'));
    assert.notEqual(deriveSeed('s', 'ab', 'c'), deriveSeed('s', 'a', 'bc'));
    assert.equal(hashString('x'), hashString('x'));
  });
});

describe('share helpers', () => {
  const table = [
    { value: 'a', weight: 75 },
    { value: 'b', weight: 13 },
    { value: 'c', weight: 12 },
  ];

  it('picks by cumulative share', () => {
    assert.equal(pickByShare(table, 0), 'a');
    assert.equal(pickByShare(table, 0.7499), 'a');
    assert.equal(pickByShare(table, 0.75), 'b');
    assert.equal(pickByShare(table, 0.8799), 'b');
    assert.equal(pickByShare(table, 0.88), 'c');
    assert.equal(pickByShare(table, 0.99999), 'c');
  });

  it('low-discrepancy points hit the shares in every prefix and each dimension', () => {
    for (let dim = 0; dim < 10; dim++) {
      for (const n of [50, 200, 1000]) {
        let c = 0;
        for (let i = 1; i <= n; i++) {
          const x = lowDiscrepancy(i, dim, 0.37);
          assert.ok(x >= 0 && x < 1);
          if (pickByShare(table, x) === 'c') c++;
        }
        assert.ok(Math.abs(c / n - 0.12) <= 2.5 / n + 0.005, `dim ${dim} n ${n}: ${c}`);
      }
    }
  });

  it('low-discrepancy dimensions are not correlated', () => {
    // joint share of two 12 % traits should be ~1.44 %, not 12 % (identical) or 0 (exclusive)
    let both = 0;
    const n = 10_000;
    for (let i = 1; i <= n; i++) if (lowDiscrepancy(i, 0, 0.1) < 0.12 && lowDiscrepancy(i, 1, 0.6) < 0.12) both++;
    assert.ok(Math.abs(both / n - 0.0144) < 0.004, `joint share ${both / n}`);
  });
});
