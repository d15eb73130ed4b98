import { describe, expect, it } from '@jest/globals';
import { createCampaignSchema, healthMetric, planWaves } from './campaign.types.js';

describe('planWaves', () => {
  it('canary by count, then ×growth, the last wave taking the rest', () => {
    expect(planWaves(100, { canary: { count: 5 }, growth: 2 })).toEqual([5, 10, 20, 40, 25]);
    expect(planWaves(3, { canary: { count: 5 }, growth: 2 })).toEqual([3]);
    expect(planWaves(0, { canary: { count: 5 }, growth: 2 })).toEqual([]);
  });
  it('canary by percent of the target, rounded up; growth 1 still grows', () => {
    expect(planWaves(1000, { canary: { percent: 1 }, growth: 5 })).toEqual([10, 50, 250, 690]);
    expect(planWaves(5, { canary: { percent: 10 }, growth: 1 })).toEqual([1, 2, 2]);
  });
  it('100,000 terminals in a handful of waves', () => {
    const sizes = planWaves(100_000, { canary: { count: 50 }, growth: 5 });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(sizes.length).toBe(6);
  });
});

describe('healthMetric (the gate rule)', () => {
  const gate = { factor: 2, points: 0.1 };
  it('bad only above max(2 × control, control + 10 points)', () => {
    expect(healthMetric(0.09, 0, gate).bad).toBe(false);
    expect(healthMetric(0.11, 0, gate).bad).toBe(true);
    expect(healthMetric(0.5, 0.3, gate)).toMatchObject({ limit: 0.6, bad: false });
    expect(healthMetric(0.61, 0.3, gate).bad).toBe(true);
    expect(healthMetric(0.14, 0.05, gate)).toMatchObject({ limit: 0.15, bad: false });
  });
});

describe('createCampaignSchema', () => {
  it('fills the documented defaults: Shanghai night window, canary of 10 doubling, gate on', () => {
    const parsed = createCampaignSchema.parse({ name: 'x', releaseId: '0b5e7c1e-8a5e-4d55-9b8e-2f4f1c2d3e4f' });
    expect(parsed).toMatchObject({
      ratePerMinute: 60,
      waves: { canary: { count: 10 }, growth: 2 },
      guards: { window: { start: '23:00', end: '05:00', tz: 'Asia/Shanghai' }, minBatteryPct: 30, orCharging: true },
      healthGate: { enabled: true, factor: 2, points: 0.1 },
      target: { providerId: null, dynamic: false },
    });
  });
  it('refuses unknown fields and out-of-range thresholds', () => {
    expect(createCampaignSchema.safeParse({ name: 'x', releaseId: '0b5e7c1e-8a5e-4d55-9b8e-2f4f1c2d3e4f', extra: 1 }).success).toBe(false);
    expect(createCampaignSchema.safeParse({ name: 'x', releaseId: '0b5e7c1e-8a5e-4d55-9b8e-2f4f1c2d3e4f', successThreshold: 1.5 }).success).toBe(false);
  });
});
