/** What the API uses from the rules module (#alerts) and #contracts, in one place. */
export {
  alertThresholdsOverrideSchema,
  alertThresholdsSchema,
  DEFAULT_ALERT_THRESHOLDS,
  mergeThresholdsSafe,
  renderAlertText,
  type AlertText,
  type AlertThresholds,
  type AlertThresholdsOverride,
  type ThresholdsIssue,
} from '#alerts';
export { compareVersions } from '#contracts';
