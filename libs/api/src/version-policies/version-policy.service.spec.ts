import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type DomainException } from '#contracts';
import type { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode } from '../common/api-error.js';
import { putVersionPolicyBody } from './version-policy.dto.js';
import type { VersionPolicyRepository, VersionPolicyRow } from './version-policy.repository.js';
import { VersionPolicyService, versionPolicyIssues } from './version-policy.service.js';

const ctx = (role: Role): RequestContext => ({
  principal: { keyId: 'k', name: role, role, providerId: null },
  scope: { kind: 'fleet' },
  requestId: 'r',
});
const body = (b: Record<string, unknown>) => putVersionPolicyBody.parse(b);
const policy = (over: Partial<VersionPolicyRow> = {}): VersionPolicyRow => ({
  model: 'EP-T1',
  component: 'firmware',
  minSupported: '3.1',
  latest: '3.2',
  latestSince: new Date('2026-11-01T00:00:00Z'),
  blocked: [],
  updatedAt: new Date('2026-11-01T00:00:00Z'),
  ...over,
});

describe('versionPolicyIssues', () => {
  it('accepts comparable versions with minSupported at or below latest', () => {
    expect(versionPolicyIssues(body({ minSupported: '3.9', latest: '3.10' }))).toStrictEqual([]);
    expect(versionPolicyIssues(body({ minSupported: 'E20_V3.2.1', latest: 'E20_V3.2.1' }))).toStrictEqual([]);
    expect(versionPolicyIssues(body({}))).toStrictEqual([]);
  });

  it('names each field that cannot be compared, and minSupported above latest', () => {
    expect(versionPolicyIssues(body({ minSupported: 'abc', latest: '1.0', blocked: ['1.0', 'zz'] })).map((i) => i.field)).toStrictEqual([
      'body.minSupported',
      'body.blocked.1',
    ]);
    expect(versionPolicyIssues(body({ minSupported: '3.10', latest: '3.9' }))).toStrictEqual([
      { field: 'body.minSupported', message: 'must not be above latest (3.9)' },
    ]);
    // Different vendor prefixes cannot be ordered.
    expect(versionPolicyIssues(body({ minSupported: 'E20_V1.0', latest: 'N5-2.0' })).map((i) => i.field)).toStrictEqual(['body.minSupported']);
  });
});

describe('VersionPolicyService', () => {
  let put: jest.Mock<VersionPolicyRepository['put']>;
  let remove: jest.Mock<VersionPolicyRepository['delete']>;
  let record: jest.Mock<AuditService['record']>;
  let service: VersionPolicyService;

  beforeEach(() => {
    put = jest.fn<VersionPolicyRepository['put']>();
    remove = jest.fn<VersionPolicyRepository['delete']>(async () => null);
    record = jest.fn<AuditService['record']>(async () => undefined);
    service = new VersionPolicyService({ put, delete: remove } as unknown as VersionPolicyRepository, { record } as unknown as AuditService);
  });

  it('only ops-admin writes', async () => {
    for (const role of [Role.OpsViewer, Role.ProviderAdmin, Role.ProviderViewer]) {
      const error = await service.put(ctx(role), 'EP-T1', 'firmware', body({ latest: '1.0' })).catch((e: unknown) => e);
      expect((error as DomainException).code).toBe(ApiErrorCode.Forbidden);
      expect(((await service.delete(ctx(role), 'EP-T1', 'app').catch((e: unknown) => e)) as DomainException).code).toBe(ApiErrorCode.Forbidden);
    }
    expect(put).not.toHaveBeenCalled();
  });

  it('refuses invalid versions before writing', async () => {
    const error = (await service.put(ctx(Role.OpsAdmin), 'EP-T1', 'firmware', body({ latest: 'beta' })).catch((e: unknown) => e)) as DomainException;
    expect(error.code).toBe(ApiErrorCode.ValidationFailed);
    expect(put).not.toHaveBeenCalled();
  });

  it('creates (audited as create), replaces (audited with before/after), and a no-op is not audited', async () => {
    const created = policy();
    put.mockResolvedValueOnce({ before: null, after: created });
    expect((await service.put(ctx(Role.OpsAdmin), 'EP-T1', 'firmware', body({ minSupported: '3.1', latest: '3.2', blocked: ['3.0', '3.0'] }))).created).toBe(
      true,
    );
    // Duplicate blocked versions are stored once.
    expect(put.mock.calls[0][2]).toStrictEqual({ minSupported: '3.1', latest: '3.2', blocked: ['3.0'] });
    expect(record.mock.calls[0][1]).toMatchObject({ action: 'version_policy.create', targetId: 'EP-T1/firmware', providerId: null, before: null });

    put.mockResolvedValueOnce({ before: created, after: created });
    expect((await service.put(ctx(Role.OpsAdmin), 'EP-T1', 'firmware', body({ minSupported: '3.1', latest: '3.2' }))).created).toBe(false);
    expect(record).toHaveBeenCalledTimes(1);

    put.mockResolvedValueOnce({ before: created, after: policy({ latest: '3.3', latestSince: new Date('2026-12-01T00:00:00Z') }) });
    await service.put(ctx(Role.OpsAdmin), 'EP-T1', 'firmware', body({ minSupported: '3.1', latest: '3.3' }));
    expect(record.mock.calls[1][1]).toMatchObject({
      action: 'version_policy.update',
      before: { latest: '3.2', latestSince: '2026-11-01T00:00:00.000Z' },
      after: { latest: '3.3', latestSince: '2026-12-01T00:00:00.000Z' },
    });
  });

  it('deleting a policy that does not exist is a 404 and audits nothing', async () => {
    const error = (await service.delete(ctx(Role.OpsAdmin), 'EP-T1', 'app').catch((e: unknown) => e)) as DomainException;
    expect(error.code).toBe(ApiErrorCode.NotFound);
    expect(record).not.toHaveBeenCalled();
  });
});
