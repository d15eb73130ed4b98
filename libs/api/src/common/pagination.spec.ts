import { describe, expect, it } from '@jest/globals';
import { DomainException } from '#contracts';
import { decodeCursor, encodeCursor, type Cursor } from './pagination.js';

const b64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** decodeCursor(raw) must throw the documented 400: VALIDATION_FAILED on query.cursor. */
function expectRejected(raw: string): void {
  let thrown: unknown = null;
  try {
    decodeCursor(raw);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainException);
  expect(thrown).toMatchObject({
    code: 'VALIDATION_FAILED',
    message: 'invalid cursor',
    details: [{ field: 'query.cursor', message: 'not a cursor returned by this API' }],
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
    expect(decodeCursor(encodeCursor(cursor))).toStrictEqual(cursor);
  });

  it('encodes to URL-safe base64 without padding, so it can go into a query string as is', () => {
    for (let i = 0; i < 40; i++) {
      const raw = encodeCursor({ v: '?'.repeat(i) + '>>>~~~', k: `EP${i}` });
      expect(raw).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(encodeURIComponent(raw)).toBe(raw);
    }
  });

  it('is opaque: the encoded form is not the JSON itself', () => {
    const raw = encodeCursor({ v: 'x', k: 'EP1' });
    expect(raw).not.toContain('EP1');
    expect(Buffer.from(raw, 'base64url').toString('utf8')).toBe('{"v":"x","k":"EP1"}');
  });

  it('drops fields it does not know', () => {
    expect(decodeCursor(b64url('{"v":1,"k":"EP1","extra":true}'))).toStrictEqual({ v: 1, k: 'EP1' });
  });

  it.each([
    ['an empty string', ''],
    ['garbage', '!!!not-a-cursor!!!'],
    ['base64 of non-JSON', b64url('hello')],
    ['a truncated cursor', encodeCursor({ v: 'abc', k: 'EP1' }).slice(0, -3)],
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
    const raw = encodeCursor({ v: 'x', k: 'EP1' });
    const tampered = b64url(Buffer.from(raw, 'base64url').toString('utf8').replace('"k"', '"K"'));
    expectRejected(tampered);
  });

  it('accepts an edited cursor that keeps the shape: cursors are opaque, not signed', () => {
    const tampered = b64url('{"v":"zzz","k":"EP999"}');
    expect(decodeCursor(tampered)).toStrictEqual({ v: 'zzz', k: 'EP999' });
  });
});
