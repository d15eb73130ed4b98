import { describe, expect, it } from '@jest/globals';
import type { RuleOutcome } from '../rules/rule.types.js';
import { AlertLedger, MemoryLedger, type AlertSubject } from './alert-ledger.js';

const subject: AlertSubject = { sn: 'SN0001', providerId: 'p-1', tid: 'TID00001', mid: 'MID1', model: 'EP-T1' };
const t = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s));

/** A stub rule verdict. */
const battery = (active: boolean, severity: RuleOutcome['severity'] = 'warning', memory: RuleOutcome['memory'] = null): RuleOutcome => ({
  rule: 'battery_low',
  active,
  severity,
  details: { batteryPct: active ? 8 : 60 },
  memory,
});

describe('AlertLedger', () => {
  it('raises an alert once, then keeps it open counting occurrences, with the terminal named in details', () => {
    const ledger = new AlertLedger([]);
    ledger.apply(subject, battery(true), t(1));
    ledger.apply(subject, battery(true), t(2));
    ledger.apply(subject, battery(true), t(3));
    const { existing, raised } = ledger.changes();
    expect(existing).toHaveLength(0);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ state: 'open', severity: 'warning', occurrences: 3, firstSeenAt: t(1), lastSeenAt: t(3) });
    expect(raised[0].events.map((e) => e.kind)).toStrictEqual(['raised']);
    expect(raised[0].details).toStrictEqual({ batteryPct: 8, sn: 'SN0001', tid: 'TID00001', mid: 'MID1', model: 'EP-T1' });
    expect(ledger.openFor('SN0001').get('battery_low')).toStrictEqual({ severity: 'warning' });
  });

  it('records a severity change of an unresolved alert as escalated, in both directions', () => {
    const ledger = new AlertLedger([{ id: '7', sn: 'SN0001', providerId: 'p-1', rule: 'battery_low', severity: 'warning', state: 'open' }]);
    ledger.apply(subject, battery(true, 'critical'), t(1));
    ledger.apply(subject, battery(true, 'critical'), t(2));
    ledger.apply(subject, battery(true, 'warning'), t(3));
    const { existing, raised } = ledger.changes();
    expect(raised).toHaveLength(0);
    expect(existing).toHaveLength(1);
    expect(existing[0]).toMatchObject({ id: '7', loadedSeverity: 'warning', severity: 'warning', occurrences: 3, state: 'open' });
    expect(existing[0].events.map((e) => [e.kind, e.severity])).toStrictEqual([
      ['escalated', 'critical'],
      ['escalated', 'warning'],
    ]);
  });

  it('keeps an acknowledged alert acknowledged while the condition holds, and resolves it when it clears', () => {
    const ledger = new AlertLedger([{ id: '9', sn: 'SN0001', providerId: 'p-1', rule: 'battery_low', severity: 'critical', state: 'acknowledged' }]);
    ledger.apply(subject, battery(true, 'critical'), t(1));
    expect(ledger.changes().existing[0]).toMatchObject({ state: 'acknowledged', occurrences: 1, events: [] });
    ledger.apply(subject, battery(false), t(2));
    const [segment] = ledger.changes().existing;
    expect(segment).toMatchObject({ state: 'resolved', resolvedAt: t(2), severity: 'critical' });
    expect(segment.events.map((e) => [e.kind, e.severity])).toStrictEqual([['resolved', 'critical']]);
    expect(ledger.openFor('SN0001').size).toBe(0);
  });

  it('does nothing when the condition is clear and nothing is open', () => {
    const ledger = new AlertLedger([]);
    ledger.apply(subject, battery(false), t(1));
    expect(ledger.changes()).toStrictEqual({ existing: [], raised: [] });
  });

  it('raises a new alert after one resolved in the same batch (two segments, in order)', () => {
    const ledger = new AlertLedger([{ id: '3', sn: 'SN0001', providerId: 'p-1', rule: 'battery_low', severity: 'warning', state: 'open' }]);
    ledger.apply(subject, battery(false), t(1));
    ledger.apply(subject, battery(true, 'critical'), t(2));
    ledger.apply(subject, battery(false), t(3));
    ledger.apply(subject, battery(true), t(4));
    const { existing, raised } = ledger.changes();
    expect(existing.map((s) => [s.id, s.state])).toStrictEqual([['3', 'resolved']]);
    expect(raised.map((s) => [s.state, s.severity, s.events.map((e) => e.kind)])).toStrictEqual([
      ['resolved', 'critical', ['raised', 'resolved']],
      ['open', 'warning', ['raised']],
    ]);
    expect(ledger.openFor('SN0001').get('battery_low')).toStrictEqual({ severity: 'warning' });
  });

  it('keeps terminals and rules apart', () => {
    const other: AlertSubject = { ...subject, sn: 'SN0002' };
    const ledger = new AlertLedger([]);
    ledger.apply(subject, battery(true), t(1));
    ledger.apply(other, { ...battery(true), rule: 'signal_weak' }, t(1));
    ledger.apply(other, battery(false), t(1));
    expect(ledger.openFor('SN0001').size).toBe(1);
    expect([...ledger.openFor('SN0002').keys()]).toStrictEqual(['signal_weak']);
  });
});

describe('MemoryLedger', () => {
  it('threads memory through evaluations and writes only what changed; null forgets', () => {
    const ledger = new MemoryLedger([{ sn: 'SN0001', rule: 'signal_weak', memory: { streak: 2 } }]);
    expect(ledger.memoryFor('SN0001').get('signal_weak')).toStrictEqual({ streak: 2 });
    ledger.apply('SN0001', { ...battery(true), rule: 'signal_weak', memory: { streak: 2 } });
    expect(ledger.changes()).toStrictEqual([]);
    ledger.apply('SN0001', { ...battery(true), rule: 'signal_weak', memory: { streak: 3 } });
    expect(ledger.memoryFor('SN0001').get('signal_weak')).toStrictEqual({ streak: 3 });
    ledger.apply('SN0001', battery(true, 'warning', null));
    expect(ledger.changes()).toStrictEqual([{ sn: 'SN0001', rule: 'signal_weak', memory: { streak: 3 } }]);
    ledger.apply('SN0001', { ...battery(false), rule: 'signal_weak', memory: null });
    expect(ledger.changes()).toStrictEqual([{ sn: 'SN0001', rule: 'signal_weak', memory: null }]);
    expect(ledger.memoryFor('SN0001').has('signal_weak')).toBe(false);
  });
});
