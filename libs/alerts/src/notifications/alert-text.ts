import { renderAlertText, type AlertTextKind } from '../rules/alert-text.js';
import type { AlertDetails, AlertLocale, AlertRule, Severity } from '../rules/rule.types.js';

const KINDS: ReadonlySet<string> = new Set<AlertTextKind>(['raised', 'escalated', 'resolved']);

/**
 * Title and body of one alert transition in the subscriber's language: the rules module's wording
 * (renderAlertText), with the terminal's SN made available to it when the details lack one.
 */
export function alertText(
  rule: AlertRule,
  severity: Severity,
  details: AlertDetails,
  locale: AlertLocale,
  transition: string,
  sn: string,
): { title: string; body: string } {
  const kind = (KINDS.has(transition) ? transition : 'raised') as AlertTextKind;
  return renderAlertText(rule, severity, details.sn ? details : { ...details, sn }, locale, kind);
}

export const SEVERITY_TEXT: Record<AlertLocale, Record<Severity, string>> = {
  'zh-CN': { info: '[提示]', warning: '[警告]', critical: '[严重]' },
  en: { info: '[Info]', warning: '[Warning]', critical: '[Critical]' },
};
