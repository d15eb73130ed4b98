import { describe, expect, it } from '@jest/globals';
import { decideRange } from './byte-range.js';

describe('decideRange', () => {
  it.each([
    [undefined, 1000, { kind: 'full' }],
    ['bytes=0-', 1000, { kind: 'partial', start: 0, end: 999 }],
    ['bytes=500-', 1000, { kind: 'partial', start: 500, end: 999 }],
    ['bytes=500-599', 1000, { kind: 'partial', start: 500, end: 599 }],
    ['bytes=990-5000', 1000, { kind: 'partial', start: 990, end: 999 }],
    ['bytes=-100', 1000, { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', 1000, { kind: 'partial', start: 0, end: 999 }],
    ['BYTES = 10-19', 1000, { kind: 'partial', start: 10, end: 19 }],
    ['bytes=999-999', 1000, { kind: 'partial', start: 999, end: 999 }],
    ['bytes=1000-', 1000, { kind: 'unsatisfiable' }],
    ['bytes=5000-6000', 1000, { kind: 'unsatisfiable' }],
    ['bytes=-0', 1000, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=9999999999999999-', 1000, { kind: 'unsatisfiable' }],
    ['bytes=10-99999999999999999999', 1000, { kind: 'partial', start: 10, end: 999 }],
    ['bytes=-99999999999999999999', 1000, { kind: 'partial', start: 0, end: 999 }],
    // Ignored (whole file): other units, malformed, reversed, several ranges.
    ['items=0-5', 1000, { kind: 'full' }],
    ['bytes=abc', 1000, { kind: 'full' }],
    ['bytes=-', 1000, { kind: 'full' }],
    ['bytes=20-10', 1000, { kind: 'full' }],
    ['bytes=0-1,5-6', 1000, { kind: 'full' }],
    ['bytes=1.5-', 1000, { kind: 'full' }],
  ])('%s of %d bytes', (header, size, expected) => {
    expect(decideRange(header, size)).toStrictEqual(expected);
  });
});
