/**
 * signal_weak: a heartbeat is "bad" when RSRP < rsrpBelowDbm, or (RSRP missing) CSQ ≤ csqAtMost
 * (CSQ 99 = unknown, ignored), or SINR < sinrBelowDb. Raised after `raiseAfter` consecutive bad
 * heartbeats, cleared after `clearAfter` consecutive good ones. Memory: { bad, good } streaks.
 * A heartbeat with no usable signal figure decides nothing (streaks unchanged).
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleMemory, RuleOutcome } from './rule.types.js';
import { inactive, memNumber, outcome } from './rule-helpers.js';

const STREAK_CAP = 10_000;

/** 'bad' / 'good', or null when the heartbeat carries no usable signal figure; `reasons` names what was bad. */
export function classifySignal(sample: HeartbeatSample, thresholds: AlertThresholds): { verdict: 'bad' | 'good' | null; reasons: string[] } {
  const { rsrpBelowDbm, csqAtMost, sinrBelowDb } = thresholds.signal;
  const rsrp = typeof sample.rsrp === 'number' && Number.isFinite(sample.rsrp) ? sample.rsrp : null;
  const csq = typeof sample.csq === 'number' && sample.csq !== 99 && Number.isFinite(sample.csq) ? sample.csq : null;
  const sinr = typeof sample.sinr === 'number' && Number.isFinite(sample.sinr) ? sample.sinr : null;
  if (rsrp === null && csq === null && sinr === null) return { verdict: null, reasons: [] };
  const reasons: string[] = [];
  if (rsrp !== null && rsrp < rsrpBelowDbm) reasons.push('rsrp');
  if (rsrp === null && csq !== null && csq <= csqAtMost) reasons.push('csq');
  if (sinr !== null && sinr < sinrBelowDb) reasons.push('sinr');
  return { verdict: reasons.length > 0 ? 'bad' : 'good', reasons };
}

export function signalWeakOutcome(
  sample: HeartbeatSample,
  thresholds: AlertThresholds,
  memory: RuleMemory | undefined,
  open: ReadonlyMap<AlertRule, OpenAlert>,
): RuleOutcome | null {
  const rule = 'signal_weak';
  const { enabled, raiseAfter, clearAfter, rsrpBelowDbm, csqAtMost, sinrBelowDb } = thresholds.signal;
  if (!enabled) return inactive(rule, open);
  const { verdict, reasons } = classifySignal(sample, thresholds);
  if (verdict === null) return null;
  const isOpen = open.has(rule);
  const bad = verdict === 'bad' ? Math.min(memNumber(memory, 'bad') + 1, STREAK_CAP) : 0;
  const good = verdict === 'good' ? Math.min(memNumber(memory, 'good') + 1, STREAK_CAP) : 0;
  const active = isOpen ? good < clearAfter : bad >= raiseAfter;
  const details = {
    rsrp: sample.rsrp,
    csq: sample.csq,
    sinr: sample.sinr,
    rat: sample.rat,
    cellId: sample.cellId,
    reason: reasons.join(',') || null,
    badHeartbeats: bad,
    rsrpBelowDbm,
    csqAtMost,
    sinrBelowDb,
  };
  // Nothing to count when healthy and nothing is open: forget.
  const nextMemory = !active && bad === 0 ? null : { bad, good };
  return active ? outcome(rule, true, 'warning', details, nextMemory) : inactive(rule, open, details, nextMemory);
}
