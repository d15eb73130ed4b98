/**
 * Pure transaction model behind heartbeat `tx`: card payments attempted while the shop trades (its local
 * opening hours, busier at lunch and dinner), each approved, declined by the host with a response code,
 * or lost to the network. A sale without a reply leaves a reversal pending until the host acknowledges
 * it. Weak signal and a dead data plan make network failures (92, 96, timeouts) far more likely.
 */
import { TX_MAX_COUNT, type HeartbeatTx } from '#contracts';
import type { Prng, WeightedValue } from './prng.js';

/** Counts since the last heartbeat, plus the reversals outstanding now. */
export interface TxState {
  readonly approved: number;
  readonly declined: number;
  readonly declinesByCode: Readonly<Record<string, number>>;
  readonly reversalsPending: number;
  readonly reversalsSucceeded: number;
  readonly reversalsFailed: number;
}

export const EMPTY_TX: TxState = {
  approved: 0,
  declined: 0,
  declinesByCode: {},
  reversalsPending: 0,
  reversalsSucceeded: 0,
  reversalsFailed: 0,
};

/** What the terminal's situation is during one step. */
export interface TxConditions {
  /** Expected attempts in this step (already scaled by opening hours and time of day). */
  readonly expectedAttempts: number;
  /** Attempts that happen whatever the hour (sign-in retries, a scenario that needs traffic). */
  readonly minAttempts: number;
  /** Probability that one exchange with the host fails on the network. */
  readonly networkFailure: number;
  /** The data plan lets traffic through (active or grace). */
  readonly dataPlanUp: boolean;
  /** Minute of the local day (the 90 date switch runs around midnight). */
  readonly localMinute: number;
  /** The acquirer does not know this TID: every attempt is declined with 97. */
  readonly tidUnregistered: boolean;
  /** Share of reversal retries that end `failed` (normally small). */
  readonly reversalFailShare: number;
  /** Share of network failures that are timeouts (reversal) rather than a 92/96 reply. */
  readonly timeoutShare: number;
  /** Extra risk-control share (93), e.g. a terminal far from its registered location. */
  readonly riskShare: number;
}

/** Host declines for card problems (about a quarter of field failures), by response code. */
const CARD_DECLINES: ReadonlyArray<WeightedValue<string>> = [
  { value: '51', weight: 40 }, // insufficient funds
  { value: '05', weight: 20 }, // do not honour (frozen card)
  { value: '54', weight: 15 }, // expired card
  { value: '61', weight: 15 }, // exceeds amount limit (class-II account)
  { value: '14', weight: 10 }, // invalid card number / unsupported card
];
const CARD_DECLINE_SHARE = 0.03;
const BASE_RISK_SHARE = 0.004;
const ISSUER_UNAVAILABLE_SHARE = 0.002; // 91
const DUPLICATE_SHARE = 0.001; // 94
const RECONCILIATION_SHARE = 0.0005; // 95
/** Reversal retries per pending reversal and step: each one reaches the host unless the network fails. */
const REVERSAL_RETRY_CHANCE = 0.8;
const MAX_PENDING = 1000;

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * Probability that one exchange with the host fails on the network: small on a good cell, large at the
 * edge of coverage (RSRP below about -110 dBm, SINR below 0 dB) and on a 2G/3G fallback.
 */
export function networkFailureProbability(rsrp: number, sinr: number, legacyRat: boolean): number {
  const p = 0.003 + 0.45 * sigmoid((-112 - rsrp) / 3) + (sinr < 0 ? 0.1 : 0) + (legacyRat ? 0.05 : 0);
  return Math.min(0.8, p);
}

/**
 * Relative card traffic by local minute of day while open: a base level with lunch (12:00) and dinner
 * (18:30) peaks; averages a little above 1 over a 09:00-21:00 day.
 */
export function tradingWeight(localMinute: number): number {
  const peak = (centre: number, width: number): number => Math.exp(-(((localMinute - centre) / width) ** 2));
  return 0.7 + 0.9 * peak(12 * 60, 60) + 1.0 * peak(18.5 * 60, 75);
}

/** Poisson draw (Knuth; the means here are small). */
export function poisson(mean: number, rng: Prng): number {
  if (!(mean > 0)) return 0;
  if (mean > 50) return Math.max(0, Math.round(rng.normal(mean, Math.sqrt(mean))));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

const capped = (n: number): number => Math.min(TX_MAX_COUNT, n);

/** Advances the transaction counters over one step. */
export function stepTransactions(tx: TxState, c: TxConditions, rng: Prng): TxState {
  let { approved, declined, reversalsPending, reversalsSucceeded, reversalsFailed } = tx;
  const codes: Record<string, number> = { ...tx.declinesByCode };
  const decline = (code: string | null): void => {
    declined++;
    if (code !== null) codes[code] = capped((codes[code] ?? 0) + 1);
  };

  // Pending reversals are retried before anything else.
  let settled = 0;
  for (let i = 0; i < reversalsPending; i++) {
    if (!c.dataPlanUp || !rng.chance(REVERSAL_RETRY_CHANCE) || rng.chance(c.networkFailure)) continue;
    settled++;
    if (rng.chance(c.reversalFailShare)) reversalsFailed++;
    else reversalsSucceeded++;
  }
  reversalsPending -= settled;

  const attempts = Math.max(c.minAttempts, poisson(c.expectedAttempts, rng));
  const dateSwitch = c.localMinute >= 23 * 60 + 55 || c.localMinute < 5;
  for (let i = 0; i < attempts; i++) {
    if (!c.dataPlanUp) {
      decline(null); // "connection failed" on screen: nothing reached the host
      continue;
    }
    if (rng.chance(c.networkFailure)) {
      if (rng.chance(c.timeoutShare)) {
        decline(null);
        reversalsPending = Math.min(MAX_PENDING, reversalsPending + 1);
      } else {
        decline(rng.chance(0.7) ? '92' : '96');
      }
      continue;
    }
    if (c.tidUnregistered) {
      decline('97');
      continue;
    }
    const u = rng.next();
    let edge = 0;
    const within = (share: number): boolean => u < (edge += share);
    if (dateSwitch && within(0.5)) decline('90');
    else if (within(CARD_DECLINE_SHARE)) decline(rng.weighted(CARD_DECLINES));
    else if (within(BASE_RISK_SHARE + c.riskShare)) decline('93');
    else if (within(ISSUER_UNAVAILABLE_SHARE)) decline('91');
    else if (within(DUPLICATE_SHARE)) decline('94');
    else if (within(RECONCILIATION_SHARE)) decline('95');
    else approved++;
  }
  return {
    approved: capped(approved),
    declined: capped(declined),
    declinesByCode: codes,
    reversalsPending,
    reversalsSucceeded: capped(reversalsSucceeded),
    reversalsFailed: capped(reversalsFailed),
  };
}

/** The heartbeat section for the counters. */
export function txSection(tx: TxState): HeartbeatTx {
  return {
    approved: tx.approved,
    declined: tx.declined,
    declinesByCode: { ...tx.declinesByCode },
    reversals: { pending: Math.min(TX_MAX_COUNT, tx.reversalsPending), succeeded: tx.reversalsSucceeded, failed: tx.reversalsFailed },
  };
}

/** Counters after a heartbeat reported them: the interval restarts; pending reversals stay. */
export function afterReport(tx: TxState): TxState {
  return { ...EMPTY_TX, reversalsPending: tx.reversalsPending };
}
