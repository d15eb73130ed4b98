/**
 * What the API uses from the rules module (#alerts) and #contracts, in one place.
 * TEMPORARY stand-ins with the agreed signatures until wt-rules is merged; then this file only
 * re-exports renderAlertText, DEFAULT_ALERT_THRESHOLDS, alertThresholdsOverrideSchema,
 * mergeThresholds (#alerts) and compareVersions (#contracts).
 */
import { z } from 'zod';
import type { AlertDetails, AlertLocale, AlertRule, AlertThresholds, Severity } from '#alerts';

export type { AlertThresholds };

export function renderAlertText(rule: AlertRule, severity: Severity, details: AlertDetails, locale: AlertLocale): string {
  const facts = Object.entries(details)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return locale === 'zh-CN' ? `[${severity}] ${rule}：${facts}` : `[${severity}] ${rule}: ${facts}`;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  timeZone: 'Asia/Shanghai',
  planExpiring: {
    enabled: true,
    ladder: [
      { days: 30, severity: 'info' },
      { days: 7, severity: 'warning' },
      { days: 1, severity: 'critical' },
    ],
  },
  planStatus: { enabled: true },
  renewalFailed: { enabled: true },
  autoRenewOff: { enabled: true, withinDays: 30 },
  dataAllowance: {
    enabled: true,
    ladder: [
      { percent: 80, severity: 'warning' },
      { percent: 95, severity: 'critical' },
    ],
  },
  firmware: { enabled: true, notLatestAfterDays: 30 },
  app: { enabled: true, notLatestAfterDays: 30 },
  battery: { enabled: true, warningBelowPct: 20, criticalBelowPct: 10, clearMarginPct: 5 },
  signal: { enabled: true, rsrpBelowDbm: -110, csqAtMost: 10, sinrBelowDb: 0, raiseAfter: 3, clearAfter: 3 },
  offline: { enabled: true, graceMinutes: 30 },
  silent: { enabled: true, expectedIntervalS: 300, factor: 3 },
  relocated: { enabled: true, distanceKm: 50 },
  simChanged: { enabled: true },
  tx: { enabled: true, windowHeartbeats: 12, connectivityDeclines: 5, reversalsRepeated: 3, reversalPendingHeartbeats: 3 },
};

const enabled = z.object({ enabled: z.boolean() }).partial().strict();
export const alertThresholdsOverrideSchema = z
  .object({
    timeZone: z.string().min(1).max(64),
    planStatus: enabled,
    renewalFailed: enabled,
    simChanged: enabled,
    battery: z
      .object({
        enabled: z.boolean(),
        warningBelowPct: z.number().min(0).max(100),
        criticalBelowPct: z.number().min(0).max(100),
        clearMarginPct: z.number().min(0).max(50),
      })
      .partial()
      .strict(),
    offline: z
      .object({ enabled: z.boolean(), graceMinutes: z.number().int().min(1).max(10080) })
      .partial()
      .strict(),
  })
  .partial()
  .strict();

type Json = string | number | boolean | null | readonly Json[] | { readonly [k: string]: Json };
function deepMerge(base: Json, over: Json): Json {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, Json> = { ...(base as Record<string, Json>) };
  for (const [k, v] of Object.entries(over as Record<string, Json>)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

export function mergeThresholds(overridesRootToLeaf: readonly unknown[]): AlertThresholds {
  return overridesRootToLeaf.reduce<Json>((acc, o) => deepMerge(acc, o as Json), DEFAULT_ALERT_THRESHOLDS as unknown as Json) as unknown as AlertThresholds;
}

/** Numeric per dot-separated component; null when either string holds no version number. */
export function compareVersions(a: string, b: string): number | null {
  const key = (v: string) => /\d+(?:\.\d+)*/.exec(v)?.[0].split('.').map(Number) ?? null;
  const ka = key(a);
  const kb = key(b);
  if (!ka || !kb) return null;
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const d = (ka[i] ?? 0) - (kb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
