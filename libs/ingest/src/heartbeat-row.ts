import type { Heartbeat } from '#contracts';

/** One heartbeats row; column order matches HEARTBEAT_COLUMNS. */
export interface HeartbeatRow {
  time: Date;
  sn: string;
  receivedAt: Date;
  heartbeat: Heartbeat;
  extra: Record<string, unknown> | null;
}

interface Column {
  name: string;
  type: string;
  get: (r: HeartbeatRow) => unknown;
}

const opt = <V>(v: V | undefined): V | null => (v === undefined ? null : v);

/** Column name, Postgres array element type, and how to read it from a row. */
export const HEARTBEAT_COLUMNS: readonly Column[] = [
  { name: 'time', type: 'timestamptz', get: (r) => r.time },
  { name: 'sn', type: 'text', get: (r) => r.sn },
  { name: 'received_at', type: 'timestamptz', get: (r) => r.receivedAt },
  { name: 'seq', type: 'int4', get: (r) => r.heartbeat.seq },
  { name: 'model', type: 'text', get: (r) => r.heartbeat.model },
  { name: 'firmware_version', type: 'text', get: (r) => r.heartbeat.firmware.version },
  { name: 'app_version', type: 'text', get: (r) => r.heartbeat.firmware.appVersion },
  { name: 'battery_pct', type: 'float4', get: (r) => r.heartbeat.battery.percent },
  { name: 'charging', type: 'bool', get: (r) => r.heartbeat.battery.charging },
  { name: 'battery_temp_c', type: 'float4', get: (r) => opt(r.heartbeat.battery.temperatureC) },
  { name: 'rat', type: 'text', get: (r) => r.heartbeat.signal.rat },
  { name: 'rsrp', type: 'float4', get: (r) => opt(r.heartbeat.signal.rsrp) },
  { name: 'rsrq', type: 'float4', get: (r) => opt(r.heartbeat.signal.rsrq) },
  { name: 'sinr', type: 'float4', get: (r) => opt(r.heartbeat.signal.sinr) },
  { name: 'rssi', type: 'float4', get: (r) => opt(r.heartbeat.signal.rssi) },
  { name: 'csq', type: 'int2', get: (r) => opt(r.heartbeat.signal.csq) },
  { name: 'mcc_mnc', type: 'text', get: (r) => r.heartbeat.signal.mccMnc },
  { name: 'cell_id', type: 'text', get: (r) => opt(r.heartbeat.signal.cellId) },
  { name: 'iccid', type: 'text', get: (r) => r.heartbeat.sim.iccid },
  { name: 'imei', type: 'text', get: (r) => r.heartbeat.sim.imei },
  { name: 'sim_type', type: 'text', get: (r) => r.heartbeat.sim.type },
  { name: 'carrier', type: 'text', get: (r) => r.heartbeat.sim.carrier },
  { name: 'plan_status', type: 'text', get: (r) => r.heartbeat.sim.plan.status },
  { name: 'plan_expires_on', type: 'date', get: (r) => r.heartbeat.sim.plan.expiresAt },
  { name: 'plan_auto_renew', type: 'bool', get: (r) => r.heartbeat.sim.plan.autoRenew },
  { name: 'renewal_at', type: 'timestamptz', get: (r) => opt(r.heartbeat.sim.plan.lastRenewal?.at) },
  { name: 'renewal_result', type: 'text', get: (r) => opt(r.heartbeat.sim.plan.lastRenewal?.result) },
  { name: 'renewal_reason', type: 'text', get: (r) => opt(r.heartbeat.sim.plan.lastRenewal?.reason) },
  { name: 'data_used_mb', type: 'float4', get: (r) => r.heartbeat.sim.plan.usedMb },
  { name: 'data_allowance_mb', type: 'float4', get: (r) => opt(r.heartbeat.sim.plan.allowanceMb) },
  { name: 'lat', type: 'float8', get: (r) => opt(r.heartbeat.location?.lat) },
  { name: 'lon', type: 'float8', get: (r) => opt(r.heartbeat.location?.lon) },
  { name: 'location_accuracy_m', type: 'float4', get: (r) => opt(r.heartbeat.location?.accuracyM) },
  { name: 'location_source', type: 'text', get: (r) => opt(r.heartbeat.location?.source) },
  { name: 'uptime_s', type: 'int8', get: (r) => r.heartbeat.uptimeS },
  // pg would send a JS object inside an array as a Postgres composite; send JSON text instead.
  { name: 'extra', type: 'jsonb', get: (r) => (r.extra ? JSON.stringify(r.extra) : null) },
];
