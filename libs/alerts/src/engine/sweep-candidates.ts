import { SCHEDULED_RULES } from '../rules/index.js';
import type { AlertThresholds } from '../rules/rule.types.js';

/** The scheduled rules the candidate filter below knows; with any other, the sweep evaluates every terminal. */
const UNDERSTOOD = new Set<string>(['plan_expiring', 'auto_renew_off', 'offline', 'silent']);

/**
 * Which terminals a scheduled sweep must evaluate, as loose bounds the page query applies in SQL.
 * A terminal outside all of them gets only "inactive, nothing open" outcomes from the scheduled rules
 * (no alert to raise, keep or resolve, no memory), so skipping it changes nothing and the sweep's
 * cost follows the terminals with something going on, not the fleet size:
 * - disconnected (offline: the grace is checked by the rule);
 * - no heartbeat nor reconnect for at least the shortest silence window any setting allows (silent);
 * - plan ending within the longest plan_expiring / auto_renew_off window any setting allows, plus two
 *   days for the terminals' local calendar (both plan rules);
 * - an unresolved alert of a scheduled rule (to keep or resolve it, also when its rule is disabled).
 */
export interface SweepCandidates {
  /** Scheduled rules: an unresolved alert of one makes a terminal a candidate. */
  rules: readonly string[];
  /** Connected terminals last heard before this are candidates. */
  silentBefore: Date;
  /** Plans ending on or before this day ('YYYY-MM-DD') are candidates. */
  planEndsBy: string;
}

const DAY_MS = 86_400_000;

/**
 * Bounds over every effective thresholds a terminal can have: `possible` holds the code defaults and
 * each stored override merged alone over them (each component of a merged path comes from one of
 * those). null (evaluate everyone) when a scheduled rule is one this filter does not know.
 */
export function sweepCandidates(possible: readonly AlertThresholds[], now: Date): SweepCandidates | null {
  if (possible.length === 0 || SCHEDULED_RULES.some((r) => !UNDERSTOOD.has(r))) return null;
  let silentMs = Infinity;
  let planDays = 0;
  for (const t of possible) {
    silentMs = Math.min(silentMs, t.silent.factor * t.silent.expectedIntervalS * 1000);
    planDays = Math.max(planDays, t.autoRenewOff.withinDays, ...t.planExpiring.ladder.map((s) => s.days));
  }
  return {
    rules: SCHEDULED_RULES,
    silentBefore: new Date(now.getTime() - silentMs),
    planEndsBy: new Date(now.getTime() + (planDays + 2) * DAY_MS).toISOString().slice(0, 10),
  };
}
