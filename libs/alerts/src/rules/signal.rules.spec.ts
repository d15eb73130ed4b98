import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { find, RuleHarness, sampleOf, thresholdsWith } from './rule-fixtures.js';
import { classifySignal, signalWeakOutcome } from './signal.rules.js';
import type { AlertRule, OpenAlert } from './rule.types.js';

const bad = () => sampleOf({ rsrp: -118, csq: 5, sinr: -2 });
const good = () => sampleOf({ rsrp: -95, csq: 18, sinr: 8 });

describe('classifySignal', () => {
  it('uses RSRP first, CSQ only when RSRP is missing (99 = unknown), and SINR', () => {
    expect(classifySignal(sampleOf({ rsrp: -111, csq: 20, sinr: 5 }), D)).toEqual({ verdict: 'bad', reasons: ['rsrp'] });
    expect(classifySignal(sampleOf({ rsrp: -110, csq: 3, sinr: 5 }), D)).toEqual({ verdict: 'good', reasons: [] });
    expect(classifySignal(sampleOf({ rsrp: null, csq: 9, sinr: null }), D)).toEqual({ verdict: 'bad', reasons: ['csq'] });
    expect(classifySignal(sampleOf({ rsrp: null, csq: 10, sinr: null }), D)).toEqual({ verdict: 'good', reasons: [] });
    expect(classifySignal(sampleOf({ rsrp: null, csq: 99, sinr: null }), D)).toEqual({ verdict: null, reasons: [] });
    expect(classifySignal(sampleOf({ rsrp: -90, csq: null, sinr: -0.5 }), D)).toEqual({ verdict: 'bad', reasons: ['sinr'] });
    expect(classifySignal(sampleOf({ rsrp: -120, csq: null, sinr: -3 }), D).reasons).toEqual(['rsrp', 'sinr']);
  });
});

describe('signal_weak', () => {
  it('raises only after 3 consecutive bad heartbeats; a good one in between restarts the count', () => {
    const h = new RuleHarness();
    const seq = [bad(), bad(), good(), bad(), bad()];
    for (const s of seq) h.heartbeat(s);
    expect(h.open.has('signal_weak')).toBe(false);
    expect(h.memory.get('signal_weak')).toEqual({ bad: 2, good: 0 });
    const o = find(h.heartbeat(bad()), 'signal_weak');
    expect(h.transitions.get('signal_weak')).toBe('raised');
    expect(o).toMatchObject({ active: true, severity: 'warning', details: { rsrp: -118, reason: 'rsrp,sinr', badHeartbeats: 3 } });
  });

  it('stays open (no flapping) until 3 consecutive good heartbeats', () => {
    const h = new RuleHarness();
    for (let i = 0; i < 3; i++) h.heartbeat(bad());
    const trail: string[] = [];
    for (const s of [good(), good(), bad(), good(), good(), good()]) {
      h.heartbeat(s);
      trail.push(h.transitions.get('signal_weak') ?? 'none');
    }
    expect(trail).toEqual(['kept', 'kept', 'kept', 'kept', 'kept', 'resolved']);
    expect(h.memory.has('signal_weak')).toBe(false);
  });

  it('keeps streaks unchanged on heartbeats without any usable figure', () => {
    const h = new RuleHarness();
    h.heartbeat(bad());
    h.heartbeat(bad());
    expect(find(h.heartbeat(sampleOf({ rsrp: null, csq: 99, sinr: null })), 'signal_weak')).toBeUndefined();
    h.heartbeat(bad());
    expect(h.transitions.get('signal_weak')).toBe('raised');
  });

  it('honours raiseAfter/clearAfter and enabled', () => {
    const t = thresholdsWith((x) => ({ ...x, signal: { ...x.signal, raiseAfter: 1, clearAfter: 1 } }));
    const none = new Map<AlertRule, OpenAlert>();
    expect(signalWeakOutcome(bad(), t, undefined, none)?.active).toBe(true);
    expect(signalWeakOutcome(good(), t, undefined, new Map([['signal_weak', { severity: 'warning' }]]))?.active).toBe(false);
    const off = thresholdsWith((x) => ({ ...x, signal: { ...x.signal, enabled: false } }));
    expect(signalWeakOutcome(bad(), off, { bad: 99, good: 0 }, new Map([['signal_weak', { severity: 'warning' }]]))).toMatchObject({
      active: false,
      memory: null,
    });
  });
});
