import { Injectable } from '@nestjs/common';
import {
  alertThresholdsOverrideSchema,
  DEFAULT_ALERT_THRESHOLDS,
  evaluateHeartbeat,
  evaluateScheduled,
  mergeThresholds,
  needsPrevious,
  type AlertThresholdsOverride,
} from '../rules/index.js';
import type { AlertRule, AlertThresholds, HeartbeatEvaluationInput, RuleMemory, RuleOutcome, ScheduledEvaluationInput } from '../rules/rule.types.js';

/**
 * The rule functions as the engine calls them. A class (and DI token) of its own so unit tests can
 * replace the rules with stubs and test the engine's transitions alone.
 */
@Injectable()
export class AlertRules {
  evaluateHeartbeat(input: HeartbeatEvaluationInput): RuleOutcome[] {
    return evaluateHeartbeat(input);
  }

  evaluateScheduled(input: ScheduledEvaluationInput): RuleOutcome[] {
    return evaluateScheduled(input);
  }

  /** Whether evaluateHeartbeat may read `previous` given this rule memory (false: the engine passes null). */
  needsPrevious(memory: ReadonlyMap<AlertRule, RuleMemory>): boolean {
    return needsPrevious(memory);
  }

  /**
   * Code defaults, then the overrides stored along the provider's path, root first. An override that
   * does not validate (stored before a schema change) is skipped rather than stopping evaluation; if
   * the merge still fails, the defaults apply. `skipped` counts what was ignored.
   */
  thresholds(overridesRootToLeaf: readonly unknown[]): { thresholds: AlertThresholds; skipped: number } {
    if (overridesRootToLeaf.length === 0) return { thresholds: DEFAULT_ALERT_THRESHOLDS, skipped: 0 };
    const valid = overridesRootToLeaf.filter((o): o is AlertThresholdsOverride => alertThresholdsOverrideSchema.safeParse(o).success);
    try {
      return { thresholds: mergeThresholds(valid), skipped: overridesRootToLeaf.length - valid.length };
    } catch {
      return { thresholds: DEFAULT_ALERT_THRESHOLDS, skipped: overridesRootToLeaf.length };
    }
  }
}
