import { describe, expect, it } from '@jest/globals';
import { fmt, latencyStats, markdownHeader, markdownRow, median, mib, percentile, round } from './report.js';

const oneToTen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

describe('median', () => {
  it('is null for no values', () => {
    expect(median([])).toBeNull();
  });

  it('is the middle value of an odd count and the mean of the two middle ones of an even count', () => {
    expect(median([7])).toBe(7);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([-5, 10])).toBe(2.5);
  });

  it('sorts numerically (not as strings) and leaves the input as it was', () => {
    const values = [100, 9, 20];
    expect(median(values)).toBe(20);
    expect(values).toStrictEqual([100, 9, 20]);
  });
});

describe('percentile (nearest rank)', () => {
  it('is NaN for no samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });

  it.each([
    [10, 1],
    [50, 5],
    [51, 6],
    [90, 9],
    [99, 10],
    [100, 10],
  ])('p%d of 1..10 is %d', (p, expected) => {
    expect(percentile(oneToTen, p)).toBe(expected);
  });

  it.each([
    [1, 1],
    [50, 50],
    [99, 99],
    [99.9, 100],
    [100, 100],
  ])('p%d of 1..100 is %d', (p, expected) => {
    expect(percentile(oneToHundred, p)).toBe(expected);
  });

  it('of a single sample is that sample for any p; p = 0 is the minimum', () => {
    for (const p of [0, 1, 50, 99, 100]) expect(percentile([42], p)).toBe(42);
    expect(percentile([3, 5, 8], 0)).toBe(3);
  });

  it('never reads past the end, even for p above 100', () => {
    expect(percentile(oneToTen, 150)).toBe(10);
  });
});

describe('latencyStats', () => {
  it('summarises unsorted samples to 0.01 ms without touching the input', () => {
    const samples = [...oneToHundred].reverse().map((v) => v + 0.004321);
    const copy = [...samples];
    expect(latencyStats(samples)).toStrictEqual({ n: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(samples).toStrictEqual(copy);
  });

  it('rounds each figure to two decimals', () => {
    expect(latencyStats([1.23456, 9.87654, 5.55555])).toStrictEqual({ n: 3, p50: 5.56, p90: 9.88, p99: 9.88, max: 9.88 });
  });

  it('has n = 0 and NaN figures for no samples', () => {
    const stats = latencyStats([]);
    expect(stats.n).toBe(0);
    for (const v of [stats.p50, stats.p90, stats.p99, stats.max]) expect(v).toBeNaN();
  });
});

describe('round / mib', () => {
  it('rounds to whole numbers by default and to the given decimals', () => {
    expect(round(2.5)).toBe(3);
    expect(round(2.4)).toBe(2);
    expect(round(3.14159, 2)).toBe(3.14);
    expect(round(3.14159, 3)).toBe(3.142);
    expect(round(-1.26, 1)).toBe(-1.3);
  });

  it('keeps null as null', () => {
    expect(round(null)).toBeNull();
    expect(round(null, 2)).toBeNull();
  });

  it('mib() converts bytes to whole MiB, null stays null', () => {
    expect(mib(null)).toBeNull();
    expect(mib(0)).toBe(0);
    expect(mib(1024 * 1024)).toBe(1);
    expect(mib(1.5 * 1024 * 1024)).toBe(2);
    expect(mib(512 * 1024 * 1024 + 100)).toBe(512);
  });
});

describe('fmt', () => {
  it('writes thousands separators and the unit', () => {
    expect(fmt(1234567)).toBe('1,234,567');
    expect(fmt(11413, '/s')).toBe('11,413/s');
    expect(fmt(0, ' ms')).toBe('0 ms');
  });

  it('writes n/a for a missing figure and >max for an open-ended bucket', () => {
    expect(fmt(null)).toBe('n/a');
    expect(fmt(undefined, ' ms')).toBe('n/a');
    expect(fmt(Number.POSITIVE_INFINITY, ' ms')).toBe('>max ms');
  });
});

describe('markdown', () => {
  it('markdownRow() joins cells into one table row', () => {
    expect(markdownRow(['2026-11-22', 'abc123', '**11,413**'])).toBe('| 2026-11-22 | abc123 | **11,413** |');
    expect(markdownRow([])).toBe('|  |');
  });

  it('markdownHeader() is the column row plus one separator per column', () => {
    expect(markdownHeader(['date', 'commit', 'rate'])).toBe('| date | commit | rate |\n|---|---|---|');
  });
});
