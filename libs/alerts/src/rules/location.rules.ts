/**
 * relocated (warning): the reported position is more than distanceKm (haversine) from the registered
 * one; acquirers' risk control declines transactions far from the registered place. Needs both
 * positions, otherwise no decision. Hysteresis: an open alert clears only once the terminal is back
 * within RELOCATED_CLEAR_RATIO × distanceKm, so cell-based fixes jittering around the limit do not flap.
 */
import type { AlertRule, AlertThresholds, HeartbeatSample, OpenAlert, RuleOutcome, TerminalFacts } from './rule.types.js';
import { haversineKm, inactive, outcome, round1 } from './rule-helpers.js';

export const RELOCATED_CLEAR_RATIO = 0.9;

const isCoordinate = (v: number | null, limit: number): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= limit;

export function relocatedOutcome(
  sample: HeartbeatSample,
  terminal: TerminalFacts,
  thresholds: AlertThresholds,
  open: ReadonlyMap<AlertRule, OpenAlert>,
): RuleOutcome | null {
  const rule = 'relocated';
  const { enabled, distanceKm: limitKm } = thresholds.relocated;
  if (!enabled) return inactive(rule, open);
  const { lat, lon } = sample;
  const { registeredLat, registeredLon } = terminal;
  if (!isCoordinate(lat, 90) || !isCoordinate(lon, 180) || !isCoordinate(registeredLat, 90) || !isCoordinate(registeredLon, 180)) return null;
  const distanceKm = haversineKm(registeredLat, registeredLon, lat, lon);
  const details = { distanceKm: round1(distanceKm), limitKm, lat, lon, registeredLat, registeredLon };
  const active = open.has(rule) ? distanceKm > limitKm * RELOCATED_CLEAR_RATIO : distanceKm > limitKm;
  return active ? outcome(rule, true, 'warning', details) : inactive(rule, open, details);
}
