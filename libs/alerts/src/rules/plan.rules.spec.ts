import { describe, expect, it } from '@jest/globals';
import { autoRenewOffOutcome, dataAllowanceOutcome, planDaysLeft, planExpiringOutcome, planStatusOutcome, renewalFailedOutcome } from './plan.rules.js';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { find, RuleHarness, sampleOf, T0, terminalOf, thresholdsWith } from './rule-fixtures.js';
import type { AlertRule, OpenAlert } from './rule.types.js';

const none = new Map<AlertRule, OpenAlert>();
const at = (iso: string): Date => new Date(iso);

describe('planDaysLeft (terminal local calendar)', () => {
  it('counts from the local date in the thresholds time zone', () => {
    // 16:30 UTC on 1 December is already 00:30 on 2 December in Shanghai (UTC+8).
    expect(planDaysLeft('2026-12-02', at('2026-12-01T16:30:00Z'), 'Asia/Shanghai')).toBe(0);
    expect(planDaysLeft('2026-12-02', at('2026-12-01T16:30:00Z'), 'UTC')).toBe(1);
    expect(planDaysLeft('2026-12-02', at('2026-12-01T15:59:59Z'), 'Asia/Shanghai')).toBe(1);
    expect(planDaysLeft('2026-11-30', at('2026-12-01T12:00:00Z'), 'Asia/Shanghai')).toBe(-1);
    expect(planDaysLeft('2027-03-01', at('2027-02-28T16:00:00Z'), 'Asia/Shanghai')).toBe(0);
  });

  it('returns null for dates that do not exist', () => {
    expect(planDaysLeft('2026-02-30', T0, 'Asia/Shanghai')).toBeNull();
    expect(planDaysLeft('soon', T0, 'Asia/Shanghai')).toBeNull();
    expect(planDaysLeft('2026-12-02', T0, 'Mars/Olympus')).toBeNull();
  });
});

describe('plan_expiring', () => {
  const expiring = (expiresOn: string, now: Date, open = none) => planExpiringOutcome(sampleOf({ planExpiresOn: expiresOn }), D, now, open);

  it('walks the ladder: > 30 quiet, ≤ 30 info, ≤ 7 warning, ≤ 3 warning, ≤ 1 critical, past critical', () => {
    const now = at('2026-12-01T04:00:00Z'); // 12:00 in Shanghai, 1 December
    const cases: [string, boolean, string][] = [
      ['2027-01-01', false, 'info'],
      ['2026-12-31', true, 'info'],
      ['2026-12-09', true, 'info'],
      ['2026-12-08', true, 'warning'],
      ['2026-12-04', true, 'warning'],
      ['2026-12-03', true, 'warning'],
      ['2026-12-02', true, 'critical'],
      ['2026-12-01', true, 'critical'],
      ['2026-11-20', true, 'critical'],
    ];
    for (const [expiresOn, active, severity] of cases) {
      const o = expiring(expiresOn, now);
      expect({ expiresOn, active: o?.active, severity: o?.severity }).toEqual({ expiresOn, active, severity });
    }
  });

  it('puts expiresOn and daysLeft in the details', () => {
    const o = expiring('2026-12-08', at('2026-12-01T04:00:00Z'));
    expect(o?.details).toMatchObject({ expiresOn: '2026-12-08', daysLeft: 7, stepDays: 7, autoRenew: true });
  });

  it('ticks over at local midnight, not UTC midnight', () => {
    // Expires 3 December (local). At 15:59Z on 1 Dec it is still 1 Dec locally: 2 days left (warning);
    // at 16:30Z it is 2 Dec locally: 1 day left (critical), while UTC still says 1 December.
    expect(expiring('2026-12-03', at('2026-12-01T15:59:00Z'))?.severity).toBe('warning');
    expect(expiring('2026-12-03', at('2026-12-01T16:30:00Z'))).toMatchObject({ active: true, severity: 'critical', details: { daysLeft: 1 } });
  });

  it('leaves it to plan_status once the plan is no longer active', () => {
    const o = planExpiringOutcome(
      sampleOf({ planExpiresOn: '2026-11-30', planStatus: 'grace' }),
      D,
      T0,
      new Map([['plan_expiring', { severity: 'critical' }]]),
    );
    expect(o).toMatchObject({ active: false, severity: 'critical' });
  });

  it('resolves when the plan is renewed and honours enabled', () => {
    const h = new RuleHarness();
    h.heartbeat(sampleOf({ planExpiresOn: '2026-12-05' }));
    expect(h.transitions.get('plan_expiring')).toBe('raised');
    h.heartbeat(sampleOf({ planExpiresOn: '2026-12-05' }));
    expect(h.transitions.get('plan_expiring')).toBe('kept');
    h.heartbeat(sampleOf({ planExpiresOn: '2027-12-05' }));
    expect(h.transitions.get('plan_expiring')).toBe('resolved');
    const off = thresholdsWith((t) => ({ ...t, planExpiring: { ...t.planExpiring, enabled: false } }));
    expect(planExpiringOutcome(sampleOf({ planExpiresOn: '2026-12-02' }), off, T0, none)?.active).toBe(false);
  });

  it('decides nothing on an invalid expiry date', () => {
    expect(expiring('2026-13-01', T0)).toBeNull();
  });

  it('escalates with the clock alone in the scheduled sweep', () => {
    const h = new RuleHarness();
    h.terminal = terminalOf({ latest: sampleOf({ planExpiresOn: '2026-12-10' }) });
    expect(find(h.scheduled(at('2026-12-01T04:00:00Z')), 'plan_expiring')?.severity).toBe('info');
    h.scheduled(at('2026-12-05T04:00:00Z'));
    expect(h.transitions.get('plan_expiring')).toBe('escalated');
    expect(h.open.get('plan_expiring')?.severity).toBe('warning');
    h.scheduled(at('2026-12-09T16:10:00Z')); // 10 December, 00:10 local
    expect(h.open.get('plan_expiring')?.severity).toBe('critical');
  });
});

describe('plan_status', () => {
  it('maps grace to warning, suspended and expired to critical, active resolves', () => {
    expect(planStatusOutcome(sampleOf({ planStatus: 'grace' }), D, none)).toMatchObject({ active: true, severity: 'warning' });
    expect(planStatusOutcome(sampleOf({ planStatus: 'suspended' }), D, none)).toMatchObject({ active: true, severity: 'critical' });
    expect(planStatusOutcome(sampleOf({ planStatus: 'expired' }), D, none)).toMatchObject({
      active: true,
      severity: 'critical',
      details: { planStatus: 'expired' },
    });
    expect(planStatusOutcome(sampleOf(), D, new Map([['plan_status', { severity: 'critical' }]]))).toMatchObject({ active: false, severity: 'critical' });
    const off = thresholdsWith((t) => ({ ...t, planStatus: { enabled: false } }));
    expect(planStatusOutcome(sampleOf({ planStatus: 'expired' }), off, none).active).toBe(false);
  });
});

describe('renewal_failed', () => {
  const failedAt = at('2026-11-30T02:00:00Z');
  const failed = (overrides = {}) =>
    sampleOf({ renewalAt: failedAt, renewalResult: 'failed', renewalReason: 'payment_declined', planExpiresOn: '2026-12-10', ...overrides });

  it('raises critical with the reason, keeps it while the failure is the last attempt, clears on a later success', () => {
    const h = new RuleHarness();
    h.heartbeat(failed());
    expect(h.transitions.get('renewal_failed')).toBe('raised');
    expect(find(h.heartbeat(failed()), 'renewal_failed')).toMatchObject({
      active: true,
      severity: 'critical',
      details: { reason: 'payment_declined', expiresOn: '2026-12-10' },
    });
    expect(h.transitions.get('renewal_failed')).toBe('kept');
    h.heartbeat(sampleOf({ renewalAt: at('2026-12-01T02:00:00Z'), renewalResult: 'success', planExpiresOn: '2027-12-10' }));
    expect(h.transitions.get('renewal_failed')).toBe('resolved');
    expect(h.memory.has('renewal_failed')).toBe(false);
  });

  it('clears when the plan was extended another way while the terminal still reports the failed attempt', () => {
    const h = new RuleHarness();
    h.heartbeat(failed());
    h.heartbeat(failed({ planExpiresOn: '2027-12-10' }));
    expect(h.transitions.get('renewal_failed')).toBe('resolved');
    h.heartbeat(failed({ planExpiresOn: '2027-12-10' }));
    expect(h.open.has('renewal_failed')).toBe(false);
    // A new failed attempt is a new failure.
    h.heartbeat(failed({ planExpiresOn: '2027-12-10', renewalAt: at('2027-12-09T02:00:00Z') }));
    expect(h.transitions.get('renewal_failed')).toBe('raised');
  });

  it('decides nothing when no renewal is reported', () => {
    expect(renewalFailedOutcome(sampleOf(), D, undefined, none)).toBeNull();
  });

  it('honours enabled', () => {
    const off = thresholdsWith((t) => ({ ...t, renewalFailed: { enabled: false } }));
    expect(renewalFailedOutcome(failed(), off, undefined, none)?.active).toBe(false);
  });
});

describe('auto_renew_off', () => {
  const now = at('2026-12-01T04:00:00Z');
  it('raises a warning only when auto-renew is off and expiry is within withinDays', () => {
    expect(autoRenewOffOutcome(sampleOf({ planAutoRenew: false, planExpiresOn: '2026-12-31' }), D, now, none)).toMatchObject({
      active: true,
      severity: 'warning',
      details: { daysLeft: 30, withinDays: 30 },
    });
    expect(autoRenewOffOutcome(sampleOf({ planAutoRenew: false, planExpiresOn: '2027-01-01' }), D, now, none)?.active).toBe(false);
    expect(autoRenewOffOutcome(sampleOf({ planAutoRenew: true, planExpiresOn: '2026-12-02' }), D, now, none)?.active).toBe(false);
    expect(autoRenewOffOutcome(sampleOf({ planAutoRenew: false, planExpiresOn: '2026-11-02' }), D, now, none)?.active).toBe(true);
  });

  it('clears when auto-renew is switched on, and honours enabled', () => {
    const h = new RuleHarness();
    h.heartbeat(sampleOf({ planAutoRenew: false, planExpiresOn: '2026-12-20' }));
    expect(h.open.get('auto_renew_off')?.severity).toBe('warning');
    h.heartbeat(sampleOf({ planAutoRenew: true, planExpiresOn: '2026-12-20' }));
    expect(h.transitions.get('auto_renew_off')).toBe('resolved');
    const off = thresholdsWith((t) => ({ ...t, autoRenewOff: { ...t.autoRenewOff, enabled: false } }));
    expect(autoRenewOffOutcome(sampleOf({ planAutoRenew: false, planExpiresOn: '2026-12-02' }), off, now, none)?.active).toBe(false);
  });
});

describe('data_allowance', () => {
  const used = (usedMb: number, allowanceMb: number | null = 1000) =>
    dataAllowanceOutcome(sampleOf({ dataUsedMb: usedMb, dataAllowanceMb: allowanceMb }), D, none);

  it('walks the percent ladder', () => {
    expect(used(799).active).toBe(false);
    expect(used(800)).toMatchObject({ active: true, severity: 'info', details: { percent: 80, usedMb: 800, allowanceMb: 1000 } });
    expect(used(900)).toMatchObject({ active: true, severity: 'warning' });
    expect(used(1000)).toMatchObject({ active: true, severity: 'critical' });
    expect(used(1500)).toMatchObject({ active: true, severity: 'critical', details: { percent: 150 } });
  });

  it('never alerts on unmetered plans (no or zero allowance) and resolves when the period resets', () => {
    expect(used(5000, null).active).toBe(false);
    expect(used(5000, 0).active).toBe(false);
    const h = new RuleHarness();
    h.heartbeat(sampleOf({ dataUsedMb: 950, dataAllowanceMb: 1000 }));
    expect(h.open.get('data_allowance')?.severity).toBe('warning');
    h.heartbeat(sampleOf({ dataUsedMb: 3, dataAllowanceMb: 1000 }));
    expect(h.transitions.get('data_allowance')).toBe('resolved');
  });

  it('honours enabled', () => {
    const off = thresholdsWith((t) => ({ ...t, dataAllowance: { ...t.dataAllowance, enabled: false } }));
    expect(dataAllowanceOutcome(sampleOf({ dataUsedMb: 2000, dataAllowanceMb: 1000 }), off, none).active).toBe(false);
  });
});
