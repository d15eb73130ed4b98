import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { FakeReply, httpContext } from '#testing/fake-http.js';
import { APP_CONFIG, loadConfig, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import type { RequestContext } from './principal.js';
import { KeyRateLimitGuard } from './key-rate-limit.guard.js';
import { Role } from './roles.js';

const LIMIT = 3;

/** The request fields the guard reads: the authenticated key (set by ApiAuthGuard) or the client IP. */
interface FakeRequest {
  ip: string;
  fleet?: RequestContext;
}

function keyRequest(keyId: string): FakeRequest {
  return {
    ip: '203.0.113.9',
    fleet: { principal: { keyId, name: keyId, role: Role.OpsViewer, providerId: null }, scope: { kind: 'fleet' }, requestId: `req-${keyId}` },
  };
}

describe('KeyRateLimitGuard', () => {
  let guard: KeyRateLimitGuard;

  async function guardWithLimit(limit: number): Promise<KeyRateLimitGuard> {
    const base = loadConfig({}, {});
    const config: AppConfig = { ...base, api: { ...base.api, rateLimitPerMinute: limit } };
    const moduleRef = await Test.createTestingModule({ providers: [KeyRateLimitGuard, { provide: APP_CONFIG, useValue: config }] }).compile();
    return moduleRef.get(KeyRateLimitGuard);
  }

  /** One request through the guard: whether it passed (or the error), and the headers it set. */
  async function hit(request: FakeRequest): Promise<{ allowed: boolean; error: unknown; headers: Record<string, string | number> }> {
    const reply = new FakeReply();
    try {
      return { allowed: await guard.canActivate(httpContext(request, reply)), error: null, headers: reply.headers };
    } catch (error) {
      return { allowed: false, error, headers: reply.headers };
    }
  }

  beforeEach(async () => {
    jest.useFakeTimers({ now: new Date('2026-05-01T12:00:00.000Z') });
    guard = await guardWithLimit(LIMIT);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('allows the per-minute budget of a key, counting RateLimit-Remaining down', async () => {
    const results = [await hit(keyRequest('key-a')), await hit(keyRequest('key-a')), await hit(keyRequest('key-a'))];
    expect(results.map((r) => r.allowed)).toStrictEqual([true, true, true]);
    expect(results.map((r) => r.headers)).toStrictEqual([
      { 'ratelimit-limit': LIMIT, 'ratelimit-remaining': 2, 'ratelimit-reset': 60 },
      { 'ratelimit-limit': LIMIT, 'ratelimit-remaining': 1, 'ratelimit-reset': 60 },
      { 'ratelimit-limit': LIMIT, 'ratelimit-remaining': 0, 'ratelimit-reset': 60 },
    ]);
  });

  it('refuses the next request with RATE_LIMITED, Retry-After and the RateLimit headers', async () => {
    for (let i = 0; i < LIMIT; i++) expect((await hit(keyRequest('key-a'))).allowed).toBe(true);
    jest.advanceTimersByTime(15_500);
    const refused = await hit(keyRequest('key-a'));
    expect(refused.allowed).toBe(false);
    expect(refused.error).toBeInstanceOf(DomainException);
    expect(refused.error).toMatchObject({ code: 'RATE_LIMITED', message: 'rate limit exceeded for this API key' });
    expect(refused.headers).toStrictEqual({ 'ratelimit-limit': LIMIT, 'ratelimit-remaining': 0, 'ratelimit-reset': 45, 'retry-after': 45 });
  });

  it('keeps refusing until the window ends, then grants a fresh budget', async () => {
    for (let i = 0; i < LIMIT; i++) await hit(keyRequest('key-a'));
    jest.advanceTimersByTime(59_000);
    const late = await hit(keyRequest('key-a'));
    expect(late.error).toMatchObject({ code: 'RATE_LIMITED' });
    expect(late.headers['retry-after']).toBe(1);
    jest.advanceTimersByTime(1_000);
    const fresh = await hit(keyRequest('key-a'));
    expect(fresh.allowed).toBe(true);
    expect(fresh.headers).toStrictEqual({ 'ratelimit-limit': LIMIT, 'ratelimit-remaining': LIMIT - 1, 'ratelimit-reset': 60 });
  });

  it('gives every key its own budget', async () => {
    for (let i = 0; i < LIMIT; i++) await hit(keyRequest('key-a'));
    expect((await hit(keyRequest('key-a'))).allowed).toBe(false);
    const other = await hit(keyRequest('key-b'));
    expect(other.allowed).toBe(true);
    expect(other.headers['ratelimit-remaining']).toBe(LIMIT - 1);
  });

  it('keys share no budget with their client IP; requests without a key are counted per IP', async () => {
    for (let i = 0; i < LIMIT; i++) await hit(keyRequest('key-a'));
    expect((await hit({ ip: '203.0.113.9' })).allowed).toBe(true); // same IP as key-a's requests
    expect((await hit({ ip: '203.0.113.9' })).allowed).toBe(true);
    expect((await hit({ ip: '203.0.113.9' })).allowed).toBe(true);
    expect((await hit({ ip: '203.0.113.9' })).error).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await hit({ ip: '198.51.100.1' })).allowed).toBe(true);
  });

  it('reads the budget from API_RATE_LIMIT_PER_MINUTE', async () => {
    guard = await guardWithLimit(1);
    const first = await hit(keyRequest('key-a'));
    expect(first.headers).toStrictEqual({ 'ratelimit-limit': 1, 'ratelimit-remaining': 0, 'ratelimit-reset': 60 });
    expect((await hit(keyRequest('key-a'))).error).toMatchObject({ code: 'RATE_LIMITED' });
  });
});
