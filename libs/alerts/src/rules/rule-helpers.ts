/** Small pure helpers shared by the rule families. */
import type { AlertDetails, AlertRule, OpenAlert, RuleMemory, RuleOutcome, Severity } from './rule.types.js';

export const DAY_MS = 86_400_000;

export function outcome(rule: AlertRule, active: boolean, severity: Severity, details: AlertDetails, memory: RuleMemory | null = null): RuleOutcome {
  return { rule, active, severity, details, memory };
}

/** The condition does not hold (or the rule is disabled): resolve an open alert, keep its severity for the record. */
export function inactive(rule: AlertRule, open: ReadonlyMap<AlertRule, OpenAlert>, details: AlertDetails = {}, memory: RuleMemory | null = null): RuleOutcome {
  return outcome(rule, false, open.get(rule)?.severity ?? 'info', details, memory);
}

export function memNumber(memory: RuleMemory | undefined, key: string): number {
  const value = memory?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export function memString(memory: RuleMemory | undefined, key: string): string | null {
  const value = memory?.[key];
  return typeof value === 'string' ? value : null;
}

/** A non-negative whole count from a hostile-ish number (NaN, negatives and fractions collapse). */
export function count(value: number | undefined | null, cap = 1_000_000): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.min(Math.floor(value), cap) : 0;
}

export function iso(date: Date | null | undefined): string | null {
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
}

export function parseIsoTime(value: string | null): number | null {
  if (value === null) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

// Formatters are costly to build and the hot path evaluates every heartbeat: cache per zone (few zones exist).
const dayFormatters = new Map<string, Intl.DateTimeFormat>();

function dayFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = dayFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    if (dayFormatters.size >= 64) dayFormatters.clear();
    dayFormatters.set(timeZone, formatter);
  }
  return formatter;
}

// Every heartbeat of a batch asks for the same date: remember the last answer per zone and minute
// (all current UTC offsets are whole minutes, so a date cannot change within one).
const lastDates = new Map<string, { minute: number; date: string }>();

/** The calendar date ('YYYY-MM-DD') at `instant` in `timeZone`. Throws RangeError for an unknown zone. */
export function localDate(instant: Date, timeZone: string): string {
  const minute = Math.floor(instant.getTime() / 60_000);
  const cached = lastDates.get(timeZone);
  if (cached && cached.minute === minute) return cached.date;
  const parts = dayFormatter(timeZone).formatToParts(instant);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  const date = `${get('year')}-${get('month')}-${get('day')}`;
  if (lastDates.size >= 64 && !lastDates.has(timeZone)) lastDates.clear();
  lastDates.set(timeZone, { minute, date });
  return date;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Day number of a 'YYYY-MM-DD' calendar date, null when it is not a real date. */
export function dayNumber(date: string): number | null {
  const m = ISO_DATE.exec(date);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return t / DAY_MS;
}

/** Whole calendar days from `from` to `to` (both 'YYYY-MM-DD'); null when either is not a date. */
export function daysBetween(from: string, to: string): number | null {
  const a = dayNumber(from);
  const b = dayNumber(to);
  return a === null || b === null ? null : b - a;
}

/** Great-circle distance in km (haversine, mean Earth radius). */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(h)));
}

export const round1 = (n: number): number => Math.round(n * 10) / 10;
