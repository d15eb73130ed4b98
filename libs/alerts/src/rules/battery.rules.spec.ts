import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { batteryLowOutcome } from './battery.rules.js';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { RuleHarness, sampleOf, thresholdsWith } from './rule-fixtures.js';
import type { AlertRule, OpenAlert, Severity } from './rule.types.js';

const none = new Map<AlertRule, OpenAlert>();
const openAs = (severity: Severity) => new Map<AlertRule, OpenAlert>([['battery_low', { severity }]]);
const battery = (pct: number, open = none, charging = false) => batteryLowOutcome(sampleOf({ batteryPct: pct, charging }), D, open);

describe('battery_low', () => {
  it('raises warning below 20 % and critical below 10 %, only while not charging', () => {
    expect(battery(20).active).toBe(false);
    expect(battery(19.9)).toMatchObject({ active: true, severity: 'warning', details: { batteryPct: 19.9, clearAtPct: 25 } });
    expect(battery(10)).toMatchObject({ active: true, severity: 'warning' });
    expect(battery(9)).toMatchObject({ active: true, severity: 'critical' });
    expect(battery(5, none, true).active).toBe(false);
  });

  it('keeps an open alert until the charge reaches threshold + margin (dedupes via open)', () => {
    expect(battery(22, openAs('warning'))).toMatchObject({ active: true, severity: 'warning' });
    expect(battery(24.9, openAs('warning'))).toMatchObject({ active: true, severity: 'warning' });
    expect(battery(25, openAs('warning'))).toMatchObject({ active: false, severity: 'warning' });
    expect(battery(12, openAs('critical'))).toMatchObject({ active: true, severity: 'critical' });
    expect(battery(15, openAs('critical'))).toMatchObject({ active: true, severity: 'warning' });
    expect(battery(26, openAs('critical'))).toMatchObject({ active: false });
  });

  it('clears as soon as the terminal is charging, and when disabled', () => {
    expect(battery(5, openAs('critical'), true)).toMatchObject({ active: false, severity: 'critical' });
    const off = thresholdsWith((t) => ({ ...t, battery: { ...t.battery, enabled: false } }));
    expect(batteryLowOutcome(sampleOf({ batteryPct: 3 }), off, openAs('critical')).active).toBe(false);
  });

  it('raises once and stays open through a slow drain (one alert, one escalation)', () => {
    const h = new RuleHarness();
    const seen: string[] = [];
    for (let pct = 30; pct >= 2; pct--) {
      h.heartbeat(sampleOf({ batteryPct: pct }));
      const t = h.transitions.get('battery_low');
      if (t !== 'none' && t !== 'kept') seen.push(`${t}@${pct}`);
    }
    expect(seen).toEqual(['raised@19', 'escalated@9']);
  });

  it('never flaps: random walks around the thresholds only raise below and clear at threshold + margin (fixed seed)', () => {
    const { warningBelowPct: W, criticalBelowPct: C, clearMarginPct: M } = D.battery;
    const walk = fc.record({
      start: fc.integer({ min: 0, max: 40 }),
      steps: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 20, maxLength: 300 }),
    });
    fc.assert(
      fc.property(walk, ({ start, steps }) => {
        const h = new RuleHarness();
        const events: { t: string; pct: number }[] = [];
        let pct = start;
        for (const step of steps) {
          pct = Math.max(0, Math.min(100, pct + step));
          h.heartbeat(sampleOf({ batteryPct: pct }));
          const t = h.transitions.get('battery_low') ?? 'none';
          if (t !== 'none' && t !== 'kept') events.push({ t, pct });
        }
        for (const e of events) {
          if (e.t === 'raised' && !(e.pct < W)) return false;
          if (e.t === 'resolved' && !(e.pct >= W + M)) return false;
          if (e.t === 'escalated' && !(e.pct < C)) return false;
          if (e.t === 'deescalated' && !(e.pct >= C + M)) return false;
        }
        // raise → clear → raise: the level moved by more than the margin each way.
        for (let i = 0; i + 2 < events.length; i++) {
          const [a, b, c] = events.slice(i, i + 3);
          if (a.t === 'raised' && b.t === 'resolved' && c.t === 'raised' && (b.pct - a.pct <= M || b.pct - c.pct <= M)) return false;
        }
        return true;
      }),
      { seed: 8, numRuns: 300 },
    );
  });
});
