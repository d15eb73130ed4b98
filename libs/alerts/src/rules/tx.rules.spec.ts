import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { find, RuleHarness, sampleOf, T0, thresholdsWith, txOf } from './rule-fixtures.js';
import type { TxCounts } from './rule.types.js';
import { REVERSAL_FAILED_HOLD_DAYS, txOutcomes } from './tx.rules.js';

const DAY = 86_400_000;
const hb = (tx: Partial<TxCounts> | null, minutes = 0) =>
  sampleOf({ tx: tx === null ? null : txOf(tx), receivedAt: new Date(T0.getTime() + minutes * 60_000) });

describe('tx rules', () => {
  it('decide nothing without a tx section, and resolve when disabled', () => {
    expect(txOutcomes(hb(null), D, T0, new Map(), new Map())).toEqual([]);
    const off = thresholdsWith((x) => ({ ...x, tx: { ...x.tx, enabled: false } }));
    expect(txOutcomes(hb(null), off, T0, new Map(), new Map([['tx_reversal', { severity: 'critical' }]])).map((o) => [o.rule, o.active, o.severity])).toEqual([
      ['tx_connectivity', false, 'info'],
      ['tx_tid_unregistered', false, 'info'],
      ['tx_reversal', false, 'critical'],
    ]);
  });
});

describe('tx_connectivity', () => {
  it('raises when 92/96 declines within the window reach the threshold, and clears when they roll out', () => {
    const h = new RuleHarness();
    h.heartbeat(hb({ declinesByCode: { '92': 1 } }));
    h.heartbeat(hb({ declinesByCode: { '51': 4 } })); // insufficient funds: not connectivity
    expect(h.open.has('tx_connectivity')).toBe(false);
    const o = find(h.heartbeat(hb({ declinesByCode: { '96': 2 } })), 'tx_connectivity');
    expect(h.transitions.get('tx_connectivity')).toBe('raised');
    expect(o).toMatchObject({ severity: 'warning', details: { connectivityDeclines: 3, windowHeartbeats: 10 } });
    // Seven quiet heartbeats: the 92 is still inside the last 10.
    for (let i = 0; i < 7; i++) h.heartbeat(hb({}));
    expect(h.open.has('tx_connectivity')).toBe(true);
    h.heartbeat(hb({})); // the 92 leaves the window: 2 left
    expect(h.transitions.get('tx_connectivity')).toBe('resolved');
  });

  it('counts reversals (succeeded or failed) against reversalsRepeated', () => {
    const h = new RuleHarness();
    h.heartbeat(hb({ reversalsSucceeded: 1 }));
    h.heartbeat(hb({ reversalsSucceeded: 1 }));
    expect(h.open.has('tx_connectivity')).toBe(false);
    expect(find(h.heartbeat(hb({ reversalsFailed: 1 })), 'tx_connectivity')).toMatchObject({ active: true, details: { reversals: 3 } });
  });

  it('keeps a compact window in memory, bounded by windowHeartbeats, forgotten when empty', () => {
    const h = new RuleHarness();
    for (let i = 0; i < 25; i++) h.heartbeat(hb({ declinesByCode: { '92': 1 } }));
    const mem = h.memory.get('tx_connectivity');
    expect(String(mem?.d).split(',')).toHaveLength(10);
    expect(JSON.stringify(mem).length).toBeLessThan(100);
    for (let i = 0; i < 10; i++) h.heartbeat(hb({}));
    expect(h.memory.has('tx_connectivity')).toBe(false);
  });

  it('shrinks an old window when windowHeartbeats is lowered', () => {
    const t = thresholdsWith((x) => ({ ...x, tx: { ...x.tx, windowHeartbeats: 1, connectivityDeclines: 2 } }));
    const memory = new Map([['tx_connectivity' as const, { d: '5,5,5', r: '0,0,0' }]]);
    expect(txOutcomes(hb({ declinesByCode: { '92': 1 } }), t, T0, memory, new Map())[0]).toMatchObject({ active: false, memory: { d: '1', r: '0' } });
  });
});

describe('tx_tid_unregistered', () => {
  it('raises critical on any 97 and clears after windowHeartbeats heartbeats without one', () => {
    const h = new RuleHarness();
    expect(find(h.heartbeat(hb({ declinesByCode: { '97': 1 } })), 'tx_tid_unregistered')).toMatchObject({
      active: true,
      severity: 'critical',
      details: { declines97: 1 },
    });
    for (let i = 0; i < 9; i++) h.heartbeat(hb({}));
    expect(h.open.get('tx_tid_unregistered')?.severity).toBe('critical');
    h.heartbeat(hb({ declinesByCode: { '97': 2 } })); // another one restarts the count
    for (let i = 0; i < 9; i++) h.heartbeat(hb({}));
    expect(h.open.has('tx_tid_unregistered')).toBe(true);
    h.heartbeat(hb({}));
    expect(h.transitions.get('tx_tid_unregistered')).toBe('resolved');
    expect(h.memory.has('tx_tid_unregistered')).toBe(false);
  });
});

describe('tx_reversal', () => {
  it('raises critical on a failed reversal and holds it while open, up to the hold period', () => {
    const h = new RuleHarness();
    expect(find(h.heartbeat(hb({ reversalsFailed: 1 })), 'tx_reversal')).toMatchObject({ active: true, severity: 'critical', details: { reversalsFailed: 1 } });
    h.heartbeat(hb({ reversalsFailed: 2 }, 1));
    expect(find(h.heartbeat(hb({}, 2)), 'tx_reversal')).toMatchObject({ active: true, severity: 'critical', details: { reversalsFailed: 3 } });
    const end = (REVERSAL_FAILED_HOLD_DAYS * DAY) / 60_000;
    h.heartbeat(hb({}, end));
    expect(h.open.has('tx_reversal')).toBe(true);
    h.heartbeat(hb({}, end + 2));
    expect(h.transitions.get('tx_reversal')).toBe('resolved');
  });

  it('does not re-raise an old failure after a manual resolve', () => {
    const h = new RuleHarness();
    h.heartbeat(hb({ reversalsFailed: 1 }));
    h.open.delete('tx_reversal');
    expect(find(h.heartbeat(hb({}, 1)), 'tx_reversal')?.active).toBe(false);
  });

  it('warns when a reversal stays pending for reversalPendingHeartbeats consecutive heartbeats', () => {
    const h = new RuleHarness();
    h.heartbeat(hb({ reversalsPending: 1 }));
    h.heartbeat(hb({ reversalsPending: 1 }));
    expect(h.open.has('tx_reversal')).toBe(false);
    expect(find(h.heartbeat(hb({ reversalsPending: 1 })), 'tx_reversal')).toMatchObject({
      active: true,
      severity: 'warning',
      details: { pendingHeartbeats: 3 },
    });
    h.heartbeat(hb({ reversalsPending: 0, reversalsSucceeded: 1 }));
    expect(h.transitions.get('tx_reversal')).toBe('resolved');
  });
});
