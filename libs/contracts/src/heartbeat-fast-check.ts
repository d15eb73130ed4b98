import { HEARTBEAT_SCHEMA_VERSION, TX_MAX_COUNT, TX_MAX_DECLINE_CODES, TX_RESPONSE_CODE_PATTERN } from './heartbeat.schema.js';
import type { FastCheck } from './validation.js';

/**
 * One pass over a parsed heartbeat v1 that proves it valid (the same rules as heartbeatSchema, every
 * string storable) and collects its undeclared fields, without building a copy. This is the ingest
 * hot path: zod plus the two walks for storable text and extra fields cost about 3x this.
 *
 * It only ever says "valid" or "not sure": anything it does not accept (an invalid heartbeat, a
 * suspicious character, a shape it does not know) goes through the full zod path, which decides and
 * words the rejection. So it can be stricter than the schema, never looser; a differential test
 * holds the two together.
 */

/** Same patterns as the schema (zod's own, for the ISO formats). */
const ISO_DATE_TIME =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;
const ISO_DATE =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))$/;
const MCC_MNC = /^\d{5,6}$/;
const ICCID = /^\d{18,22}$/;
const IMEI = /^\d{15}$/;
const SURROGATE = /[\uD800-\uDFFF]/;
/** NUL or any surrogate: the string may be unstorable, let the full path look closely. */
const suspectText = (s: string): boolean => s.includes('\u0000') || SURROGATE.test(s);

const RATS = new Set(['GSM', 'UMTS', 'LTE', 'LTE-M', 'NB-IoT', 'NR']);
const PLAN_STATUSES = new Set(['active', 'grace', 'suspended', 'expired']);
const SIM_TYPES = new Set(['physical', 'esim']);
const RENEWAL_RESULTS = new Set(['success', 'failed']);
const LOCATION_SOURCES = new Set(['gps', 'cell']);

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && v >= min && v <= max;
const int = (v: unknown, min: number, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
/** Length in UTF-16 units as zod counts it, and storable. */
const text = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max && !suspectText(v);
const oneOf = (v: unknown, set: ReadonlySet<string>): boolean => typeof v === 'string' && set.has(v);
const optNum = (v: unknown, min: number, max: number): boolean => v === undefined || num(v, min, max);

/** Any key or string inside an undeclared field that could be unstorable: let the full path decide. */
function suspect(value: unknown): boolean {
  if (typeof value === 'string') return suspectText(value);
  if (typeof value !== 'object' || value === null) return false;
  for (const key in value) {
    if (suspectText(key) || suspect((value as Obj)[key])) return true;
  }
  return false;
}

/** One object's walk: still valid, and its undeclared fields (with nested objects' extras under their key). */
class Walk {
  ok = true;
  extra: Obj | null = null;

  addExtra(key: string, value: unknown): void {
    // A "__proto__" key (JSON makes it an own property) is dropped by the schema: not this path's business.
    if (key === '__proto__' || suspectText(key) || suspect(value)) this.ok = false;
    else (this.extra ??= {})[key] = value;
  }
}

/** Validates `o`: each key goes to `field` (a verdict for a declared key, undefined for an undeclared one). */
function walk(o: Obj, field: Field): Walk | null {
  const w = new Walk();
  for (const key in o) {
    const value = o[key];
    const verdict = field(key, value, w);
    if (verdict === undefined) w.addExtra(key, value);
    else if (!verdict) return null;
    if (!w.ok) return null;
  }
  return w;
}

type Field = (key: string, value: unknown, w: Walk) => boolean | undefined;

const firmware: Field = (k, v) => (k === 'version' || k === 'appVersion' ? text(v, 1, 64) : undefined);

const battery: Field = (k, v) => {
  switch (k) {
    case 'percent':
      return num(v, 0, 100);
    case 'charging':
      return typeof v === 'boolean';
    case 'temperatureC':
      return optNum(v, -40, 100);
    default:
      return undefined;
  }
};

const signal: Field = (k, v) => {
  switch (k) {
    case 'rat':
      return oneOf(v, RATS);
    case 'rsrp':
      return optNum(v, -156, -31);
    case 'rsrq':
      return optNum(v, -43, 20);
    case 'sinr':
      return optNum(v, -23, 40);
    case 'rssi':
      return optNum(v, -120, -25);
    case 'csq':
      return v === undefined || (int(v, 0, 99) && ((v as number) <= 31 || v === 99));
    case 'mccMnc':
      return typeof v === 'string' && MCC_MNC.test(v);
    case 'cellId':
      return v === undefined || text(v, 1, 32);
    default:
      return undefined;
  }
};

const lastRenewal: Field = (k, v) => {
  switch (k) {
    case 'at':
      return typeof v === 'string' && ISO_DATE_TIME.test(v);
    case 'result':
      return oneOf(v, RENEWAL_RESULTS);
    case 'reason':
      return v === undefined || text(v, 0, 200);
    default:
      return undefined;
  }
};

const plan: Field = (k, v, w) => {
  switch (k) {
    case 'status':
      return oneOf(v, PLAN_STATUSES);
    case 'expiresAt':
      return typeof v === 'string' && ISO_DATE.test(v);
    case 'autoRenew':
      return typeof v === 'boolean';
    case 'lastRenewal':
      return v === undefined || object(k, v, w, RENEWAL_REQUIRED, lastRenewal);
    case 'usedMb':
      return num(v, 0, 10_000_000);
    case 'allowanceMb':
      return optNum(v, 0, 10_000_000);
    default:
      return undefined;
  }
};

const sim: Field = (k, v, w) => {
  switch (k) {
    case 'iccid':
      return typeof v === 'string' && ICCID.test(v);
    case 'imei':
      return typeof v === 'string' && IMEI.test(v);
    case 'type':
      return oneOf(v, SIM_TYPES);
    case 'carrier':
      return text(v, 1, 64);
    case 'plan':
      return object(k, v, w, PLAN_REQUIRED, plan);
    default:
      return undefined;
  }
};

const location: Field = (k, v) => {
  switch (k) {
    case 'lat':
      return num(v, -90, 90);
    case 'lon':
      return num(v, -180, 180);
    case 'accuracyM':
      return num(v, 0, 1_000_000);
    case 'source':
      return oneOf(v, LOCATION_SOURCES);
    default:
      return undefined;
  }
};

const txCount = (v: unknown): boolean => int(v, 0, TX_MAX_COUNT);

const reversals: Field = (k, v) => (k === 'pending' || k === 'succeeded' || k === 'failed' ? txCount(v) : undefined);

/** A record of two-digit codes to counts, at most TX_MAX_DECLINE_CODES of them. */
function declinesByCode(v: unknown): boolean {
  if (!isObj(v)) return false;
  let codes = 0;
  for (const code in v) {
    if (!TX_RESPONSE_CODE_PATTERN.test(code) || !txCount(v[code])) return false;
    codes++;
  }
  return codes <= TX_MAX_DECLINE_CODES;
}

const tx: Field = (k, v, w) => {
  switch (k) {
    case 'approved':
    case 'declined':
      return txCount(v);
    case 'declinesByCode':
      return declinesByCode(v);
    case 'reversals':
      return object(k, v, w, REVERSALS_REQUIRED, reversals);
    default:
      return undefined;
  }
};

/** Required keys per object (optional ones are checked when present). */
const PLAN_REQUIRED = ['status', 'expiresAt', 'autoRenew', 'usedMb'] as const;
const SIM_REQUIRED = ['iccid', 'imei', 'type', 'carrier', 'plan'] as const;
const SIGNAL_REQUIRED = ['rat', 'mccMnc'] as const;
const BATTERY_REQUIRED = ['percent', 'charging'] as const;
const LOCATION_REQUIRED = ['lat', 'lon', 'accuracyM', 'source'] as const;
const TX_REQUIRED = ['approved', 'declined', 'declinesByCode', 'reversals'] as const;
const REVERSALS_REQUIRED = ['pending', 'succeeded', 'failed'] as const;
const RENEWAL_REQUIRED = ['at', 'result'] as const;
const FIRMWARE_REQUIRED = ['version', 'appVersion'] as const;
const TOP_REQUIRED = ['v', 'ts', 'seq', 'model', 'firmware', 'battery', 'signal', 'sim', 'uptimeS'] as const;

function hasAll(o: Obj, keys: readonly string[]): boolean {
  for (const k of keys) if (o[k] === undefined) return false;
  return true;
}

/** A declared object: present, valid, every required key there; its extras under `key`. */
function object(key: string, v: unknown, parent: Walk, required: readonly string[], field: Field): boolean {
  if (!isObj(v) || !hasAll(v, required)) return false;
  const w = walk(v, field);
  if (!w) return false;
  if (w.extra) (parent.extra ??= {})[key] = w.extra;
  return true;
}

const top: Field = (k, v, w) => {
  switch (k) {
    case 'v':
      return v === HEARTBEAT_SCHEMA_VERSION;
    case 'ts':
      return typeof v === 'string' && ISO_DATE_TIME.test(v);
    case 'seq':
      return int(v, 0, 2_147_483_647);
    case 'model':
      return text(v, 1, 64);
    case 'firmware':
      return object(k, v, w, FIRMWARE_REQUIRED, firmware);
    case 'battery':
      return object(k, v, w, BATTERY_REQUIRED, battery);
    case 'signal':
      return object(k, v, w, SIGNAL_REQUIRED, signal);
    case 'sim':
      return object(k, v, w, SIM_REQUIRED, sim);
    case 'location':
      return v === undefined || object(k, v, w, LOCATION_REQUIRED, location);
    case 'tx': {
      if (v === undefined) return true;
      if (!object(k, v, w, TX_REQUIRED, tx)) return false;
      // The schema's refine: the coded declines cannot outnumber all declines.
      const t = v as { declined: number; declinesByCode: Obj };
      let sum = 0;
      for (const code in t.declinesByCode) sum += t.declinesByCode[code] as number;
      return sum <= t.declined;
    }
    case 'uptimeS':
      return int(v, 0, 10 * 365 * 24 * 3600);
    default:
      return undefined;
  }
};

/**
 * Fast path for heartbeat v1 (see the file comment): the undeclared fields when `raw` is certainly
 * valid, or null when the full path must decide.
 */
export const checkHeartbeatFast: FastCheck = (raw) => {
  if (!hasAll(raw, TOP_REQUIRED)) return null;
  const w = walk(raw, top);
  return w ? { extra: w.extra } : null;
};
