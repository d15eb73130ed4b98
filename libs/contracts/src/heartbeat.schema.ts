import { z } from 'zod';

/** Current heartbeat schema version. Terminals send it as `v`. */
export const HEARTBEAT_SCHEMA_VERSION = 1;
/** Largest heartbeat payload the backend accepts, in bytes. */
export const HEARTBEAT_MAX_BYTES_DEFAULT = 8192;

const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

export const RadioAccessTechnology = z.enum(['GSM', 'UMTS', 'LTE', 'LTE-M', 'NB-IoT', 'NR']);
export const DataPlanStatus = z.enum(['active', 'grace', 'suspended', 'expired']);
export const SimType = z.enum(['physical', 'esim']);
export const RenewalResult = z.enum(['success', 'failed']);
export const LocationSource = z.enum(['gps', 'cell']);

export const batterySchema = z.looseObject({
  /** State of charge, percent. */
  percent: z.number().min(0).max(100),
  charging: z.boolean(),
  /** Battery temperature, degrees Celsius. */
  temperatureC: z.number().min(-40).max(100).optional(),
});

export const signalSchema = z.looseObject({
  rat: RadioAccessTechnology,
  /** Reference signal received power, dBm (LTE/NR). */
  rsrp: z.number().min(-156).max(-31).optional(),
  /** Reference signal received quality, dB. */
  rsrq: z.number().min(-43).max(20).optional(),
  /** Signal to interference plus noise ratio, dB. */
  sinr: z.number().min(-23).max(40).optional(),
  /** Received signal strength indicator, dBm. */
  rssi: z.number().min(-120).max(-25).optional(),
  /** 3GPP 27.007 AT+CSQ value: 0..31, 99 = unknown. */
  csq: z
    .number()
    .int()
    .min(0)
    .max(99)
    .refine((v) => v <= 31 || v === 99, 'csq must be 0..31 or 99')
    .optional(),
  /** Serving operator, MCC followed by MNC, e.g. "46000". */
  mccMnc: z.string().regex(/^\d{5,6}$/, 'mccMnc must be 5 or 6 digits'),
  /** Serving cell id (E-UTRAN/NR cell identity), as a decimal or hex string. */
  cellId: z.string().min(1).max(32).optional(),
});

export const renewalAttemptSchema = z.looseObject({
  at: isoDateTime,
  result: RenewalResult,
  /** Carrier or eSIM platform reason when result is "failed", e.g. "payment_declined". */
  reason: z.string().max(200).optional(),
});

export const dataPlanSchema = z.looseObject({
  status: DataPlanStatus,
  /** Last day the plan is paid for (terminal's local calendar date). */
  expiresAt: isoDate,
  autoRenew: z.boolean(),
  lastRenewal: renewalAttemptSchema.optional(),
  /** Data used in the current billing period, MiB. */
  usedMb: z.number().min(0).max(10_000_000),
  /** Allowance for the period, MiB; omitted when unmetered. */
  allowanceMb: z.number().min(0).max(10_000_000).optional(),
});

export const simSchema = z.looseObject({
  iccid: z.string().regex(/^\d{18,22}$/, 'iccid must be 18 to 22 digits'),
  imei: z.string().regex(/^\d{15}$/, 'imei must be 15 digits'),
  type: SimType,
  carrier: z.string().min(1).max(64),
  plan: dataPlanSchema,
});

export const locationSchema = z.looseObject({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  /** Horizontal accuracy radius, metres. */
  accuracyM: z.number().min(0).max(1_000_000),
  source: LocationSource,
});

/** Host response codes are two decimal digits, e.g. "92". */
export const TX_RESPONSE_CODE_PATTERN = /^\d{2}$/;
/** At most this many distinct response codes in one heartbeat's `tx.declinesByCode`. */
export const TX_MAX_DECLINE_CODES = 32;
/** Largest count of one kind in one heartbeat's `tx` (a terminal does far fewer per interval). */
export const TX_MAX_COUNT = 100_000;

const txCount = z.number().int().min(0).max(TX_MAX_COUNT);

export const txReversalsSchema = z.looseObject({
  /** Reversals outstanding now (sent or queued, not yet acknowledged by the host). */
  pending: txCount,
  /** Reversals the host acknowledged since the previous heartbeat (money returned to the cardholder). */
  succeeded: txCount,
  /** Reversals given up since the previous heartbeat (cardholder charged; the merchant must refund or claim). */
  failed: txCount,
});

/** Transaction health since the previous heartbeat (optional section; terminals without it stay valid). */
export const txSchema = z
  .looseObject({
    approved: txCount,
    /** Every declined or failed attempt, with or without a host response code. */
    declined: txCount,
    /** Declines that carried a host response code, by code, e.g. { "92": 3, "97": 1 }. */
    declinesByCode: z
      .record(z.string().regex(TX_RESPONSE_CODE_PATTERN, 'response codes are two digits'), txCount)
      .refine((codes) => Object.keys(codes).length <= TX_MAX_DECLINE_CODES, `at most ${TX_MAX_DECLINE_CODES} response codes`),
    reversals: txReversalsSchema,
  })
  .refine((tx) => Object.values(tx.declinesByCode).reduce((sum, n) => sum + n, 0) <= tx.declined, {
    message: 'declinesByCode adds up to more than declined',
    path: ['declinesByCode'],
  });

export const heartbeatSchema = z.looseObject({
  v: z.literal(HEARTBEAT_SCHEMA_VERSION),
  /** Terminal clock at the time of sampling, RFC 3339 with offset. */
  ts: isoDateTime,
  /** Sequence number, restarts at 0 on every boot. */
  seq: z.number().int().min(0).max(2_147_483_647),
  model: z.string().min(1).max(64),
  firmware: z.looseObject({
    version: z.string().min(1).max(64),
    appVersion: z.string().min(1).max(64),
  }),
  battery: batterySchema,
  signal: signalSchema,
  sim: simSchema,
  location: locationSchema.optional(),
  tx: txSchema.optional(),
  /** Seconds since boot. */
  uptimeS: z
    .number()
    .int()
    .min(0)
    .max(10 * 365 * 24 * 3600),
});

export type Heartbeat = z.infer<typeof heartbeatSchema>;
export type HeartbeatBattery = z.infer<typeof batterySchema>;
export type HeartbeatSignal = z.infer<typeof signalSchema>;
export type HeartbeatSim = z.infer<typeof simSchema>;
export type HeartbeatDataPlan = z.infer<typeof dataPlanSchema>;
export type HeartbeatLocation = z.infer<typeof locationSchema>;
export type HeartbeatTx = z.infer<typeof txSchema>;
export type HeartbeatTxReversals = z.infer<typeof txReversalsSchema>;
export type RadioAccessTechnology = z.infer<typeof RadioAccessTechnology>;
export type DataPlanStatus = z.infer<typeof DataPlanStatus>;
export type SimType = z.infer<typeof SimType>;
