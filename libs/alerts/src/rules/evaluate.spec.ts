import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS } from './alert-thresholds.js';
import { evaluateHeartbeat, evaluateScheduled, HEARTBEAT_RULES, needsPrevious, SCHEDULED_RULES } from './evaluate.js';
import { policyOf, RuleHarness, sampleOf, T0, terminalOf, txOf } from './rule-fixtures.js';
import { ALERT_RULES } from './rule.types.js';

const DAY = 86_400_000;

/** Everything wrong at once (each rule's raise condition on its first evaluation where possible). */
function troubledHarness(): RuleHarness {
  const h = new RuleHarness();
  h.policies = [
    policyOf({ component: 'firmware', minSupported: 'E20_V3.0.0' }),
    policyOf({ component: 'app', latest: '5.12.3', latestSince: new Date(T0.getTime() - 60 * DAY) }),
  ];
  h.thresholds = { ...DEFAULT_ALERT_THRESHOLDS, signal: { ...DEFAULT_ALERT_THRESHOLDS.signal, raiseAfter: 1 } };
  return h;
}

const troubled = sampleOf({
  firmwareVersion: 'E20_V2.4.7',
  appVersion: '5.11.0',
  batteryPct: 4,
  rsrp: -121,
  planStatus: 'grace',
  planExpiresOn: '2026-12-02',
  planAutoRenew: false,
  renewalAt: new Date('2026-11-30T00:00:00Z'),
  renewalResult: 'failed',
  renewalReason: 'payment_declined',
  dataUsedMb: 1024,
  dataAllowanceMb: 1024,
  lat: 23.1291,
  lon: 113.2644,
  iccid: '89860099999999999999',
  tx: txOf({ declinesByCode: { '92': 3, '97': 1 }, reversalsFailed: 1 }),
});

describe('rule lists', () => {
  it('cover every rule exactly once between heartbeat and scheduled rules (plan expiry and auto-renew in both)', () => {
    const all = new Set<string>([...HEARTBEAT_RULES, ...SCHEDULED_RULES]);
    expect([...all].sort()).toEqual([...ALERT_RULES].sort());
    expect(new Set(HEARTBEAT_RULES).size).toBe(HEARTBEAT_RULES.length);
  });
});

describe('evaluateHeartbeat', () => {
  it('a healthy terminal: only inactive outcomes, only for rules with inputs', () => {
    const outcomes = new RuleHarness().heartbeat(sampleOf());
    expect(outcomes.filter((o) => o.active)).toEqual([]);
    expect(outcomes.map((o) => o.rule).sort()).toEqual(
      ['plan_expiring', 'plan_status', 'auto_renew_off', 'data_allowance', 'battery_low', 'signal_weak', 'relocated', 'sim_changed'].sort(),
    );
  });

  it('a troubled terminal raises every heartbeat rule except the one a raised rule covers', () => {
    const h = troubledHarness();
    h.heartbeat(sampleOf({ iccid: '89860012345678901234' }));
    const outcomes = h.heartbeat(troubled);
    const active = outcomes.filter((o) => o.active).map((o) => `${o.rule}:${o.severity}`);
    expect(active.sort()).toEqual(
      [
        // plan_expiring is inactive: the plan is in grace, plan_status covers it.
        'plan_status:warning',
        'renewal_failed:critical',
        'auto_renew_off:warning',
        'data_allowance:critical',
        'firmware_outdated:critical',
        'app_not_latest:info',
        'battery_low:critical',
        'signal_weak:warning',
        'relocated:warning',
        'sim_changed:warning',
        'tx_connectivity:warning',
        'tx_tid_unregistered:critical',
        'tx_reversal:critical',
      ].sort(),
    );
    for (const o of outcomes) expect(HEARTBEAT_RULES).toContain(o.rule);
  });

  it('keeps memory small JSON', () => {
    const h = troubledHarness();
    for (let i = 0; i < 50; i++) h.heartbeat({ ...troubled, receivedAt: new Date(T0.getTime() + i * 60_000) });
    for (const [rule, memory] of h.memory) {
      const json = JSON.stringify(memory);
      expect(JSON.parse(json)).toEqual(memory);
      expect({ rule, small: json.length < 200 }).toEqual({ rule, small: true });
    }
  });

  it('is pure: the same input gives the same outcomes and inputs are not mutated', () => {
    const h = troubledHarness();
    const input = {
      sample: troubled,
      previous: sampleOf(),
      terminal: terminalOf(),
      thresholds: h.thresholds,
      policies: h.policies,
      now: T0,
      memory: new Map(),
      open: new Map(),
    };
    const before = JSON.stringify({ ...input, memory: [], open: [] });
    expect(evaluateHeartbeat(input)).toEqual(evaluateHeartbeat(input));
    expect(JSON.stringify({ ...input, memory: [], open: [] })).toBe(before);
  });
});

describe('needsPrevious (the engine skips loading the heartbeat at the cursor when false)', () => {
  it('is false once memory holds the ICCID, and then `previous` changes no outcome of any heartbeat rule', () => {
    const h = troubledHarness();
    h.heartbeat(sampleOf({ iccid: '89860000000000000001' }));
    expect(needsPrevious(h.memory)).toBe(false);
    const otherSim = sampleOf({ iccid: '89860000000000000777', receivedAt: new Date(T0.getTime() - 60_000) });
    for (const sample of [troubled, sampleOf({ receivedAt: new Date(T0.getTime() + 60_000) })]) {
      const input = {
        sample,
        terminal: terminalOf(),
        thresholds: h.thresholds,
        policies: h.policies,
        now: T0,
        memory: new Map(h.memory),
        open: new Map(h.open),
      };
      expect(evaluateHeartbeat({ ...input, previous: otherSim })).toEqual(evaluateHeartbeat({ ...input, previous: null }));
    }
  });

  it('is true while nothing remembers the ICCID (first evaluation, sim_changed disabled), where `previous` decides', () => {
    expect(needsPrevious(new Map())).toBe(true);
    const h = new RuleHarness();
    h.thresholds = { ...DEFAULT_ALERT_THRESHOLDS, simChanged: { ...DEFAULT_ALERT_THRESHOLDS.simChanged, enabled: false } };
    h.heartbeat(sampleOf());
    expect(needsPrevious(h.memory)).toBe(true);
    const input = { sample: sampleOf({ iccid: '89860000000000000002' }), terminal: terminalOf(), thresholds: DEFAULT_ALERT_THRESHOLDS, policies: [], now: T0 };
    const withPrevious = evaluateHeartbeat({ ...input, previous: sampleOf({ iccid: '89860000000000000001' }), memory: new Map(), open: new Map() });
    const without = evaluateHeartbeat({ ...input, previous: null, memory: new Map(), open: new Map() });
    expect(withPrevious.find((o) => o.rule === 'sim_changed')?.active).toBe(true);
    expect(without.find((o) => o.rule === 'sim_changed')?.active).toBe(false);
  });
});

describe('evaluateScheduled', () => {
  it('evaluates plan expiry from the latest state plus presence; nothing plan-related before a first heartbeat', () => {
    const base = { thresholds: DEFAULT_ALERT_THRESHOLDS, policies: [], now: T0, memory: new Map(), open: new Map() };
    expect(evaluateScheduled({ ...base, terminal: terminalOf({ latest: null }) }).map((o) => o.rule)).toEqual(['offline', 'silent']);
    const outcomes = evaluateScheduled({ ...base, terminal: terminalOf({ latest: sampleOf({ planAutoRenew: false, planExpiresOn: '2026-12-05' }) }) });
    expect(outcomes.map((o) => [o.rule, o.active])).toEqual([
      ['plan_expiring', true],
      ['auto_renew_off', true],
      ['offline', false],
      ['silent', false],
    ]);
    for (const o of outcomes) expect(SCHEDULED_RULES).toContain(o.rule);
  });
});
