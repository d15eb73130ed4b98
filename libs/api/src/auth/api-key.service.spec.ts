import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Test, type TestingModule } from '@nestjs/testing';
import { DomainException } from '#contracts';
import { CredentialHasher } from '#terminals';
import { expectPresent } from '#testing/expect-present.js';
import type { ProviderEntity } from '../providers/provider.entity.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyRepository } from './api-key.repository.js';
import { ApiKeyService } from './api-key.service.js';
import { Role } from './roles.js';

const PEPPER = 'api-key-unit-test-pepper-0123456789abcdef';
const ROOT = '00000000-0000-4000-8000-000000000001';
const ACME = '00000000-0000-4000-8000-000000000002';
const ACME_PATH = `/${ROOT}/${ACME}/`;
const TOKEN = /^fk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const NOW = 1_800_000_000_000;

type RepoMethod = 'insert' | 'findForAuth' | 'revoke' | 'touch';
type ApiKeyRepoStub = { [K in RepoMethod]: jest.Mock<ApiKeyRepository[K]> };

const acmeProvider: ProviderEntity = { id: ACME, parentId: ROOT, code: 'acme', name: 'Acme', path: ACME_PATH, createdAt: new Date(0), updatedAt: new Date(0) };

describe('ApiKeyService', () => {
  let hasher: CredentialHasher;
  /** Rows by prefix, as findForAuth would load them (hash and provider joined). */
  let rows: Map<string, ApiKeyEntity>;
  let repo: ApiKeyRepoStub;
  let moduleRef: TestingModule;
  let service: ApiKeyService;
  let ids: number;

  beforeEach(async () => {
    hasher = new CredentialHasher(PEPPER);
    rows = new Map();
    ids = 0;
    repo = {
      insert: jest.fn<ApiKeyRepository['insert']>(async (input) => {
        const row: ApiKeyEntity = {
          id: `key-${++ids}`,
          name: input.name,
          prefix: input.prefix,
          keyHash: input.hash,
          role: input.role,
          providerId: input.providerId,
          provider: input.providerId === ACME ? acmeProvider : null,
          createdBy: input.createdBy,
          createdAt: new Date(NOW),
          lastUsedAt: null,
          revokedAt: null,
        };
        rows.set(input.prefix, row);
        return row;
      }),
      findForAuth: jest.fn<ApiKeyRepository['findForAuth']>(async (prefix) => {
        const row = rows.get(prefix);
        return row ? { ...row } : null;
      }),
      revoke: jest.fn<ApiKeyRepository['revoke']>(async (id) => {
        let changed = false;
        for (const row of rows.values())
          if (row.id === id && !row.revokedAt) {
            row.revokedAt = new Date(NOW);
            changed = true;
          }
        return changed;
      }),
      touch: jest.fn<ApiKeyRepository['touch']>(async () => undefined),
    };
    moduleRef = await Test.createTestingModule({
      providers: [ApiKeyService, { provide: ApiKeyRepository, useValue: repo }, { provide: CredentialHasher, useValue: hasher }],
    }).compile();
    service = moduleRef.get(ApiKeyService);
  });

  afterEach(async () => {
    await moduleRef.close();
  });

  const opsKey = () => service.issue({ name: 'ops', role: Role.OpsAdmin, providerId: null, createdBy: null });
  const acmeKey = () => service.issue({ name: 'acme', role: Role.ProviderViewer, providerId: ACME, createdBy: 'key-0' });

  describe('issue', () => {
    it('returns fk_<12 hex>_<43 base64url> and stores only the HMAC of the secret under the token prefix', async () => {
      const { key, token } = await opsKey();
      const match = TOKEN.exec(token);
      expectPresent(match);
      expect(repo.insert).toHaveBeenCalledTimes(1);
      const stored = repo.insert.mock.calls[0][0];
      expect(stored).toStrictEqual({ name: 'ops', role: Role.OpsAdmin, providerId: null, createdBy: null, prefix: match[1], hash: hasher.hash(match[2]) });
      expect(stored.hash.toString('utf8')).not.toContain(match[2]);
      expect(key.id).toBe('key-1');
    });

    it('mints a different prefix and secret every time', async () => {
      const a = await opsKey();
      const b = await opsKey();
      expect(a.token).not.toBe(b.token);
      expect(repo.insert.mock.calls[0][0].prefix).not.toBe(repo.insert.mock.calls[1][0].prefix);
    });

    it('a provider role needs a providerId: VALIDATION_FAILED on body.providerId, nothing stored', async () => {
      for (const role of [Role.ProviderAdmin, Role.ProviderViewer]) {
        const error = await service.issue({ name: 'p', role, providerId: null, createdBy: null }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DomainException);
        expect(error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'body.providerId', message: 'required for provider roles' }] });
      }
      expect(repo.insert).not.toHaveBeenCalled();
    });

    it('an ops role must not have a providerId', async () => {
      for (const role of [Role.OpsAdmin, Role.OpsViewer]) {
        const error = await service.issue({ name: 'o', role, providerId: ACME, createdBy: null }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DomainException);
        expect(error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'body.providerId', message: 'not allowed for ops roles' }] });
      }
      expect(repo.insert).not.toHaveBeenCalled();
    });
  });

  describe('authenticate', () => {
    it('an ops key authenticates with the fleet scope', async () => {
      const { token } = await opsKey();
      expect(await service.authenticate(token, NOW)).toStrictEqual({
        principal: { keyId: 'key-1', name: 'ops', role: Role.OpsAdmin, providerId: null },
        scope: { kind: 'fleet' },
      });
      const match = TOKEN.exec(token);
      expectPresent(match);
      expect(repo.findForAuth).toHaveBeenCalledWith(match[1]);
    });

    it('a provider key authenticates with the subtree scope of its provider path', async () => {
      const { token } = await acmeKey();
      expect(await service.authenticate(token, NOW)).toStrictEqual({
        principal: { keyId: 'key-1', name: 'acme', role: Role.ProviderViewer, providerId: ACME },
        scope: { kind: 'subtree', providerId: ACME, path: ACME_PATH },
      });
    });

    it('malformed tokens are refused without a lookup', async () => {
      const { token } = await opsKey();
      const [, prefix, secret] = TOKEN.exec(token) ?? [];
      for (const bad of [
        '',
        'fk_',
        `xk_${prefix}_${secret}`,
        `fk_${prefix.toUpperCase()}_${secret}`,
        `fk_${prefix}_${secret}x`,
        `fk_${prefix}_${secret.slice(1)}`,
        `fk_${prefix}${secret}`,
        ` ${token}`,
      ]) {
        expect(await service.authenticate(bad, NOW)).toBeNull();
      }
      expect(repo.findForAuth).not.toHaveBeenCalled();
    });

    it('an unknown prefix or a wrong secret is refused', async () => {
      const { token } = await opsKey();
      const [, prefix, secret] = TOKEN.exec(token) ?? [];
      expect(await service.authenticate(`fk_000000000000_${secret}`, NOW)).toBeNull();
      const wrong = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
      expect(await service.authenticate(`fk_${prefix}_${wrong}`, NOW)).toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(2);
    });

    it('a revoked key is refused even with the right secret', async () => {
      const { token } = await opsKey();
      for (const row of rows.values()) row.revokedAt = new Date(NOW - 1000);
      expect(await service.authenticate(token, NOW)).toBeNull();
    });

    it('caches a verified key for 10 s: no second lookup within the TTL, a fresh one after it', async () => {
      const { token } = await opsKey();
      const first = await service.authenticate(token, NOW);
      const cached = await service.authenticate(token, NOW + 9_999);
      expectPresent(first);
      expectPresent(cached);
      expect(cached.principal).toStrictEqual(first.principal);
      expect(cached.scope).toStrictEqual(first.scope);
      expect(repo.findForAuth).toHaveBeenCalledTimes(1);
      expect(await service.authenticate(token, NOW + 10_000)).not.toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(2);
    });

    it('a key revoked by another process keeps working until the cache entry expires', async () => {
      const { token } = await opsKey();
      expect(await service.authenticate(token, NOW)).not.toBeNull();
      for (const row of rows.values()) row.revokedAt = new Date(NOW + 1);
      expect(await service.authenticate(token, NOW + 5_000)).not.toBeNull();
      expect(await service.authenticate(token, NOW + 10_001)).toBeNull();
    });

    it('failures are not cached: every attempt with a bad secret is looked up again', async () => {
      const { token } = await opsKey();
      const bad = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
      expect(await service.authenticate(bad, NOW)).toBeNull();
      expect(await service.authenticate(bad, NOW + 1)).toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(2);
    });
  });

  describe('revoke', () => {
    it('revokes in the repository and evicts the cached key at once; other keys stay cached', async () => {
      const ops = await opsKey();
      const acme = await acmeKey();
      expect(await service.authenticate(ops.token, NOW)).not.toBeNull();
      expect(await service.authenticate(acme.token, NOW)).not.toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(2);

      expect(await service.revoke(ops.key.id)).toBe(true);
      expect(repo.revoke).toHaveBeenCalledWith(ops.key.id);
      // A second revoke reports that it changed nothing (the controller then writes no audit entry).
      expect(await service.revoke(ops.key.id)).toBe(false);
      expect(await service.authenticate(ops.token, NOW + 1)).toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(3);
      expect(await service.authenticate(acme.token, NOW + 1)).not.toBeNull();
      expect(repo.findForAuth).toHaveBeenCalledTimes(3);
    });
  });

  describe('last use', () => {
    it('records use in the background, at most once a minute per key', async () => {
      const { token, key } = await opsKey();
      await service.flushTouches();
      expect(repo.touch).not.toHaveBeenCalled(); // nothing pending: no statement

      await service.authenticate(token, NOW);
      await service.authenticate(token, NOW + 1_000);
      expect(repo.touch).not.toHaveBeenCalled(); // background only
      await service.flushTouches();
      expect(repo.touch).toHaveBeenCalledTimes(1);
      expect(repo.touch.mock.calls[0][0]).toStrictEqual([key.id]);
      expect(repo.touch.mock.calls[0][1]).toBeInstanceOf(Date);

      await service.authenticate(token, NOW + 59_999); // a fresh lookup (TTL passed), still within the minute
      await service.flushTouches();
      expect(repo.touch).toHaveBeenCalledTimes(1);

      await service.authenticate(token, NOW + 60_000);
      await service.flushTouches();
      expect(repo.touch).toHaveBeenCalledTimes(2);
    });

    it('batches several keys into one touch, and swallows a failing touch', async () => {
      const ops = await opsKey();
      const acme = await acmeKey();
      await service.authenticate(ops.token, NOW);
      await service.authenticate(acme.token, NOW);
      repo.touch.mockRejectedValueOnce(new Error('db down'));
      await expect(service.flushTouches()).resolves.toBeUndefined();
      expect(repo.touch).toHaveBeenCalledTimes(1);
      expect([...repo.touch.mock.calls[0][0]].sort()).toStrictEqual([ops.key.id, acme.key.id].sort());
      await service.flushTouches();
      expect(repo.touch).toHaveBeenCalledTimes(1); // the failed batch is dropped, not retried
    });

    it('flushes pending touches when the module is destroyed', async () => {
      const { token, key } = await opsKey();
      await service.authenticate(token, NOW);
      await moduleRef.close();
      expect(repo.touch).toHaveBeenCalledTimes(1);
      expect(repo.touch.mock.calls[0][0]).toStrictEqual([key.id]);
    });
  });
});
