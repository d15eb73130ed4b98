export * from './rule.types.js';
export * from './alert-thresholds.js';
export { evaluateHeartbeat, evaluateScheduled, HEARTBEAT_RULES, needsPrevious, SCHEDULED_RULES } from './evaluate.js';
export { planDaysLeft } from './plan.rules.js';
export { SIM_CHANGE_HOLD_DAYS } from './sim.rules.js';
export { REVERSAL_FAILED_HOLD_DAYS } from './tx.rules.js';
export { RELOCATED_CLEAR_RATIO } from './location.rules.js';
export { ALERT_RULE_NAMES, renderAlertText, type AlertText, type AlertTextKind } from './alert-text.js';
