import { DomainException } from '#contracts';
import { ApiErrorCode } from './api-error.js';

/** Opaque keyset cursor: the sort value and SN of the last row of the previous page. */
export interface Cursor {
  v: string | number | null;
  k: string;
}

/** Longest decoded cursor accepted (a real one is well under 200 bytes). */
const CURSOR_MAX_JSON = 512;

const invalidCursor = (message: string) => new DomainException(ApiErrorCode.ValidationFailed, 'invalid cursor', [{ field: 'query.cursor', message }]);

/** Encodes a cursor for the sort (and order) it was issued under, e.g. `battery:desc`. */
export function encodeCursor(cursor: Cursor, sort: string): string {
  return Buffer.from(JSON.stringify({ s: sort, v: cursor.v, k: cursor.k })).toString('base64url');
}

/**
 * Decodes a cursor issued for `sort`; `fits` checks its values can be bound to the query (a
 * tampered cursor with a well-formed shape but an impossible date or an out-of-range number must
 * be a 400 here, not a database error later). Every refusal names `query.cursor`.
 */
export function decodeCursor(raw: string, sort: string, fits: (cursor: Cursor) => boolean = () => true): Cursor {
  let cursor: Cursor;
  let issuedFor: unknown;
  try {
    const json = Buffer.from(raw, 'base64url').toString('utf8');
    if (json.length > CURSOR_MAX_JSON) throw new Error('size');
    const parsed = JSON.parse(json) as Partial<Cursor> & { s?: unknown };
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.k !== 'string' || !('v' in parsed)) throw new Error('shape');
    const v = parsed.v;
    if (v !== null && typeof v !== 'string' && (typeof v !== 'number' || !Number.isFinite(v))) throw new Error('value');
    if ((typeof v === 'string' && v.includes('\0')) || parsed.k.includes('\0')) throw new Error('nul');
    cursor = { v: v ?? null, k: parsed.k };
    issuedFor = parsed.s;
  } catch {
    throw invalidCursor('not a cursor returned by this API');
  }
  if (issuedFor !== sort) throw invalidCursor('cursor does not belong to this sort and order');
  if (!fits(cursor)) throw invalidCursor('not a cursor returned by this API');
  return cursor;
}

/**
 * A cursor date or timestamp that names a real calendar instant: `YYYY-MM-DD` or
 * `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, year 1970-9999 (Date.parse alone accepts February 31).
 */
export function isRealDate(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?Z)?$/.exec(v);
  if (!m) return false;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  if (year < 1970 || year > 9999) return false;
  const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    d.getUTCFullYear() === year &&
    d.getUTCMonth() === month - 1 &&
    d.getUTCDate() === day &&
    d.getUTCHours() === hour &&
    d.getUTCMinutes() === minute &&
    d.getUTCSeconds() === second
  );
}

/** A cursor number (as text) a `real` column can take: finite, at most 1e6 in size, no underflow. */
export function isSaneNumber(v: string): boolean {
  if (v.length > 32 || !/^-?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i.test(v)) return false;
  const n = Number(v);
  if (!Number.isFinite(n) || Math.abs(n) > 1e6) return false;
  return n === 0 ? !/e/i.test(v) : Math.abs(n) >= 1e-30;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}
