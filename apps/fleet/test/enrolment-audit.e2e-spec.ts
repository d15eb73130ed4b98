import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GATEWAY } from '#runtime';
import { startTestDatabase, startTestGateway, testDbKinds, TEST_ADMIN_TOKEN, type TestDatabase, type TestGateway } from '#testing';

interface AuditRow {
  action: string;
  target_id: string;
  actor_key_id: string | null;
  actor_name: string;
  actor_role: string;
  request_id: string | null;
  server_request_id: string | null;
  provider_id: string | null;
  provider_path: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const post = async (gw: TestGateway, path: string, body: unknown, requestId?: string) => {
  const headers: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
  if (requestId) headers['x-request-id'] = requestId;
  const res = await fetch(`${gw.httpUrl}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { credentials: { sn: string }[]; errors: { sn: string | null }[] } };
};

const auditOf = (gw: TestGateway, prefix: string) =>
  gw.query<AuditRow>(
    `SELECT action, target_id, actor_key_id, actor_name, actor_role, request_id, server_request_id, provider_id::text AS provider_id, provider_path, before, after
       FROM audit_log WHERE target_id LIKE $1 || '%' ORDER BY id`,
    [prefix],
  );

/** Enrolment and rotation through /internal/v1/* are audited like the fleet API (issue 7). */
for (const kind of testDbKinds()) {
  describe(`operator enrolment audit on ${kind}`, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
    });
    afterAll(async () => {
      await db?.stop();
    });

    // The gateway process alone (no fleet API module) is where operator enrolment runs in production.
    describe.each([
      ['the gateway composition', 'GWAUD', GATEWAY],
      ['the single process', 'SPAUD', undefined],
    ] as const)('%s', (_name, prefix, composition) => {
      let gw: TestGateway;
      beforeAll(async () => {
        gw = await startTestGateway(db, {}, { composition });
      });
      afterAll(async () => {
        await gw?.close();
      });

      it('registration writes terminal.create per registered terminal, with the admin token as actor and both request ids', async () => {
        const [root] = await gw.query<{ id: string; path: string }>(`SELECT id::text AS id, path FROM providers WHERE code = 'root'`);
        const res = await post(
          gw,
          '/internal/v1/terminals',
          {
            terminals: [
              { sn: `${prefix}001`, model: 'EP-T1', tid: `${prefix}T01`.slice(0, 8) },
              { sn: `${prefix}002`, model: 'EP-T2' },
              { sn: 'bad sn', model: 'X' },
            ],
          },
          `client-${prefix}-1`,
        );
        expect(res.status).toBe(200);
        expect(res.body.credentials.map((c) => c.sn)).toStrictEqual([`${prefix}001`, `${prefix}002`]);
        expect(res.body.errors.map((e) => e.sn)).toStrictEqual(['bad sn']);

        const rows = await auditOf(gw, prefix);
        expect(rows.map((r) => [r.action, r.target_id])).toStrictEqual([
          ['terminal.create', `${prefix}001`],
          ['terminal.create', `${prefix}002`],
        ]);
        for (const r of rows) {
          expect([r.actor_key_id, r.actor_name, r.actor_role]).toStrictEqual([null, 'admin-token', 'operator']);
          expect(r.request_id).toBe(`client-${prefix}-1`);
          // The server's own id beside the client's, so correlation cannot be spoofed.
          expect(r.server_request_id).toMatch(/^[0-9a-f-]{36}$/);
          expect([r.provider_id, r.provider_path]).toStrictEqual([root.id, root.path]);
          expect(r.before).toBe(null);
        }
        expect(rows[0].after).toMatchObject({ sn: `${prefix}001`, model: 'EP-T1', providerId: root.id, status: 'active' });
        expect(JSON.stringify(rows)).not.toContain('secret');
        // Ownership history records the first owner, as registrations through /v1 do.
        expect(await gw.query(`SELECT sn, from_provider_id FROM terminal_provider_history WHERE sn LIKE $1 || '%' ORDER BY sn`, [prefix])).toStrictEqual([
          { sn: `${prefix}001`, from_provider_id: null },
          { sn: `${prefix}002`, from_provider_id: null },
        ]);
      });

      it('rotation writes terminal.rotate_credentials per rotated terminal (unknown SNs write nothing)', async () => {
        const res = await post(gw, '/internal/v1/terminals/rotate-credentials', { sns: [`${prefix}002`, `${prefix}404`] });
        expect(res.status).toBe(200);
        expect(res.body.credentials.map((c) => c.sn)).toStrictEqual([`${prefix}002`]);
        const rotations = (await auditOf(gw, prefix)).filter((r) => r.action === 'terminal.rotate_credentials');
        expect(rotations.map((r) => r.target_id)).toStrictEqual([`${prefix}002`]);
        const [r] = rotations;
        expect([r.actor_name, r.actor_role]).toStrictEqual(['admin-token', 'operator']);
        // Without a client request id both ids are the server's own.
        expect(r.request_id).toMatch(/^[0-9a-f-]{36}$/);
        expect(r.server_request_id).toBe(r.request_id);
        expect(Object.keys(r.before ?? {})).toStrictEqual(['credentialRotatedAt']);
        expect(Date.parse(String(r.after?.credentialRotatedAt))).toBeGreaterThanOrEqual(Date.parse(String(r.before?.credentialRotatedAt)));
      });
    });
  });
}
