/**
 * battery_low with hysteresis. Raises below warningBelowPct (warning) or criticalBelowPct (critical),
 * only while not charging. Once open it stays open until the charge reaches warningBelowPct +
 * clearMarginPct (or the terminal is charging), and a critical alert steps back to warning only at
 * criticalBelowPct + clearMarginPct, so a level wobbling around a threshold does not flap.
 * The open alert (input.open) is the state; no memory.
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleOutcome, Severity } from './rule.types.js';
import { inactive, outcome } from './rule-helpers.js';

export function batteryLowOutcome(sample: HeartbeatSample, thresholds: AlertThresholds, open: ReadonlyMap<AlertRule, OpenAlert>): RuleOutcome {
  const rule = 'battery_low';
  const { enabled, warningBelowPct: warn, criticalBelowPct: crit, clearMarginPct: margin } = thresholds.battery;
  const pct = sample.batteryPct;
  const details = { batteryPct: pct, charging: sample.charging, warningBelowPct: warn, criticalBelowPct: crit, clearAtPct: warn + margin };
  if (!enabled || sample.charging || !Number.isFinite(pct)) return inactive(rule, open, details);
  const current = open.get(rule)?.severity;
  let severity: Severity | null = null;
  if (pct < crit) severity = 'critical';
  else if (pct < warn || (current !== undefined && pct < warn + margin)) severity = current === 'critical' && pct < crit + margin ? 'critical' : 'warning';
  return severity ? outcome(rule, true, severity, details) : inactive(rule, open, details);
}
