import { describe, expect, it } from '@jest/globals';
import { Prng, deriveSeed, hashString, lowDiscrepancy, pickByShare } from './prng.js';

/**
 * Hot loops record each failed condition (with its context) instead of calling `expect` per sample, which
 * costs tens of microseconds under Jest; this asserts once that none were recorded, showing the count and
 * the first few.
 */
function expectNoViolations(violations: readonly string[]): void {
  expect({ count: violations.length, first: violations.slice(0, 10) }).toStrictEqual({ count: 0, first: [] });
}

describe('Prng', () => {
  it('is deterministic and can continue from its state', () => {
    const a = new Prng(123);
    const b = new Prng(123);
    const seqA = Array.from({ length: 50 }, () => a.next());
    expect(seqA).toStrictEqual(Array.from({ length: 50 }, () => b.next()));
    const c = new Prng(a.state);
    expect(c.next()).toBe(a.next());
    expect(seqA).not.toStrictEqual(Array.from({ length: 50 }, () => new Prng(124).next()));
  });

  it('draws uniform values in range', () => {
    const rng = new Prng(7);
    const violations: string[] = [];
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) violations.push(`next() #${i} = ${x}`);
      buckets[Math.floor(x * 10)]++;
    }
    for (const [b, n] of buckets.entries()) if (!(Math.abs(n - 10_000) < 500)) violations.push(`bucket ${b}: ${n}`);
    for (let i = 0; i < 1000; i++) {
      const k = rng.int(3, 5);
      if (!(k >= 3 && k <= 5 && Number.isInteger(k))) violations.push(`int(3, 5) #${i} = ${k}`);
    }
    expectNoViolations(violations);
    const normals = Array.from({ length: 20_000 }, () => rng.normal(10, 2));
    const mean = normals.reduce((s, x) => s + x, 0) / normals.length;
    const sd = Math.sqrt(normals.reduce((s, x) => s + (x - mean) ** 2, 0) / normals.length);
    expect(Math.abs(mean - 10) < 0.1 && Math.abs(sd - 2) < 0.1).toBeTruthy();
  });

  it('derives distinct seeds from labels', () => {
    expect(deriveSeed('s', 'SIM-000001')).not.toBe(deriveSeed('s', 'SIM-000002'));
    expect(deriveSeed('s', 'ab', 'c')).not.toBe(deriveSeed('s', 'a', 'bc'));
    expect(hashString('x')).toBe(hashString('x'));
  });
});

describe('share helpers', () => {
  const table = [
    { value: 'a', weight: 75 },
    { value: 'b', weight: 13 },
    { value: 'c', weight: 12 },
  ];

  it('picks by cumulative share', () => {
    expect(pickByShare(table, 0)).toBe('a');
    expect(pickByShare(table, 0.7499)).toBe('a');
    expect(pickByShare(table, 0.75)).toBe('b');
    expect(pickByShare(table, 0.8799)).toBe('b');
    expect(pickByShare(table, 0.88)).toBe('c');
    expect(pickByShare(table, 0.99999)).toBe('c');
  });

  it('low-discrepancy points hit the shares in every prefix and each dimension', () => {
    const violations: string[] = [];
    for (let dim = 0; dim < 10; dim++) {
      for (const n of [50, 200, 1000]) {
        let c = 0;
        for (let i = 1; i <= n; i++) {
          const x = lowDiscrepancy(i, dim, 0.37);
          if (!(x >= 0 && x < 1)) violations.push(`dim ${dim} n ${n}: lowDiscrepancy(${i}) = ${x}`);
          if (pickByShare(table, x) === 'c') c++;
        }
        if (!(Math.abs(c / n - 0.12) <= 2.5 / n + 0.005)) violations.push(`dim ${dim} n ${n}: ${c} of ${n} picked c`);
      }
    }
    expectNoViolations(violations);
  });

  it('low-discrepancy dimensions are not correlated', () => {
    // joint share of two 12 % traits should be ~1.44 %, not 12 % (identical) or 0 (exclusive)
    let both = 0;
    const n = 10_000;
    for (let i = 1; i <= n; i++) if (lowDiscrepancy(i, 0, 0.1) < 0.12 && lowDiscrepancy(i, 1, 0.6) < 0.12) both++;
    expect(Math.abs(both / n - 0.0144) < 0.004).toBeTruthy();
  });
});
