import { describe, expect, it } from '@jest/globals';
import { backoffCeilingMs, backoffDelayMs, DEFAULT_BACKOFF } from './backoff.js';
import { Prng } from './prng.js';

describe('backoff', () => {
  it('uses base 1 s and cap 60 s by default', () => {
    expect(DEFAULT_BACKOFF).toStrictEqual({ baseMs: 1_000, capMs: 60_000 });
  });

  it('ceiling doubles per attempt up to the cap', () => {
    const ceilings = Array.from({ length: 10 }, (_, i) => backoffCeilingMs(i));
    expect(ceilings).toStrictEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
    expect(backoffCeilingMs(10_000)).toBe(60_000);
    expect(backoffCeilingMs(-3)).toBe(1_000);
  });

  it('delays stay within [0, ceiling] for any random input', () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const u of [0, 1e-9, 0.25, 0.5, 0.999999, 1, -1, 2]) {
        const d = backoffDelayMs(attempt, u);
        expect(d >= 0 && d <= backoffCeilingMs(attempt)).toBeTruthy();
        expect(d <= 60_000).toBeTruthy();
      }
    }
  });

  it('grows with the attempt and uses the whole jitter window (full jitter)', () => {
    const rng = new Prng(99);
    const stats = Array.from({ length: 8 }, (_, attempt) => {
      const xs = Array.from({ length: 4000 }, () => backoffDelayMs(attempt, rng.next()));
      return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs), ceiling: backoffCeilingMs(attempt) };
    });
    for (let i = 1; i < 6; i++) expect(stats[i].mean > stats[i - 1].mean * 1.7).toBeTruthy();
    for (const s of stats) {
      expect(Math.abs(s.mean - s.ceiling / 2) < s.ceiling * 0.05).toBeTruthy();
      expect(s.min < s.ceiling * 0.01 && s.max > s.ceiling * 0.99).toBeTruthy();
    }
  });

  it('honours custom base and cap', () => {
    expect(backoffCeilingMs(3, { baseMs: 50, capMs: 300 })).toBe(300);
    expect(backoffDelayMs(1, 0.5, { baseMs: 50, capMs: 300 })).toBe(50);
  });
});
