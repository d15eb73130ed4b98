import type { AlertDetails, AlertLocale, AlertRule, Severity } from '../rules/rule.types.js';

/**
 * Title and body of one alert in the subscriber's language. The rules module owns the wording
 * (renderAlertText(rule, severity, details, locale), branch wt-rules); until it lands this renders
 * the rule id and the details verbatim.
 */
export function alertText(rule: AlertRule, severity: Severity, details: AlertDetails, locale: AlertLocale): { title: string; body: string } {
  const sev = SEVERITY_TEXT[locale][severity];
  const lines = Object.entries(details).map(([k, v]) => `${k}: ${v === null ? '-' : String(v)}`);
  return { title: `${sev} ${rule}`, body: lines.join('\n') };
}

export const SEVERITY_TEXT: Record<AlertLocale, Record<Severity, string>> = {
  'zh-CN': { info: '[提示]', warning: '[警告]', critical: '[严重]' },
  en: { info: '[info]', warning: '[warning]', critical: '[critical]' },
};
