import { describe, expect, it } from '@jest/globals';
import { DomainException } from '#contracts';
import { decodeCursor, encodeCursor, isRealDate, isSaneNumber, type Cursor } from './pagination.js';

const SORT = 'battery:asc';

const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** decodeCursor(raw) must throw the documented 400: VALIDATION_FAILED on query.cursor. */
function expectRejected(raw: string, message = 'not a cursor returned by this API', sort = SORT, fits?: (c: Cursor) => boolean): void {
  let thrown: unknown = null;
  try {
    decodeCursor(raw, sort, fits);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainException);
  expect(thrown).toMatchObject({
    code: 'VALIDATION_FAILED',
    message: 'invalid cursor',
    details: [{ field: 'query.cursor', message }],
  });
}

describe('keyset cursors', () => {
  it.each<[string, Cursor]>([
    ['a string sort value', { v: '2026-03-01T10:00:00.000Z', k: 'EP000123' }],
    ['a number sort value', { v: 42.5, k: 'EP000124' }],
    ['zero', { v: 0, k: 'EP0' }],
    ['a null sort value (NULLS LAST rows)', { v: null, k: 'EP000125' }],
    ['unicode and quotes', { v: 'Café "Zürich" / ü', k: 'SN/with+odd=chars' }],
    ['an empty key', { v: '', k: '' }],
  ])('round-trips %s', (_label, cursor) => {
    expect(decodeCursor(encodeCursor(cursor, SORT), SORT)).toStrictEqual(cursor);
  });

  it('encodes to URL-safe base64 without padding, so it can go into a query string as is', () => {
    for (let i = 0; i < 40; i++) {
      const raw = encodeCursor({ v: '?'.repeat(i) + '>>>~~~', k: `EP${i}` }, SORT);
      expect(raw).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(encodeURIComponent(raw)).toBe(raw);
    }
  });

  it('is opaque: the encoded form is not the JSON itself', () => {
    const raw = encodeCursor({ v: 'x', k: 'EP1' }, SORT);
    expect(raw).not.toContain('EP1');
    expect(Buffer.from(raw, 'base64url').toString('utf8')).toBe('{"s":"battery:asc","v":"x","k":"EP1"}');
  });

  it('drops fields it does not know', () => {
    expect(decodeCursor(b64url('{"s":"battery:asc","v":1,"k":"EP1","extra":true}'), SORT)).toStrictEqual({ v: 1, k: 'EP1' });
  });

  it.each([
    ['an empty string', ''],
    ['garbage', '!!!not-a-cursor!!!'],
    ['base64 of non-JSON', b64url('hello')],
    ['a truncated cursor', encodeCursor({ v: 'abc', k: 'EP1' }, SORT).slice(0, -3)],
    ['a NUL byte in the key', encodeCursor({ v: 'x', k: 'EP\u00001' }, SORT)],
    ['a NUL byte in the sort value', encodeCursor({ v: 'x\u0000', k: 'EP1' }, SORT)],
    ['an oversized payload', encodeCursor({ v: 'x'.repeat(600), k: 'EP1' }, SORT)],
    ['a non-finite number (1e400 parses to Infinity)', b64url('{"s":"battery:asc","v":1e400,"k":"EP1"}')],
    ['JSON null', b64url('null')],
    ['a JSON number', b64url('5')],
    ['a JSON string', b64url('"EP1"')],
    ['a JSON array', b64url('["x","EP1"]')],
    ['a missing key', b64url('{"v":"x"}')],
    ['a missing sort value', b64url('{"k":"EP1"}')],
    ['a non-string key', b64url('{"v":"x","k":7}')],
    ['an object sort value', b64url('{"v":{"$gt":""},"k":"EP1"}')],
    ['an array sort value', b64url('{"v":[1],"k":"EP1"}')],
    ['a boolean sort value', b64url('{"v":true,"k":"EP1"}')],
    ['plain JSON, not base64', '{"v":"x","k":"EP1"}'],
  ])('rejects %s with 400 VALIDATION_FAILED on query.cursor', (_label, raw) => {
    expectRejected(raw);
  });

  it('rejects a cursor whose payload was edited into the wrong shape', () => {
    const raw = encodeCursor({ v: 'x', k: 'EP1' }, SORT);
    const tampered = b64url(Buffer.from(raw, 'base64url').toString('utf8').replace('"k"', '"K"'));
    expectRejected(tampered);
  });

  it('accepts an edited cursor that keeps the shape and fits: cursors are opaque, not signed', () => {
    const tampered = b64url('{"s":"battery:asc","v":"zzz","k":"EP999"}');
    expect(decodeCursor(tampered, SORT)).toStrictEqual({ v: 'zzz', k: 'EP999' });
  });

  it.each([
    ['another sort', 'lastSeen:asc'],
    ['the same sort in the other order', 'battery:desc'],
  ])('refuses a cursor issued under %s (400 naming query.cursor)', (_label, other) => {
    expectRejected(encodeCursor({ v: '5', k: 'EP1' }, other), 'cursor does not belong to this sort and order');
  });

  it('refuses a cursor issued before cursors named their sort', () => {
    expectRejected(b64url('{"v":"5","k":"EP1"}'), 'cursor does not belong to this sort and order');
  });

  it('refuses a well-formed cursor whose values the sort cannot take', () => {
    const fits = (c: Cursor) => typeof c.v === 'string' && isSaneNumber(c.v);
    for (const v of ['1e400', '1e-400', '0e-99', '-9999999', 'NaN', 'Infinity']) {
      expectRejected(encodeCursor({ v, k: 'EP1' }, SORT), 'not a cursor returned by this API', SORT, fits);
    }
  });
});

describe('cursor value checks', () => {
  it.each(['2026-03-01', '2024-02-29', '2026-03-01T10:00:00.123456Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z'])('%s is a real date', (v) => {
    expect(isRealDate(v)).toBe(true);
  });

  it.each([
    '2026-02-29',
    '2026-02-31',
    '2026-13-01',
    '2026-00-10',
    '0000-01-01',
    '1969-12-31',
    '2026-01-01T24:00:00Z',
    '2026-01-01T10:60:00Z',
    '2026-01-01T10:00:61.000000Z',
    '+275760-01-01',
    '2026-1-1',
  ])('%s is not', (v) => {
    expect(isRealDate(v)).toBe(false);
  });

  it.each(['0', '42.5', '-120', '.5', '1e-5', '100'])('%s is a sane number', (v) => {
    expect(isSaneNumber(v)).toBe(true);
  });

  it.each(['1e400', '1e-400', '0e-400', '3.5e38', '1e7', '', '-', 'abc', '1'.repeat(40)])('%s is not', (v) => {
    expect(isSaneNumber(v)).toBe(false);
  });
});
