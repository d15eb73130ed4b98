import { DomainException } from '#contracts';
import { ApiErrorCode } from './api-error.js';

/** Opaque keyset cursor: the sort value and SN of the last row of the previous page. */
export interface Cursor {
  v: string | number | null;
  k: string;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

export function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.k !== 'string' || !('v' in parsed)) throw new Error('shape');
    const v = parsed.v;
    if (v !== null && typeof v !== 'string' && typeof v !== 'number') throw new Error('value');
    return { v: v ?? null, k: parsed.k };
  } catch {
    throw new DomainException(ApiErrorCode.ValidationFailed, 'invalid cursor', [{ field: 'query.cursor', message: 'not a cursor returned by this API' }]);
  }
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}
