/**
 * Transaction rules from the heartbeat's `tx` counters (counts since the previous heartbeat; a
 * heartbeat without `tx` decides nothing for these rules):
 * - tx_connectivity (warning): within the last windowHeartbeats heartbeats, declines with host code
 *   92 (bank communication failure) or 96 (system malfunction) reach connectivityDeclines, or
 *   completed reversals (succeeded + failed: each one is a sale that timed out) reach
 *   reversalsRepeated. The window is kept in memory as two comma-separated count lists, newest last.
 * - tx_tid_unregistered (critical): any decline with code 97 (TID unknown to the acquirer); resolves
 *   after windowHeartbeats consecutive heartbeats without one. Memory: { clean, last97 }.
 * - tx_reversal: a failed reversal (the cardholder was charged; the merchant must refund or claim) →
 *   critical, held open for REVERSAL_FAILED_HOLD_DAYS after the last failure unless resolved by hand
 *   (nothing in telemetry says the merchant settled it); a reversal still pending for
 *   reversalPendingHeartbeats consecutive heartbeats → warning. Memory: { pending, failedAt, failed }.
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleMemory, RuleOutcome } from './rule.types.js';
import { count, DAY_MS, inactive, memNumber, memString, outcome, parseIsoTime } from './rule-helpers.js';

type Open = ReadonlyMap<AlertRule, OpenAlert>;
type Memories = ReadonlyMap<AlertRule, RuleMemory>;

export const REVERSAL_FAILED_HOLD_DAYS = 7;
const PER_HEARTBEAT_CAP = 9_999;

function parseWindow(value: string | null, length: number): number[] {
  if (!value || length <= 0) return [];
  return value
    .split(',')
    .map((n) => count(Number(n), PER_HEARTBEAT_CAP))
    .slice(-length);
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export function txOutcomes(sample: HeartbeatSample, thresholds: AlertThresholds, now: Date, memory: Memories, open: Open): RuleOutcome[] {
  const settings = thresholds.tx;
  if (!settings.enabled) return [inactive('tx_connectivity', open), inactive('tx_tid_unregistered', open), inactive('tx_reversal', open)];
  const tx = sample.tx;
  if (!tx) return [];
  const byCode = tx.declinesByCode ?? {};
  return [
    connectivity(
      count(byCode['92'], PER_HEARTBEAT_CAP),
      count(byCode['96'], PER_HEARTBEAT_CAP),
      count(tx.reversalsSucceeded, PER_HEARTBEAT_CAP) + count(tx.reversalsFailed, PER_HEARTBEAT_CAP),
    ),
    tidUnregistered(count(byCode['97'], PER_HEARTBEAT_CAP)),
    reversal(count(tx.reversalsFailed, PER_HEARTBEAT_CAP), count(tx.reversalsPending, PER_HEARTBEAT_CAP)),
  ];

  function connectivity(d92: number, d96: number, reversals: number): RuleOutcome {
    const rule = 'tx_connectivity';
    const mem = memory.get(rule);
    const window = settings.windowHeartbeats;
    const declines = [...parseWindow(memString(mem, 'd'), window - 1), Math.min(d92 + d96, PER_HEARTBEAT_CAP)];
    const reversalsW = [...parseWindow(memString(mem, 'r'), window - 1), Math.min(reversals, PER_HEARTBEAT_CAP)];
    // Pad the shorter list (memory from an older window size) so both cover the same heartbeats.
    while (reversalsW.length < declines.length) reversalsW.unshift(0);
    while (declines.length < reversalsW.length) declines.unshift(0);
    const connectivityDeclines = sum(declines);
    const reversalCount = sum(reversalsW);
    const details = { connectivityDeclines, reversals: reversalCount, windowHeartbeats: window, declines92: d92, declines96: d96 };
    const active = connectivityDeclines >= settings.connectivityDeclines || reversalCount >= settings.reversalsRepeated;
    const nextMemory = connectivityDeclines + reversalCount === 0 ? null : { d: declines.join(','), r: reversalsW.join(',') };
    return active ? outcome(rule, true, 'warning', details, nextMemory) : inactive(rule, open, details, nextMemory);
  }

  function tidUnregistered(d97: number): RuleOutcome {
    const rule = 'tx_tid_unregistered';
    const mem = memory.get(rule);
    if (d97 > 0) return outcome(rule, true, 'critical', { declines97: d97, cleanHeartbeats: 0 }, { clean: 0, last97: d97 });
    if (!open.has(rule)) return inactive(rule, open, { declines97: 0 });
    const clean = Math.min(memNumber(mem, 'clean') + 1, settings.windowHeartbeats);
    const details = { declines97: memNumber(mem, 'last97'), cleanHeartbeats: clean };
    return clean < settings.windowHeartbeats
      ? outcome(rule, true, 'critical', details, { clean, last97: memNumber(mem, 'last97') })
      : inactive(rule, open, details);
  }

  function reversal(failed: number, pending: number): RuleOutcome {
    const rule = 'tx_reversal';
    const mem = memory.get(rule);
    const pendingHeartbeats = pending > 0 ? Math.min(memNumber(mem, 'pending') + 1, 10_000) : 0;
    const heldSince = parseIsoTime(memString(mem, 'failedAt'));
    const stillHeld = heldSince !== null && open.get(rule)?.severity === 'critical' && now.getTime() - heldSince < REVERSAL_FAILED_HOLD_DAYS * DAY_MS;
    const failedAt =
      failed > 0 ? (Number.isNaN(sample.receivedAt.getTime()) ? now : sample.receivedAt).toISOString() : stillHeld ? memString(mem, 'failedAt') : null;
    const failedTotal = failed > 0 ? (stillHeld ? memNumber(mem, 'failed') : 0) + failed : stillHeld ? memNumber(mem, 'failed') : 0;
    const details = { reversalsFailed: failedTotal, lastFailedAt: failedAt, reversalsPending: pending, pendingHeartbeats, timeZone: thresholds.timeZone };
    const nextMemory = failedAt === null && pendingHeartbeats === 0 ? null : { pending: pendingHeartbeats, failedAt, failed: failedTotal };
    if (failedAt !== null) return outcome(rule, true, 'critical', details, nextMemory);
    if (pendingHeartbeats >= settings.reversalPendingHeartbeats) return outcome(rule, true, 'warning', details, nextMemory);
    return inactive(rule, open, details, nextMemory);
  }
}
