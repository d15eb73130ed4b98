/**
 * Alert thresholds: code defaults, their validation, and the per-provider overrides merged over them
 * (fleet-wide first, then down the provider tree). Framework-free: zod only.
 */
import { z } from 'zod';
import { type AlertThresholds, SEVERITIES, type Severity } from './rule.types.js';

export type { AlertThresholds } from './rule.types.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Defaults from issue #8 and the domain brief (typical field values, every one overridable). Frozen. */
export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = deepFreeze({
  timeZone: 'Asia/Shanghai',
  planExpiring: {
    enabled: true,
    ladder: [
      { days: 30, severity: 'info' },
      { days: 7, severity: 'warning' },
      { days: 3, severity: 'warning' },
      { days: 1, severity: 'critical' },
    ],
  },
  planStatus: { enabled: true },
  renewalFailed: { enabled: true },
  autoRenewOff: { enabled: true, withinDays: 30 },
  dataAllowance: {
    enabled: true,
    ladder: [
      { percent: 80, severity: 'info' },
      { percent: 90, severity: 'warning' },
      { percent: 100, severity: 'critical' },
    ],
  },
  firmware: { enabled: true, notLatestAfterDays: 30 },
  app: { enabled: true, notLatestAfterDays: 30 },
  battery: { enabled: true, warningBelowPct: 20, criticalBelowPct: 10, clearMarginPct: 5 },
  signal: { enabled: true, rsrpBelowDbm: -110, csqAtMost: 9, sinrBelowDb: 0, raiseAfter: 3, clearAfter: 3 },
  offline: { enabled: true, graceMinutes: 15 },
  silent: { enabled: true, expectedIntervalS: 60, factor: 3 },
  relocated: { enabled: true, distanceKm: 50 },
  simChanged: { enabled: true },
  tx: { enabled: true, windowHeartbeats: 10, connectivityDeclines: 3, reversalsRepeated: 3, reversalPendingHeartbeats: 3 },
} satisfies AlertThresholds);

/** True when `zone` names an IANA time zone this runtime knows (offset strings like "+08:00" are refused). */
export function isValidTimeZone(zone: string): boolean {
  if (!/^[A-Za-z]/.test(zone) || zone.length > 64) return false;
  if (knownZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    return false;
  }
  // Thresholds are merged per evaluation batch; remember the (few) valid zones instead of building formatters.
  if (knownZones.size < 256) knownZones.add(zone);
  return true;
}

const knownZones = new Set<string>();

const severity = z.enum(SEVERITIES);
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const num = (min: number, max: number) => z.number().min(min).max(max);

const timeZone = z.string().refine(isValidTimeZone, 'timeZone must be a valid IANA time zone, e.g. "Asia/Shanghai"');
const planLadderStep = z.strictObject({ days: int(1, 365), severity });
const dataLadderStep = z.strictObject({ percent: int(1, 100), severity });
// Whole arrays replace on merge, so each ladder is validated as one value (at least one step, at most ten).
const planLadder = z.array(planLadderStep).min(1).max(10);
const dataLadder = z.array(dataLadderStep).min(1).max(10);

/** Field shapes per section; the full schema requires every field, the override schema none. */
const sections = {
  planExpiring: { enabled: z.boolean(), ladder: planLadder },
  planStatus: { enabled: z.boolean() },
  renewalFailed: { enabled: z.boolean() },
  autoRenewOff: { enabled: z.boolean(), withinDays: int(1, 365) },
  dataAllowance: { enabled: z.boolean(), ladder: dataLadder },
  firmware: { enabled: z.boolean(), notLatestAfterDays: int(0, 3650) },
  app: { enabled: z.boolean(), notLatestAfterDays: int(0, 3650) },
  battery: { enabled: z.boolean(), warningBelowPct: num(1, 100), criticalBelowPct: num(0, 99), clearMarginPct: num(0, 50) },
  signal: {
    enabled: z.boolean(),
    rsrpBelowDbm: num(-156, -31),
    // AT+CSQ 0..31 (99 = unknown is never a threshold).
    csqAtMost: int(0, 31),
    sinrBelowDb: num(-23, 40),
    raiseAfter: int(1, 100),
    clearAfter: int(1, 100),
  },
  offline: { enabled: z.boolean(), graceMinutes: int(1, 7 * 24 * 60) },
  silent: { enabled: z.boolean(), expectedIntervalS: int(5, 86_400), factor: num(1, 100) },
  relocated: { enabled: z.boolean(), distanceKm: num(1, 20_000) },
  simChanged: { enabled: z.boolean() },
  tx: {
    enabled: z.boolean(),
    // The rolling window lives in rule memory; 100 heartbeats keep it a few hundred bytes.
    windowHeartbeats: int(1, 100),
    connectivityDeclines: int(1, 10_000),
    reversalsRepeated: int(1, 10_000),
    reversalPendingHeartbeats: int(1, 1_000),
  },
} as const;

const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

function checkLadder<T>(
  ctx: z.core.$RefinementCtx<unknown>,
  path: string[],
  steps: readonly T[],
  key: (step: T) => number,
  severityOf: (step: T) => Severity,
  label: string,
): void {
  const keys = steps.map(key);
  if (new Set(keys).size !== keys.length) ctx.addIssue({ code: 'custom', path, message: `${label} steps must be unique` });
  // Sorted from the first step reached to the last; severity must not fall on the way.
  const sorted = [...steps].sort((a, b) => key(a) - key(b));
  for (let i = 1; i < sorted.length; i++) {
    if (severityRank(severityOf(sorted[i])) < severityRank(severityOf(sorted[i - 1]))) {
      ctx.addIssue({ code: 'custom', path, message: `${label} severity must rise as the threshold gets closer` });
      return;
    }
  }
}

/** Complete, validated thresholds (what `mergeThresholds` returns). */
export const alertThresholdsSchema = z
  .strictObject({
    timeZone,
    planExpiring: z.strictObject(sections.planExpiring),
    planStatus: z.strictObject(sections.planStatus),
    renewalFailed: z.strictObject(sections.renewalFailed),
    autoRenewOff: z.strictObject(sections.autoRenewOff),
    dataAllowance: z.strictObject(sections.dataAllowance),
    firmware: z.strictObject(sections.firmware),
    app: z.strictObject(sections.app),
    battery: z.strictObject(sections.battery),
    signal: z.strictObject(sections.signal),
    offline: z.strictObject(sections.offline),
    silent: z.strictObject(sections.silent),
    relocated: z.strictObject(sections.relocated),
    simChanged: z.strictObject(sections.simChanged),
    tx: z.strictObject(sections.tx),
  })
  .superRefine((t, ctx) => {
    // Plan ladder: fewer days left = more urgent, so sort descending by days (30, 7, 3, 1).
    checkLadder(
      ctx,
      ['planExpiring', 'ladder'],
      t.planExpiring.ladder,
      (s) => -s.days,
      (s) => s.severity,
      'planExpiring.ladder',
    );
    checkLadder(
      ctx,
      ['dataAllowance', 'ladder'],
      t.dataAllowance.ladder,
      (s) => s.percent,
      (s) => s.severity,
      'dataAllowance.ladder',
    );
    if (t.battery.criticalBelowPct >= t.battery.warningBelowPct) {
      ctx.addIssue({ code: 'custom', path: ['battery', 'criticalBelowPct'], message: 'battery.criticalBelowPct must be below battery.warningBelowPct' });
    }
    if (t.battery.warningBelowPct + t.battery.clearMarginPct > 100) {
      ctx.addIssue({ code: 'custom', path: ['battery', 'clearMarginPct'], message: 'battery.warningBelowPct + battery.clearMarginPct must not exceed 100' });
    }
  }) satisfies z.ZodType<AlertThresholds>;

/**
 * Overrides stored per provider (alert_settings): every field optional at every level, unknown keys
 * refused, field ranges checked. Cross-field rules (battery critical < warning, ladder order) can
 * only be checked after merging: `mergeThresholds` / `mergeThresholdsSafe`.
 */
export const alertThresholdsOverrideSchema = z.strictObject({
  timeZone: timeZone.optional(),
  planExpiring: z.strictObject(sections.planExpiring).partial().optional(),
  planStatus: z.strictObject(sections.planStatus).partial().optional(),
  renewalFailed: z.strictObject(sections.renewalFailed).partial().optional(),
  autoRenewOff: z.strictObject(sections.autoRenewOff).partial().optional(),
  dataAllowance: z.strictObject(sections.dataAllowance).partial().optional(),
  firmware: z.strictObject(sections.firmware).partial().optional(),
  app: z.strictObject(sections.app).partial().optional(),
  battery: z.strictObject(sections.battery).partial().optional(),
  signal: z.strictObject(sections.signal).partial().optional(),
  offline: z.strictObject(sections.offline).partial().optional(),
  silent: z.strictObject(sections.silent).partial().optional(),
  relocated: z.strictObject(sections.relocated).partial().optional(),
  simChanged: z.strictObject(sections.simChanged).partial().optional(),
  tx: z.strictObject(sections.tx).partial().optional(),
});

export type AlertThresholdsOverride = z.infer<typeof alertThresholdsOverrideSchema>;

type Json = string | number | boolean | null | readonly unknown[] | { readonly [key: string]: unknown };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge key by key; arrays and scalars replace; undefined leaves the base value. */
function deepMerge(base: Json, override: unknown): Json {
  if (override === undefined) return base;
  if (isPlainObject(base) && isPlainObject(override)) {
    const out: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(override)) out[key] = deepMerge(out[key] as Json, value);
    return out;
  }
  return override as Json;
}

function sortLadders(t: AlertThresholds): AlertThresholds {
  return {
    ...t,
    planExpiring: { ...t.planExpiring, ladder: [...t.planExpiring.ladder].sort((a, b) => b.days - a.days) },
    dataAllowance: { ...t.dataAllowance, ladder: [...t.dataAllowance.ladder].sort((a, b) => a.percent - b.percent) },
  };
}

export interface ThresholdsIssue {
  /** Dotted path inside the thresholds, e.g. "battery.criticalBelowPct". */
  path: string;
  message: string;
}

export type MergeThresholdsResult = { ok: true; thresholds: AlertThresholds } | { ok: false; issues: ThresholdsIssue[] };

/**
 * Merges overrides (root first, leaf last) over the defaults and validates the result. Overrides are
 * parsed too (stored JSON is input like any other). Never throws; see `mergeThresholds` for the throwing form.
 */
export function mergeThresholdsSafe(overridesRootToLeaf: readonly AlertThresholdsOverride[]): MergeThresholdsResult {
  let merged: Json = DEFAULT_ALERT_THRESHOLDS as unknown as Json;
  const issues: ThresholdsIssue[] = [];
  overridesRootToLeaf.forEach((override, index) => {
    const parsed = alertThresholdsOverrideSchema.safeParse(override);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) issues.push({ path: [`overrides[${index}]`, ...issue.path.map(String)].join('.'), message: issue.message });
      return;
    }
    merged = deepMerge(merged, parsed.data);
  });
  if (issues.length > 0) return { ok: false, issues };
  const result = alertThresholdsSchema.safeParse(merged);
  if (!result.success) return { ok: false, issues: result.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) };
  return { ok: true, thresholds: sortLadders(result.data) };
}

/** Thrown by `mergeThresholds` when an override or the merged result is invalid. */
export class InvalidAlertThresholdsError extends Error {
  override readonly name = 'InvalidAlertThresholdsError';
  constructor(readonly issues: readonly ThresholdsIssue[]) {
    super(`invalid alert thresholds: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

/**
 * Effective thresholds for one terminal: defaults, then each override from the fleet root down to the
 * terminal's provider. Objects merge deeply, arrays (ladders) replace whole, ladders come back sorted
 * (plan days descending, data percent ascending). Throws InvalidAlertThresholdsError when invalid.
 */
export function mergeThresholds(overridesRootToLeaf: readonly AlertThresholdsOverride[]): AlertThresholds {
  const result = mergeThresholdsSafe(overridesRootToLeaf);
  if (!result.ok) throw new InvalidAlertThresholdsError(result.issues);
  return result.thresholds;
}
