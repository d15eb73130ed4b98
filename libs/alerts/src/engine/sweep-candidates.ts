import { SCHEDULED_RULES } from '../rules/index.js';
import { localDate } from '../rules/rule-helpers.js';
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

/** Slack on the lower bounds of the windows: state stamped before the previous sweep but committed after it read the page (ingest batching, clock skew between processes). */
const SLACK_MS = 30_000;

/**
 * An incremental sweep between two full ones: the scheduled rules' outcomes are functions of the clock
 * and of state that only events change, so between the previous sweep's clock (`from`) and now (`to`)
 * a terminal's outcome can change only when:
 * - offline: now − disconnect time crossed the grace (a disconnect time in [from − max grace, to − min grace]);
 * - silent: now − max(last heartbeat, last connect) crossed the silence window (same, with that window);
 * - plan_expiring / auto_renew_off: days left are whole days of the local calendar, so they change only
 *   when a local midnight passes (in any zone a setting names: then every plan candidate is evaluated);
 *   plan facts themselves change with heartbeats, which the heartbeat evaluation runs these rules on;
 * - an open offline alert whose terminal is connected again or disconnected too recently to be offline
 *   for every grace; an open silent alert whose terminal disconnected or was heard from within the
 *   longest silence window (clears come with presence or heartbeat events the sweep does not see):
 *   a join over unresolved alerts of these two rules, not a scan of terminals.
 * Anything else (settings changed, a terminal moved to a provider with other thresholds, a clock that
 * went backwards) is caught by the full sweeps (AlertSweepService decides when they run).
 */
export interface IncrementalWindow {
  offlineSince: [Date, Date];
  silentSince: [Date, Date];
  /** A local midnight passed in a zone some setting uses: plan candidates too. */
  planDay: boolean;
  /** Open offline alert, disconnected: a candidate when disconnected at or after this. */
  offlineClearSince: Date;
  /** Open silent alert, connected: a candidate when heard from or connected at or after this. */
  silentClearSince: Date;
}

export function incrementalWindow(possible: readonly AlertThresholds[], from: Date, to: Date): IncrementalWindow {
  let minGrace = Infinity;
  let maxGrace = 0;
  let minSilent = Infinity;
  let maxSilent = 0;
  let planDay = false;
  for (const t of possible) {
    const grace = t.offline.graceMinutes * 60_000;
    const silent = t.silent.factor * t.silent.expectedIntervalS * 1000;
    minGrace = Math.min(minGrace, grace);
    maxGrace = Math.max(maxGrace, grace);
    minSilent = Math.min(minSilent, silent);
    maxSilent = Math.max(maxSilent, silent);
    try {
      if (localDate(from, t.timeZone) !== localDate(to, t.timeZone)) planDay = true;
    } catch {
      planDay = true;
    }
  }
  const at = (ms: number) => new Date(ms);
  return {
    offlineSince: [at(from.getTime() - maxGrace - SLACK_MS), at(to.getTime() - minGrace)],
    silentSince: [at(from.getTime() - maxSilent - SLACK_MS), at(to.getTime() - minSilent)],
    planDay,
    offlineClearSince: at(to.getTime() - maxGrace - SLACK_MS),
    silentClearSince: at(to.getTime() - maxSilent - SLACK_MS),
  };
}
