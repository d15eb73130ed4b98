import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { findPolicy, versionOutcomes } from './firmware.rules.js';
import { find, policyOf, RuleHarness, sampleOf, T0, thresholdsWith } from './rule-fixtures.js';
import type { AlertRule, OpenAlert, VersionPolicy } from './rule.types.js';

const none = new Map<AlertRule, OpenAlert>();
const DAY = 86_400_000;
const fw = (version: string, policy: VersionPolicy | null, now = T0, t = D) => versionOutcomes('firmware', version, policy, t, now, none);

describe('firmware_outdated / app_outdated', () => {
  it('raises critical below minSupported, not at or above it', () => {
    const policy = policyOf({ minSupported: 'E20_V3.1.4' });
    expect(find(fw('E20_V2.9.0', policy), 'firmware_outdated')).toMatchObject({
      active: true,
      severity: 'critical',
      details: { blocked: false, minSupported: 'E20_V3.1.4' },
    });
    expect(find(fw('E20_V3.1.4', policy), 'firmware_outdated')?.active).toBe(false);
    expect(find(fw('E20_V3.2.1', policy), 'firmware_outdated')?.active).toBe(false);
  });

  it('raises critical for a blocked version even when it is new enough', () => {
    const policy = policyOf({ minSupported: 'E20_V2.0.0', blocked: ['E20_V3.1.4'] });
    expect(find(fw('E20_V3.1.4', policy), 'firmware_outdated')).toMatchObject({ active: true, severity: 'critical', details: { blocked: true } });
  });

  it('never alerts on incomparable versions (other vendor prefix)', () => {
    const policy = policyOf({ minSupported: 'E20_V3.1.4', latest: 'E20_V3.2.1', latestSince: new Date(T0.getTime() - 90 * DAY) });
    const outcomes = fw('N5-1.0.0', policy);
    expect(outcomes.map((o) => [o.rule, o.active])).toEqual([
      ['firmware_outdated', false],
      ['firmware_not_latest', false],
    ]);
    expect(find(outcomes, 'firmware_outdated')?.details.comparable).toBe(false);
  });

  it('applies to the payment app with the app policy', () => {
    const h = new RuleHarness();
    h.policies = [policyOf({ component: 'app', minSupported: '5.8.2' })];
    const outcomes = h.heartbeat(sampleOf({ appVersion: '4.9.6' }));
    expect(find(outcomes, 'app_outdated')).toMatchObject({ active: true, severity: 'critical', details: { component: 'app', version: '4.9.6' } });
    expect(find(outcomes, 'firmware_outdated')).toBeUndefined();
    h.heartbeat(sampleOf({ appVersion: '5.12.3' }));
    expect(h.transitions.get('app_outdated')).toBe('resolved');
  });
});

describe('firmware_not_latest / app_not_latest', () => {
  const policy = (sinceDays: number) => policyOf({ latest: 'E20_V3.2.1', latestSince: new Date(T0.getTime() - sinceDays * DAY) });

  it('raises info only once latest has been out for more than notLatestAfterDays', () => {
    expect(find(fw('E20_V3.1.4', policy(30)), 'firmware_not_latest')?.active).toBe(false);
    expect(find(fw('E20_V3.1.4', policy(31)), 'firmware_not_latest')).toMatchObject({ active: true, severity: 'info', details: { latest: 'E20_V3.2.1' } });
    expect(find(fw('E20_V3.2.1', policy(31)), 'firmware_not_latest')?.active).toBe(false);
    expect(find(fw('E20_V3.1.4', policyOf({ latest: 'E20_V3.2.1', latestSince: null })), 'firmware_not_latest')?.active).toBe(false);
  });

  it('stays quiet while the outdated alert covers the terminal', () => {
    const p = { ...policy(90), minSupported: 'E20_V3.0.0' };
    const outcomes = fw('E20_V2.4.7', p);
    expect(outcomes.map((o) => [o.rule, o.active])).toEqual([
      ['firmware_outdated', true],
      ['firmware_not_latest', false],
    ]);
  });

  it('honours notLatestAfterDays and enabled', () => {
    const t = thresholdsWith((x) => ({ ...x, firmware: { ...x.firmware, notLatestAfterDays: 0 } }));
    expect(find(fw('E20_V3.1.4', policy(1), T0, t), 'firmware_not_latest')?.active).toBe(true);
    const off = thresholdsWith((x) => ({ ...x, firmware: { ...x.firmware, enabled: false } }));
    expect(fw('E20_V1.0.0', policyOf({ minSupported: 'E20_V3.0.0' }), T0, off).map((o) => o.active)).toEqual([false, false]);
    // Disabled resolves even without a policy.
    expect(fw('E20_V1.0.0', null, T0, off)).toHaveLength(2);
  });
});

describe('policies', () => {
  it('no policy for the component or model → no version outcomes', () => {
    expect(fw('E20_V1.0.0', null)).toEqual([]);
    const h = new RuleHarness();
    h.policies = [policyOf({ model: 'SignPad S8', minSupported: 'S8.4.0.0' })];
    const rules = h.heartbeat(sampleOf()).map((o) => o.rule);
    expect(rules.filter((r) => r.startsWith('firmware') || r.startsWith('app'))).toEqual([]);
  });

  it('findPolicy prefers the first model given', () => {
    const a = policyOf({ model: 'A' });
    const b = policyOf({ model: 'B' });
    expect(findPolicy([a, b], 'firmware', ['B', 'A'])).toBe(b);
    expect(findPolicy([a], 'app', ['A'])).toBeNull();
  });
});
