import { describe, expect, it } from '@jest/globals';
import { apiKeyFrom } from '../auth/api-auth.guard.js';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './http-edge.js';

describe('jsonDepthExceeds', () => {
  const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

  it.each<[string, string, boolean]>([
    ['flat object', '{"a":1,"b":[1,2,3]}', false],
    ['exactly the limit', nested(MAX_JSON_DEPTH), false],
    ['one level over', nested(MAX_JSON_DEPTH + 1), true],
    ['objects count like arrays', `${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1${'}'.repeat(MAX_JSON_DEPTH + 1)}`, true],
    ['brackets inside strings are data', JSON.stringify({ s: '['.repeat(100) }), false],
    ['escaped quotes keep the string open', JSON.stringify({ s: `\\"${'['.repeat(100)}` }), false],
    ['siblings do not add up', `[${Array.from({ length: 100 }, () => nested(10)).join(',')}]`, false],
  ])('%s', (_label, text, expected) => {
    expect(jsonDepthExceeds(text, MAX_JSON_DEPTH)).toBe(expected);
  });
});

describe('apiKeyFrom', () => {
  it.each<[string, Record<string, string>, string | undefined]>([
    ['Bearer', { authorization: 'Bearer fk_a' }, 'fk_a'],
    ['bearer (any case)', { authorization: 'bearer fk_a' }, 'fk_a'],
    ['BEARER with extra spaces', { authorization: 'BEARER   fk_a ' }, 'fk_a'],
    ['X-API-Key', { 'x-api-key': ' fk_b ' }, 'fk_b'],
    ['another scheme falls back to X-API-Key', { authorization: 'Basic abc', 'x-api-key': 'fk_b' }, 'fk_b'],
    ['Bearer without a token', { authorization: 'Bearer ' }, undefined],
    ['nothing', {}, undefined],
  ])('%s', (_label, headers, expected) => {
    expect(apiKeyFrom(headers)).toBe(expected);
  });
});
