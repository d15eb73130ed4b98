/**
 * Alert scenarios: `--scenario weak-signal=3%,sim-swap=2` puts chosen terminals into a condition that one
 * alert rule must detect, from `--scenario-start-after` on, and (with `--scenario-clear-after`) takes it
 * away again so the alert resolves. Parsing and assignment are pure; the effects live in terminal-model.
 */
import type { TerminalProfile } from './fleet-generator.js';
import { deriveSeed } from './prng.js';

/** Every scenario, in the order terminals are assigned (so the CLI order does not matter). */
export const SCENARIO_KINDS = [
  'plan-expiring',
  'plan-suspended',
  'renewal-failed',
  'auto-renew-off',
  'allowance-high',
  'outdated-firmware',
  'weak-signal',
  'battery-drain',
  'drop',
  'silent',
  'relocate',
  'sim-swap',
  'reversals',
  'reversal-failed',
  'tid-unregistered',
] as const;
export type ScenarioKind = (typeof SCENARIO_KINDS)[number];

/** What each scenario does, and what clearing it does (for --help and the README). */
export const SCENARIO_DESCRIPTIONS: Readonly<Record<ScenarioKind, { rule: string; effect: string; clear: string }>> = {
  'plan-expiring': { rule: 'plan_expiring', effect: 'data plan expires in 5 days', clear: 'plan renewed for a year' },
  'plan-suspended': { rule: 'plan_status', effect: 'SIM plan suspended by the carrier', clear: 'plan active again' },
  'renewal-failed': {
    rule: 'renewal_failed',
    effect: 'automatic renewal fails (nightly, plan expires in 2 days)',
    clear: 'renewal succeeds, plan extended a year',
  },
  'auto-renew-off': { rule: 'auto_renew_off', effect: 'auto-renew switched off, plan expires in 20 days', clear: 'auto-renew on' },
  'allowance-high': { rule: 'data_allowance', effect: 'usage at 93 % of the allowance and growing', clear: 'top-up: usage counter restarts' },
  'outdated-firmware': { rule: 'firmware_outdated, app_outdated', effect: 'reports the legacy firmware and app', clear: 'OTA to the latest' },
  'weak-signal': {
    rule: 'signal_weak, tx_connectivity',
    effect: 'RSRP about -121 dBm, SINR below 0, LTE; many 92/96 declines and reversals',
    clear: 'signal back to the spot baseline',
  },
  'battery-drain': { rule: 'battery_low', effect: 'unplugged, drains about 20 %/h down to 5 %', clear: 'merchant plugs it in' },
  drop: { rule: 'offline', effect: 'network lost: connection dropped, heartbeats held locally', clear: 'reconnects, delivers held heartbeats' },
  silent: { rule: 'silent', effect: 'stays connected but sends no heartbeats', clear: 'heartbeats resume' },
  relocate: {
    rule: 'relocated',
    effect: 'reports a location in a city over 800 km from the registered one (always sends location)',
    clear: 'back at the registered location',
  },
  'sim-swap': { rule: 'sim_changed', effect: 'ICCID changes once (new SIM of the same carrier)', clear: 'nothing (the new SIM stays)' },
  reversals: {
    rule: 'tx_reversal (warning), tx_connectivity',
    effect: 'sales time out: a reversal pending in every heartbeat, repeated reversals (all succeed)',
    clear: 'reversals settle',
  },
  'reversal-failed': {
    rule: 'tx_reversal (critical), tx_connectivity',
    effect: 'as reversals, but about 40 % of the reversals fail (cardholder charged)',
    clear: 'reversals settle (the critical alert is held 7 days by its rule)',
  },
  'tid-unregistered': { rule: 'tx_tid_unregistered', effect: 'every transaction and sign-in declined with 97', clear: 'TID accepted again' },
};

/** How many terminals: an exact count, or a share of the fleet. */
export type ScenarioAmount = { readonly count: number } | { readonly percent: number };

export interface ScenarioRequest {
  readonly kind: ScenarioKind;
  readonly amount: ScenarioAmount;
}

/** One terminal's scenario, times relative to the simulator start. */
export interface TerminalScenario {
  readonly kind: ScenarioKind;
  readonly startAfterMs: number;
  /** How long the condition lasts; null = until the simulator stops. */
  readonly clearAfterMs: number | null;
}

export class ScenarioSyntaxError extends Error {}

function isScenarioKind(name: string): name is ScenarioKind {
  return (SCENARIO_KINDS as readonly string[]).includes(name);
}

/**
 * Parses `name=N` (count) or `name=P%` (share of the fleet) items separated by commas; several specs
 * (repeated --scenario) are merged. A scenario named twice is an error.
 */
export function parseScenarioSpecs(specs: readonly string[]): ScenarioRequest[] {
  const seen = new Map<ScenarioKind, ScenarioRequest>();
  for (const spec of specs) {
    for (const raw of spec.split(',')) {
      const item = raw.trim();
      if (item === '') throw new ScenarioSyntaxError(`empty item in --scenario "${spec}"`);
      const match = /^([a-z-]+)=(\d+(?:\.\d+)?)(%?)$/.exec(item);
      if (!match) throw new ScenarioSyntaxError(`--scenario item "${item}" is not name=N or name=P%`);
      const [, name, number, percent] = match;
      if (!isScenarioKind(name)) throw new ScenarioSyntaxError(`unknown scenario "${name}"; known: ${SCENARIO_KINDS.join(', ')}`);
      if (seen.has(name)) throw new ScenarioSyntaxError(`scenario "${name}" is given twice`);
      const value = Number(number);
      let amount: ScenarioAmount;
      if (percent) {
        if (!(value > 0 && value <= 100)) throw new ScenarioSyntaxError(`--scenario ${name}: share must be in (0, 100] %, got ${number}%`);
        amount = { percent: value };
      } else {
        if (!Number.isInteger(value) || value < 1) throw new ScenarioSyntaxError(`--scenario ${name}: count must be a positive integer, got ${number}`);
        amount = { count: value };
      }
      seen.set(name, { kind: name, amount });
    }
  }
  return SCENARIO_KINDS.flatMap((kind) => {
    const request = seen.get(kind);
    return request ? [request] : [];
  });
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90`, `90s`, `10m`, `1.5h`, `2d` → milliseconds (a bare number is seconds). */
export function parseDurationMs(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(raw.trim());
  if (!match) throw new ScenarioSyntaxError(`"${raw}" is not a duration like 90, 90s, 10m, 2h or 1d`);
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2] ?? '']);
}

function simCarriesData(p: TerminalProfile): boolean {
  return p.sim.plan.scenario !== 'expired' && p.sim.plan.scenario !== 'suspended';
}

/**
 * Terminals a scenario is meant for: those that do not show the condition on their own, so that
 * clearing the scenario really clears it (a weak-spot terminal stays weak; a legacy one stays outdated).
 */
function eligible(kind: ScenarioKind, p: TerminalProfile): boolean {
  switch (kind) {
    case 'plan-expiring':
    case 'plan-suspended':
    case 'renewal-failed':
    case 'auto-renew-off':
    case 'allowance-high':
      return p.sim.plan.scenario === 'healthy';
    case 'outdated-firmware':
      return p.firmwareTier === 'latest';
    case 'weak-signal':
      return p.radio.environment !== 'weak' && simCarriesData(p);
    case 'reversals':
    case 'reversal-failed':
    case 'tid-unregistered':
      // transactions need a working data SIM to reach the host at all
      return simCarriesData(p);
    case 'battery-drain':
      return !p.battery.degraded;
    case 'relocate':
      return !p.location.relocated;
    default:
      return true;
  }
}

/** How many terminals of `fleetSize` the amount means (a share is at least one terminal). */
export function scenarioCount(amount: ScenarioAmount, fleetSize: number): number {
  if ('count' in amount) return Math.min(amount.count, fleetSize);
  return Math.min(fleetSize, Math.max(1, Math.round((amount.percent / 100) * fleetSize)));
}

export interface ScenarioAssignment {
  /** The fleet, with `scenario` set on the chosen terminals. */
  readonly profiles: TerminalProfile[];
  /** SNs per scenario, in fleet order. */
  readonly assigned: Readonly<Partial<Record<ScenarioKind, readonly string[]>>>;
  /** Scenarios that got fewer terminals than asked (the fleet ran out). */
  readonly shortfalls: ReadonlyArray<{ kind: ScenarioKind; wanted: number; got: number }>;
}

/**
 * Chooses terminals for each requested scenario: a pure function of (seed, fleet, requests). Each terminal
 * gets at most one scenario, so every alert points at one cause. Candidates are ranked by a hash of
 * (seed, scenario, SN); eligible terminals first, then any free terminal when the eligible ones run out.
 */
export function assignScenarios(
  profiles: readonly TerminalProfile[],
  requests: readonly ScenarioRequest[],
  seed: string,
  timing: { startAfterMs: number; clearAfterMs: number | null },
): ScenarioAssignment {
  const chosen = new Map<number, ScenarioKind>();
  const assigned: Partial<Record<ScenarioKind, string[]>> = {};
  const shortfalls: { kind: ScenarioKind; wanted: number; got: number }[] = [];
  const ordered = [...requests].sort((a, b) => SCENARIO_KINDS.indexOf(a.kind) - SCENARIO_KINDS.indexOf(b.kind));
  for (const { kind, amount } of ordered) {
    const wanted = scenarioCount(amount, profiles.length);
    const free = profiles.filter((p) => !chosen.has(p.index));
    const ranks = new Map(free.map((p) => [p.index, deriveSeed(seed, 'scenario', kind, p.sn)]));
    const rank = (p: TerminalProfile): number => ranks.get(p.index) ?? 0;
    const byRank = (a: TerminalProfile, b: TerminalProfile): number => rank(a) - rank(b) || a.index - b.index;
    const candidates = [...free.filter((p) => eligible(kind, p)).sort(byRank), ...free.filter((p) => !eligible(kind, p)).sort(byRank)];
    const picked = candidates.slice(0, wanted);
    for (const p of picked) chosen.set(p.index, kind);
    if (picked.length < wanted) shortfalls.push({ kind, wanted, got: picked.length });
    assigned[kind] = picked.sort((a, b) => a.index - b.index).map((p) => p.sn);
  }
  return {
    profiles: profiles.map((p) => {
      const kind = chosen.get(p.index);
      return kind ? { ...p, scenario: { kind, startAfterMs: timing.startAfterMs, clearAfterMs: timing.clearAfterMs } } : p;
    }),
    assigned,
    shortfalls,
  };
}

export type ScenarioPhase = 'pending' | 'active' | 'cleared';

/** Where a terminal's scenario stands at `atMs` for a simulator started at `startedAtMs`; null without one. */
export function scenarioPhase(scenario: TerminalScenario | null, startedAtMs: number, atMs: number): ScenarioPhase | null {
  if (!scenario) return null;
  const startsAt = startedAtMs + scenario.startAfterMs;
  if (atMs < startsAt) return 'pending';
  if (scenario.clearAfterMs !== null && atMs >= startsAt + scenario.clearAfterMs) return 'cleared';
  return 'active';
}
