/**
 * Data plan rules: plan_expiring, plan_status, renewal_failed, auto_renew_off, data_allowance.
 * Days are counted on the terminal's local calendar (thresholds.timeZone): the plan's expiry date is
 * "last paid day" in that calendar, so a UTC day count would be off by one for eight hours a day.
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleMemory, RuleOutcome, Severity } from './rule.types.js';
import { daysBetween, inactive, iso, localDate, memString, outcome, round1 } from './rule-helpers.js';

type Open = ReadonlyMap<AlertRule, OpenAlert>;

/** Days from today (local calendar in `timeZone`) to the plan's last paid day: 0 = expires today, negative = past. */
export function planDaysLeft(planExpiresOn: string, now: Date, timeZone: string): number | null {
  let today: string;
  try {
    today = localDate(now, timeZone);
  } catch {
    // An unknown zone (thresholds not from mergeThresholds) must not break a whole evaluation batch.
    return null;
  }
  return daysBetween(today, planExpiresOn);
}

/**
 * plan_expiring: the ladder step reached (days left ≤ step days) gives the severity; on or after the
 * expiry day the last (most severe) step holds. Only while the plan is still 'active': once the
 * terminal reports grace/suspended/expired, plan_status takes over and this one resolves.
 */
export function planExpiringOutcome(latest: HeartbeatSample, thresholds: AlertThresholds, now: Date, open: Open): RuleOutcome | null {
  const rule = 'plan_expiring';
  if (!thresholds.planExpiring.enabled) return inactive(rule, open);
  const daysLeft = planDaysLeft(latest.planExpiresOn, now, thresholds.timeZone);
  if (daysLeft === null) return null;
  const details = { expiresOn: latest.planExpiresOn, daysLeft, planStatus: latest.planStatus, autoRenew: latest.planAutoRenew, iccid: latest.iccid };
  if (latest.planStatus !== 'active') return inactive(rule, open, details);
  // Ladder is sorted by days descending (mergeThresholds); sort again so hand-built thresholds work too.
  const ladder = [...thresholds.planExpiring.ladder].sort((a, b) => b.days - a.days);
  let reached: { days: number; severity: Severity } | null = null;
  for (const step of ladder) if (daysLeft <= step.days) reached = step;
  if (!reached) return inactive(rule, open, details);
  return outcome(rule, true, reached.severity, { ...details, stepDays: reached.days });
}

/** plan_status: grace → warning; suspended or expired → critical; active → resolved. */
export function planStatusOutcome(sample: HeartbeatSample, thresholds: AlertThresholds, open: Open): RuleOutcome {
  const rule = 'plan_status';
  const details = { planStatus: sample.planStatus, expiresOn: sample.planExpiresOn, autoRenew: sample.planAutoRenew, iccid: sample.iccid };
  if (!thresholds.planStatus.enabled || sample.planStatus === 'active') return inactive(rule, open, details);
  return outcome(rule, true, sample.planStatus === 'grace' ? 'warning' : 'critical', details);
}

/**
 * renewal_failed: the last renewal attempt failed → critical (the terminal stops working when the paid
 * period ends). Resolves when a later attempt succeeds, or when the expiry date has moved past the one
 * seen at the failure (renewed another way, e.g. paid at the provider; the terminal keeps reporting the
 * failed attempt as its last renewal). Memory: { failedAt, expiresOn } of the failure being tracked.
 * No renewal reported → no decision.
 */
export function renewalFailedOutcome(sample: HeartbeatSample, thresholds: AlertThresholds, memory: RuleMemory | undefined, open: Open): RuleOutcome | null {
  const rule = 'renewal_failed';
  if (!thresholds.renewalFailed.enabled) return inactive(rule, open);
  if (sample.renewalResult === null) return null;
  const renewalAt = iso(sample.renewalAt);
  if (sample.renewalResult === 'success') return inactive(rule, open, { renewalAt, expiresOn: sample.planExpiresOn, iccid: sample.iccid });
  const sameFailure = memory !== undefined && memString(memory, 'failedAt') === renewalAt && memString(memory, 'expiresOn') !== null;
  const expiryAtFailure = sameFailure ? (memString(memory, 'expiresOn') as string) : sample.planExpiresOn;
  const nextMemory = { failedAt: renewalAt, expiresOn: expiryAtFailure };
  const details = {
    renewalAt,
    reason: sample.renewalReason,
    expiresOn: sample.planExpiresOn,
    autoRenew: sample.planAutoRenew,
    iccid: sample.iccid,
    timeZone: thresholds.timeZone,
  };
  // 'YYYY-MM-DD' strings order like the dates they name.
  if (sample.planExpiresOn > expiryAtFailure) return inactive(rule, open, { ...details, renewedTo: sample.planExpiresOn }, nextMemory);
  return outcome(rule, true, 'critical', details, nextMemory);
}

/** auto_renew_off: automatic renewal is off and the plan ends within `withinDays` (or already ended) → warning. */
export function autoRenewOffOutcome(latest: HeartbeatSample, thresholds: AlertThresholds, now: Date, open: Open): RuleOutcome | null {
  const rule = 'auto_renew_off';
  if (!thresholds.autoRenewOff.enabled) return inactive(rule, open);
  const daysLeft = planDaysLeft(latest.planExpiresOn, now, thresholds.timeZone);
  if (daysLeft === null) return null;
  const details = { expiresOn: latest.planExpiresOn, daysLeft, withinDays: thresholds.autoRenewOff.withinDays, iccid: latest.iccid };
  const active = !latest.planAutoRenew && daysLeft <= thresholds.autoRenewOff.withinDays;
  return active ? outcome(rule, true, 'warning', details) : inactive(rule, open, details);
}

/** data_allowance: used / allowance against the percent ladder; unmetered (no or zero allowance) never alerts. */
export function dataAllowanceOutcome(sample: HeartbeatSample, thresholds: AlertThresholds, open: Open): RuleOutcome {
  const rule = 'data_allowance';
  const allowance = sample.dataAllowanceMb;
  if (!thresholds.dataAllowance.enabled || allowance === null || !(allowance > 0)) return inactive(rule, open);
  const percent = (sample.dataUsedMb / allowance) * 100;
  const details = { usedMb: round1(sample.dataUsedMb), allowanceMb: round1(allowance), percent: round1(percent), iccid: sample.iccid };
  let reached: { percent: number; severity: Severity } | null = null;
  for (const step of [...thresholds.dataAllowance.ladder].sort((a, b) => a.percent - b.percent)) if (percent >= step.percent) reached = step;
  if (!reached) return inactive(rule, open, details);
  return outcome(rule, true, reached.severity, { ...details, stepPercent: reached.percent });
}
