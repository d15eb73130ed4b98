import { describe, expect, it } from '@jest/globals';
import { generateFleet } from './fleet-generator.js';
import { assignScenarios, parseDurationMs, parseScenarioSpecs, scenarioCount, scenarioPhase, SCENARIO_KINDS, ScenarioSyntaxError } from './scenarios.js';

const TIMING = { startAfterMs: 180_000, clearAfterMs: 600_000 };

describe('parseScenarioSpecs', () => {
  it('reads counts and shares, merges repeated specs, and returns them in assignment order', () => {
    expect(parseScenarioSpecs(['sim-swap=2,weak-signal=3%', 'plan-expiring=0.5%'])).toStrictEqual([
      { kind: 'plan-expiring', amount: { percent: 0.5 } },
      { kind: 'weak-signal', amount: { percent: 3 } },
      { kind: 'sim-swap', amount: { count: 2 } },
    ]);
    expect(parseScenarioSpecs([' drop=1 , silent=100% '])).toStrictEqual([
      { kind: 'drop', amount: { count: 1 } },
      { kind: 'silent', amount: { percent: 100 } },
    ]);
    expect(parseScenarioSpecs([])).toStrictEqual([]);
  });

  it('knows every documented scenario', () => {
    const all = parseScenarioSpecs([SCENARIO_KINDS.map((k) => `${k}=1`).join(',')]);
    expect(all.map((r) => r.kind)).toStrictEqual([...SCENARIO_KINDS]);
  });

  it.each([
    ['weak-signal'],
    ['weak-signal='],
    ['weak-signal=0'],
    ['weak-signal=1.5'],
    ['weak-signal=-1'],
    ['weak-signal=0%'],
    ['weak-signal=101%'],
    ['weak-signal=3 %'],
    ['weak_signal=3'],
    ['lightning=3'],
    ['drop=1,,silent=1'],
    ['drop=1,drop=2'],
  ])('rejects %s', (spec) => {
    expect(() => parseScenarioSpecs([spec])).toThrow(ScenarioSyntaxError);
  });

  it('rejects a scenario named in two --scenario options', () => {
    expect(() => parseScenarioSpecs(['drop=1', 'drop=2%'])).toThrow(/given twice/);
  });
});

describe('parseDurationMs', () => {
  it('reads seconds by default and s/m/h/d units', () => {
    expect(parseDurationMs('90')).toBe(90_000);
    expect(parseDurationMs('90s')).toBe(90_000);
    expect(parseDurationMs('10m')).toBe(600_000);
    expect(parseDurationMs('1.5h')).toBe(5_400_000);
    expect(parseDurationMs('2d')).toBe(172_800_000);
    expect(parseDurationMs('0')).toBe(0);
  });

  it.each([[''], ['m'], ['10 m'], ['-5m'], ['10min'], ['1e3']])('rejects "%s"', (raw) => {
    expect(() => parseDurationMs(raw)).toThrow(ScenarioSyntaxError);
  });
});

describe('scenarioCount', () => {
  it('caps counts at the fleet size and rounds shares, with at least one terminal', () => {
    expect(scenarioCount({ count: 5 }, 200)).toBe(5);
    expect(scenarioCount({ count: 500 }, 200)).toBe(200);
    expect(scenarioCount({ percent: 5 }, 200)).toBe(10);
    expect(scenarioCount({ percent: 1 }, 50)).toBe(1);
    expect(scenarioCount({ percent: 0.1 }, 200)).toBe(1);
    expect(scenarioCount({ percent: 100 }, 7)).toBe(7);
  });
});

describe('assignScenarios', () => {
  const fleet = generateFleet(200, { seed: 'scn', snPrefix: 'SIM' });
  const requests = parseScenarioSpecs(['plan-expiring=5%,renewal-failed=10,allowance-high=2%,weak-signal=3%,battery-drain=2%,outdated-firmware=5%']);
  const more = parseScenarioSpecs(['silent=1%,drop=1%,relocate=1%,sim-swap=1%,reversals=1%,reversal-failed=1,tid-unregistered=1%']);
  const all = [...requests, ...more];

  it('gives each scenario the requested number of terminals, at most one scenario per terminal', () => {
    const { profiles, assigned, shortfalls } = assignScenarios(fleet, all, 'scn', TIMING);
    expect(shortfalls).toStrictEqual([]);
    const counts = Object.fromEntries(Object.entries(assigned).map(([k, sns]) => [k, sns.length]));
    expect(counts).toStrictEqual({
      'plan-expiring': 10,
      'renewal-failed': 10,
      'allowance-high': 4,
      'outdated-firmware': 10,
      'weak-signal': 6,
      'battery-drain': 4,
      drop: 2,
      silent: 2,
      relocate: 2,
      'sim-swap': 2,
      reversals: 2,
      'reversal-failed': 1,
      'tid-unregistered': 2,
    });
    const allSns = Object.values(assigned).flat();
    expect(new Set(allSns).size).toBe(allSns.length);
    const withScenario = profiles.filter((p) => p.scenario !== null);
    expect(withScenario.length).toBe(allSns.length);
    for (const p of withScenario) {
      expect(assigned[p.scenario?.kind ?? 'drop']).toContain(p.sn);
      expect(p.scenario).toStrictEqual({ kind: p.scenario?.kind, startAfterMs: 180_000, clearAfterMs: 600_000 });
    }
    // everything else about the fleet is unchanged
    expect(profiles.map((p) => ({ ...p, scenario: null }))).toStrictEqual(fleet);
  });

  it('is deterministic for a seed, independent of the order scenarios are given, and differs for another seed', () => {
    const a = assignScenarios(fleet, all, 'scn', TIMING).assigned;
    const b = assignScenarios(fleet, [...all].reverse(), 'scn', TIMING).assigned;
    const c = assignScenarios(fleet, all, 'other', TIMING).assigned;
    expect(b).toStrictEqual(a);
    expect(c).not.toStrictEqual(a);
  });

  it('prefers terminals that do not show the condition on their own, so clearing it clears the alert', () => {
    const { profiles } = assignScenarios(fleet, all, 'scn', TIMING);
    for (const p of profiles) {
      switch (p.scenario?.kind) {
        case 'weak-signal':
          expect(p.radio.environment).not.toBe('weak');
          break;
        case 'outdated-firmware':
          expect(p.firmwareTier).toBe('latest');
          break;
        case 'plan-expiring':
        case 'renewal-failed':
        case 'allowance-high':
          expect(p.sim.plan.scenario).toBe('healthy');
          break;
        case 'relocate':
          expect(p.location.relocated).toBe(false);
          break;
        case 'battery-drain':
          expect(p.battery.degraded).toBe(false);
          break;
        default:
          break;
      }
    }
  });

  it('reports a shortfall when the fleet runs out of terminals', () => {
    const small = generateFleet(5, { seed: 'scn', snPrefix: 'SIM' });
    const { assigned, shortfalls } = assignScenarios(small, parseScenarioSpecs(['drop=3,silent=3']), 'scn', TIMING);
    expect(assigned.drop?.length).toBe(3);
    expect(assigned.silent?.length).toBe(2);
    expect(shortfalls).toStrictEqual([{ kind: 'silent', wanted: 3, got: 2 }]);
  });
});

describe('scenarioPhase', () => {
  const scenario = { kind: 'drop' as const, startAfterMs: 1000, clearAfterMs: 5000 };
  it('is pending, then active, then cleared; without clear it stays active; null without a scenario', () => {
    expect(scenarioPhase(scenario, 10_000, 10_999)).toBe('pending');
    expect(scenarioPhase(scenario, 10_000, 11_000)).toBe('active');
    expect(scenarioPhase(scenario, 10_000, 15_999)).toBe('active');
    expect(scenarioPhase(scenario, 10_000, 16_000)).toBe('cleared');
    expect(scenarioPhase({ ...scenario, clearAfterMs: null }, 10_000, 1e12)).toBe('active');
    expect(scenarioPhase(null, 10_000, 11_000)).toBe(null);
  });
});
