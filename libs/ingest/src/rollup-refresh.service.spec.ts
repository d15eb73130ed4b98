import { describe, expect, it } from '@jest/globals';
import { refreshWindow, summaryMinGapMs } from './rollup-refresh.service.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);

describe('refreshWindow', () => {
  const late = 30 * MIN;

  it('ends at the start of the bucket under way, so only complete buckets are materialized', () => {
    const w = refreshWindow(at('2026-12-01T12:07:31Z'), at('2026-12-01T12:00:00Z'), 5 * MIN, late, 90 * DAY);
    expect(w).toStrictEqual({ from: at('2026-12-01T11:30:00Z'), to: at('2026-12-01T12:05:00Z') });
  });

  it('is null until a bucket has completed since the last refresh', () => {
    expect(refreshWindow(at('2026-12-01T12:04:59Z'), at('2026-12-01T12:00:00Z'), 5 * MIN, late, 90 * DAY)).toBeNull();
    expect(refreshWindow(at('2026-12-01T12:59:00Z'), at('2026-12-01T12:00:00Z'), HOUR, late, 90 * DAY)).toBeNull();
  });

  it('goes back the late window from the last end, aligned down to a bucket, and catches up after a pause', () => {
    expect(refreshWindow(at('2026-12-01T13:10:00Z'), at('2026-12-01T12:00:00Z'), HOUR, late, 90 * DAY)).toStrictEqual({
      from: at('2026-12-01T11:00:00Z'),
      to: at('2026-12-01T13:00:00Z'),
    });
    expect(refreshWindow(at('2026-12-01T18:02:00Z'), at('2026-12-01T12:00:00Z'), 5 * MIN, late, 90 * DAY)).toStrictEqual({
      from: at('2026-12-01T11:30:00Z'),
      to: at('2026-12-01T18:00:00Z'),
    });
  });

  it('first refresh: as far back as raw retention', () => {
    expect(refreshWindow(at('2026-12-01T12:07:00Z'), null, HOUR, late, 90 * DAY)).toStrictEqual({
      from: at('2026-12-01T12:00:00Z') - 90 * DAY,
      to: at('2026-12-01T12:00:00Z'),
    });
  });

  it('a last end in the future (clock moved back) re-materializes nothing beyond now', () => {
    expect(refreshWindow(at('2026-12-01T12:07:00Z'), at('2026-12-01T13:00:00Z'), 5 * MIN, late, 90 * DAY)).toBeNull();
  });
});

describe('summaryMinGapMs', () => {
  it('is half the interval after a quick rebuild', () => {
    expect(summaryMinGapMs(5_000, 60_000, 12.3)).toBe(2_500);
  });

  it('spaces slow rebuilds by ten times their duration, in whole milliseconds (the lease binds an integer)', () => {
    // An 832.085949 ms rebuild once gave 8320.85949, which PostgreSQL refused as an int: no summary was built again.
    expect(summaryMinGapMs(5_000, 60_000, 832.085949)).toBe(8_321);
    expect(Number.isInteger(summaryMinGapMs(5_001, 60_001, 1234.5678))).toBe(true);
  });

  it('never waits longer than half the accepted snapshot age', () => {
    expect(summaryMinGapMs(5_000, 60_000, 20_000)).toBe(30_000);
    expect(summaryMinGapMs(5_000, 60_001, 20_000)).toBe(30_001);
  });
});
