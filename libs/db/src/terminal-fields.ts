import type { Heartbeat } from '#contracts';

/**
 * The one list of terminal telemetry/state fields. Each field is declared once: its API name, its
 * column (in heartbeats and terminal_state alike), its Postgres type and, for heartbeat fields, how
 * ingest reads it from a validated heartbeat. Ingest SQL, API SELECT lists, row types, views and
 * the OpenAPI schema are derived from it. The tables themselves stay in the reviewed migrations:
 * a new field needs a migration and one line here.
 */

/** What ingest binds for each Postgres type (unnest array element), and what selectField reads back. */
interface PgTypes {
  text: { write: string; read: string };
  int2: { write: number; read: number };
  int4: { write: number; read: number };
  /** Read as float8: a JSON number, not the driver's string. */
  int8: { write: number; read: number };
  float4: { write: number; read: number };
  float8: { write: number; read: number };
  bool: { write: boolean; read: boolean };
  /** Read as 'YYYY-MM-DD'. */
  date: { write: string; read: string };
  timestamptz: { write: Date | string; read: Date };
  /** Bound as JSON text: pg would send a JS object inside an array as a Postgres composite. */
  jsonb: { write: string; read: Record<string, unknown> };
}
export type PgType = keyof PgTypes;

/** Heartbeat fields the backend does not know, kept verbatim. */
export type HeartbeatExtra = Record<string, unknown> | null;

export interface TerminalField<K extends string = string, T extends PgType = PgType, N extends boolean = boolean> {
  /** Property name in row types, API views and the OpenAPI schema. */
  readonly key: K;
  readonly column: string;
  readonly type: T;
  /** Never NULL where the API reads it (the view type is then not nullable). */
  readonly notNull: N;
}

/** A field ingest takes from the heartbeat payload. */
export interface HeartbeatField<K extends string = string, T extends PgType = PgType> extends TerminalField<K, T, false> {
  /** How ingest reads it from a heartbeat (pg binds undefined as NULL). */
  readonly read: (hb: Heartbeat, extra: HeartbeatExtra) => PgTypes[T]['write'] | null | undefined;
}

const heartbeat = <const K extends string, T extends PgType>(key: K, column: string, type: T, read: HeartbeatField<K, T>['read']): HeartbeatField<K, T> => ({
  key,
  column,
  type,
  notNull: false,
  read,
});

const stateOnly = <const K extends string, T extends PgType, const N extends boolean = false>(
  key: K,
  column: string,
  type: T,
  notNull?: N,
): TerminalField<K, T, N> => ({ key, column, type, notNull: (notNull ?? false) as N });

/** Columns of both heartbeats and terminal_state that come from the heartbeat payload, in table order. */
export const HEARTBEAT_FIELDS = [
  heartbeat('seq', 'seq', 'int4', (h) => h.seq),
  heartbeat('model', 'model', 'text', (h) => h.model),
  heartbeat('firmwareVersion', 'firmware_version', 'text', (h) => h.firmware.version),
  heartbeat('appVersion', 'app_version', 'text', (h) => h.firmware.appVersion),
  heartbeat('batteryPct', 'battery_pct', 'float4', (h) => h.battery.percent),
  heartbeat('charging', 'charging', 'bool', (h) => h.battery.charging),
  heartbeat('batteryTempC', 'battery_temp_c', 'float4', (h) => h.battery.temperatureC),
  heartbeat('rat', 'rat', 'text', (h) => h.signal.rat),
  heartbeat('rsrp', 'rsrp', 'float4', (h) => h.signal.rsrp),
  heartbeat('rsrq', 'rsrq', 'float4', (h) => h.signal.rsrq),
  heartbeat('sinr', 'sinr', 'float4', (h) => h.signal.sinr),
  heartbeat('rssi', 'rssi', 'float4', (h) => h.signal.rssi),
  heartbeat('csq', 'csq', 'int2', (h) => h.signal.csq),
  heartbeat('mccMnc', 'mcc_mnc', 'text', (h) => h.signal.mccMnc),
  heartbeat('cellId', 'cell_id', 'text', (h) => h.signal.cellId),
  heartbeat('iccid', 'iccid', 'text', (h) => h.sim.iccid),
  heartbeat('imei', 'imei', 'text', (h) => h.sim.imei),
  heartbeat('simType', 'sim_type', 'text', (h) => h.sim.type),
  heartbeat('carrier', 'carrier', 'text', (h) => h.sim.carrier),
  heartbeat('planStatus', 'plan_status', 'text', (h) => h.sim.plan.status),
  heartbeat('planExpiresOn', 'plan_expires_on', 'date', (h) => h.sim.plan.expiresAt),
  heartbeat('planAutoRenew', 'plan_auto_renew', 'bool', (h) => h.sim.plan.autoRenew),
  heartbeat('renewalAt', 'renewal_at', 'timestamptz', (h) => h.sim.plan.lastRenewal?.at),
  heartbeat('renewalResult', 'renewal_result', 'text', (h) => h.sim.plan.lastRenewal?.result),
  heartbeat('renewalReason', 'renewal_reason', 'text', (h) => h.sim.plan.lastRenewal?.reason),
  heartbeat('dataUsedMb', 'data_used_mb', 'float4', (h) => h.sim.plan.usedMb),
  heartbeat('dataAllowanceMb', 'data_allowance_mb', 'float4', (h) => h.sim.plan.allowanceMb),
  heartbeat('lat', 'lat', 'float8', (h) => h.location?.lat),
  heartbeat('lon', 'lon', 'float8', (h) => h.location?.lon),
  heartbeat('locationAccuracyM', 'location_accuracy_m', 'float4', (h) => h.location?.accuracyM),
  heartbeat('locationSource', 'location_source', 'text', (h) => h.location?.source),
  heartbeat('uptimeS', 'uptime_s', 'int8', (h) => h.uptimeS),
  heartbeat('extra', 'extra', 'jsonb', (_h, extra) => (extra ? JSON.stringify(extra) : null)),
  // Transaction health (optional `tx`, counts since the previous heartbeat); columns added by 0005.
  heartbeat('txApproved', 'tx_approved', 'int4', (h) => h.tx?.approved),
  heartbeat('txDeclined', 'tx_declined', 'int4', (h) => h.tx?.declined),
  heartbeat('txDeclines', 'tx_declines', 'jsonb', (h) => (h.tx ? JSON.stringify(h.tx.declinesByCode) : null)),
  heartbeat('txReversalsPending', 'tx_reversals_pending', 'int4', (h) => h.tx?.reversals.pending),
  heartbeat('txReversalsSucceeded', 'tx_reversals_succeeded', 'int4', (h) => h.tx?.reversals.succeeded),
  heartbeat('txReversalsFailed', 'tx_reversals_failed', 'int4', (h) => h.tx?.reversals.failed),
] as const;

/** terminal_state columns as the API shows them: heartbeat times, the heartbeat fields, presence. */
export const TERMINAL_STATE_FIELDS = [
  stateOnly('lastHeartbeatAt', 'last_heartbeat_at', 'timestamptz'),
  stateOnly('lastReceivedAt', 'last_received_at', 'timestamptz'),
  ...HEARTBEAT_FIELDS,
  stateOnly('online', 'online', 'bool', true),
  stateOnly('presenceChangedAt', 'presence_changed_at', 'timestamptz'),
  stateOnly('lastConnectedAt', 'last_connected_at', 'timestamptz'),
  stateOnly('lastDisconnectedAt', 'last_disconnected_at', 'timestamptz'),
  stateOnly('lastDisconnectReason', 'last_disconnect_reason', 'text'),
] as const;

export type TerminalStateKey = (typeof TERMINAL_STATE_FIELDS)[number]['key'];

/** The value a field's selectField expression yields: NULL unless the field is notNull. */
type FieldValue<F extends TerminalField> = PgTypes[F['type']]['read'] | (F['notNull'] extends true ? never : null);

/** A row of these fields as selectFields returns it, keyed by field key. */
export type FieldValues<Fs extends readonly TerminalField[]> = { [F in Fs[number] as F['key']]: FieldValue<F> };

/** The fields with these keys, in the keys' order. */
export function pickFields<Fs extends readonly TerminalField[], K extends Fs[number]['key']>(
  fields: Fs,
  keys: readonly K[],
): Extract<Fs[number], { key: K }>[] {
  return keys.map((key) => {
    const field = fields.find((f) => f.key === key);
    if (!field) throw new Error(`unknown field ${key}`);
    return field as Extract<Fs[number], { key: K }>;
  });
}

/** A field of table alias `from`, in the form its FieldValue describes, as `alias`. */
function selectField(field: TerminalField, from: string, alias: string): string {
  const column = `${from}.${field.column}`;
  const expr = field.type === 'date' ? `to_char(${column}, 'YYYY-MM-DD')` : field.type === 'int8' ? `${column}::float8` : column;
  return `${expr} AS "${alias}"`;
}

/** SELECT list of `fields` of table alias `from`, each aliased `${prefix}${key}`; build it once, at module load. */
export function selectFields(fields: readonly TerminalField[], from: string, prefix = ''): string {
  return fields.map((f) => selectField(f, from, `${prefix}${f.key}`)).join(', ');
}

/** The fields of a row selected with selectFields(fields, from, prefix), keyed by field key. */
export function readFields<Fs extends readonly TerminalField[], P extends string>(
  fields: Fs,
  row: { readonly [A in `${P}${string}`]: unknown },
  prefix: P,
): FieldValues<Fs> {
  const values: Record<string, unknown> = {};
  for (const f of fields) values[f.key] = row[`${prefix}${f.key}` as const];
  return values as FieldValues<Fs>;
}
