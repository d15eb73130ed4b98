// TEMPORARY (tests only) until the rule functions land from wt-rules: a minimal stand-in for the four
// rules the engine's integration tests exercise, following DEFAULT_ALERT_THRESHOLDS.
import type { TestingModuleBuilder } from '@nestjs/testing';
import type { HeartbeatEvaluationInput, RuleOutcome, ScheduledEvaluationInput, Severity } from '../rules/rule.types.js';
import { AlertRules } from './alert-rules.port.js';

export class TestRules extends AlertRules {
  override evaluateHeartbeat(input: HeartbeatEvaluationInput): RuleOutcome[] {
    const { battery } = input.thresholds;
    const pct = input.sample.batteryPct;
    const open = input.open.get('battery_low');
    const severity: Severity = pct < battery.criticalBelowPct ? 'critical' : 'warning';
    const active = pct < battery.warningBelowPct || (open !== undefined && pct < battery.warningBelowPct + battery.clearMarginPct);
    return [{ rule: 'battery_low', active, severity, details: { batteryPct: pct }, memory: null }];
  }

  override evaluateScheduled(input: ScheduledEvaluationInput): RuleOutcome[] {
    const { terminal, thresholds, now } = input;
    const out: RuleOutcome[] = [];
    const offlineFor = terminal.presenceChangedAt ? now.getTime() - terminal.presenceChangedAt.getTime() : 0;
    out.push({
      rule: 'offline',
      active: !terminal.online && offlineFor > thresholds.offline.graceMinutes * 60_000,
      severity: 'warning',
      details: {},
      memory: null,
    });
    const silentFor = terminal.lastReceivedAt ? now.getTime() - terminal.lastReceivedAt.getTime() : 0;
    out.push({
      rule: 'silent',
      active: silentFor > thresholds.silent.expectedIntervalS * thresholds.silent.factor * 1000,
      severity: 'warning',
      details: {},
      memory: null,
    });
    if (terminal.latest) {
      const days = Math.floor((Date.parse(terminal.latest.planExpiresOn) - now.getTime()) / 86_400_000);
      const step = [...thresholds.planExpiring.ladder].reverse().find((s) => days <= s.days);
      out.push({ rule: 'plan_expiring', active: step !== undefined, severity: step?.severity ?? 'info', details: { days }, memory: null });
    }
    return out;
  }
}

export const TEST_RULES_OVERRIDE = (b: TestingModuleBuilder): TestingModuleBuilder => b.overrideProvider(AlertRules).useValue(new TestRules());
