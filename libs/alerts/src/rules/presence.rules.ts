/**
 * Presence rules, evaluated by the scheduled sweep (no heartbeat arrives from a dark terminal):
 * - offline (warning): the broker saw the terminal disconnect more than graceMinutes ago.
 * - silent (warning): connected, but no heartbeat for more than factor × expectedIntervalS
 *   (a hung application or a half-open connection). Counted from the later of the last heartbeat and
 *   the last (re)connect, so a terminal that just came back is not silent yet.
 * Both resolve as soon as the condition stops. No presence facts at all → no decision.
 */
import type { AlertRule, AlertThresholds, OpenAlert, RuleOutcome, TerminalFacts } from './rule.types.js';
import { inactive, iso, outcome } from './rule-helpers.js';

type Open = ReadonlyMap<AlertRule, OpenAlert>;

const time = (d: Date | null): number | null => (d && !Number.isNaN(d.getTime()) ? d.getTime() : null);

export function offlineOutcome(terminal: TerminalFacts, thresholds: AlertThresholds, now: Date, open: Open): RuleOutcome | null {
  const rule = 'offline';
  if (!thresholds.offline.enabled) return inactive(rule, open);
  const lastSeen = iso(terminal.lastReceivedAt);
  if (terminal.online) return inactive(rule, open, { lastSeen });
  // Disconnected since presenceChangedAt; without it, since the last heartbeat.
  const since = time(terminal.presenceChangedAt) ?? time(terminal.lastReceivedAt);
  if (since === null) return null;
  const offlineMinutes = Math.floor((now.getTime() - since) / 60_000);
  const details = {
    lastSeen: lastSeen ?? new Date(since).toISOString(),
    offlineSince: new Date(since).toISOString(),
    offlineMinutes,
    graceMinutes: thresholds.offline.graceMinutes,
    timeZone: thresholds.timeZone,
  };
  return now.getTime() - since > thresholds.offline.graceMinutes * 60_000 ? outcome(rule, true, 'warning', details) : inactive(rule, open, details);
}

export function silentOutcome(terminal: TerminalFacts, thresholds: AlertThresholds, now: Date, open: Open): RuleOutcome | null {
  const rule = 'silent';
  const { enabled, expectedIntervalS, factor } = thresholds.silent;
  if (!enabled) return inactive(rule, open);
  const lastSeen = iso(terminal.lastReceivedAt);
  if (!terminal.online) return inactive(rule, open, { lastSeen });
  const received = time(terminal.lastReceivedAt);
  const connected = time(terminal.presenceChangedAt);
  const since = received === null ? connected : connected === null ? received : Math.max(received, connected);
  if (since === null) return null;
  const silentSeconds = Math.floor((now.getTime() - since) / 1000);
  const details = { lastSeen, silentSeconds, expectedIntervalS, factor, timeZone: thresholds.timeZone };
  return now.getTime() - since > factor * expectedIntervalS * 1000 ? outcome(rule, true, 'warning', details) : inactive(rule, open, details);
}
