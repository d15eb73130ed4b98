import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { DomainException } from '#contracts';
import { AuditService, type AuditChange } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import type { ProviderEntity } from './provider.entity.js';
import { ProviderRepository } from './provider.repository.js';
import { MAX_PROVIDER_DEPTH, ProviderService, toProviderView, type ProviderView } from './provider.service.js';

// The tree:  root ─┬─ acme ── acme-eu ── acme-eu-shop
//                  └─ beta
const ROOT = '00000000-0000-4000-8000-000000000001';
const ACME = '00000000-0000-4000-8000-000000000002';
const ACME_EU = '00000000-0000-4000-8000-000000000003';
const ACME_EU_SHOP = '00000000-0000-4000-8000-000000000004';
const BETA = '00000000-0000-4000-8000-000000000005';
const CREATED = '00000000-0000-4000-8000-0000000000aa';

const T0 = new Date('2026-01-01T00:00:00.000Z');
const T1 = new Date('2026-02-01T12:30:00.000Z');

function entity(id: string, parentId: string | null, code: string, path: string, name = code.toUpperCase()): ProviderEntity {
  return { id, parentId, code, name, path, createdAt: T0, updatedAt: T0 };
}

function tree(): Map<string, ProviderEntity> {
  const root = entity(ROOT, null, 'root', `/${ROOT}/`);
  const acme = entity(ACME, ROOT, 'acme', `${root.path}${ACME}/`);
  const acmeEu = entity(ACME_EU, ACME, 'acme-eu', `${acme.path}${ACME_EU}/`);
  const shop = entity(ACME_EU_SHOP, ACME_EU, 'acme-eu-shop', `${acmeEu.path}${ACME_EU_SHOP}/`);
  const beta = entity(BETA, ROOT, 'beta', `${root.path}${BETA}/`);
  return new Map([root, acme, acmeEu, shop, beta].map((p) => [p.id, p]));
}

const FLEET: Scope = { kind: 'fleet' };

function ctxFor(scope: Scope): RequestContext {
  const provider = scope.kind === 'subtree';
  return {
    principal: {
      keyId: provider ? 'key-acme-admin' : 'key-ops-admin',
      name: provider ? 'acme admin' : 'ops admin',
      role: provider ? Role.ProviderAdmin : Role.OpsAdmin,
      providerId: provider ? scope.providerId : null,
    },
    scope,
    requestId: 'req-1',
  };
}

type RepoMethod = 'list' | 'findById' | 'root' | 'insert' | 'rename' | 'move' | 'deleteIfEmpty';
type ProviderRepoStub = { [K in RepoMethod]: jest.Mock<ProviderRepository[K]> };

/** Expects `promise` to reject with a DomainException of `code`, and returns it. */
async function domainError(promise: Promise<unknown>, code: string): Promise<DomainException> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainException);
  expect((error as DomainException).code).toBe(code);
  return error as DomainException;
}

describe('ProviderService', () => {
  let rows: Map<string, ProviderEntity>;
  let repo: ProviderRepoStub;
  let record: jest.Mock<AuditService['record']>;
  let service: ProviderService;
  let acmeCtx: RequestContext;
  let opsCtx: RequestContext;

  beforeEach(async () => {
    rows = tree();
    const inScope = (scope: Scope, p: ProviderEntity): boolean => scope.kind === 'fleet' || p.path.startsWith(scope.path);
    // findById and list behave like the real repository: out-of-scope rows do not exist.
    repo = {
      list: jest.fn<ProviderRepository['list']>(async (scope) =>
        [...rows.values()].filter((p) => inScope(scope, p)).sort((a, b) => a.path.localeCompare(b.path)),
      ),
      findById: jest.fn<ProviderRepository['findById']>(async (scope, id) => {
        const p = rows.get(id);
        return p && inScope(scope, p) ? { ...p } : null;
      }),
      root: jest.fn<ProviderRepository['root']>(async () => ({ ...(rows.get(ROOT) as ProviderEntity) })),
      insert: jest.fn<ProviderRepository['insert']>(async (parent, code, name) => entity(CREATED, parent.id, code, `${parent.path}${CREATED}/`, name)),
      rename: jest.fn<ProviderRepository['rename']>(async (id, name) => ({ ...(rows.get(id) as ProviderEntity), name, updatedAt: T1 })),
      move: jest.fn<ProviderRepository['move']>(async (p, parent) => ({ ...p, parentId: parent.id, path: `${parent.path}${p.id}/`, updatedAt: T1 })),
      deleteIfEmpty: jest.fn<ProviderRepository['deleteIfEmpty']>(async () => 'deleted'),
    };
    record = jest.fn<AuditService['record']>(async () => undefined);
    const moduleRef = await Test.createTestingModule({
      providers: [ProviderService, { provide: ProviderRepository, useValue: repo }, { provide: AuditService, useValue: { record } }],
    }).compile();
    service = moduleRef.get(ProviderService);
    acmeCtx = ctxFor({ kind: 'subtree', providerId: ACME, path: (rows.get(ACME) as ProviderEntity).path });
    opsCtx = ctxFor(FLEET);
  });

  const view = (id: string): ProviderView => toProviderView(rows.get(id) as ProviderEntity);
  const auditChanges = (): AuditChange[] => record.mock.calls.map(([, change]) => change as AuditChange);
  const expectNoMutation = (): void => {
    expect(repo.insert).not.toHaveBeenCalled();
    expect(repo.move).not.toHaveBeenCalled();
    expect(repo.rename).not.toHaveBeenCalled();
    expect(repo.deleteIfEmpty).not.toHaveBeenCalled();
    expect(record).not.toHaveBeenCalled();
  };

  describe('toProviderView', () => {
    it('derives the depth from the path, formats timestamps as ISO and leaves the path out', () => {
      expect(view(ROOT)).toStrictEqual({
        id: ROOT,
        parentId: null,
        code: 'root',
        name: 'ROOT',
        depth: 0,
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      expect(view(ACME).depth).toBe(1);
      expect(view(ACME_EU_SHOP).depth).toBe(3);
    });
  });

  describe('reads', () => {
    it('list() maps the rows of the caller scope to views', async () => {
      expect((await service.list(acmeCtx.scope)).map((p) => p.code)).toStrictEqual(['acme', 'acme-eu', 'acme-eu-shop']);
      expect(repo.list).toHaveBeenCalledWith(acmeCtx.scope);
    });

    it('tree() nests children under their parents; a scoped caller gets its own provider as the only root', async () => {
      const roots = await service.tree(acmeCtx.scope);
      expect(roots.map((n) => n.id)).toStrictEqual([ACME]);
      expect(roots[0].children.map((n) => n.id)).toStrictEqual([ACME_EU]);
      expect(roots[0].children[0].children.map((n) => n.id)).toStrictEqual([ACME_EU_SHOP]);
      expect(roots[0].children[0].children[0].children).toStrictEqual([]);
    });

    it('tree() for the fleet has the root provider on top with both branches', async () => {
      const roots = await service.tree(FLEET);
      expect(roots.map((n) => n.id)).toStrictEqual([ROOT]);
      expect(roots[0].children.map((n) => n.code).sort()).toStrictEqual(['acme', 'beta']);
    });

    it('get() answers 404 NOT_FOUND for a provider outside the subtree, exactly like an unknown id', async () => {
      const outside = await domainError(service.get(acmeCtx.scope, BETA), 'NOT_FOUND');
      expect(outside.message).toBe(`provider ${BETA} not found`);
      const unknown = await domainError(service.get(acmeCtx.scope, CREATED), 'NOT_FOUND');
      expect(unknown.message).toBe(`provider ${CREATED} not found`);
      await domainError(service.get(acmeCtx.scope, ROOT), 'NOT_FOUND');
      expect((await service.get(acmeCtx.scope, ACME_EU_SHOP)).id).toBe(ACME_EU_SHOP);
      expect((await service.get(FLEET, BETA)).id).toBe(BETA);
    });
  });

  describe('create', () => {
    it('a provider key without parentId creates below its own provider (never looks up the root) and audits the new view', async () => {
      const created = await service.create(acmeCtx, { code: 'acme-us', name: 'Acme US' });
      expect(repo.root).not.toHaveBeenCalled();
      expect(repo.insert).toHaveBeenCalledTimes(1);
      const [parent, code, name] = repo.insert.mock.calls[0];
      expect(parent.id).toBe(ACME);
      expect([code, name]).toStrictEqual(['acme-us', 'Acme US']);
      expect(created).toStrictEqual({
        id: CREATED,
        parentId: ACME,
        code: 'acme-us',
        name: 'Acme US',
        depth: 2,
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      expect(record).toHaveBeenCalledTimes(1);
      expect(record).toHaveBeenCalledWith(acmeCtx, {
        action: 'provider.create',
        targetType: 'provider',
        targetId: CREATED,
        providerId: CREATED,
        after: created,
      });
    });

    it('an ops key without parentId creates below the root provider', async () => {
      const created = await service.create(opsCtx, { code: 'gamma', name: 'Gamma' });
      expect(repo.root).toHaveBeenCalledTimes(1);
      expect(repo.insert.mock.calls[0][0].id).toBe(ROOT);
      expect(created.depth).toBe(1);
    });

    it('an explicit parentId inside the subtree is used', async () => {
      await service.create(acmeCtx, { code: 'acme-eu-2', name: 'Acme EU 2', parentId: ACME_EU });
      expect(repo.insert.mock.calls[0][0].id).toBe(ACME_EU);
    });

    it('a parentId outside the subtree answers 404 and creates nothing', async () => {
      await domainError(service.create(acmeCtx, { code: 'beta-x', name: 'Beta X', parentId: BETA }), 'NOT_FOUND');
      expectNoMutation();
    });

    it('a taken code answers 409 CONFLICT and audits nothing', async () => {
      repo.insert.mockResolvedValueOnce('taken');
      const error = await domainError(service.create(opsCtx, { code: 'acme', name: 'Acme again' }), 'CONFLICT');
      expect(error.message).toBe('provider code "acme" is taken');
      expect(record).not.toHaveBeenCalled();
    });
  });

  describe('update', () => {
    it('a provider key cannot modify its own provider: 403 FORBIDDEN, nothing changed', async () => {
      const error = await domainError(service.update(acmeCtx, ACME, { name: 'Renamed' }), 'FORBIDDEN');
      expect(error.message).toBe('a provider key cannot modify its own provider');
      await domainError(service.update(acmeCtx, ACME, { parentId: BETA }), 'FORBIDDEN');
      expectNoMutation();
    });

    it('an ops key may modify any provider, including one a provider key is bound to', async () => {
      const after = await service.update(opsCtx, ACME, { name: 'Acme Corp' });
      expect(after.name).toBe('Acme Corp');
    });

    it('a provider outside the subtree answers 404 NOT_FOUND, not 403', async () => {
      await domainError(service.update(acmeCtx, BETA, { name: 'Mine now' }), 'NOT_FOUND');
      await domainError(service.update(acmeCtx, ROOT, { name: 'Mine now' }), 'NOT_FOUND');
      expectNoMutation();
    });

    it('moving below a parent outside the subtree answers 404 and does not move', async () => {
      await domainError(service.update(acmeCtx, ACME_EU, { parentId: BETA }), 'NOT_FOUND');
      expectNoMutation();
    });

    it('moving a provider below itself answers 409 CONFLICT', async () => {
      const error = await domainError(service.update(opsCtx, ACME_EU, { parentId: ACME_EU }), 'CONFLICT');
      expect(error.message).toBe('a provider cannot move below itself or its descendants');
      expectNoMutation();
    });

    it('moving a provider below its own descendant answers 409 CONFLICT', async () => {
      await domainError(service.update(opsCtx, ACME, { parentId: ACME_EU_SHOP }), 'CONFLICT');
      await domainError(service.update(acmeCtx, ACME_EU, { parentId: ACME_EU_SHOP }), 'CONFLICT');
      expectNoMutation();
    });

    it('the root provider cannot be moved (409)', async () => {
      const error = await domainError(service.update(opsCtx, ROOT, { parentId: BETA }), 'CONFLICT');
      expect(error.message).toBe('the root provider cannot be moved');
      expectNoMutation();
    });

    it('a move that keeps losing races (repository answers stale) is retried, then answers 409 and neither renames nor audits', async () => {
      repo.move.mockResolvedValue('stale');
      const error = await domainError(service.update(opsCtx, ACME_EU, { parentId: BETA, name: 'Moved' }), 'CONFLICT');
      expect(error.message).toBe('the provider tree changed during the move; retry');
      expect(repo.move).toHaveBeenCalledTimes(3);
      expect(repo.rename).not.toHaveBeenCalled();
      expect(record).not.toHaveBeenCalled();
    });

    it('a move hands the in-scope provider and parent to the repository and audits before/after', async () => {
      const before = view(ACME_EU_SHOP);
      const after = await service.update(acmeCtx, ACME_EU_SHOP, { parentId: ACME });
      expect(repo.move).toHaveBeenCalledTimes(1);
      const [moved, parent] = repo.move.mock.calls[0];
      expect(moved.id).toBe(ACME_EU_SHOP);
      expect(parent.id).toBe(ACME);
      expect(repo.rename).not.toHaveBeenCalled();
      expect(after).toStrictEqual({ ...before, parentId: ACME, depth: 2, updatedAt: T1.toISOString() });
      expect(record).toHaveBeenCalledTimes(1);
      expect(record).toHaveBeenCalledWith(acmeCtx, {
        action: 'provider.update',
        targetType: 'provider',
        targetId: ACME_EU_SHOP,
        providerId: ACME_EU_SHOP,
        before,
        after,
      });
    });

    it('a rename only renames: no parent lookup, no move; the audit shows the old and new name', async () => {
      const before = view(ACME_EU);
      const after = await service.update(acmeCtx, ACME_EU, { name: 'Acme Europe' });
      expect(repo.findById).toHaveBeenCalledTimes(1);
      expect(repo.move).not.toHaveBeenCalled();
      expect(repo.rename).toHaveBeenCalledWith(ACME_EU, 'Acme Europe');
      expect(after).toStrictEqual({ ...before, name: 'Acme Europe', updatedAt: T1.toISOString() });
      expect(auditChanges()).toStrictEqual([{ action: 'provider.update', targetType: 'provider', targetId: ACME_EU, providerId: ACME_EU, before, after }]);
      expect(before.name).toBe('ACME-EU');
    });

    it('move and rename together: moves first, then renames the moved row', async () => {
      const after = await service.update(opsCtx, ACME_EU, { parentId: BETA, name: 'Beta EU' });
      expect(repo.move).toHaveBeenCalledTimes(1);
      expect(repo.rename).toHaveBeenCalledWith(ACME_EU, 'Beta EU');
      expect(repo.move.mock.invocationCallOrder[0]).toBeLessThan(repo.rename.mock.invocationCallOrder[0]);
      expect(after.name).toBe('Beta EU');
    });

    it('a move that lost one race re-reads the tree and checks again: the cycle check now refuses (409)', async () => {
      // Meanwhile BETA was moved below ACME_EU: moving ACME_EU below BETA would now close a cycle.
      repo.move.mockImplementationOnce(async () => {
        const beta = rows.get(BETA) as ProviderEntity;
        rows.set(BETA, { ...beta, parentId: ACME_EU, path: `${(rows.get(ACME_EU) as ProviderEntity).path}${BETA}/` });
        return 'stale';
      });
      const error = await domainError(service.update(opsCtx, ACME_EU, { parentId: BETA }), 'CONFLICT');
      expect(error.message).toBe('a provider cannot move below itself or its descendants');
      expect(repo.move).toHaveBeenCalledTimes(1);
      expect(record).not.toHaveBeenCalled();
    });

    it('a create or move beyond the maximum depth answers 400 VALIDATION_FAILED naming body.parentId', async () => {
      repo.insert.mockResolvedValueOnce('too-deep');
      const created = await domainError(service.create(opsCtx, { code: 'deep', name: 'Deep', parentId: ACME_EU_SHOP }), 'VALIDATION_FAILED');
      expect(created.details).toStrictEqual([{ field: 'body.parentId', message: expect.stringContaining(`${MAX_PROVIDER_DEPTH}`) }]);
      repo.move.mockResolvedValueOnce('too-deep');
      const moved = await domainError(service.update(opsCtx, BETA, { parentId: ACME_EU_SHOP }), 'VALIDATION_FAILED');
      expect(moved.details).toStrictEqual([{ field: 'body.parentId', message: expect.stringContaining(`${MAX_PROVIDER_DEPTH}`) }]);
      expect(record).not.toHaveBeenCalled();
    });

    it('the current parent and the current name are no-ops: no move, no rename, no audit entry', async () => {
      const before = view(ACME_EU);
      const after = await service.update(acmeCtx, ACME_EU, { parentId: ACME, name: before.name });
      expect(after).toStrictEqual(before);
      expect(repo.move).not.toHaveBeenCalled();
      expect(repo.rename).not.toHaveBeenCalled();
      expect(repo.findById).toHaveBeenCalledTimes(1); // the unchanged parent is not even looked up
      expect(record).not.toHaveBeenCalled();
    });
  });

  describe('delete', () => {
    it('deletes an empty provider and audits it against its parent with the before view', async () => {
      const before = view(ACME_EU_SHOP);
      await service.delete(acmeCtx, ACME_EU_SHOP);
      expect(repo.deleteIfEmpty).toHaveBeenCalledWith(ACME_EU_SHOP);
      expect(auditChanges()).toStrictEqual([{ action: 'provider.delete', targetType: 'provider', targetId: ACME_EU_SHOP, providerId: ACME_EU, before }]);
    });

    it('the root provider cannot be deleted (409)', async () => {
      const error = await domainError(service.delete(opsCtx, ROOT), 'CONFLICT');
      expect(error.message).toBe('the root provider cannot be deleted');
      expectNoMutation();
    });

    it('a provider key cannot delete its own provider (403)', async () => {
      await domainError(service.delete(acmeCtx, ACME), 'FORBIDDEN');
      expectNoMutation();
    });

    it('a provider outside the subtree answers 404', async () => {
      await domainError(service.delete(acmeCtx, BETA), 'NOT_FOUND');
      expectNoMutation();
    });

    it('a provider with sub-providers, terminals or active keys answers 409 with the counts', async () => {
      for (const deps of [
        { children: 1, terminals: 0, keys: 0 },
        { children: 0, terminals: 7, keys: 0 },
        { children: 0, terminals: 0, keys: 2 },
      ]) {
        repo.deleteIfEmpty.mockResolvedValueOnce(deps);
        const error = await domainError(service.delete(opsCtx, ACME_EU), 'CONFLICT');
        expect(error.details).toStrictEqual([{ children: deps.children, terminals: deps.terminals, activeKeys: deps.keys }]);
      }
      expect(record).not.toHaveBeenCalled();
    });

    it('a provider deleted concurrently (gone when locked) answers 404 and audits nothing', async () => {
      repo.deleteIfEmpty.mockResolvedValueOnce(null);
      await domainError(service.delete(opsCtx, ACME_EU), 'NOT_FOUND');
      expect(record).not.toHaveBeenCalled();
    });
  });
});
