/**
 * sim_changed (warning): the SIM's ICCID differs from the one remembered for this terminal (a swapped
 * or moved SIM: a legitimate replacement, or a SIM taken out to use its data elsewhere). The first ICCID
 * ever seen is only remembered (the previous heartbeat's ICCID stands in when memory is empty).
 *
 * A swap is an event, not a condition that stops by itself, so the alert is held open for
 * SIM_CHANGE_HOLD_DAYS after the change, then resolves automatically; resolving it by hand earlier
 * ends it (it is not raised again for the same change). Memory: { iccid } plus, while held,
 * { previousIccid, changedAt }.
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleMemory, RuleOutcome } from './rule.types.js';
import { DAY_MS, inactive, memString, outcome, parseIsoTime } from './rule-helpers.js';

export const SIM_CHANGE_HOLD_DAYS = 7;

export function simChangedOutcome(
  sample: HeartbeatSample,
  previous: HeartbeatSample | null,
  thresholds: AlertThresholds,
  now: Date,
  memory: RuleMemory | undefined,
  open: ReadonlyMap<AlertRule, OpenAlert>,
): RuleOutcome {
  const rule = 'sim_changed';
  if (!thresholds.simChanged.enabled) return inactive(rule, open);
  const iccid = sample.iccid;
  const remembered = memString(memory, 'iccid') ?? previous?.iccid ?? null;
  if (remembered === null) return inactive(rule, open, { iccid }, { iccid });
  if (iccid !== remembered) {
    const changedAt = (Number.isNaN(sample.receivedAt.getTime()) ? now : sample.receivedAt).toISOString();
    return outcome(rule, true, 'warning', { iccid, previousIccid: remembered, changedAt }, { iccid, previousIccid: remembered, changedAt });
  }
  const changedAt = memString(memory, 'changedAt');
  const changedMs = parseIsoTime(changedAt);
  if (changedMs !== null && open.has(rule) && now.getTime() - changedMs < SIM_CHANGE_HOLD_DAYS * DAY_MS) {
    const previousIccid = memString(memory, 'previousIccid');
    return outcome(rule, true, 'warning', { iccid, previousIccid, changedAt }, { iccid, previousIccid, changedAt });
  }
  return inactive(rule, open, { iccid }, { iccid });
}
