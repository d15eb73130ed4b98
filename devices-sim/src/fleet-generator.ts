/**
 * Generates the static profile of every simulated terminal: identity, hardware, radio environment, SIM plan
 * scenario, merchant habits and location. Profiles are a pure function of (seed, sn prefix, index), so
 * terminal i is the same whatever the fleet size, and the same seed always yields the same fleet.
 */
import type { SimType, TerminalRegistration } from '#contracts';
import {
  APP_VERSIONS,
  BATTERY_DEGRADED_SHARE,
  CARRIERS,
  CHINA_UTC_OFFSET_MIN,
  CITIES,
  DATA_ALLOWANCES_MB,
  DOCKED_SHARE,
  FIRMWARE_TIERS,
  LOCATION_SOURCES,
  MERCHANT_CATEGORY_CODES,
  PLAN_SCENARIOS,
  REBOOTS_PER_DAY,
  RELOCATED_SHARE,
  RENEWAL_FAILURE_REASONS,
  SIGNAL_ENVIRONMENTS,
  SIGNAL_ENVIRONMENT_SHARES,
  SIM_TYPES,
  TERMINAL_MODELS,
  type CarrierId,
  type FirmwareTier,
  type PlanScenario,
  type SignalEnvironment,
} from './fleet-catalog.js';
import { distanceMetres, makeIccid, makeImei, makeMid, makeTid, offsetByMetres, randomPointWithin, scrambledSerial, terminalSn } from './identifiers.js';
import { Prng, deriveSeed, lowDiscrepancy, pickByShare, type WeightedValue } from './prng.js';
import type { TerminalScenario } from './scenarios.js';

export interface FleetOptions {
  /** Any string; equal seeds give equal fleets. */
  readonly seed: string;
  readonly snPrefix: string;
}

export interface GeoPoint {
  readonly lat: number;
  readonly lon: number;
}

export interface PlanProfile {
  readonly scenario: PlanScenario;
  /** Plan expiry relative to the simulator's start date, days (negative = already past). */
  readonly expiryOffsetDays: number;
  readonly autoRenew: boolean;
  /** Automatic renewal attempts fail (eSIM profile error, declined payment, ...). */
  readonly renewalFails: boolean;
  readonly failureReason: string;
  /** Days before start of the last failed renewal attempt, when the scenario starts with one. */
  readonly lastFailedRenewalDaysAgo: number | null;
  /** Monthly allowance, MiB; undefined = unmetered. */
  readonly allowanceMb: number | undefined;
  /** Data this terminal uses in a 30-day month, MiB. */
  readonly monthlyUsageMb: number;
}

export interface TerminalProfile {
  readonly index: number;
  readonly sn: string;
  readonly tid: string;
  readonly mid: string;
  readonly model: string;
  readonly firmwareTier: FirmwareTier;
  readonly firmwareVersion: string;
  readonly appVersion: string;
  readonly imei: string;
  readonly utcOffsetMin: number;
  /** Seed of the terminal's dynamic state stream. */
  readonly stateSeed: number;
  readonly rebootsPerDay: number;
  readonly merchant: {
    /** Opening and closing time, minutes after local midnight. */
    readonly opensAtMin: number;
    readonly closesAtMin: number;
    /** Terminal sits on a charging dock while the shop is open. */
    readonly docked: boolean;
    /** Probability the merchant puts it on charge overnight. */
    readonly chargesOvernight: number;
    /** Card transactions per hour while open, on average (street stall: a few; busy shop: dozens). */
    readonly txPerOpenHour: number;
  };
  readonly battery: {
    readonly degraded: boolean;
    /** Remaining capacity relative to new, 0..1. */
    readonly health: number;
    /** Drain while in use (shop open), percent per hour at full health. */
    readonly activeDrainPctPerHour: number;
    /** Drain while idle, percent per hour. */
    readonly idleDrainPctPerHour: number;
    readonly chargePctPerHour: number;
    /** Ambient temperature where it sits, degrees C. */
    readonly ambientC: number;
  };
  readonly radio: {
    readonly environment: SignalEnvironment;
    readonly carrier: CarrierId;
    readonly carrierName: string;
    readonly mccMnc: string;
    readonly baseRsrp: number;
    readonly baseSinr: number;
    readonly fallbackRats: ReadonlyArray<'GSM' | 'UMTS'>;
    /** LTE cell identities in reach (decimal ECI). */
    readonly cells: readonly number[];
    /** 2G/3G cell ids used while on a fallback RAT. */
    readonly legacyCells: readonly number[];
  };
  readonly sim: {
    readonly iccid: string;
    readonly type: SimType;
    readonly plan: PlanProfile;
  };
  readonly location: {
    readonly city: string;
    readonly region: string;
    readonly registered: GeoPoint;
    /** Where it actually is (differs from registered by metres, or by a whole country when relocated). */
    readonly actual: GeoPoint;
    readonly relocated: boolean;
    readonly source: 'gps' | 'cell';
  };
  /** Alert scenario this terminal plays (--scenario), null for most. */
  readonly scenario: TerminalScenario | null;
}

/** Dimensions of the low-discrepancy sequence, one per categorical trait. */
const Dim = {
  Signal: 0,
  Plan: 1,
  Model: 2,
  Firmware: 3,
  Carrier: 4,
  SimType: 5,
  Degraded: 6,
  Docked: 7,
  Relocated: 8,
  LocationSource: 9,
} as const;

function shareFlag(share: number): ReadonlyArray<WeightedValue<boolean>> {
  return [
    { value: true, weight: share },
    { value: false, weight: 1 - share },
  ];
}

/** Merchant opening times: most open 8-10, close 20-22; some street vendors keep odd hours. */
function merchantHours(rng: Prng): { opensAtMin: number; closesAtMin: number } {
  if (rng.chance(0.1)) {
    // night market / late-night restaurant
    return { opensAtMin: rng.int(14, 17) * 60 + rng.pick([0, 30]), closesAtMin: rng.int(23 * 60, 23 * 60 + 50) };
  }
  return { opensAtMin: rng.int(7, 10) * 60 + rng.pick([0, 30]), closesAtMin: rng.int(19, 22) * 60 + rng.pick([0, 30]) };
}

function planProfile(scenario: PlanScenario, simType: SimType, rng: Prng): PlanProfile {
  const failureReason = rng.pick(RENEWAL_FAILURE_REASONS[simType]);
  // eSIMs renew automatically; physical SIMs are usually on auto-renew too, but often paid manually.
  const defaultAutoRenew = simType === 'esim' ? true : rng.chance(0.85);
  let allowanceMb = rng.weighted(DATA_ALLOWANCES_MB);
  const usageShare = (): number => rng.float(0.15, 0.7);
  let monthlyUsageMb = (allowanceMb ?? 60) * usageShare();
  const base = {
    scenario,
    autoRenew: defaultAutoRenew,
    renewalFails: false,
    failureReason,
    lastFailedRenewalDaysAgo: null,
  };
  switch (scenario) {
    case 'healthy':
      return { ...base, autoRenew: true, expiryOffsetDays: rng.int(31, 365), allowanceMb, monthlyUsageMb };
    case 'expiring_soon':
      return { ...base, expiryOffsetDays: rng.int(1, 30), allowanceMb, monthlyUsageMb };
    case 'auto_renew_off':
      return { ...base, autoRenew: false, expiryOffsetDays: rng.int(31, 365), allowanceMb, monthlyUsageMb };
    case 'renewal_failed':
      return {
        ...base,
        autoRenew: true,
        renewalFails: true,
        expiryOffsetDays: rng.int(0, 3),
        lastFailedRenewalDaysAgo: rng.int(0, 2),
        allowanceMb,
        monthlyUsageMb,
      };
    case 'grace':
      return {
        ...base,
        renewalFails: defaultAutoRenew,
        expiryOffsetDays: -rng.int(1, 14),
        lastFailedRenewalDaysAgo: defaultAutoRenew ? rng.int(1, 14) : null,
        allowanceMb,
        monthlyUsageMb,
      };
    case 'expired':
      return { ...base, autoRenew: false, expiryOffsetDays: -rng.int(16, 120), allowanceMb, monthlyUsageMb: 0 };
    case 'suspended':
      return {
        ...base,
        expiryOffsetDays: rng.int(20, 300),
        lastFailedRenewalDaysAgo: rng.chance(0.5) ? rng.int(3, 40) : null,
        renewalFails: false,
        failureReason: 'payment_declined',
        allowanceMb,
        monthlyUsageMb: 0,
      };
    case 'near_allowance':
      allowanceMb = allowanceMb ?? 30;
      monthlyUsageMb = allowanceMb * rng.float(0.95, 1.3);
      return { ...base, autoRenew: true, expiryOffsetDays: rng.int(31, 365), allowanceMb, monthlyUsageMb };
  }
}

/** Profile of the index-th terminal (1-based). */
export function generateTerminalProfile(index: number, options: FleetOptions): TerminalProfile {
  if (!Number.isInteger(index) || index < 1) throw new Error(`terminal index must be a positive integer, got ${index}`);
  const sn = terminalSn(options.snPrefix, index);
  const trait = (dim: number): number => lowDiscrepancy(index, dim, new Prng(deriveSeed(options.seed, 'dimension', dim)).next());
  const rng = new Prng(deriveSeed(options.seed, sn, 'profile'));

  const environment = pickByShare(SIGNAL_ENVIRONMENT_SHARES, trait(Dim.Signal));
  const scenario = pickByShare(PLAN_SCENARIOS, trait(Dim.Plan));
  const model = pickByShare(TERMINAL_MODELS, trait(Dim.Model));
  const firmwareTier = pickByShare(FIRMWARE_TIERS, trait(Dim.Firmware));
  const carrier = pickByShare(CARRIERS, trait(Dim.Carrier));
  const simType = pickByShare(SIM_TYPES, trait(Dim.SimType));
  const degraded = pickByShare(shareFlag(BATTERY_DEGRADED_SHARE), trait(Dim.Degraded));
  const docked = pickByShare(shareFlag(DOCKED_SHARE), trait(Dim.Docked));
  const relocated = pickByShare(shareFlag(RELOCATED_SHARE), trait(Dim.Relocated));
  const locationSource = pickByShare(LOCATION_SOURCES, trait(Dim.LocationSource));

  const envSpec = SIGNAL_ENVIRONMENTS[environment];
  const city = rng.weighted(CITIES);
  const registered = randomPointWithin(city.lat, city.lon, 12_000, rng);
  let actual: GeoPoint = offsetByMetres(registered.lat, registered.lon, rng.normal(0, 15), rng.normal(0, 15));
  if (relocated) {
    const far = CITIES.map((c) => c.value).filter((c) => distanceMetres(c, city) > 800_000);
    const target = far.length > 0 ? rng.pick(far) : city;
    actual = randomPointWithin(target.lat, target.lon, 8_000, rng);
  }

  const health = degraded ? rng.float(0.3, 0.5) : rng.float(0.8, 1);
  const eNodeB = rng.int(100_000, 900_000);
  const cellCount = environment === 'weak' ? 3 : 2;
  const cells = Array.from({ length: cellCount }, (_, i) => eNodeB * 256 + ((rng.int(1, 3) + i * 3) % 256));
  const legacyCells = Array.from({ length: 2 }, () => rng.int(1000, 65_000));
  // Own stream, so adding transactions left every other trait of a seed's fleet unchanged.
  const txPerOpenHour = clampNumber(Math.exp(new Prng(deriveSeed(options.seed, sn, 'tx')).normal(Math.log(10), 0.7)), 1, 60);

  return {
    index,
    sn,
    tid: makeTid(index, deriveSeed(options.seed, options.snPrefix, 'tid')),
    mid: makeMid(city.areaCode, rng.pick(MERCHANT_CATEGORY_CODES), rng),
    model: model.name,
    firmwareTier,
    firmwareVersion: model.firmware[firmwareTier],
    appVersion: APP_VERSIONS[firmwareTier],
    imei: makeImei(model.tac, scrambledSerial(index, deriveSeed(options.seed, options.snPrefix, 'imei') % 1_000_000)),
    utcOffsetMin: CHINA_UTC_OFFSET_MIN,
    stateSeed: deriveSeed(options.seed, sn, 'state'),
    rebootsPerDay: REBOOTS_PER_DAY[firmwareTier],
    merchant: { ...merchantHours(rng), docked, chargesOvernight: rng.float(0.85, 0.99), txPerOpenHour },
    battery: {
      degraded,
      health,
      // A healthy 2600 mAh terminal loses ~3-5 %/h while in use, so it lasts a business day.
      activeDrainPctPerHour: rng.float(3, 5) * (2600 / model.batteryMah) ** 0.5,
      idleDrainPctPerHour: rng.float(0.3, 0.8),
      chargePctPerHour: rng.float(35, 55),
      ambientC: rng.float(16, 30),
    },
    radio: {
      environment,
      carrier: carrier.id,
      carrierName: carrier.name,
      mccMnc: rng.weighted(carrier.mccMnc),
      baseRsrp: rng.float(envSpec.rsrp[0], envSpec.rsrp[1]),
      baseSinr: rng.float(envSpec.sinr[0], envSpec.sinr[1]),
      fallbackRats: carrier.fallbackRats.filter((r): r is 'GSM' | 'UMTS' => r === 'GSM' || r === 'UMTS'),
      cells,
      legacyCells,
    },
    sim: {
      iccid: makeIccid(rng.pick(carrier.iccidPrefixes), rng.chance(0.9) ? 20 : 19, rng),
      type: simType,
      plan: planProfile(scenario, simType, rng),
    },
    location: { city: city.name, region: city.region, registered, actual, relocated, source: locationSource },
    scenario: null,
  };
}

function clampNumber(x: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x));
}

export function generateFleet(count: number, options: FleetOptions): TerminalProfile[] {
  return Array.from({ length: count }, (_, i) => generateTerminalProfile(i + 1, options));
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** What the enrolment endpoint is told about a simulated terminal. */
export function toRegistration(profile: TerminalProfile): TerminalRegistration {
  return {
    sn: profile.sn,
    model: profile.model,
    tid: profile.tid,
    mid: profile.mid,
    registeredLat: round6(profile.location.registered.lat),
    registeredLon: round6(profile.location.registered.lon),
    city: profile.location.city,
    region: profile.location.region,
  };
}
