/**
 * Test fixtures for the rules (used by the *.spec.ts files here; the engine's tests may reuse them).
 * Not exported from the package index.
 */
import { DEFAULT_ALERT_THRESHOLDS } from './alert-thresholds.js';
import { evaluateHeartbeat, evaluateScheduled } from './evaluate.js';
import type {
  AlertRule,
  AlertThresholds,
  HeartbeatEvaluationInput,
  HeartbeatSample,
  OpenAlert,
  RuleMemory,
  RuleOutcome,
  ScheduledEvaluationInput,
  TerminalFacts,
  TxCounts,
  VersionPolicy,
} from './rule.types.js';

export const T0 = new Date('2026-12-01T08:00:00Z');

/** A healthy terminal in Beijing: every rule quiet. */
export function sampleOf(overrides: Partial<HeartbeatSample> = {}): HeartbeatSample {
  return {
    time: T0,
    receivedAt: T0,
    model: 'QP-E20',
    firmwareVersion: 'E20_V3.2.1',
    appVersion: '5.12.3',
    batteryPct: 80,
    charging: false,
    rat: 'LTE',
    rsrp: -90,
    csq: 20,
    sinr: 10,
    cellId: '12345678',
    iccid: '89860012345678901234',
    planStatus: 'active',
    planExpiresOn: '2027-06-30',
    planAutoRenew: true,
    renewalAt: null,
    renewalResult: null,
    renewalReason: null,
    dataUsedMb: 100,
    dataAllowanceMb: 1024,
    lat: 39.9042,
    lon: 116.4074,
    uptimeS: 3600,
    tx: null,
    ...overrides,
  };
}

export function txOf(overrides: Partial<TxCounts> = {}): TxCounts {
  return { approved: 5, declined: 0, declinesByCode: {}, reversalsPending: 0, reversalsSucceeded: 0, reversalsFailed: 0, ...overrides };
}

export function terminalOf(overrides: Partial<TerminalFacts> = {}): TerminalFacts {
  return {
    sn: 'EP0000000001',
    model: 'QP-E20',
    tid: '12345678',
    mid: '898110000000001',
    providerId: 'p1',
    registeredLat: 39.9042,
    registeredLon: 116.4074,
    online: true,
    presenceChangedAt: new Date(T0.getTime() - 3_600_000),
    lastReceivedAt: T0,
    latest: null,
    ...overrides,
  };
}

export function policyOf(overrides: Partial<VersionPolicy> = {}): VersionPolicy {
  return { model: 'QP-E20', component: 'firmware', minSupported: null, latest: null, latestSince: null, blocked: [], ...overrides };
}

export function thresholdsWith(patch: (t: AlertThresholds) => AlertThresholds): AlertThresholds {
  return patch(structuredClone<AlertThresholds>(DEFAULT_ALERT_THRESHOLDS));
}

export function find(outcomes: readonly RuleOutcome[], rule: AlertRule): RuleOutcome | undefined {
  return outcomes.find((o) => o.rule === rule);
}

export type Transition = 'raised' | 'escalated' | 'deescalated' | 'resolved' | 'kept' | 'none';

/**
 * Plays the engine's part between evaluations: active outcomes open (or keep) an alert, inactive ones
 * resolve it; memory is stored, null forgets; rules without an outcome keep both.
 */
export class RuleHarness {
  readonly open = new Map<AlertRule, OpenAlert>();
  readonly memory = new Map<AlertRule, RuleMemory>();
  previous: HeartbeatSample | null = null;
  thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS;
  policies: VersionPolicy[] = [];
  terminal: TerminalFacts = terminalOf();

  heartbeat(sample: HeartbeatSample, now: Date = sample.receivedAt): RuleOutcome[] {
    const input: HeartbeatEvaluationInput = {
      sample,
      previous: this.previous,
      terminal: this.terminal,
      thresholds: this.thresholds,
      policies: this.policies,
      now,
      memory: new Map(this.memory),
      open: new Map(this.open),
    };
    const outcomes = evaluateHeartbeat(input);
    this.previous = sample;
    this.apply(outcomes);
    return outcomes;
  }

  scheduled(now: Date): RuleOutcome[] {
    const input: ScheduledEvaluationInput = {
      terminal: this.terminal,
      thresholds: this.thresholds,
      policies: this.policies,
      now,
      memory: new Map(this.memory),
      open: new Map(this.open),
    };
    const outcomes = evaluateScheduled(input);
    this.apply(outcomes);
    return outcomes;
  }

  /** What the last apply did to `rule`. */
  readonly transitions = new Map<AlertRule, Transition>();

  apply(outcomes: readonly RuleOutcome[]): void {
    this.transitions.clear();
    for (const o of outcomes) {
      const before = this.open.get(o.rule);
      let t: Transition = 'none';
      if (o.active) {
        const rank = (s: string): number => ['info', 'warning', 'critical'].indexOf(s);
        t = !before ? 'raised' : rank(o.severity) > rank(before.severity) ? 'escalated' : rank(o.severity) < rank(before.severity) ? 'deescalated' : 'kept';
        this.open.set(o.rule, { severity: o.severity });
      } else if (before) {
        t = 'resolved';
        this.open.delete(o.rule);
      }
      this.transitions.set(o.rule, t);
      if (o.memory === null) this.memory.delete(o.rule);
      else this.memory.set(o.rule, o.memory);
    }
  }
}
