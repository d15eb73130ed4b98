import { describe, expect, it } from '@jest/globals';
import { TX_RESPONSE_CODE_PATTERN, type Heartbeat } from '#contracts';
import { generateFleet } from './fleet-generator.js';
import { Prng } from './prng.js';
import { initialTerminalState, localMinuteOfDay, nextHeartbeat } from './terminal-model.js';
import {
  afterReport,
  EMPTY_TX,
  networkFailureProbability,
  poisson,
  stepTransactions,
  tradingWeight,
  txSection,
  type TxConditions,
  type TxState,
} from './tx-model.js';

const GOOD: TxConditions = {
  expectedAttempts: 0,
  minAttempts: 0,
  networkFailure: networkFailureProbability(-85, 15, false),
  dataPlanUp: true,
  localMinute: 12 * 60,
  tidUnregistered: false,
  reversalFailShare: 0.05,
  timeoutShare: 0.35,
  riskShare: 0,
};

/** `steps` steps of `attempts` expected attempts each under conditions `c`. */
function accumulate(c: Partial<TxConditions>, attempts: number, steps = 100, seed = 1): TxState {
  const rng = new Prng(seed);
  let tx = EMPTY_TX;
  for (let i = 0; i < steps; i++) tx = stepTransactions(tx, { ...GOOD, ...c, expectedAttempts: attempts }, rng);
  return tx;
}

const codeSum = (tx: TxState): number => Object.values(tx.declinesByCode).reduce((a, b) => a + b, 0);

describe('transaction model', () => {
  it('on a good cell almost every attempt is approved; declines carry card codes, counts add up', () => {
    const tx = accumulate({}, 10);
    const total = tx.approved + tx.declined;
    expect(total).toBeGreaterThan(900);
    expect(total).toBeLessThan(1100);
    expect(tx.approved / total).toBeGreaterThan(0.93);
    expect(codeSum(tx)).toBeLessThanOrEqual(tx.declined);
    for (const code of Object.keys(tx.declinesByCode)) expect(code).toMatch(TX_RESPONSE_CODE_PATTERN);
    expect(tx.declinesByCode['51']).toBeGreaterThan(0);
    expect(tx.declinesByCode['90']).toBeUndefined();
  });

  it('a weak signal turns many attempts into 92/96 declines and timeouts with reversals', () => {
    const good = accumulate({}, 10);
    const weak = accumulate({ networkFailure: networkFailureProbability(-121, -5, false) }, 10);
    const connectivity = (tx: TxState): number => (tx.declinesByCode['92'] ?? 0) + (tx.declinesByCode['96'] ?? 0);
    expect(connectivity(weak)).toBeGreaterThan(200);
    expect(connectivity(good)).toBeLessThan(20);
    expect(weak.reversalsSucceeded + weak.reversalsFailed + weak.reversalsPending).toBeGreaterThan(100);
    expect(good.reversalsSucceeded + good.reversalsFailed + good.reversalsPending).toBeLessThan(20);
    expect(weak.approved / (weak.approved + weak.declined)).toBeLessThan(0.6);
  });

  it('network failure probability rises as RSRP and SINR fall, and on a 2G/3G fallback', () => {
    expect(networkFailureProbability(-80, 20, false)).toBeLessThan(0.01);
    expect(networkFailureProbability(-100, 8, false)).toBeLessThan(0.03);
    expect(networkFailureProbability(-115, 2, false)).toBeGreaterThan(0.2);
    expect(networkFailureProbability(-121, -5, false)).toBeGreaterThan(0.4);
    expect(networkFailureProbability(-100, 8, true)).toBeGreaterThan(networkFailureProbability(-100, 8, false));
    expect(networkFailureProbability(-150, -20, true)).toBeLessThanOrEqual(0.8);
  });

  it('without a working data plan nothing reaches the host: declines without a code, no reversals settle', () => {
    const pending = { ...EMPTY_TX, reversalsPending: 2 };
    const tx = stepTransactions(pending, { ...GOOD, dataPlanUp: false, expectedAttempts: 20 }, new Prng(3));
    expect(tx.approved).toBe(0);
    expect(tx.declined).toBeGreaterThan(5);
    expect(tx.declinesByCode).toStrictEqual({});
    expect(tx.reversalsPending).toBe(2);
  });

  it('an unregistered TID gets 97 for every attempt that reaches the host', () => {
    const tx = accumulate({ tidUnregistered: true }, 3, 20);
    expect(tx.approved).toBe(0);
    expect(tx.declinesByCode['97']).toBeGreaterThan(40);
  });

  it('answers 90 (date switch) only around midnight', () => {
    expect(accumulate({ localMinute: 23 * 60 + 58 }, 10, 20).declinesByCode['90']).toBeGreaterThan(50);
    expect(accumulate({ localMinute: 23 * 60 + 30 }, 10, 20).declinesByCode['90']).toBeUndefined();
  });

  it('forces a minimum number of attempts when asked', () => {
    const tx = stepTransactions(EMPTY_TX, { ...GOOD, minAttempts: 3 }, new Prng(9));
    expect(tx.approved + tx.declined).toBe(3);
  });

  it('reports the counters and restarts the interval after a report, keeping pending reversals', () => {
    const tx: TxState = {
      approved: 3,
      declined: 3,
      declinesByCode: { '92': 1, '05': 1, '51': 1 },
      reversalsPending: 2,
      reversalsSucceeded: 1,
      reversalsFailed: 1,
    };
    expect(txSection(tx)).toStrictEqual({
      approved: 3,
      declined: 3,
      declinesByCode: { '05': 1, '51': 1, '92': 1 },
      reversals: { pending: 2, succeeded: 1, failed: 1 },
    });
    expect(afterReport(tx)).toStrictEqual({ ...EMPTY_TX, reversalsPending: 2 });
  });

  it('trading peaks at lunch and dinner', () => {
    expect(tradingWeight(12 * 60)).toBeGreaterThan(tradingWeight(15 * 60) * 1.5);
    expect(tradingWeight(18 * 60 + 30)).toBeGreaterThan(tradingWeight(15 * 60) * 1.5);
  });

  it('poisson draws have the requested mean', () => {
    const rng = new Prng(11);
    for (const mean of [0.3, 4, 80]) {
      let sum = 0;
      for (let i = 0; i < 4000; i++) sum += poisson(mean, rng);
      expect(Math.abs(sum / 4000 - mean)).toBeLessThan(mean * 0.08 + 0.02);
    }
    expect(poisson(0, rng)).toBe(0);
  });
});

describe('transactions in simulated heartbeats', () => {
  it('after a reboot the counts start from boot; outstanding reversals survive it', () => {
    const [profile] = generateFleet(1, { seed: 'tx-boot', snPrefix: 'SIM' });
    const t0 = Date.parse('2025-03-03T04:00:00Z'); // 12:00 local
    const running = initialTerminalState(profile, t0);
    const rebooting = {
      ...running,
      power: 'off' as const,
      offReason: 'reboot' as const,
      powerOnAtMs: t0 + 30_000,
      tx: { ...running.tx, approved: 5000, reversalsPending: 50 },
    };
    const { heartbeat } = nextHeartbeat(profile, rebooting, t0 + 60_000, { includeLocation: false });
    expect(heartbeat?.seq).toBe(0);
    expect(heartbeat?.tx?.approved).toBeLessThan(100);
    const r = heartbeat?.tx?.reversals;
    expect((r?.pending ?? 0) + (r?.succeeded ?? 0) + (r?.failed ?? 0)).toBeGreaterThanOrEqual(50);
  });

  it('follow the merchant trading hours in China Standard Time: none while closed, most around the peaks', () => {
    const fleet = generateFleet(40, { seed: 'tx-hours', snPrefix: 'SIM' });
    const start = Date.parse('2025-03-02T16:00:00Z'); // 2025-03-03 00:00 +08:00
    let closedAttempts = 0;
    let openAttempts = 0;
    const violations: string[] = [];
    for (const profile of fleet) {
      let state = initialTerminalState(profile, start);
      for (let t = start + 60_000; t <= start + 86_400_000; t += 60_000) {
        const wasOpen = state.merchant.wasOpen;
        const r = nextHeartbeat(profile, state, t, { includeLocation: false });
        state = r.state;
        const hb: Heartbeat | null = r.heartbeat;
        if (!hb) continue;
        if (!hb.tx) {
          violations.push(`${profile.sn}: heartbeat without tx`);
          continue;
        }
        const attempts = hb.tx.approved + hb.tx.declined;
        const minute = localMinuteOfDay(t, profile.utcOffsetMin);
        const open = minute >= profile.merchant.opensAtMin && minute < profile.merchant.closesAtMin;
        if (open && wasOpen) openAttempts += attempts;
        else if (!open && !wasOpen) closedAttempts += attempts;
      }
    }
    expect(violations.slice(0, 5)).toStrictEqual([]);
    expect(closedAttempts).toBe(0);
    // 40 merchants, ~11 h open, ~10 transactions an hour on average
    expect(openAttempts).toBeGreaterThan(40 * 11 * 3);
    expect(openAttempts).toBeLessThan(40 * 11 * 40);
  });
});
