/**
 * Pure per-terminal state model. `advanceTerminal` moves a terminal's state forward to a point in time and
 * `nextHeartbeat` samples a heartbeat from it. Both are pure: the random stream lives in the state
 * (`rng`), so the same profile, start state and sequence of timestamps always produce the same output.
 *
 * Simulated behaviour:
 * - battery drains while the shop is open (faster with a degraded battery), charges on a dock or overnight,
 *   dies at 0 % (terminal powers off until the merchant plugs it in), temperature follows load and charging;
 * - RSRP/SINR follow a mean-reverting random walk around the spot's baseline; weak spots may lose LTE and
 *   fall back to GSM/UMTS; occasional cell reselection;
 * - data usage accrues (mostly during opening hours) and resets monthly; plans renew automatically,
 *   fail to renew, lapse into grace and expire on the terminal's local calendar;
 * - rare firmware reboots (more frequent on old firmware) restart `seq` and `uptimeS`;
 * - card transactions while the shop trades (`tx`, see tx-model.ts), failing more on a weak signal;
 * - an alert scenario (scenarios.ts), when the profile has one: it starts and clears at fixed times after the
 *   simulator start and bends the behaviour above so that one alert rule fires, then resolves.
 */
import { TX_MAX_COUNT, type DataPlanStatus, type Heartbeat, type HeartbeatDataPlan, type RadioAccessTechnology } from '#contracts';
import {
  APP_VERSIONS,
  CARRIERS,
  CITIES,
  PLAN_GRACE_DAYS,
  RAT_FALLBACK_RSRP,
  RENEWAL_RUN_LOCAL_MIN,
  RENEWAL_WINDOW_DAYS,
  SIGNAL_ENVIRONMENTS,
  TERMINAL_MODELS,
} from './fleet-catalog.js';
import type { GeoPoint, TerminalProfile } from './fleet-generator.js';
import { distanceMetres, makeIccid, offsetByMetres, randomPointWithin } from './identifiers.js';
import { Prng, deriveSeed } from './prng.js';
import type { OtaFault } from './ota-model.js';
import { scenarioPhase, type ScenarioKind, type ScenarioPhase } from './scenarios.js';
import { afterReport, EMPTY_TX, networkFailureProbability, stepTransactions, tradingWeight, txSection, type TxState } from './tx-model.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Longest single integration step; longer advances are split so daily events are not skipped. */
export const MAX_STEP_MS = 5 * MINUTE_MS;

export type PowerState = 'on' | 'off';
export type PowerOffReason = 'battery' | 'reboot';

export interface RenewalAttempt {
  readonly at: string;
  readonly result: 'success' | 'failed';
  readonly reason?: string;
}

export interface TerminalState {
  /** PRNG state (see Prng.state). */
  readonly rng: number;
  /** Time this state describes, epoch ms. */
  readonly atMs: number;
  readonly power: PowerState;
  readonly offReason: PowerOffReason | null;
  /** When a rebooting terminal comes back. */
  readonly powerOnAtMs: number | null;
  readonly bootMs: number;
  /** Boots since the simulator started (the start itself counts as boot 1). */
  readonly boots: number;
  /** Sequence number of the next heartbeat of this boot. */
  readonly seq: number;
  readonly merchant: {
    readonly wasOpen: boolean;
    readonly chargeTonight: boolean;
    /** A dead terminal gets plugged in by the merchant at this time. */
    readonly rescueAtMs: number | null;
    /** Plugged in ad hoc (after dying) until this time. */
    readonly pluggedUntilMs: number | null;
  };
  readonly battery: {
    readonly percent: number;
    readonly charging: boolean;
    readonly temperatureC: number;
  };
  readonly signal: {
    readonly rat: RadioAccessTechnology;
    readonly rsrp: number;
    readonly sinr: number;
    readonly cell: number;
  };
  readonly plan: {
    readonly status: DataPlanStatus;
    /** Last paid day, local calendar date YYYY-MM-DD. */
    readonly expiresAt: string;
    readonly autoRenew: boolean;
    readonly renewalFails: boolean;
    readonly lastRenewal: RenewalAttempt | null;
    readonly lastAttemptDate: string | null;
    readonly usedMb: number;
    readonly allowanceMb: number | null;
    /** Billing month (YYYY-MM) usedMb belongs to. */
    readonly billingMonth: string;
  };
  /** Simulator start: scenario times count from here. */
  readonly startedAtMs: number;
  /** The profile's scenario phase this state has applied (null without a scenario). */
  readonly scenarioPhase: ScenarioPhase | null;
  /** Current SIM (a sim-swap scenario replaces the profile's). */
  readonly iccid: string;
  /** Installed versions (an outdated-firmware scenario rolls them back, clearing it updates them). */
  readonly firmware: { readonly version: string; readonly appVersion: string };
  /** Transaction counters since the last heartbeat. */
  readonly tx: TxState;
  /** PRNG state of the transaction stream (separate, so transactions do not shift the other draws). */
  readonly txRng: number;
  /** A bad OTA release's effect, from the second heartbeat after the install reboot on (null: healthy). */
  readonly otaFault: OtaFault | null;
}

export interface HeartbeatOptions {
  readonly includeLocation: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Calendar helpers (terminal-local time, fixed UTC offset)

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** RFC 3339 timestamp in the terminal's local time with its UTC offset, millisecond precision. */
export function formatLocalTimestamp(ms: number, utcOffsetMin: number): string {
  const local = new Date(ms + utcOffsetMin * MINUTE_MS).toISOString().slice(0, 23);
  const sign = utcOffsetMin < 0 ? '-' : '+';
  const abs = Math.abs(utcOffsetMin);
  return `${local}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Local calendar date YYYY-MM-DD. */
export function localDate(ms: number, utcOffsetMin: number): string {
  return new Date(ms + utcOffsetMin * MINUTE_MS).toISOString().slice(0, 10);
}

/** Minutes since local midnight. */
export function localMinuteOfDay(ms: number, utcOffsetMin: number): number {
  const minutes = Math.floor(ms / MINUTE_MS) + utcOffsetMin;
  return ((minutes % 1440) + 1440) % 1440;
}

function dateToUtcMs(date: string): number {
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
}

export function addDays(date: string, days: number): string {
  return new Date(dateToUtcMs(date) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Same day next year; 29 February becomes 28 February. */
export function addYears(date: string, years: number): string {
  const y = Number(date.slice(0, 4)) + years;
  const m = Number(date.slice(5, 7));
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const d = Math.min(Number(date.slice(8, 10)), lastDay);
  return `${pad(y, 4)}-${pad(m)}-${pad(d)}`;
}

/** Start of the local day containing `ms`, as epoch ms. */
function localMidnightMs(ms: number, utcOffsetMin: number): number {
  return ms - localMinuteOfDay(ms, utcOffsetMin) * MINUTE_MS - (ms % MINUTE_MS);
}

function isOpen(profile: TerminalProfile, ms: number): boolean {
  const minute = localMinuteOfDay(ms, profile.utcOffsetMin);
  return minute >= profile.merchant.opensAtMin && minute < profile.merchant.closesAtMin;
}

/** Next local closing time at or after `ms`. */
function nextClosingMs(profile: TerminalProfile, ms: number): number {
  const closing = localMidnightMs(ms, profile.utcOffsetMin) + profile.merchant.closesAtMin * MINUTE_MS;
  return closing > ms ? closing : closing + DAY_MS;
}

const clamp = (x: number, min: number, max: number): number => Math.min(max, Math.max(min, x));

/** Exact discretisation of an Ornstein-Uhlenbeck process with stationary deviation `sd`. */
function meanRevert(x: number, mean: number, sd: number, dtMs: number, tauMs: number, rng: Prng): number {
  const k = Math.exp(-dtMs / tauMs);
  return mean + (x - mean) * k + sd * Math.sqrt(1 - k * k) * rng.normal();
}

/** Probability that an event with the given rate (per ms) happens within dt. */
function eventProbability(ratePerMs: number, dtMs: number): number {
  return 1 - Math.exp(-ratePerMs * dtMs);
}

// ---------------------------------------------------------------------------------------------------------
// Initial state

function initialPlan(profile: TerminalProfile, nowMs: number, rng: Prng): TerminalState['plan'] {
  const plan = profile.sim.plan;
  const today = localDate(nowMs, profile.utcOffsetMin);
  const expiresAt = addDays(today, plan.expiryOffsetDays);
  const status: DataPlanStatus =
    plan.scenario === 'grace' ? 'grace' : plan.scenario === 'expired' ? 'expired' : plan.scenario === 'suspended' ? 'suspended' : 'active';
  let lastRenewal: RenewalAttempt | null = null;
  let lastAttemptDate: string | null = null;
  if (plan.lastFailedRenewalDaysAgo !== null) {
    lastAttemptDate = addDays(today, -plan.lastFailedRenewalDaysAgo);
    const at = dateToUtcMs(lastAttemptDate) - profile.utcOffsetMin * MINUTE_MS + (RENEWAL_RUN_LOCAL_MIN + rng.int(0, 20)) * MINUTE_MS;
    if (at > nowMs) {
      // today's run has not happened yet: the last failure was yesterday's
      lastAttemptDate = addDays(lastAttemptDate, -1);
    }
    const atMs = at > nowMs ? at - DAY_MS : at;
    lastRenewal = { at: formatLocalTimestamp(atMs, profile.utcOffsetMin), result: 'failed', reason: plan.failureReason };
  } else if (status === 'active' && plan.autoRenew && plan.expiryOffsetDays < 365 - 30 && rng.chance(0.6)) {
    // renewed automatically last year (the first year is bundled, so not everyone has renewed yet)
    const renewedOn = addDays(addYears(expiresAt, -1), -rng.int(0, RENEWAL_WINDOW_DAYS));
    const at = dateToUtcMs(renewedOn) - profile.utcOffsetMin * MINUTE_MS + (RENEWAL_RUN_LOCAL_MIN + rng.int(0, 20)) * MINUTE_MS;
    lastRenewal = { at: formatLocalTimestamp(at, profile.utcOffsetMin), result: 'success' };
  }
  const minute = localMinuteOfDay(nowMs, profile.utcOffsetMin);
  const dayOfMonth = Number(today.slice(8, 10));
  const monthFraction = (dayOfMonth - 1 + minute / 1440) / 30;
  const usedMb = status === 'active' || status === 'grace' ? plan.monthlyUsageMb * monthFraction * rng.float(0.8, 1.2) : rng.float(0, 3) * monthFraction;
  return {
    status,
    expiresAt,
    autoRenew: plan.autoRenew,
    renewalFails: plan.renewalFails,
    lastRenewal,
    lastAttemptDate,
    usedMb,
    allowanceMb: plan.allowanceMb ?? null,
    billingMonth: today.slice(0, 7),
  };
}

/** State of a terminal that boots at `nowMs` (simulator start). */
export function initialTerminalState(profile: TerminalProfile, nowMs: number): TerminalState {
  const rng = new Prng(profile.stateSeed);
  const open = isOpen(profile, nowMs);
  const env = SIGNAL_ENVIRONMENTS[profile.radio.environment];
  const chargeTonight = rng.chance(profile.merchant.chargesOvernight);
  const plugged = (open && profile.merchant.docked) || (!open && chargeTonight);
  const percent = profile.battery.degraded && open ? rng.float(12, 45) : rng.float(35, 100);
  const rsrp = profile.radio.baseRsrp + rng.normal(0, env.rsrpSd);
  const onFallback = profile.radio.fallbackRats.length > 0 && rsrp < RAT_FALLBACK_RSRP && rng.chance(0.3);
  const plan = initialPlan(profile, nowMs, rng);
  const draft: TerminalState = {
    rng: 0,
    atMs: nowMs,
    power: 'on',
    offReason: null,
    powerOnAtMs: null,
    bootMs: nowMs,
    boots: 1,
    seq: 0,
    merchant: { wasOpen: open, chargeTonight, rescueAtMs: null, pluggedUntilMs: null },
    battery: {
      percent,
      charging: plugged,
      temperatureC: profile.battery.ambientC + rng.normal(0, 1),
    },
    signal: {
      rat: onFallback ? rng.pick(profile.radio.fallbackRats) : 'LTE',
      rsrp,
      sinr: profile.radio.baseSinr + rng.normal(0, env.sinrSd),
      cell: rng.int(0, profile.radio.cells.length - 1),
    },
    plan,
    startedAtMs: nowMs,
    scenarioPhase: profile.scenario ? 'pending' : null,
    iccid: profile.sim.iccid,
    firmware: { version: profile.firmwareVersion, appVersion: profile.appVersion },
    tx: EMPTY_TX,
    txRng: deriveSeed(profile.stateSeed, 'tx'),
    otaFault: null,
  };
  // a scenario that starts at once is in place for the first heartbeat
  const s = cloneState({ ...draft, rng: rng.state });
  stepScenario(profile, s, nowMs);
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Advancing

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableState = Mutable<Omit<TerminalState, 'merchant' | 'battery' | 'signal' | 'plan' | 'firmware'>> & {
  firmware: Mutable<TerminalState['firmware']>;
  merchant: Mutable<TerminalState['merchant']>;
  battery: Mutable<TerminalState['battery']>;
  signal: Mutable<TerminalState['signal']>;
  plan: Mutable<TerminalState['plan']>;
};

function cloneState(state: TerminalState): MutableState {
  return {
    ...state,
    merchant: { ...state.merchant },
    battery: { ...state.battery },
    signal: { ...state.signal },
    plan: { ...state.plan },
    firmware: { ...state.firmware },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios

/** The scenario kind in effect (active phase) for this state, or null. */
export function activeScenario(profile: TerminalProfile, state: Pick<TerminalState, 'scenarioPhase'>): ScenarioKind | null {
  return profile.scenario && state.scenarioPhase === 'active' ? profile.scenario.kind : null;
}

/** False while a `drop` scenario holds the terminal off the network (it keeps producing heartbeats). */
export function hasNetwork(profile: TerminalProfile, state: TerminalState): boolean {
  return activeScenario(profile, state) !== 'drop';
}

/** Where a relocated terminal turns up: near a city more than 800 km from its registered location. */
export function relocationTarget(profile: TerminalProfile): GeoPoint {
  const far = CITIES.map((c) => c.value).filter((c) => distanceMetres(c, profile.location.registered) > 800_000);
  const rng = new Prng(deriveSeed(profile.stateSeed, 'relocate'));
  const city = far.length > 0 ? rng.pick(far) : { lat: -profile.location.registered.lat, lon: profile.location.registered.lon };
  return randomPointWithin(city.lat, city.lon, 5_000, rng);
}

/** The plan renews now for a year (clearing a plan scenario). */
function renewNow(profile: TerminalProfile, s: MutableState, atMs: number): void {
  const p = s.plan;
  const today = localDate(atMs, profile.utcOffsetMin);
  p.expiresAt = addYears(p.expiresAt >= today ? p.expiresAt : today, 1);
  p.status = 'active';
  p.renewalFails = profile.sim.plan.renewalFails;
  p.lastRenewal = { at: formatLocalTimestamp(atMs, profile.utcOffsetMin), result: 'success' };
  p.lastAttemptDate = today;
}

function enterActive(profile: TerminalProfile, kind: ScenarioKind, s: MutableState, atMs: number): void {
  const today = localDate(atMs, profile.utcOffsetMin);
  const p = s.plan;
  switch (kind) {
    case 'plan-expiring':
      // 5 days out: inside the 7-day step of the reminder ladder, before the 3-day renewal window
      Object.assign(p, { status: 'active', expiresAt: addDays(today, 5), autoRenew: true, renewalFails: false });
      break;
    case 'plan-suspended':
      p.status = 'suspended';
      break;
    case 'renewal-failed':
      Object.assign(p, { status: 'active', expiresAt: addDays(today, 2), autoRenew: true, renewalFails: true, lastAttemptDate: today });
      p.lastRenewal = { at: formatLocalTimestamp(atMs, profile.utcOffsetMin), result: 'failed', reason: profile.sim.plan.failureReason };
      break;
    case 'auto-renew-off':
      Object.assign(p, { status: 'active', expiresAt: addDays(today, 20), autoRenew: false });
      break;
    case 'allowance-high':
      p.allowanceMb = p.allowanceMb ?? 30;
      p.usedMb = Math.max(p.usedMb, 0.93 * p.allowanceMb);
      break;
    case 'outdated-firmware': {
      const model = TERMINAL_MODELS.find((m) => m.value.name === profile.model)?.value;
      s.firmware = { version: model?.firmware.legacy ?? profile.firmwareVersion, appVersion: APP_VERSIONS.legacy };
      break;
    }
    case 'weak-signal':
      Object.assign(s.signal, { rat: 'LTE', rsrp: WEAK_SIGNAL.rsrp, sinr: WEAK_SIGNAL.sinr });
      break;
    case 'battery-drain':
      s.battery.percent = Math.min(s.battery.percent, 24);
      s.battery.charging = false;
      s.merchant.pluggedUntilMs = null;
      break;
    case 'sim-swap': {
      const carrier = CARRIERS.find((c) => c.value.id === profile.radio.carrier)?.value;
      const rng = new Prng(deriveSeed(profile.stateSeed, 'sim-swap'));
      const prefix = carrier ? rng.pick(carrier.iccidPrefixes) : profile.sim.iccid.slice(0, 6);
      const length = profile.sim.iccid.length === 19 ? 19 : 20;
      let iccid = makeIccid(prefix, length, rng);
      while (iccid === s.iccid) iccid = makeIccid(prefix, length, rng);
      s.iccid = iccid;
      break;
    }
    default:
      // drop, silent, relocate, reversals, reversal-failed, tid-unregistered act while active (hasNetwork, nextHeartbeat, stepTx)
      break;
  }
}

function enterCleared(profile: TerminalProfile, kind: ScenarioKind, s: MutableState, atMs: number): void {
  const p = s.plan;
  switch (kind) {
    case 'plan-expiring':
    case 'renewal-failed':
    case 'plan-suspended':
      renewNow(profile, s, atMs);
      break;
    case 'auto-renew-off':
      p.autoRenew = true;
      break;
    case 'allowance-high':
      // top-up: the period's counter restarts
      p.allowanceMb = profile.sim.plan.allowanceMb ?? null;
      p.usedMb = 0;
      break;
    case 'outdated-firmware':
      s.firmware = { version: profile.firmwareVersion, appVersion: profile.appVersion };
      break;
    case 'weak-signal':
      // moved out of the metal cabinet: back at the spot's usual level
      Object.assign(s.signal, { rsrp: profile.radio.baseRsrp, sinr: profile.radio.baseSinr });
      break;
    case 'battery-drain':
      s.merchant.pluggedUntilMs = Math.max(nextClosingMs(profile, atMs), atMs + 3 * HOUR_MS);
      s.battery.charging = true;
      break;
    default:
      // the rest stop acting once no longer active; a swapped SIM stays
      break;
  }
}

/** Applies scenario transitions up to `atMs` (each once, in order, even if a step skips a phase). */
function stepScenario(profile: TerminalProfile, s: MutableState, atMs: number): void {
  if (!profile.scenario) return;
  const target = scenarioPhase(profile.scenario, s.startedAtMs, atMs);
  if (target === 'pending' || target === s.scenarioPhase) return;
  if (s.scenarioPhase === 'pending') {
    enterActive(profile, profile.scenario.kind, s, atMs);
    s.scenarioPhase = 'active';
  }
  if (target === 'cleared' && s.scenarioPhase === 'active') {
    enterCleared(profile, profile.scenario.kind, s, atMs);
    s.scenarioPhase = 'cleared';
  }
}

/** Where a weak-signal scenario holds the radio: below the rule's -110 dBm RSRP and 0 dB SINR thresholds. */
const WEAK_SIGNAL = { rsrp: -121, rsrpSd: 2, sinr: -5, sinrSd: 1 } as const;
/** Scenarios that need card traffic at any hour to show (about 30 attempts an hour, at least one per heartbeat). */
const TRAFFIC_SCENARIOS: ReadonlySet<ScenarioKind> = new Set(['weak-signal', 'reversals', 'reversal-failed', 'tid-unregistered']);
const REVERSAL_SCENARIOS: ReadonlySet<ScenarioKind> = new Set(['reversals', 'reversal-failed']);
const FORCED_ATTEMPTS_PER_MS = 30 / HOUR_MS;
const BATTERY_DRAIN_PCT_PER_HOUR = 20;

function boot(s: MutableState, atMs: number): void {
  s.power = 'on';
  s.offReason = null;
  s.powerOnAtMs = null;
  s.bootMs = atMs;
  s.boots += 1;
  s.seq = 0;
  // unreported counts were in RAM; pending reversals are kept in flash and retried after boot
  s.tx = afterReport(s.tx);
}

function stepMerchantAndPower(profile: TerminalProfile, s: MutableState, t0: number, t1: number, rng: Prng): boolean {
  const open = isOpen(profile, t1);
  if (s.merchant.wasOpen && !open) s.merchant.chargeTonight = rng.chance(profile.merchant.chargesOvernight);
  s.merchant.wasOpen = open;
  if (s.merchant.pluggedUntilMs !== null && t1 >= s.merchant.pluggedUntilMs) s.merchant.pluggedUntilMs = null;

  // A dead terminal in an open shop gets noticed and plugged in after a while.
  if (s.power === 'off' && s.offReason === 'battery' && open && s.merchant.pluggedUntilMs === null) {
    if (s.merchant.rescueAtMs === null) s.merchant.rescueAtMs = t1 + rng.int(10, 90) * MINUTE_MS;
    else if (t1 >= s.merchant.rescueAtMs) {
      s.merchant.rescueAtMs = null;
      s.merchant.pluggedUntilMs = nextClosingMs(profile, t1);
    }
  }
  if (s.power === 'off' && s.offReason === 'reboot' && s.powerOnAtMs !== null && t1 >= s.powerOnAtMs) {
    boot(s, s.powerOnAtMs);
  }
  if (s.power === 'on' && rng.chance(eventProbability(profile.rebootsPerDay / DAY_MS, t1 - t0))) {
    s.power = 'off';
    s.offReason = 'reboot';
    s.powerOnAtMs = t1 + rng.int(20, 90) * 1000;
  }
  if (activeScenario(profile, s) === 'battery-drain') return false;
  return (open && profile.merchant.docked) || (!open && s.merchant.chargeTonight) || s.merchant.pluggedUntilMs !== null;
}

function stepBattery(profile: TerminalProfile, s: MutableState, plugged: boolean, t1: number, dtMs: number, rng: Prng): void {
  const b = profile.battery;
  const dtH = dtMs / HOUR_MS;
  const open = s.merchant.wasOpen;
  let percent = s.battery.percent;
  const charging = plugged && percent < 100;
  if (charging) {
    // constant current up to 80 %, then a slower constant-voltage phase
    const rate = b.chargePctPerHour * (percent >= 80 ? 0.35 : 1) * (b.degraded ? 1.3 : 1);
    percent += rate * dtH;
  } else if (plugged) {
    // full and on the charger: the terminal runs from external power
  } else if (s.power === 'on' && activeScenario(profile, s) === 'battery-drain') {
    // a scenario: drains fast but stays alive at 5 %, so battery_low shows without the terminal going offline
    percent = Math.max(Math.min(percent, 5), percent - BATTERY_DRAIN_PCT_PER_HOUR * dtH);
  } else if (s.power === 'on') {
    percent -= ((open ? b.activeDrainPctPerHour : b.idleDrainPctPerHour) / b.health) * dtH;
  } else {
    percent -= 0.05 * dtH;
  }
  percent = clamp(percent, 0, 100);
  if (s.power === 'on' && percent <= 0) {
    s.power = 'off';
    s.offReason = 'battery';
    s.powerOnAtMs = null;
  }
  if (s.power === 'off' && s.offReason === 'battery' && plugged && percent >= 3) boot(s, t1);
  s.battery.percent = percent;
  // reported as charging while on external power, including when full
  s.battery.charging = plugged;

  const target = b.ambientC + (charging ? 6 : plugged ? 1.5 : 0) + (s.power === 'on' && open ? 2.5 : 0) + (b.degraded ? 3 : 0);
  s.battery.temperatureC = clamp(meanRevert(s.battery.temperatureC, target, 0.6, dtMs, 40 * MINUTE_MS, rng), -40, 100);
}

function stepSignal(profile: TerminalProfile, s: MutableState, dtMs: number, rng: Prng): void {
  const env = SIGNAL_ENVIRONMENTS[profile.radio.environment];
  const r = profile.radio;
  if (activeScenario(profile, s) === 'weak-signal' || (s.otaFault === 'weak-signal' && s.seq >= 1)) {
    // pinned at the edge of coverage, on LTE (so RSRP and SINR are reported)
    s.signal.rsrp = meanRevert(s.signal.rsrp, WEAK_SIGNAL.rsrp, WEAK_SIGNAL.rsrpSd, dtMs, 5 * MINUTE_MS, rng);
    s.signal.sinr = meanRevert(s.signal.sinr, WEAK_SIGNAL.sinr, WEAK_SIGNAL.sinrSd, dtMs, 5 * MINUTE_MS, rng);
    s.signal.rat = 'LTE';
    return;
  }
  const rsrp = meanRevert(s.signal.rsrp, r.baseRsrp, env.rsrpSd, dtMs, 20 * MINUTE_MS, rng);
  // SINR follows its own baseline plus part of the RSRP deviation (fades hit both).
  const sinrMean = r.baseSinr + 0.3 * (rsrp - r.baseRsrp);
  s.signal.sinr = meanRevert(s.signal.sinr, sinrMean, env.sinrSd, dtMs, 10 * MINUTE_MS, rng);
  s.signal.rsrp = rsrp;
  if (r.fallbackRats.length > 0) {
    if (s.signal.rat === 'LTE' && rsrp < RAT_FALLBACK_RSRP) {
      if (rng.chance(eventProbability(1 / (20 * MINUTE_MS), dtMs))) s.signal.rat = rng.pick(r.fallbackRats);
    } else if (s.signal.rat !== 'LTE' && rsrp > RAT_FALLBACK_RSRP + 3) {
      if (rng.chance(eventProbability(1 / (10 * MINUTE_MS), dtMs))) s.signal.rat = 'LTE';
    }
  }
  const cellCount = s.signal.rat === 'LTE' ? r.cells.length : r.legacyCells.length;
  if (rng.chance(eventProbability(env.cellChangesPerHour / HOUR_MS, dtMs))) {
    s.signal.cell = (s.signal.cell + rng.int(1, Math.max(1, cellCount - 1))) % cellCount;
  }
}

function stepPlan(profile: TerminalProfile, s: MutableState, t1: number, dtMs: number): void {
  const p = s.plan;
  const today = localDate(t1, profile.utcOffsetMin);
  const month = today.slice(0, 7);
  if (month !== p.billingMonth) {
    p.billingMonth = month;
    p.usedMb = 0;
  }
  if ((p.status === 'active' || p.status === 'grace') && s.power === 'on') {
    // usage concentrates in opening hours; the weights average to ~1 over a day
    const weight = s.merchant.wasOpen ? 1.6 : 0.4;
    p.usedMb = Math.min(10_000_000, p.usedMb + (profile.sim.plan.monthlyUsageMb / (30 * 24)) * weight * (dtMs / HOUR_MS));
  }
  if (
    p.status === 'active' &&
    p.autoRenew &&
    today >= addDays(p.expiresAt, -RENEWAL_WINDOW_DAYS) &&
    p.lastAttemptDate !== today &&
    localMinuteOfDay(t1, profile.utcOffsetMin) >= RENEWAL_RUN_LOCAL_MIN
  ) {
    p.lastAttemptDate = today;
    const at = formatLocalTimestamp(t1, profile.utcOffsetMin);
    if (p.renewalFails) {
      p.lastRenewal = { at, result: 'failed', reason: profile.sim.plan.failureReason };
    } else {
      p.expiresAt = addYears(p.expiresAt, 1);
      p.lastRenewal = { at, result: 'success' };
    }
  }
  if (p.status === 'active' && today > p.expiresAt) p.status = 'grace';
  if (p.status === 'grace' && today > addDays(p.expiresAt, PLAN_GRACE_DAYS)) p.status = 'expired';
}

/** Card transactions over one step (see tx-model.ts), on the terminal's own PRNG stream. */
function stepTx(profile: TerminalProfile, s: MutableState, t1: number, dtMs: number, minAttempts = 0): void {
  if (s.power !== 'on') return;
  const kind = activeScenario(profile, s);
  const minute = localMinuteOfDay(t1, profile.utcOffsetMin);
  const trading = s.merchant.wasOpen ? profile.merchant.txPerOpenHour * tradingWeight(minute) * (dtMs / HOUR_MS) : 0;
  const forced = kind !== null && TRAFFIC_SCENARIOS.has(kind) ? FORCED_ATTEMPTS_PER_MS * dtMs : 0;
  const legacyRat = s.signal.rat === 'GSM' || s.signal.rat === 'UMTS';
  const network = networkFailureProbability(s.signal.rsrp, s.signal.sinr, legacyRat);
  const reversals = kind !== null && REVERSAL_SCENARIOS.has(kind);
  const far = profile.location.relocated || kind === 'relocate';
  const rng = new Prng(s.txRng);
  s.tx = stepTransactions(
    s.tx,
    {
      expectedAttempts: trading + forced,
      minAttempts,
      networkFailure: reversals ? Math.max(network, 0.6) : network,
      dataPlanUp: s.plan.status === 'active' || s.plan.status === 'grace',
      localMinute: minute,
      tidUnregistered: kind === 'tid-unregistered',
      // `reversals` settle (the alert resolves by itself); `reversal-failed` charges cardholders
      reversalFailShare: kind === 'reversal-failed' ? 0.4 : kind === 'reversals' ? 0 : 0.03,
      timeoutShare: reversals ? 0.9 : 0.35,
      riskShare: far ? 0.03 : 0,
    },
    rng,
  );
  s.txRng = rng.state;
}

/** Advances the terminal to `nowMs` (no-op if `nowMs` is not after the state's time). */
export function advanceTerminal(profile: TerminalProfile, state: TerminalState, nowMs: number): TerminalState {
  if (!(nowMs > state.atMs)) return state;
  const s = cloneState(state);
  const rng = new Prng(state.rng);
  let t0 = state.atMs;
  while (t0 < nowMs) {
    const t1 = Math.min(nowMs, t0 + MAX_STEP_MS);
    const dt = t1 - t0;
    const plugged = stepMerchantAndPower(profile, s, t0, t1, rng);
    stepBattery(profile, s, plugged, t1, dt, rng);
    stepSignal(profile, s, dt, rng);
    stepPlan(profile, s, t1, dt);
    stepTx(profile, s, t1, dt);
    stepScenario(profile, s, t1);
    t0 = t1;
  }
  s.atMs = nowMs;
  s.rng = rng.state;
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Commanded reboots and installs

/**
 * A commanded reboot (or the reboot that ends an install) completed at `atMs`: powered, `seq` and uptime
 * restart, optionally on new versions and with a bad release's fault. Call on a state advanced to `atMs`.
 */
export function rebootedState(
  state: TerminalState,
  atMs: number,
  install?: { readonly firmware: TerminalState['firmware']; readonly fault: OtaFault | null },
): TerminalState {
  const s = cloneState(state);
  boot(s, atMs);
  if (install) {
    s.firmware = { ...install.firmware };
    s.otaFault = install.fault;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Sampling

const round = (x: number, decimals = 0): number => {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
};

function signalFields(profile: TerminalProfile, state: TerminalState): Heartbeat['signal'] {
  const { rat, rsrp, sinr, cell } = state.signal;
  const r = profile.radio;
  if (rat === 'LTE' || rat === 'NR' || rat === 'LTE-M' || rat === 'NB-IoT') {
    const rsrpQ = clamp(round(rsrp), -140, -44);
    const sinrQ = clamp(round(sinr, 1), -20, 30);
    // RSRQ tracks SINR (load and interference); RSSI is RSRP summed over a 10 MHz carrier plus interference.
    const rsrq = clamp(round(-20 + ((sinrQ + 20) * 17) / 50, 1), -20, -3);
    const rssi = clamp(round(rsrpQ + 28 + Math.max(0, (5 - sinrQ) * 0.3)), -113, -51);
    return {
      rat,
      rsrp: rsrpQ,
      rsrq,
      sinr: sinrQ,
      rssi,
      csq: clamp(Math.floor((rssi + 113) / 2), 0, 31),
      mccMnc: r.mccMnc,
      cellId: String(r.cells[cell % r.cells.length]),
    };
  }
  // 2G/3G: no RSRP/RSRQ/SINR, only received power and CSQ
  const rssi = clamp(round(rsrp + 30), -113, -51);
  return {
    rat,
    rssi,
    csq: clamp(Math.floor((rssi + 113) / 2), 0, 31),
    mccMnc: r.mccMnc,
    cellId: String(r.legacyCells[cell % r.legacyCells.length]),
  };
}

function planFields(state: TerminalState): HeartbeatDataPlan {
  const p = state.plan;
  return {
    status: p.status,
    expiresAt: p.expiresAt,
    autoRenew: p.autoRenew,
    ...(p.lastRenewal ? { lastRenewal: { ...p.lastRenewal } } : {}),
    usedMb: round(p.usedMb, 2),
    ...(p.allowanceMb !== null ? { allowanceMb: p.allowanceMb } : {}),
  };
}

/**
 * Advances to `nowMs` and samples the heartbeat a powered terminal would send then.
 * Returns `heartbeat: null` while the terminal is powered off. Increments `seq` on every heartbeat.
 */
export function nextHeartbeat(
  profile: TerminalProfile,
  state: TerminalState,
  nowMs: number,
  options: HeartbeatOptions,
): { state: TerminalState; heartbeat: Heartbeat | null } {
  let advanced = advanceTerminal(profile, state, nowMs);
  if (advanced.power === 'off') return { state: advanced, heartbeat: null };
  const kind = activeScenario(profile, advanced);
  // hung application: the connection stays up, no heartbeat is produced (counters keep adding up)
  if (kind === 'silent') return { state: advanced, heartbeat: null };
  // a bad OTA release: the first heartbeat confirms the new version, then the application hangs
  if (advanced.otaFault === 'silent' && advanced.seq >= 1) return { state: advanced, heartbeat: null };
  if (advanced.otaFault === 'weak-signal' && advanced.seq >= 1 && (advanced.signal.rsrp > WEAK_SIGNAL.rsrp + 6 || advanced.signal.rat !== 'LTE')) {
    // the radio driver of a bad release: the signal drops at once (then stays pinned by stepSignal)
    advanced = { ...advanced, signal: { ...advanced.signal, rat: 'LTE', rsrp: WEAK_SIGNAL.rsrp, sinr: WEAK_SIGNAL.sinr } };
  }
  advanced = withScenarioTraffic(profile, advanced, kind);
  const rng = new Prng(advanced.rng);
  const heartbeat: Heartbeat = {
    v: 1,
    ts: formatLocalTimestamp(nowMs, profile.utcOffsetMin),
    seq: advanced.seq,
    model: profile.model,
    firmware: { version: advanced.firmware.version, appVersion: advanced.firmware.appVersion },
    battery: {
      percent: Math.round(advanced.battery.percent),
      charging: advanced.battery.charging,
      temperatureC: round(advanced.battery.temperatureC, 1),
    },
    signal: signalFields(profile, advanced),
    sim: {
      iccid: advanced.iccid,
      imei: profile.imei,
      type: profile.sim.type,
      carrier: profile.radio.carrierName,
      plan: planFields(advanced),
    },
    tx: txSection(advanced.tx),
    uptimeS: Math.max(0, Math.floor((nowMs - advanced.bootMs) / 1000)),
  };
  // a relocate scenario terminal always reports its position, else the move (and the return) is invisible
  if (options.includeLocation || profile.scenario?.kind === 'relocate') {
    const loc = profile.location;
    const at = kind === 'relocate' ? relocationTarget(profile) : loc.actual;
    const accuracyM = loc.source === 'gps' ? rng.int(5, 30) : rng.int(300, 1500);
    const fix = offsetByMetres(at.lat, at.lon, rng.normal(0, accuracyM / 2), rng.normal(0, accuracyM / 2));
    heartbeat.location = { lat: round(fix.lat, 6), lon: round(fix.lon, 6), accuracyM, source: loc.source };
  }
  return { state: { ...advanced, seq: advanced.seq + 1, rng: rng.state, tx: afterReport(advanced.tx) }, heartbeat };
}

/**
 * Scenarios that show in `tx` guarantee it in every heartbeat: at least one attempt (97 for an unknown TID,
 * network failures on a weak signal), and for the reversal scenarios a reversal outstanding.
 */
function withScenarioTraffic(profile: TerminalProfile, state: TerminalState, kind: ScenarioKind | null): TerminalState {
  if (kind === null || !TRAFFIC_SCENARIOS.has(kind)) return state;
  const s = cloneState(state);
  if (s.tx.approved + s.tx.declined === 0) stepTx(profile, s, s.atMs, 0, 1);
  if (REVERSAL_SCENARIOS.has(kind) && s.tx.reversalsPending === 0) {
    s.tx = { ...s.tx, declined: Math.min(TX_MAX_COUNT, s.tx.declined + 1), reversalsPending: 1 };
  }
  if (kind === 'tid-unregistered' && !s.tx.declinesByCode['97']) {
    // the sign-in the terminal retries until the host answers: 97 once it gets through
    s.tx = { ...s.tx, declined: Math.min(TX_MAX_COUNT, s.tx.declined + 1), declinesByCode: { ...s.tx.declinesByCode, '97': 1 } };
  }
  return s;
}
