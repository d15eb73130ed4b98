import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiKeyService, Role } from '#api';
import { startTestDatabase, startTestGateway, TEST_ADMIN_TOKEN, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

interface Provider {
  id: string;
  code: string;
  parentId: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: { field: string }[] };
}

for (const kind of testDbKinds()) {
  describe(`fleet API: providers, keys, audit on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    const keys: Record<string, string> = {};
    let root: Provider;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      call = apiClient(gw.httpUrl);
      const issuer = gw.running.app.get(ApiKeyService);
      keys.opsAdmin = (await issuer.issue({ name: 'ops admin', role: Role.OpsAdmin, providerId: null, createdBy: null })).token;
      const list = await call<{ items: Provider[] }>('GET', '/v1/providers', keys.opsAdmin);
      root = list.body.items[0];
      const mk = async (code: string, parentId?: string) =>
        (await call<Provider>('POST', '/v1/providers', keys.opsAdmin, { code, name: code.toUpperCase(), parentId })).body;
      spA = await mk('sp-a');
      spA1 = await mk('sp-a1', spA.id);
      spB = await mk('sp-b');
      const issue = async (name: string, role: string, providerId?: string) =>
        (await call<{ token: string }>('POST', '/v1/api-keys', keys.opsAdmin, { name, role, providerId })).body.token;
      keys.opsViewer = await issue('ops viewer', 'ops-viewer');
      keys.provAdminA = await issue('a admin', 'provider-admin', spA.id);
      keys.provViewerA = await issue('a viewer', 'provider-viewer', spA.id);
      keys.provAdminB = await issue('b admin', 'provider-admin', spB.id);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('bootstraps the first ops-admin key once, through the admin-token endpoint', async () => {
      const url = '/internal/v1/api-keys/bootstrap';
      expect((await call('POST', url, null, {})).status).toBe(401);
      // The suite already issued an ops-admin key: bootstrap refuses.
      const again = await call<ErrorBody>('POST', url, TEST_ADMIN_TOKEN, {});
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('CONFLICT');
      await gw.query(`UPDATE api_keys SET revoked_at = now() WHERE role = 'ops-admin'`);
      const fresh = await call<{ token: string }>('POST', url, TEST_ADMIN_TOKEN, { name: 'first admin' });
      expect(fresh.status).toBe(201);
      expect((await call('GET', '/v1/providers', fresh.body.token)).status).toBe(200);
      await gw.query(`UPDATE api_keys SET revoked_at = NULL WHERE name = 'ops admin'`);
      keys.opsAdmin = fresh.body.token;
    });

    it('refuses requests without a valid key with 401 and the one error body', async () => {
      for (const key of [null, 'nope', 'fk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
        const res = await call<ErrorBody>('GET', '/v1/providers', key, undefined, { 'x-request-id': 'req-401-test' });
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHENTICATED');
        expect(res.body.error.requestId).toBe('req-401-test');
        expect(res.headers.get('x-request-id')).toBe('req-401-test');
      }
    });

    it('walks the permission matrix for providers, keys and audit', async () => {
      // [method, path builder, body builder, which roles may]
      const writers = ['opsAdmin', 'provAdminA'];
      let n = 0;
      const matrix: { name: string; method: string; path: () => string; body?: () => unknown; allowed: string[] }[] = [
        { name: 'list providers', method: 'GET', path: () => '/v1/providers', allowed: ['opsAdmin', 'opsViewer', 'provAdminA', 'provViewerA'] },
        { name: 'provider tree', method: 'GET', path: () => '/v1/providers/tree', allowed: ['opsAdmin', 'opsViewer', 'provAdminA', 'provViewerA'] },
        { name: 'get provider', method: 'GET', path: () => `/v1/providers/${spA1.id}`, allowed: ['opsAdmin', 'opsViewer', 'provAdminA', 'provViewerA'] },
        {
          name: 'create provider',
          method: 'POST',
          path: () => '/v1/providers',
          body: () => ({ code: `m-${n++}`, name: 'M', parentId: spA.id }),
          allowed: writers,
        },
        { name: 'rename provider', method: 'PATCH', path: () => `/v1/providers/${spA1.id}`, body: () => ({ name: `A1 ${n++}` }), allowed: writers },
        { name: 'list keys', method: 'GET', path: () => '/v1/api-keys', allowed: writers },
        {
          name: 'issue key',
          method: 'POST',
          path: () => '/v1/api-keys',
          body: () => ({ name: `k${n++}`, role: 'provider-viewer', providerId: spA1.id }),
          allowed: writers,
        },
        { name: 'read audit', method: 'GET', path: () => '/v1/audit', allowed: writers },
      ];
      for (const row of matrix) {
        for (const role of ['opsAdmin', 'opsViewer', 'provAdminA', 'provViewerA']) {
          const res = await call<ErrorBody>(row.method, row.path(), keys[role], row.body?.());
          if (row.allowed.includes(role)) expect(res.status < 300).toBeTruthy();
          else {
            expect(res.status).toBe(403);
            expect(res.body.error.code).toBe('FORBIDDEN');
          }
        }
      }
    });

    it('keeps provider keys inside their subtree for every provider read and write (404, never leaking)', async () => {
      const list = await call<{ items: Provider[] }>('GET', '/v1/providers', keys.provAdminA);
      const codes = list.body.items.map((p) => p.code);
      expect(codes.includes('sp-a') && codes.includes('sp-a1')).toBeTruthy();
      expect(!codes.includes('sp-b') && !codes.includes('root')).toBeTruthy();
      const tree = await call<{ items: { code: string; children: { code: string }[] }[] }>('GET', '/v1/providers/tree', keys.provViewerA);
      expect(tree.body.items.map((n) => n.code)).toStrictEqual(['sp-a']);
      expect(tree.body.items[0].children.some((c) => c.code === 'sp-a1')).toBeTruthy();
      const outside = [
        call<ErrorBody>('GET', `/v1/providers/${spB.id}`, keys.provAdminA),
        call<ErrorBody>('GET', `/v1/providers/${root.id}`, keys.provAdminA),
        call<ErrorBody>('PATCH', `/v1/providers/${spB.id}`, keys.provAdminA, { name: 'hijack' }),
        call<ErrorBody>('DELETE', `/v1/providers/${spB.id}`, keys.provAdminA),
        call<ErrorBody>('POST', '/v1/providers', keys.provAdminA, { code: 'sneaky', name: 'S', parentId: spB.id }),
        call<ErrorBody>('PATCH', `/v1/providers/${spA1.id}`, keys.provAdminA, { parentId: spB.id }),
        call<ErrorBody>('POST', '/v1/api-keys', keys.provAdminA, { name: 'x', role: 'provider-admin', providerId: spB.id }),
      ];
      for (const res of await Promise.all(outside)) {
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      // An unknown id answers the same way as a foreign one.
      const unknown = await call<ErrorBody>('GET', '/v1/providers/00000000-0000-4000-8000-000000000000', keys.provAdminA);
      expect(unknown.status).toBe(404);
      const bKeys = await call<{ items: { providerId: string | null }[] }>('GET', '/v1/api-keys', keys.provAdminB);
      expect(bKeys.body.items.every((k) => k.providerId === spB.id)).toBeTruthy();
      const aKeyIds = (await call<{ items: { id: string }[] }>('GET', '/v1/api-keys', keys.provAdminA)).body.items.map((k) => k.id);
      const revokeForeign = await call<ErrorBody>('DELETE', `/v1/api-keys/${aKeyIds[0]}`, keys.provAdminB);
      expect(revokeForeign.status).toBe(404);
      // Provider keys cannot modify their own provider or mint ops keys.
      expect((await call('PATCH', `/v1/providers/${spA.id}`, keys.provAdminA, { name: 'self' })).status).toBe(403);
      expect((await call('POST', '/v1/api-keys', keys.provAdminA, { name: 'x', role: 'ops-admin' })).status).toBe(403);
    });

    it('validates input with field details, reports conflicts with 409', async () => {
      const bad = await call<ErrorBody>('POST', '/v1/providers', keys.opsAdmin, { code: 'Bad Code!', name: '' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.details?.map((d) => d.field).sort()).toStrictEqual(['body.code', 'body.name']);
      const badId = await call<ErrorBody>('GET', '/v1/providers/not-a-uuid', keys.opsAdmin);
      expect(badId.status).toBe(400);
      const dup = await call<ErrorBody>('POST', '/v1/providers', keys.opsAdmin, { code: 'sp-a', name: 'again' });
      expect(dup.status).toBe(409);
      expect(dup.body.error.code).toBe('CONFLICT');
      const cycle = await call<ErrorBody>('PATCH', `/v1/providers/${spA.id}`, keys.opsAdmin, { parentId: spA1.id });
      expect(cycle.status).toBe(409);
      const nonEmpty = await call<ErrorBody>('DELETE', `/v1/providers/${spA.id}`, keys.opsAdmin);
      expect(nonEmpty.status).toBe(409);
    });

    it('moves a provider with its subtree', async () => {
      const c = (await call<Provider>('POST', '/v1/providers', keys.opsAdmin, { code: 'sp-c', name: 'C', parentId: spB.id })).body;
      const c1 = (await call<Provider>('POST', '/v1/providers', keys.opsAdmin, { code: 'sp-c1', name: 'C1', parentId: c.id })).body;
      const moved = await call<Provider>('PATCH', `/v1/providers/${c.id}`, keys.opsAdmin, { parentId: spA.id });
      expect(moved.status).toBe(200);
      expect(moved.body.parentId).toBe(spA.id);
      // Now inside A's subtree, so A's key sees the grandchild too; B's key no longer does.
      expect((await call('GET', `/v1/providers/${c1.id}`, keys.provAdminA)).status).toBe(200);
      expect((await call('GET', `/v1/providers/${c1.id}`, keys.provAdminB)).status).toBe(404);
    });

    it('writes every mutation to the audit log, readable scoped by provider admins', async () => {
      const created = await call<Provider>(
        'POST',
        '/v1/providers',
        keys.provAdminA,
        { code: 'audited', name: 'Audited', parentId: spA.id },
        { 'x-request-id': 'audit-req-1' },
      );
      expect(created.status).toBe(201);
      const renamed = await call('PATCH', `/v1/providers/${created.body.id}`, keys.provAdminA, { name: 'Renamed' });
      expect(renamed.status).toBe(200);
      const del = await call('DELETE', `/v1/providers/${created.body.id}`, keys.provAdminA);
      expect(del.status).toBe(204);
      type Entry = {
        action: string;
        actorName: string;
        actorRole: string;
        requestId: string;
        targetId: string;
        before: { name?: string } | null;
        after: { name?: string } | null;
      };
      const log = await call<{ items: Entry[] }>('GET', `/v1/audit?targetId=${created.body.id}`, keys.opsAdmin);
      expect(log.body.items.map((e) => e.action)).toStrictEqual(['provider.delete', 'provider.update', 'provider.create']);
      const [deleted, updated, createdEntry] = log.body.items;
      expect(createdEntry.actorName).toBe('a admin');
      expect(createdEntry.actorRole).toBe('provider-admin');
      expect(createdEntry.requestId).toBe('audit-req-1');
      expect(updated.before?.name).toBe('Audited');
      expect(updated.after?.name).toBe('Renamed');
      expect(deleted.after).toBe(null);
      // B's admin sees none of A's entries.
      const bLog = await call<{ items: Entry[] }>('GET', `/v1/audit?targetId=${created.body.id}`, keys.provAdminB);
      expect(bLog.body.items.length).toBe(0);
      const aLog = await call<{ items: Entry[] }>('GET', `/v1/audit?targetId=${created.body.id}`, keys.provAdminA);
      expect(aLog.body.items.length).toBe(3);
    });

    it('revoked keys stop working at once', async () => {
      const issued = await call<{ key: { id: string }; token: string }>('POST', '/v1/api-keys', keys.opsAdmin, { name: 'short-lived', role: 'ops-viewer' });
      expect((await call('GET', '/v1/providers', issued.body.token)).status).toBe(200);
      expect((await call('DELETE', `/v1/api-keys/${issued.body.key.id}`, keys.opsAdmin)).status).toBe(204);
      expect((await call('GET', '/v1/providers', issued.body.token)).status).toBe(401);
    });
  });
}

describe('fleet API rate limit', () => {
  it('answers 429 with the error body once a key exceeds its per-minute budget, other keys unaffected', async () => {
    const db = await startTestDatabase(testDbKinds().includes('postgres') ? 'postgres' : 'pglite');
    const gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const call = apiClient(gw.httpUrl);
      const issuer = gw.running.app.get(ApiKeyService);
      const a = (await issuer.issue({ name: 'a', role: Role.OpsViewer, providerId: null, createdBy: null })).token;
      const b = (await issuer.issue({ name: 'b', role: Role.OpsViewer, providerId: null, createdBy: null })).token;
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await call('GET', '/v1/providers', a)).status);
      expect(statuses).toStrictEqual([200, 200, 200, 200, 200, 429, 429]);
      const limited = await call<ErrorBody>('GET', '/v1/providers', a);
      expect(limited.body.error.code).toBe('RATE_LIMITED');
      expect((await call('GET', '/v1/providers', b)).status).toBe(200);
    } finally {
      await gw.close();
      await db.stop();
    }
  });
});
