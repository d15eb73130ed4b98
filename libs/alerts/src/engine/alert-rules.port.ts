import { Injectable } from '@nestjs/common';
import {
  DEFAULT_ALERT_THRESHOLDS,
  evaluateHeartbeat,
  evaluateScheduled,
  mergeThresholds,
  type AlertThresholds,
  type HeartbeatEvaluationInput,
  type RuleOutcome,
  type ScheduledEvaluationInput,
} from '../rules/index.js';

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

  /** Code defaults, then the overrides stored along the provider's path, root first. */
  thresholds(overridesRootToLeaf: readonly unknown[]): AlertThresholds {
    return overridesRootToLeaf.length === 0 ? DEFAULT_ALERT_THRESHOLDS : mergeThresholds(overridesRootToLeaf as Parameters<typeof mergeThresholds>[0]);
  }
}
