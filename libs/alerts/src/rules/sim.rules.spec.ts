import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { find, RuleHarness, sampleOf, T0, thresholdsWith } from './rule-fixtures.js';
import { SIM_CHANGE_HOLD_DAYS, simChangedOutcome } from './sim.rules.js';
import type { AlertRule, OpenAlert } from './rule.types.js';

const A = '89860012345678901234';
const B = '89860099999999999999';
const DAY = 86_400_000;
const later = (days: number) => new Date(T0.getTime() + days * DAY);
const none = new Map<AlertRule, OpenAlert>();

describe('sim_changed', () => {
  it('only remembers the first ICCID seen', () => {
    const o = simChangedOutcome(sampleOf({ iccid: A }), null, D, T0, undefined, none);
    expect(o).toMatchObject({ active: false, memory: { iccid: A } });
  });

  it('raises a warning with both ICCIDs when the SIM changes, and holds it for the hold period', () => {
    const h = new RuleHarness();
    h.heartbeat(sampleOf({ iccid: A }));
    const o = find(h.heartbeat(sampleOf({ iccid: B, receivedAt: later(1) })), 'sim_changed');
    expect(o).toMatchObject({ active: true, severity: 'warning', details: { iccid: B, previousIccid: A, changedAt: later(1).toISOString() } });
    h.heartbeat(sampleOf({ iccid: B, receivedAt: later(1 + SIM_CHANGE_HOLD_DAYS - 0.01) }));
    expect(h.transitions.get('sim_changed')).toBe('kept');
    h.heartbeat(sampleOf({ iccid: B, receivedAt: later(1 + SIM_CHANGE_HOLD_DAYS) }));
    expect(h.transitions.get('sim_changed')).toBe('resolved');
    expect(h.memory.get('sim_changed')).toEqual({ iccid: B });
  });

  it('does not raise again after a manual resolve for the same change', () => {
    const h = new RuleHarness();
    h.heartbeat(sampleOf({ iccid: A }));
    h.heartbeat(sampleOf({ iccid: B }));
    h.open.delete('sim_changed'); // resolved by an operator
    expect(find(h.heartbeat(sampleOf({ iccid: B, receivedAt: later(1) })), 'sim_changed')?.active).toBe(false);
    // Swapping back is a new change.
    expect(find(h.heartbeat(sampleOf({ iccid: A, receivedAt: later(2) })), 'sim_changed')).toMatchObject({ active: true, details: { previousIccid: B } });
  });

  it('falls back to the previous heartbeat when nothing is remembered, and honours enabled', () => {
    expect(simChangedOutcome(sampleOf({ iccid: B }), sampleOf({ iccid: A }), D, T0, undefined, none)?.active).toBe(true);
    const off = thresholdsWith((x) => ({ ...x, simChanged: { enabled: false } }));
    expect(simChangedOutcome(sampleOf({ iccid: B }), null, off, T0, { iccid: A }, new Map([['sim_changed', { severity: 'warning' }]]))).toMatchObject({
      active: false,
      memory: null,
    });
  });
});
