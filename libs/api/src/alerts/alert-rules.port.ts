/**
 * What the API uses from the rules module (#alerts) and #contracts, in one place.
 * renderAlertText is a TEMPORARY stand-in with the agreed signature until the rules module exports
 * it; then this file only re-exports.
 */
import type { AlertDetails, AlertLocale, AlertRule, Severity } from '#alerts';

export {
  alertThresholdsOverrideSchema,
  alertThresholdsSchema,
  DEFAULT_ALERT_THRESHOLDS,
  mergeThresholdsSafe,
  type AlertThresholds,
  type AlertThresholdsOverride,
  type ThresholdsIssue,
} from '#alerts';
export { compareVersions } from '#contracts';

export function renderAlertText(rule: AlertRule, severity: Severity, details: AlertDetails, locale: AlertLocale): string {
  const facts = Object.entries(details)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return locale === 'zh-CN' ? `[${severity}] ${rule}：${facts}` : `[${severity}] ${rule}: ${facts}`;
}
