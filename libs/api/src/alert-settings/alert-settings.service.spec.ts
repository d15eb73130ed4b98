import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { DomainException } from '#contracts';
import type { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { DEFAULT_ALERT_THRESHOLDS } from '../alerts/alert-rules.port.js';
import { ApiErrorCode } from '../common/api-error.js';
import type { ProviderEntity } from '../providers/provider.entity.js';
import type { ProviderService } from '../providers/provider.service.js';
import type { AlertSettingsRepository, AlertSettingsRow, AlertSettingsTx } from './alert-settings.repository.js';
import { AlertSettingsService, pathIds } from './alert-settings.service.js';

const ROOT = '00000000-0000-4000-8000-000000000001';
const A = '00000000-0000-4000-8000-000000000002';
const A1 = '00000000-0000-4000-8000-000000000003';
const T = new Date('2026-11-01T00:00:00Z');
const provider = (id: string, parentId: string | null, path: string): ProviderEntity => ({
  id,
  parentId,
  code: id.slice(-2),
  name: id,
  path,
  createdAt: T,
  updatedAt: T,
});
const PROVIDERS = new Map(
  [provider(ROOT, null, `/${ROOT}/`), provider(A, ROOT, `/${ROOT}/${A}/`), provider(A1, A, `/${ROOT}/${A}/${A1}/`)].map((p) => [p.id, p]),
);

const ctx = (role: Role, scope: Scope = { kind: 'fleet' }): RequestContext => ({
  principal: { keyId: 'k', name: role, role, providerId: scope.kind === 'subtree' ? scope.providerId : null },
  scope,
  requestId: 'r',
});

describe('AlertSettingsService', () => {
  let stored: Map<string, Record<string, unknown>>;
  let put: jest.Mock<AlertSettingsTx['put']>;
  let record: jest.Mock<AuditService['record']>;
  let service: AlertSettingsService;

  beforeEach(() => {
    stored = new Map();
    const rowOf = (id: string): AlertSettingsRow | null => {
      const settings = stored.get(id);
      return settings ? { providerId: id, settings, updatedAt: T } : null;
    };
    put = jest.fn<AlertSettingsTx['put']>(async (id, settings) => {
      const before = rowOf(id);
      const changed = JSON.stringify(before?.settings) !== JSON.stringify(settings);
      stored.set(id, settings);
      return { before, after: rowOf(id) as AlertSettingsRow, changed };
    });
    const findMany = async (ids: readonly string[]) => ids.flatMap((id) => rowOf(id) ?? []);
    const tx = {
      findMany,
      findInSubtree: async (path: string) =>
        [...PROVIDERS.values()]
          .filter((p) => p.path.startsWith(path))
          .flatMap((p) => {
            const r = rowOf(p.id);
            return r ? [{ ...r, path: p.path }] : [];
          }),
      put,
      delete: async (id: string) => {
        const r = rowOf(id);
        stored.delete(id);
        return r;
      },
    };
    // The write lock is the database's business; here each unit of work just runs.
    const repo = { findMany, locked: async <T>(work: (t: AlertSettingsTx) => Promise<T>) => work(tx as unknown as AlertSettingsTx) };
    const providers = {
      get: async (scope: Scope, id: string) => {
        const p = PROVIDERS.get(id);
        if (!p || (scope.kind === 'subtree' && !p.path.startsWith(scope.path))) throw new DomainException(ApiErrorCode.NotFound, 'provider not found');
        return p;
      },
    };
    record = jest.fn<AuditService['record']>(async () => undefined);
    service = new AlertSettingsService(
      repo as unknown as AlertSettingsRepository,
      providers as unknown as ProviderService,
      { record } as unknown as AuditService,
    );
  });

  it('pathIds lists the path root first', () => {
    expect(pathIds(`/${ROOT}/${A}/`)).toStrictEqual([ROOT, A]);
  });

  it('effective = defaults, then root, then each provider down the path', async () => {
    stored.set(ROOT, { battery: { warningBelowPct: 30 } });
    stored.set(A, { battery: { criticalBelowPct: 15 }, offline: { graceMinutes: 90 } });
    const view = await service.get(ctx(Role.OpsViewer), A1);
    expect(view.overrides).toBeNull();
    expect(view.effective?.battery).toStrictEqual({ ...DEFAULT_ALERT_THRESHOLDS.battery, warningBelowPct: 30, criticalBelowPct: 15 });
    expect(view.effective?.offline.graceMinutes).toBe(90);
    expect(view.issues).toStrictEqual([]);
  });

  it('the root\u2019s row is ops-admin only, even for a provider-admin bound to the root', async () => {
    const rootAdmin = ctx(Role.ProviderAdmin, { kind: 'subtree', providerId: ROOT, path: `/${ROOT}/` });
    const error = (await service.put(rootAdmin, ROOT, { offline: { graceMinutes: 5 } }).catch((e: unknown) => e)) as DomainException;
    expect(error.code).toBe(ApiErrorCode.Forbidden);
    await service.put(rootAdmin, A, { offline: { graceMinutes: 5 } });
    await service.put(ctx(Role.OpsAdmin), ROOT, { offline: { graceMinutes: 7 } });
    expect(put).toHaveBeenCalledTimes(2);
  });

  it('refuses overrides whose merge is invalid for this provider (naming the body field) or one below it', async () => {
    const own = (await service.put(ctx(Role.OpsAdmin), A, { battery: { criticalBelowPct: 50 } }).catch((e: unknown) => e)) as DomainException;
    expect(own.code).toBe(ApiErrorCode.ValidationFailed);
    expect(own.details?.map((d) => (d as { field: string }).field)).toContain('body.battery.criticalBelowPct');
    stored.set(A1, { battery: { criticalBelowPct: 15 } });
    const below = (await service.put(ctx(Role.OpsAdmin), A, { battery: { warningBelowPct: 12 } }).catch((e: unknown) => e)) as DomainException;
    expect(below.code).toBe(ApiErrorCode.ValidationFailed);
    expect(JSON.stringify(below.details)).toContain(A1);
    expect(put).not.toHaveBeenCalled();
  });

  it('audits create and update with before/after; the same overrides again are not audited', async () => {
    const adminA = ctx(Role.ProviderAdmin, { kind: 'subtree', providerId: A, path: `/${ROOT}/${A}/` });
    await service.put(adminA, A, { offline: { graceMinutes: 60 } });
    await service.put(adminA, A, { offline: { graceMinutes: 60 } });
    await service.put(adminA, A, { offline: { graceMinutes: 45 } });
    expect(record.mock.calls.map((c) => c[1])).toStrictEqual([
      { action: 'alert_settings.create', targetType: 'alert_settings', targetId: A, providerId: A, before: null, after: { offline: { graceMinutes: 60 } } },
      {
        action: 'alert_settings.update',
        targetType: 'alert_settings',
        targetId: A,
        providerId: A,
        before: { offline: { graceMinutes: 60 } },
        after: { offline: { graceMinutes: 45 } },
      },
    ]);
  });

  it('delete: 404 without overrides; 409 when providers below would be left invalid', async () => {
    expect(((await service.delete(ctx(Role.OpsAdmin), A).catch((e: unknown) => e)) as DomainException).code).toBe(ApiErrorCode.NotFound);
    stored.set(A, { battery: { warningBelowPct: 40 } });
    stored.set(A1, { battery: { criticalBelowPct: 30 } });
    expect(((await service.delete(ctx(Role.OpsAdmin), A).catch((e: unknown) => e)) as DomainException).code).toBe(ApiErrorCode.Conflict);
    expect(stored.has(A)).toBe(true);
    await service.delete(ctx(Role.OpsAdmin), A1);
    expect(record.mock.calls[0][1]).toMatchObject({ action: 'alert_settings.delete', targetId: A1, before: { battery: { criticalBelowPct: 30 } } });
  });
});
