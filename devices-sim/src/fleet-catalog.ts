/**
 * Static tables the simulated fleet is drawn from. Models, versions and carriers' identifiers are made up
 * or public numbering (MCC/MNC); shares follow the domain brief (see devices-sim/README.md).
 */
import type { RadioAccessTechnology, SimType } from '#contracts';
import type { WeightedValue } from './prng.js';

export interface TerminalModelSpec {
  readonly name: string;
  /** Type Allocation Code: first 8 digits of the IMEI. */
  readonly tac: string;
  /** Firmware version per tier, latest first. */
  readonly firmware: Readonly<Record<FirmwareTier, string>>;
  /** Battery capacity, mAh (only used to vary drain rates). */
  readonly batteryMah: number;
}

export type FirmwareTier = 'latest' | 'previous' | 'old' | 'legacy';

export const TERMINAL_MODELS: ReadonlyArray<WeightedValue<TerminalModelSpec>> = [
  {
    weight: 30,
    value: {
      name: 'QP-E20',
      tac: '86472105',
      batteryMah: 2600,
      firmware: { latest: 'E20_V3.2.1', previous: 'E20_V3.1.4', old: 'E20_V2.9.0', legacy: 'E20_V2.4.7' },
    },
  },
  {
    weight: 20,
    value: {
      name: 'QP-E20 Pro',
      tac: '86472106',
      batteryMah: 3200,
      firmware: { latest: 'E20P_V3.2.1', previous: 'E20P_V3.1.4', old: 'E20P_V2.9.0', legacy: 'E20P_V2.4.7' },
    },
  },
  {
    weight: 22,
    value: {
      name: 'NovaSign N5',
      tac: '35811204',
      batteryMah: 2200,
      firmware: { latest: 'N5-1.18.0', previous: 'N5-1.17.2', old: 'N5-1.12.5', legacy: 'N5-1.08.1' },
    },
  },
  {
    weight: 18,
    value: {
      name: 'SignPad S8',
      tac: '86903317',
      batteryMah: 2500,
      firmware: { latest: 'S8.4.0.2', previous: 'S8.3.9.7', old: 'S8.3.2.0', legacy: 'S8.2.6.4' },
    },
  },
  {
    weight: 10,
    value: {
      name: 'Keystone K2 Lite',
      tac: '86155002',
      batteryMah: 1800,
      firmware: { latest: 'K2L_2.0.6', previous: 'K2L_2.0.3', old: 'K2L_1.9.1', legacy: 'K2L_1.6.0' },
    },
  },
];

/** Most terminals run the latest firmware; a tail is one, two or many releases behind. */
export const FIRMWARE_TIERS: ReadonlyArray<WeightedValue<FirmwareTier>> = [
  { value: 'latest', weight: 75 },
  { value: 'previous', weight: 15 },
  { value: 'old', weight: 7 },
  { value: 'legacy', weight: 3 },
];

/** Payment application version that ships with each firmware tier. */
export const APP_VERSIONS: Readonly<Record<FirmwareTier, string>> = {
  latest: '5.12.3',
  previous: '5.11.0',
  old: '5.8.2',
  legacy: '4.9.6',
};

/** Firmware crashes/watchdog reboots per day, by tier (older firmware is less stable). */
export const REBOOTS_PER_DAY: Readonly<Record<FirmwareTier, number>> = {
  latest: 1 / 45,
  previous: 1 / 30,
  old: 1 / 12,
  legacy: 1 / 4,
};

export type CarrierId = 'cmcc' | 'unicom' | 'telecom';

export interface CarrierSpec {
  readonly id: CarrierId;
  readonly name: string;
  /** Home network codes with their relative frequency. */
  readonly mccMnc: ReadonlyArray<WeightedValue<string>>;
  /** ICCID issuer prefix (89 86 + issuer), matching the MNC family. */
  readonly iccidPrefixes: readonly string[];
  /** 2G/3G technologies the carrier still runs for fallback; empty = LTE only. */
  readonly fallbackRats: readonly RadioAccessTechnology[];
}

export const CARRIERS: ReadonlyArray<WeightedValue<CarrierSpec>> = [
  {
    weight: 55,
    value: {
      id: 'cmcc',
      name: 'China Mobile',
      mccMnc: [
        { value: '46000', weight: 70 },
        { value: '46002', weight: 20 },
        { value: '46007', weight: 10 },
      ],
      iccidPrefixes: ['898600', '898602', '898604', '898607'],
      fallbackRats: ['GSM'],
    },
  },
  {
    weight: 30,
    value: {
      id: 'unicom',
      name: 'China Unicom',
      mccMnc: [
        { value: '46001', weight: 80 },
        { value: '46006', weight: 20 },
      ],
      iccidPrefixes: ['898601', '898606', '898609'],
      fallbackRats: ['UMTS', 'GSM'],
    },
  },
  {
    weight: 15,
    value: {
      id: 'telecom',
      name: 'China Telecom',
      mccMnc: [
        { value: '46011', weight: 75 },
        { value: '46003', weight: 25 },
      ],
      iccidPrefixes: ['898603', '898611'],
      // CDMA is switched off; a Telecom terminal in a weak spot stays on poor LTE.
      fallbackRats: [],
    },
  },
];

export const SIM_TYPES: ReadonlyArray<WeightedValue<SimType>> = [
  { value: 'physical', weight: 65 },
  { value: 'esim', weight: 35 },
];

/** Where the terminal sits, which sets its radio baseline. */
export type SignalEnvironment = 'good' | 'fair' | 'weak';

export interface SignalEnvironmentSpec {
  /** Baseline RSRP range, dBm. */
  readonly rsrp: readonly [number, number];
  /** Baseline SINR range, dB. */
  readonly sinr: readonly [number, number];
  /** Standard deviation of the random walk around the baseline, dB. */
  readonly rsrpSd: number;
  readonly sinrSd: number;
  /** Cell reselections per hour. */
  readonly cellChangesPerHour: number;
}

export const SIGNAL_ENVIRONMENTS: Readonly<Record<SignalEnvironment, SignalEnvironmentSpec>> = {
  good: { rsrp: [-95, -75], sinr: [10, 25], rsrpSd: 3, sinrSd: 2.5, cellChangesPerHour: 1 / 6 },
  fair: { rsrp: [-105, -95], sinr: [3, 12], rsrpSd: 3.5, sinrSd: 3, cellChangesPerHour: 1 / 3 },
  // basements, lifts, metal cabinets
  weak: { rsrp: [-125, -110], sinr: [-6, 3], rsrpSd: 4.5, sinrSd: 3, cellChangesPerHour: 1 },
};

export const SIGNAL_ENVIRONMENT_SHARES: ReadonlyArray<WeightedValue<SignalEnvironment>> = [
  { value: 'good', weight: 75 },
  { value: 'fair', weight: 13 },
  { value: 'weak', weight: 12 },
];

/** Below this RSRP a weak-spot terminal may lose LTE and fall back to 2G/3G. */
export const RAT_FALLBACK_RSRP = -116;

/**
 * Data-plan situations at simulator start. Dynamic transitions (renewal, grace, expiry, monthly reset)
 * happen in the terminal model as simulated time passes.
 */
export type PlanScenario = 'healthy' | 'expiring_soon' | 'auto_renew_off' | 'renewal_failed' | 'grace' | 'expired' | 'suspended' | 'near_allowance';

export const PLAN_SCENARIOS: ReadonlyArray<WeightedValue<PlanScenario>> = [
  { value: 'healthy', weight: 60 },
  { value: 'expiring_soon', weight: 10 },
  { value: 'auto_renew_off', weight: 8 },
  { value: 'renewal_failed', weight: 5 },
  { value: 'grace', weight: 5 },
  { value: 'near_allowance', weight: 5 },
  { value: 'expired', weight: 4 },
  { value: 'suspended', weight: 3 },
];

/** Days a lapsed plan keeps working before it is cut off. */
export const PLAN_GRACE_DAYS = 15;
/** Automatic renewal is attempted daily from this many days before expiry. */
export const RENEWAL_WINDOW_DAYS = 3;
/** Local time of day (minutes after midnight) the carrier/eSIM platform runs automatic renewals. */
export const RENEWAL_RUN_LOCAL_MIN = 3 * 60;

/** Monthly allowance in MiB; undefined = unmetered. */
export const DATA_ALLOWANCES_MB: ReadonlyArray<WeightedValue<number | undefined>> = [
  { value: 30, weight: 30 },
  { value: 50, weight: 30 },
  { value: 70, weight: 15 },
  { value: 100, weight: 20 },
  { value: undefined, weight: 5 },
];

export const RENEWAL_FAILURE_REASONS: Readonly<Record<SimType, readonly string[]>> = {
  physical: ['payment_declined', 'insufficient_balance', 'card_expired'],
  esim: ['esim_profile_error', 'payment_declined', 'esim_platform_timeout'],
};

export const BATTERY_DEGRADED_SHARE = 0.05;
/** Share of merchants who keep the terminal on a charging dock while open. */
export const DOCKED_SHARE = 0.3;

export const LOCATION_SOURCES: ReadonlyArray<WeightedValue<'gps' | 'cell'>> = [
  { value: 'gps', weight: 70 },
  { value: 'cell', weight: 30 },
];

/** Share of terminals reporting from far away from where they were registered (risk-control case). */
export const RELOCATED_SHARE = 0.01;

export interface CitySpec {
  readonly name: string;
  /** Province (or municipality): what campaigns target by region. */
  readonly region: string;
  readonly lat: number;
  readonly lon: number;
  /** Four-digit area code used inside generated merchant ids. */
  readonly areaCode: string;
}

export const CITIES: ReadonlyArray<WeightedValue<CitySpec>> = [
  { weight: 12, value: { name: 'Beijing', region: 'Beijing', lat: 39.9042, lon: 116.4074, areaCode: '1000' } },
  { weight: 12, value: { name: 'Shanghai', region: 'Shanghai', lat: 31.2304, lon: 121.4737, areaCode: '2900' } },
  { weight: 10, value: { name: 'Guangzhou', region: 'Guangdong', lat: 23.1291, lon: 113.2644, areaCode: '5810' } },
  { weight: 10, value: { name: 'Shenzhen', region: 'Guangdong', lat: 22.5431, lon: 114.0579, areaCode: '5840' } },
  { weight: 8, value: { name: 'Chengdu', region: 'Sichuan', lat: 30.5728, lon: 104.0668, areaCode: '6510' } },
  { weight: 7, value: { name: 'Chongqing', region: 'Chongqing', lat: 29.563, lon: 106.5516, areaCode: '6530' } },
  { weight: 7, value: { name: 'Hangzhou', region: 'Zhejiang', lat: 30.2741, lon: 120.1551, areaCode: '3310' } },
  { weight: 6, value: { name: 'Wuhan', region: 'Hubei', lat: 30.5928, lon: 114.3055, areaCode: '5210' } },
  { weight: 6, value: { name: "Xi'an", region: 'Shaanxi', lat: 34.3416, lon: 108.9398, areaCode: '7910' } },
  { weight: 5, value: { name: 'Nanjing', region: 'Jiangsu', lat: 32.0603, lon: 118.7969, areaCode: '3010' } },
  { weight: 5, value: { name: 'Tianjin', region: 'Tianjin', lat: 39.3434, lon: 117.3616, areaCode: '1100' } },
  { weight: 4, value: { name: 'Changsha', region: 'Hunan', lat: 28.2282, lon: 112.9388, areaCode: '5510' } },
  { weight: 3, value: { name: 'Zhengzhou', region: 'Henan', lat: 34.7466, lon: 113.6254, areaCode: '4910' } },
  { weight: 2, value: { name: 'Kunming', region: 'Yunnan', lat: 25.0389, lon: 102.7183, areaCode: '7310' } },
  { weight: 2, value: { name: 'Harbin', region: 'Heilongjiang', lat: 45.8038, lon: 126.535, areaCode: '2610' } },
  { weight: 1, value: { name: 'Xiamen', region: 'Fujian', lat: 24.4798, lon: 118.0894, areaCode: '3930' } },
];

/** Merchant category codes used inside generated merchant ids (restaurants, groceries, convenience stores). */
export const MERCHANT_CATEGORY_CODES = ['5812', '5411', '5499', '5814', '5331'] as const;

/** China Standard Time; every simulated terminal keeps local time in UTC+8. */
export const CHINA_UTC_OFFSET_MIN = 480;
