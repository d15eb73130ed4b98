import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectTerminal, endClient, startTestDatabase, startTestGateway, testDbKinds, TEST_ADMIN_TOKEN, type TestDatabase, type TestGateway } from '#testing';

for (const kind of testDbKinds()) {
  describe(`terminal registry on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('imports CSV keeping valid rows, reporting bad ones by line, and is idempotent on SN', async () => {
      const csv = [
        'sn,model,tid,mid,provider,lat,lon',
        'REG00001,EP-T1,TID00001,M001,,31.23,121.47',
        'bad sn,EP-T1,,,,,',
        'REG00002,EP-T1,,,ghost,,',
        'REG00003,EP-T2,TID00001,,,,',
        'REG00004,EP-T2,,,,,',
      ].join('\n');
      const first = await gw.registry.registerCsv(csv);
      expect(first.credentials.map((c) => c.sn)).toStrictEqual(['REG00001', 'REG00004']);
      expect(first.errors.map((e) => [e.row, e.code])).toStrictEqual([
        [3, 'TERMINAL_INVALID_SN'],
        [4, 'TERMINAL_UNKNOWN_PROVIDER'],
        [5, 'TERMINAL_DUPLICATE_IN_REQUEST'],
      ]);
      const stored = await gw.query<{ sn: string; tid: string | null; registered_lat: number | null }>(
        'SELECT sn, tid, registered_lat FROM terminals WHERE sn LIKE $1 ORDER BY sn',
        ['REG%'],
      );
      expect(stored).toStrictEqual([
        { sn: 'REG00001', tid: 'TID00001', registered_lat: 31.23 },
        { sn: 'REG00004', tid: null, registered_lat: null },
      ]);
      const again = await gw.registry.registerCsv(csv);
      expect(again.credentials.length).toBe(0);
      expect(again.errors.some((e) => e.sn === 'REG00001' && e.code === 'TERMINAL_ALREADY_EXISTS')).toBeTruthy();
      const count = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM terminals WHERE sn LIKE $1', ['REG%']);
      expect(count[0].n).toBe(2);
    });

    it('rotation: the new secret connects at once, the old one is refused', async () => {
      const [cred] = (await gw.registry.register([{ sn: 'ROT00001', model: 'EP-T1' }])).credentials;
      const first = await connectTerminal(gw.mqttUrl, { clientId: cred.sn, username: cred.sn, password: cred.secret });
      expect(first.ok).toBe(true);
      if (first.ok) await endClient(first.client);
      const [rotated] = (await gw.registry.rotateCredentials([cred.sn])).credentials;
      expect(rotated.secret).not.toBe(cred.secret);
      const withNew = await connectTerminal(gw.mqttUrl, { clientId: cred.sn, username: cred.sn, password: rotated.secret });
      expect(withNew.ok).toBe(true);
      if (withNew.ok) await endClient(withNew.client);
      const withOld = await connectTerminal(gw.mqttUrl, { clientId: cred.sn, username: cred.sn, password: cred.secret });
      expect(withOld.ok).toBe(false);
    });

    it('enrolment endpoint requires the admin token and validates the body', async () => {
      const url = `${gw.httpUrl}/internal/v1/terminals`;
      const body = JSON.stringify({ terminals: [{ sn: 'HTTP0001', model: 'EP-T1' }] });
      const headers = { 'content-type': 'application/json' };
      const anonymous = await fetch(url, { method: 'POST', headers, body });
      expect(anonymous.status).toBe(401);
      const wrong = await fetch(url, { method: 'POST', headers: { ...headers, authorization: 'Bearer nope' }, body });
      expect(wrong.status).toBe(401);
      const auth = { ...headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
      const invalid = await fetch(url, { method: 'POST', headers: auth, body: JSON.stringify({ terminals: [{ sn: 1 }] }) });
      expect(invalid.status).toBe(400);
      const invalidBody = (await invalid.json()) as { error: { code: string; details: { field: string }[]; requestId: string } };
      expect(invalidBody.error.code).toBe('VALIDATION_FAILED');
      expect(invalidBody.error.requestId).toBe(invalid.headers.get('x-request-id'));
      expect(invalidBody.error.details.some((d) => d.field === 'terminals.0.sn')).toBeTruthy();
      const ok = await fetch(url, { method: 'POST', headers: auth, body });
      expect(ok.status).toBe(200);
      const result = (await ok.json()) as { credentials: { sn: string; secret: string }[] };
      expect(result.credentials[0].sn).toBe('HTTP0001');
      expect(result.credentials[0].secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const summary = await fetch(`${gw.httpUrl}/internal/v1/ingest/summary`, { headers: auth });
      expect(summary.status).toBe(200);
      const s = (await summary.json()) as { terminals: number };
      expect(s.terminals >= 1).toBeTruthy();
    });
  });
}
