/**
 * Version rules against the model's policy (firmware and payment app):
 * - *_outdated (critical): below policy.minSupported, or a version listed in policy.blocked.
 * - *_not_latest (info): below policy.latest for more than notLatestAfterDays since latestSince.
 *   Not raised while *_outdated holds (that alert already says "update").
 * Versions compare with compareVersions (#contracts); incomparable strings (different vendor prefix,
 * unparsable) never alert. No policy for the component → no decision.
 */
import { compareVersions } from '#contracts';
import type { AlertRule, AlertThresholds, OpenAlert, RuleOutcome, VersionPolicy } from './rule.types.js';
import { DAY_MS, inactive, iso, outcome } from './rule-helpers.js';

type Component = VersionPolicy['component'];

const RULES: Record<Component, { outdated: AlertRule; notLatest: AlertRule }> = {
  firmware: { outdated: 'firmware_outdated', notLatest: 'firmware_not_latest' },
  app: { outdated: 'app_outdated', notLatest: 'app_not_latest' },
};

/** The policy for this component, preferring an exact model match. */
export function findPolicy(policies: readonly VersionPolicy[], component: Component, models: readonly string[]): VersionPolicy | null {
  for (const model of models) {
    const policy = policies.find((p) => p.component === component && p.model === model);
    if (policy) return policy;
  }
  return null;
}

function isBlocked(version: string, blocked: readonly string[]): boolean {
  const v = version.trim();
  return blocked.some((b) => b.trim() === v || compareVersions(b, v) === 0);
}

export function versionOutcomes(
  component: Component,
  version: string,
  policy: VersionPolicy | null,
  thresholds: AlertThresholds,
  now: Date,
  open: ReadonlyMap<AlertRule, OpenAlert>,
): RuleOutcome[] {
  const { outdated, notLatest } = RULES[component];
  const settings = component === 'firmware' ? thresholds.firmware : thresholds.app;
  if (!settings.enabled) return [inactive(outdated, open), inactive(notLatest, open)];
  if (!policy) return [];

  const base = { component, version, minSupported: policy.minSupported, latest: policy.latest };
  const blocked = isBlocked(version, policy.blocked);
  const belowMin = policy.minSupported !== null ? compareVersions(version, policy.minSupported) : null;
  const outdatedActive = blocked || (belowMin !== null && belowMin < 0);
  const outdatedOutcome = outdatedActive
    ? outcome(outdated, true, 'critical', { ...base, blocked })
    : inactive(outdated, open, { ...base, blocked: false, comparable: policy.minSupported === null || belowMin !== null });

  const belowLatest = policy.latest !== null ? compareVersions(version, policy.latest) : null;
  const sinceMs = policy.latestSince ? now.getTime() - policy.latestSince.getTime() : null;
  const notLatestActive = !outdatedActive && belowLatest !== null && belowLatest < 0 && sinceMs !== null && sinceMs > settings.notLatestAfterDays * DAY_MS;
  const latestDetails = { ...base, latestSince: iso(policy.latestSince), notLatestAfterDays: settings.notLatestAfterDays };
  const notLatestOutcome = notLatestActive ? outcome(notLatest, true, 'info', latestDetails) : inactive(notLatest, open, latestDetails);
  return [outdatedOutcome, notLatestOutcome];
}
