import { Injectable } from '@nestjs/common';
import * as rulesModule from '../rules/index.js';
import { alertThresholdsOverrideSchema, DEFAULT_ALERT_THRESHOLDS, mergeThresholds, type AlertThresholdsOverride } from '../rules/index.js';
import type { AlertThresholds, HeartbeatEvaluationInput, RuleOutcome, ScheduledEvaluationInput } from '../rules/rule.types.js';

// TEMPORARY until the rule functions land on wt-rules: read them off the namespace (a named import of a
// missing export fails at link time).
const rules = rulesModule as unknown as {
  evaluateHeartbeat?: (input: HeartbeatEvaluationInput) => RuleOutcome[];
  evaluateScheduled?: (input: ScheduledEvaluationInput) => RuleOutcome[];
};

/**
 * The rule functions as the engine calls them. A class (and DI token) of its own so unit tests can
 * replace the rules with stubs and test the engine's transitions alone.
 */
@Injectable()
export class AlertRules {
  evaluateHeartbeat(input: HeartbeatEvaluationInput): RuleOutcome[] {
    if (!rules.evaluateHeartbeat) throw new Error('evaluateHeartbeat is not available');
    return rules.evaluateHeartbeat(input);
  }

  evaluateScheduled(input: ScheduledEvaluationInput): RuleOutcome[] {
    if (!rules.evaluateScheduled) throw new Error('evaluateScheduled is not available');
    return rules.evaluateScheduled(input);
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
