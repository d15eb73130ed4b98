import { z } from 'zod';
import { isValidPlaceName, PLACE_NAME_MAX } from '#contracts';
import { HEARTBEAT_FIELDS, TERMINAL_STATE_FIELDS, type PgType, type TerminalField, type TerminalStateKey } from '#db';

export const SN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{3,31}$/;
export const PLAN_STATUSES = ['active', 'grace', 'suspended', 'expired'] as const;
export const TERMINAL_SORTS = ['sn', 'lastSeen', 'battery', 'signal', 'planExpiry'] as const;
export type TerminalSort = (typeof TERMINAL_SORTS)[number];

/** Allowed telemetry bucket widths (bound as an interval parameter, never interpolated). */
export const TELEMETRY_BUCKETS = ['1 minute', '5 minutes', '15 minutes', '30 minutes', '1 hour', '3 hours', '6 hours', '12 hours', '1 day', '7 days'] as const;
export type TelemetryBucket = (typeof TELEMETRY_BUCKETS)[number];

export const LIST_MAX_LIMIT = 500;
export const IMPORT_MAX_ROWS = 50_000;
export const TELEMETRY_MAX_SPAN_DAYS = 90;
export const TELEMETRY_MAX_BUCKETS = 10_000;
export const TELEMETRY_RAW_MAX = 1000;

const booleanString = z.enum(['true', 'false']).transform((v) => v === 'true');
const versionString = z.string().max(64).regex(/[0-9]/, 'must contain a version number');

/** City or region name: trimmed, 1-64 characters, no control characters (as the registry checks). */
export const placeName = z
  .string()
  .trim()
  .min(1)
  .max(PLACE_NAME_MAX)
  .refine((s) => isValidPlaceName(s), 'no control characters');

export const snParam = z.object({ sn: z.string().regex(SN_PATTERN, 'not a terminal serial number').describe('Terminal serial number') });

/** Filters shared by the list and the CSV export. */
export const terminalFilterQuery = z.object({
  providerId: z.uuid().optional().describe('Only terminals of this provider and its sub-providers (must be in scope)'),
  model: z.string().min(1).max(64).optional().describe('Registered model, exact'),
  firmwareVersion: z.string().min(1).max(64).optional().describe('Reported firmware version, exact'),
  firmwareMin: versionString.optional().describe('Firmware version >= this, compared numerically per dot-separated component (e.g. 3.1 < 3.10)'),
  firmwareMax: versionString.optional().describe('Firmware version <= this, compared like firmwareMin'),
  online: booleanString.optional().describe('Connected now (false includes terminals never seen)'),
  planStatus: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    )
    .pipe(z.array(z.enum(PLAN_STATUSES)).min(1))
    .optional()
    .describe('Data plan status; comma-separated list of active, grace, suspended, expired'),
  planExpiringWithinDays: z.coerce.number().int().min(0).max(3650).optional().describe('Plan expires between today and today + N days'),
  autoRenew: z.enum(['off', 'failed']).optional().describe('off: plan auto-renew disabled; failed: last renewal failed'),
  batteryBelow: z.coerce.number().min(0).max(100).optional().describe('Battery below this percentage'),
  signalBelow: z.coerce.number().min(-200).max(0).optional().describe('RSRP below this many dBm'),
  lastSeenBefore: z.iso.datetime({ offset: true }).optional().describe('Last heartbeat before this time, or never'),
  status: z.enum(['active', 'disabled']).optional().describe('Registry status'),
  city: placeName.optional().describe('Registered city, exact'),
  region: placeName.optional().describe('Registered region (province, state), exact'),
  q: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'SN prefix: letters, digits, "-" or "_"')
    .optional()
    .describe('SN prefix'),
  sort: z.enum(TERMINAL_SORTS).default('sn').describe('Sort key; ties are broken by SN. Terminals without a value sort last in both orders'),
  order: z.enum(['asc', 'desc']).default('asc'),
});
export type TerminalFilterQuery = z.infer<typeof terminalFilterQuery>;

export const terminalListQuery = terminalFilterQuery.extend({
  limit: z.coerce.number().int().min(1).max(LIST_MAX_LIMIT).default(50),
  cursor: z.string().max(1000).optional().describe('nextCursor of the previous page'),
});

export const telemetryQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('Start (inclusive); default: 24 hours before `to`'),
  to: z.iso.datetime({ offset: true }).optional().describe('End (exclusive); default: now'),
  bucket: z.enum(TELEMETRY_BUCKETS).optional().describe('Bucket width; default: the smallest giving at most 300 buckets'),
  raw: booleanString.default(false).describe(`true: raw heartbeats (newest first, at most ${TELEMETRY_RAW_MAX}) instead of buckets`),
  limit: z.coerce.number().int().min(1).max(TELEMETRY_RAW_MAX).default(TELEMETRY_RAW_MAX).describe('Raw mode only'),
});

export const presenceQuery = z.object({
  from: z.iso.datetime({ offset: true }).optional().describe('Oldest event time (inclusive); default: none'),
  to: z.iso.datetime({ offset: true }).optional().describe('Newest event time (exclusive); default: none'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const createTerminalBody = z
  .object({
    sn: z.string().regex(SN_PATTERN, '4-32 letters, digits, "-" or "_", starting with a letter or digit'),
    model: z.string().trim().min(1).max(64),
    tid: z
      .string()
      .regex(/^[A-Za-z0-9]{8}$/, '8 letters or digits')
      .optional(),
    mid: z.string().min(1).max(32).optional(),
    /** Defaults to the caller's own provider (provider keys) or the root (ops keys). */
    providerId: z.uuid().optional(),
    registeredLat: z.number().min(-90).max(90).optional(),
    registeredLon: z.number().min(-180).max(180).optional(),
    city: placeName.optional().describe('City where the terminal stands (campaign targeting, filters)'),
    region: placeName.optional().describe('Region (province, state) where the terminal stands'),
  })
  .refine((b) => (b.registeredLat === undefined) === (b.registeredLon === undefined), {
    message: 'registered location needs both registeredLat and registeredLon',
    path: ['registeredLon'],
  });

export const updateTerminalBody = z
  .strictObject({
    city: placeName.nullable().optional().describe('New city; null clears it; absent leaves it'),
    region: placeName.nullable().optional().describe('New region; null clears it; absent leaves it'),
  })
  .refine((b) => b.city !== undefined || b.region !== undefined, { message: 'give city and/or region' });

export const importJsonBody = z.object({ csv: z.string().min(1).describe('The CSV text (same columns as a text/csv body)') });

export const moveBody = z.object({ providerId: z.uuid() });

// ---- response views ----

const isoTime = z.iso.datetime();
const isoDate = z.iso.date();

/** Latest-state fields of a list item (and CSV export columns), in this order. */
export const SUMMARY_STATE_KEYS = [
  'firmwareVersion',
  'appVersion',
  'batteryPct',
  'charging',
  'rsrp',
  'rat',
  'planStatus',
  'planExpiresOn',
  'planAutoRenew',
  'renewalResult',
  'dataUsedMb',
  'dataAllowanceMb',
] as const satisfies readonly TerminalStateKey[];
export type SummaryStateKey = (typeof SUMMARY_STATE_KEYS)[number];

/** How the API shows each stored type (times as ISO strings). */
const FIELD_SCHEMAS = {
  text: z.string(),
  int2: z.number().int(),
  int4: z.number().int(),
  int8: z.number(),
  float4: z.number(),
  float8: z.number(),
  bool: z.boolean(),
  date: isoDate,
  timestamptz: isoTime,
  jsonb: z.record(z.string(), z.unknown()),
} satisfies Record<PgType, z.ZodType>;

type FieldSchema<F extends TerminalField> = F['notNull'] extends true ? (typeof FIELD_SCHEMAS)[F['type']] : z.ZodNullable<(typeof FIELD_SCHEMAS)[F['type']]>;

/** Object shape of declared fields, in declaration order. */
function fieldShape<Fs extends readonly TerminalField[]>(fields: Fs): { [F in Fs[number] as F['key']]: FieldSchema<F> } {
  return Object.fromEntries(fields.map((f) => [f.key, f.notNull ? FIELD_SCHEMAS[f.type] : FIELD_SCHEMAS[f.type].nullable()])) as {
    [F in Fs[number] as F['key']]: FieldSchema<F>;
  };
}

/** A zod pick mask that keeps the keys' order. */
const mask = <K extends string>(keys: readonly K[]) => Object.fromEntries(keys.map((k) => [k, true])) as { [P in K]: true };

const stateShape = fieldShape(TERMINAL_STATE_FIELDS);
export const terminalStateView = z.object({
  ...stateShape,
  extra: stateShape.extra.describe('Heartbeat fields this backend does not know, verbatim'),
});

export const terminalSummaryView = z.object({
  sn: z.string(),
  model: z.string(),
  tid: z.string().nullable(),
  mid: z.string().nullable(),
  city: z.string().nullable(),
  region: z.string().nullable(),
  providerId: z.uuid(),
  status: z.enum(['active', 'disabled']),
  online: z.boolean(),
  lastSeenAt: isoTime.nullable().describe('Terminal time of the last heartbeat'),
  ...terminalStateView.pick(mask(SUMMARY_STATE_KEYS)).shape,
});
export const terminalPage = z.object({
  items: z.array(terminalSummaryView),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

export const providerRefView = z.object({ id: z.uuid(), code: z.string(), name: z.string() });

export const terminalDetailView = z.object({
  sn: z.string(),
  model: z.string(),
  tid: z.string().nullable(),
  mid: z.string().nullable(),
  provider: providerRefView,
  registeredLocation: z.object({ lat: z.number(), lon: z.number() }).nullable(),
  city: z.string().nullable(),
  region: z.string().nullable(),
  status: z.enum(['active', 'disabled']),
  createdAt: isoTime,
  credentialRotatedAt: isoTime,
  state: terminalStateView.nullable().describe('Latest reported state; null before the first heartbeat or connection'),
  presence: z.object({
    online: z.boolean(),
    lastConnectedAt: isoTime.nullable(),
    lastDisconnectedAt: isoTime.nullable(),
    lastDisconnectReason: z.string().nullable(),
  }),
});

export const credentialsView = z.object({
  username: z.string().describe('MQTT username (the SN)'),
  secret: z.string().describe('MQTT password; shown only in this response'),
});
export const createdTerminalView = z.object({ terminal: terminalDetailView, credentials: credentialsView });

export const rowErrorView = z.object({
  row: z.number().int().describe('CSV line number (the header is line 1); 0 for a file-level error'),
  sn: z.string().nullable(),
  code: z
    .string()
    .describe(
      'TERMINAL_INVALID_SN, TERMINAL_INVALID_TID, TERMINAL_INVALID_FIELD, TERMINAL_DUPLICATE_IN_REQUEST, TERMINAL_ALREADY_EXISTS, TERMINAL_TID_IN_USE, TERMINAL_UNKNOWN_PROVIDER, TERMINAL_INVALID_CSV',
    ),
  message: z.string(),
});
export const importResultView = z.object({
  credentials: z.array(credentialsView.extend({ sn: z.string() })).describe('One per registered terminal; secrets are shown only here'),
  errors: z.array(rowErrorView),
});

const telemetryBucketView = z.object({
  time: isoTime.describe('Bucket start'),
  heartbeats: z.number().int(),
  batteryAvg: z.number().nullable(),
  batteryMin: z.number().nullable(),
  rsrpAvg: z.number().nullable(),
  rsrpMin: z.number().nullable(),
  sinrAvg: z.number().nullable(),
  dataUsedMbMax: z.number().nullable(),
  planStatus: z.string().nullable().describe('Plan status of the last heartbeat in the bucket'),
});
const rawHeartbeatView = terminalStateView.pick(mask(HEARTBEAT_FIELDS.map((f) => f.key))).extend({ time: isoTime, receivedAt: isoTime });
export const telemetryView = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('buckets'),
    sn: z.string(),
    from: isoTime,
    to: isoTime,
    bucket: z.enum(TELEMETRY_BUCKETS),
    items: z.array(telemetryBucketView).describe('Buckets holding at least one heartbeat, oldest first'),
  }),
  z.object({
    mode: z.literal('raw'),
    sn: z.string(),
    from: isoTime,
    to: isoTime,
    items: z.array(rawHeartbeatView).describe('Newest first'),
    truncated: z.boolean().describe('More heartbeats exist in the range than were returned'),
  }),
]);

export const presenceEventsView = z.object({
  items: z.array(z.object({ time: isoTime, online: z.boolean(), reason: z.string(), remoteIp: z.string().nullable() })).describe('Newest first'),
});

export const providerHistoryView = z.object({
  items: z
    .array(
      z.object({
        id: z.string(),
        movedAt: isoTime,
        from: providerRefView.nullable().describe('null for the first assignment, or when outside the caller\u2019s scope'),
        to: providerRefView.nullable().describe('null when outside the caller\u2019s scope'),
        actorKeyId: z.string().nullable(),
        requestId: z.string().nullable(),
      }),
    )
    .describe('Newest first'),
});
