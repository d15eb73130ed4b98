import { expect } from '@jest/globals';

/**
 * expect(value) is neither null nor undefined, and narrows its type for the lines after it (a bare
 * expect() cannot, while node:assert's ok() did).
 */
export function expectPresent<T>(value: T): asserts value is NonNullable<T> {
  expect(value).not.toBeNull();
  expect(value).not.toBeUndefined();
}
