import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { offlineOutcome, silentOutcome } from './presence.rules.js';
import { find, RuleHarness, T0, terminalOf, thresholdsWith } from './rule-fixtures.js';
import type { AlertRule, OpenAlert } from './rule.types.js';

const none = new Map<AlertRule, OpenAlert>();
const min = (m: number) => new Date(T0.getTime() + m * 60_000);

describe('offline', () => {
  const down = terminalOf({ online: false, presenceChangedAt: T0, lastReceivedAt: new Date(T0.getTime() - 30_000) });

  it('raises a warning only after the grace period, with lastSeen', () => {
    expect(offlineOutcome(down, D, min(15), none)?.active).toBe(false);
    expect(offlineOutcome(down, D, min(16), none)).toMatchObject({
      active: true,
      severity: 'warning',
      details: { lastSeen: new Date(T0.getTime() - 30_000).toISOString(), offlineMinutes: 16, graceMinutes: 15 },
    });
  });

  it('clears when the terminal is back, and honours enabled', () => {
    const h = new RuleHarness();
    h.terminal = down;
    h.scheduled(min(20));
    expect(h.transitions.get('offline')).toBe('raised');
    h.scheduled(min(25));
    expect(h.transitions.get('offline')).toBe('kept');
    h.terminal = terminalOf({ online: true, presenceChangedAt: min(26), lastReceivedAt: min(26) });
    h.scheduled(min(27));
    expect(h.transitions.get('offline')).toBe('resolved');
    const off = thresholdsWith((x) => ({ ...x, offline: { ...x.offline, enabled: false } }));
    expect(offlineOutcome(down, off, min(60), none)?.active).toBe(false);
  });

  it('decides nothing for a terminal never seen', () => {
    expect(offlineOutcome(terminalOf({ online: false, presenceChangedAt: null, lastReceivedAt: null }), D, T0, none)).toBeNull();
  });
});

describe('silent', () => {
  it('raises when connected but no heartbeat for more than factor × interval, clears on the next one', () => {
    const h = new RuleHarness();
    h.terminal = terminalOf({ online: true, presenceChangedAt: min(-60), lastReceivedAt: T0 });
    expect(find(h.scheduled(min(3)), 'silent')?.active).toBe(false); // exactly 180 s
    expect(find(h.scheduled(new Date(min(3).getTime() + 1000)), 'silent')).toMatchObject({
      active: true,
      severity: 'warning',
      details: { silentSeconds: 181 },
    });
    h.terminal = { ...h.terminal, lastReceivedAt: min(4) };
    h.scheduled(min(4.5));
    expect(h.transitions.get('silent')).toBe('resolved');
  });

  it('counts from a reconnect later than the last heartbeat, and leaves disconnected terminals to offline', () => {
    const reconnected = terminalOf({ online: true, presenceChangedAt: min(10), lastReceivedAt: T0 });
    expect(silentOutcome(reconnected, D, min(11), none)?.active).toBe(false);
    const down = terminalOf({ online: false, presenceChangedAt: T0, lastReceivedAt: T0 });
    expect(silentOutcome(down, D, min(60), none)?.active).toBe(false);
    const off = thresholdsWith((x) => ({ ...x, silent: { ...x.silent, enabled: false } }));
    expect(silentOutcome(terminalOf({ lastReceivedAt: T0 }), off, min(60), none)?.active).toBe(false);
  });
});
