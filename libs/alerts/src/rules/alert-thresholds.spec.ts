import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  alertThresholdsOverrideSchema,
  alertThresholdsSchema,
  DEFAULT_ALERT_THRESHOLDS,
  InvalidAlertThresholdsError,
  isValidTimeZone,
  mergeThresholds,
  mergeThresholdsSafe,
  type AlertThresholdsOverride,
} from './alert-thresholds.js';

describe('DEFAULT_ALERT_THRESHOLDS', () => {
  it('are valid and carry the issue #8 defaults', () => {
    expect(alertThresholdsSchema.safeParse(DEFAULT_ALERT_THRESHOLDS).success).toBe(true);
    expect(DEFAULT_ALERT_THRESHOLDS.timeZone).toBe('Asia/Shanghai');
    expect(DEFAULT_ALERT_THRESHOLDS.planExpiring.ladder.map((s) => [s.days, s.severity])).toEqual([
      [30, 'info'],
      [7, 'warning'],
      [3, 'warning'],
      [1, 'critical'],
    ]);
    expect(DEFAULT_ALERT_THRESHOLDS.battery).toEqual({ enabled: true, warningBelowPct: 20, criticalBelowPct: 10, clearMarginPct: 5 });
    expect(DEFAULT_ALERT_THRESHOLDS.signal).toEqual({ enabled: true, rsrpBelowDbm: -110, csqAtMost: 9, sinrBelowDb: 0, raiseAfter: 3, clearAfter: 3 });
  });

  it('enable every rule', () => {
    for (const [section, value] of Object.entries(DEFAULT_ALERT_THRESHOLDS)) {
      if (section === 'timeZone') continue;
      expect({ section, enabled: (value as { enabled: boolean }).enabled }).toEqual({ section, enabled: true });
    }
  });

  it('are frozen, so no caller can change them for everyone', () => {
    expect(Object.isFrozen(DEFAULT_ALERT_THRESHOLDS)).toBe(true);
    expect(Object.isFrozen(DEFAULT_ALERT_THRESHOLDS.planExpiring.ladder[0])).toBe(true);
    expect(() => {
      (DEFAULT_ALERT_THRESHOLDS.battery as { warningBelowPct: number }).warningBelowPct = 50;
    }).toThrow(TypeError);
  });

  it('merge to themselves with no overrides', () => {
    expect(mergeThresholds([])).toEqual(DEFAULT_ALERT_THRESHOLDS);
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and refuses offsets and junk', () => {
    for (const zone of ['Asia/Shanghai', 'Europe/Berlin', 'UTC', 'America/Argentina/Buenos_Aires']) expect(isValidTimeZone(zone)).toBe(true);
    for (const zone of ['Asia/Nowhere', '+08:00', '', 'GMT+8 ', 'x'.repeat(100)]) expect(isValidTimeZone(zone)).toBe(false);
  });
});

describe('alertThresholdsOverrideSchema', () => {
  it('accepts partial sections at any depth', () => {
    expect(alertThresholdsOverrideSchema.safeParse({}).success).toBe(true);
    expect(alertThresholdsOverrideSchema.safeParse({ battery: { warningBelowPct: 25 } }).success).toBe(true);
    expect(alertThresholdsOverrideSchema.safeParse({ tx: { enabled: false }, timeZone: 'Asia/Urumqi' }).success).toBe(true);
  });

  it('refuses unknown keys at the top, in sections and in ladder steps', () => {
    expect(alertThresholdsOverrideSchema.safeParse({ batery: {} }).success).toBe(false);
    expect(alertThresholdsOverrideSchema.safeParse({ battery: { warningPct: 25 } }).success).toBe(false);
    expect(alertThresholdsOverrideSchema.safeParse({ planExpiring: { ladder: [{ days: 5, severity: 'info', note: 'x' }] } }).success).toBe(false);
  });

  it('converts to an OpenAPI schema that refuses unknown keys', () => {
    const json = z.toJSONSchema(alertThresholdsOverrideSchema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any' }) as {
      additionalProperties?: boolean;
      properties: Record<string, { additionalProperties?: boolean }>;
    };
    expect(json.additionalProperties).toBe(false);
    expect(json.properties.battery.additionalProperties).toBe(false);
  });

  it('checks field ranges', () => {
    const bad: unknown[] = [
      { timeZone: 'Mars/Olympus' },
      { planExpiring: { ladder: [{ days: 0, severity: 'info' }] } },
      { planExpiring: { ladder: [{ days: 366, severity: 'info' }] } },
      { planExpiring: { ladder: [] } },
      { planExpiring: { ladder: [{ days: 3, severity: 'fatal' }] } },
      { dataAllowance: { ladder: [{ percent: 0, severity: 'info' }] } },
      { dataAllowance: { ladder: [{ percent: 101, severity: 'info' }] } },
      { battery: { warningBelowPct: 0 } },
      { signal: { csqAtMost: 99 } },
      { signal: { raiseAfter: 0 } },
      { tx: { windowHeartbeats: 1000 } },
      { offline: { graceMinutes: 1.5 } },
      { relocated: { distanceKm: -1 } },
    ];
    for (const value of bad) expect({ value, ok: alertThresholdsOverrideSchema.safeParse(value).success }).toEqual({ value, ok: false });
  });
});

describe('mergeThresholds', () => {
  it('merges objects deeply, root first and leaf last', () => {
    const merged = mergeThresholds([
      { battery: { warningBelowPct: 30 }, timeZone: 'Asia/Urumqi' },
      { battery: { clearMarginPct: 8 } },
      { timeZone: 'Asia/Shanghai' },
    ]);
    expect(merged.battery).toEqual({ enabled: true, warningBelowPct: 30, criticalBelowPct: 10, clearMarginPct: 8 });
    expect(merged.timeZone).toBe('Asia/Shanghai');
    expect(merged.signal).toEqual(DEFAULT_ALERT_THRESHOLDS.signal);
  });

  it('replaces arrays whole and sorts ladders', () => {
    const merged = mergeThresholds([
      {
        planExpiring: {
          ladder: [
            { days: 2, severity: 'critical' },
            { days: 14, severity: 'warning' },
          ],
        },
        dataAllowance: {
          ladder: [
            { percent: 95, severity: 'critical' },
            { percent: 75, severity: 'info' },
          ],
        },
      },
    ]);
    expect(merged.planExpiring.ladder).toEqual([
      { days: 14, severity: 'warning' },
      { days: 2, severity: 'critical' },
    ]);
    expect(merged.dataAllowance.ladder).toEqual([
      { percent: 75, severity: 'info' },
      { percent: 95, severity: 'critical' },
    ]);
    expect(merged.planExpiring.enabled).toBe(true);
  });

  it('lets a leaf disable a rule a parent tuned', () => {
    const merged = mergeThresholds([{ signal: { raiseAfter: 5 } }, { signal: { enabled: false } }]);
    expect(merged.signal.enabled).toBe(false);
    expect(merged.signal.raiseAfter).toBe(5);
  });

  it('does not mutate the defaults or the overrides', () => {
    const override: AlertThresholdsOverride = {
      battery: { warningBelowPct: 40 },
      planExpiring: {
        ladder: [
          { days: 1, severity: 'critical' },
          { days: 9, severity: 'info' },
        ],
      },
    };
    const copy = structuredClone(override);
    mergeThresholds([override]);
    expect(override).toEqual(copy);
    expect(DEFAULT_ALERT_THRESHOLDS.battery.warningBelowPct).toBe(20);
  });

  it('refuses battery critical at or above warning, even when each override alone is fine', () => {
    expect(() => mergeThresholds([{ battery: { criticalBelowPct: 15 } }, { battery: { warningBelowPct: 15 } }])).toThrow(InvalidAlertThresholdsError);
    const result = mergeThresholdsSafe([{ battery: { criticalBelowPct: 25 } }]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toContain('battery.criticalBelowPct');
  });

  it('refuses duplicate ladder steps and severities that fall as expiry nears', () => {
    expect(
      mergeThresholdsSafe([
        {
          planExpiring: {
            ladder: [
              { days: 7, severity: 'info' },
              { days: 7, severity: 'warning' },
            ],
          },
        },
      ]).ok,
    ).toBe(false);
    expect(
      mergeThresholdsSafe([
        {
          planExpiring: {
            ladder: [
              { days: 30, severity: 'critical' },
              { days: 1, severity: 'info' },
            ],
          },
        },
      ]).ok,
    ).toBe(false);
    expect(
      mergeThresholdsSafe([
        {
          dataAllowance: {
            ladder: [
              { percent: 80, severity: 'critical' },
              { percent: 95, severity: 'warning' },
            ],
          },
        },
      ]).ok,
    ).toBe(false);
    expect(
      mergeThresholdsSafe([
        {
          dataAllowance: {
            ladder: [
              { percent: 50, severity: 'info' },
              { percent: 50, severity: 'info' },
            ],
          },
        },
      ]).ok,
    ).toBe(false);
  });

  it('reports which override is malformed', () => {
    const result = mergeThresholdsSafe([{}, { battery: { nope: 1 } } as unknown as AlertThresholdsOverride]);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0].path).toMatch(/^overrides\[1\]/);
    expect(() => mergeThresholds([{ timeZone: 'Nowhere/City' }])).toThrow(/timeZone/);
  });
});
