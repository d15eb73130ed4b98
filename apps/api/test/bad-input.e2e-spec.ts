import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { buildOpenApiDocument } from '#api';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: { field: string }[] };
}

const cursor = (payload: Record<string, unknown>): string => Buffer.from(JSON.stringify(payload)).toString('base64url');

/** Hostile input at the edge: every family answers 400 VALIDATION_FAILED naming the field, never 500. */
for (const kind of testDbKinds()) {
  describe(`fleet API: bad input on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;

    const expect400 = async (method: string, path: string, field: string | string[], body?: unknown): Promise<void> => {
      const res = await call<ErrorBody>(method, path, ops, body, typeof body === 'string' ? { 'content-type': 'text/csv' } : {});
      expect({ path, status: res.status }).toStrictEqual({ path, status: 400 });
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(typeof res.body.error.requestId).toBe('string');
      expect(res.body.error.details?.map((d) => d.field)).toStrictEqual(Array.isArray(field) ? field : [field]);
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey();
      for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/terminals', ops, { sn: `BADIN00${i}`, model: 'EP-T1' })).status).toBe(201);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('a real cursor still pages', async () => {
      const first = await call<{ nextCursor: string | null }>('GET', '/v1/terminals?limit=1&sort=lastSeen&order=desc', ops);
      expect(first.status).toBe(200);
      const next = await call('GET', `/v1/terminals?limit=1&sort=lastSeen&order=desc&cursor=${first.body.nextCursor ?? ''}`, ops);
      expect(next.status).toBe(200);
    });

    it.each<[string, string, Record<string, unknown>]>([
      ['an impossible timestamp (February 31)', 'lastSeen:asc', { v: '2026-02-31T10:00:00.000000Z', k: 'BADIN000' }],
      ['hour 24', 'lastSeen:asc', { v: '2026-01-01T24:00:00.000000Z', k: 'BADIN000' }],
      ['year 0', 'lastSeen:asc', { v: '0000-01-01T00:00:00.000000Z', k: 'BADIN000' }],
      ['an impossible date (month 13)', 'planExpiry:asc', { v: '2026-13-01', k: 'BADIN000' }],
      ['a real overflowing number', 'battery:asc', { v: '1e400', k: 'BADIN000' }],
      ['a real underflowing number', 'signal:asc', { v: '1e-400', k: 'BADIN000' }],
      ['a NUL byte in the key', 'sn:asc', { v: null, k: 'BADIN\u0000' }],
      ['a key that is no SN', 'sn:asc', { v: null, k: "x' OR 1=1" }],
    ])('a tampered cursor with %s is a 400 naming query.cursor', async (_label, s, values) => {
      const [sort, order] = s.split(':');
      await expect400('GET', `/v1/terminals?sort=${sort}&order=${order}&cursor=${cursor({ s, ...values })}`, 'query.cursor');
    });

    it('a cursor issued for one sort is refused under another sort or order', async () => {
      const page = await call<{ nextCursor: string }>('GET', '/v1/terminals?limit=1&sort=battery', ops);
      expect(page.body.nextCursor).toEqual(expect.any(String));
      for (const other of ['sort=signal', 'sort=sn', 'sort=battery&order=desc']) {
        await expect400('GET', `/v1/terminals?${other}&cursor=${page.body.nextCursor}`, 'query.cursor');
      }
    });

    it('out-of-range numbers in query parameters are 400s', async () => {
      await expect400('GET', '/v1/audit?before=99999999999999999999', 'query.before');
      await expect400('GET', '/v1/audit?before=0', 'query.before');
      await expect400('GET', '/v1/terminals?limit=1e400', 'query.limit');
      await expect400('GET', '/v1/terminals?planExpiringWithinDays=99999999999', 'query.planExpiringWithinDays');
      await expect400('GET', '/v1/terminals?batteryBelow=1e999', 'query.batteryBelow');
      await expect400('GET', '/v1/terminals/BADIN000/presence?limit=-1', 'query.limit');
    });

    it('an empty numeric (or any) filter is a 400, not 0', async () => {
      await expect400('GET', '/v1/terminals?planExpiringWithinDays=', 'query.planExpiringWithinDays');
      await expect400('GET', '/v1/terminals?batteryBelow=', 'query.batteryBelow');
      await expect400('GET', '/v1/terminals?limit=', 'query.limit');
      await expect400('GET', '/v1/audit?limit=', 'query.limit');
      await expect400('GET', '/v1/terminals?model=', 'query.model');
    });

    it('unknown query parameters are 400s naming them (a misspelled filter must not widen the result)', async () => {
      await expect400('GET', '/v1/terminals?modle=EP-T1', 'query.modle');
      await expect400('GET', '/v1/terminals/export.csv?providerID=x&onlin=true', ['query.providerID', 'query.onlin']);
      await expect400('GET', '/v1/audit?actoin=provider.create', 'query.actoin');
      await expect400('GET', '/v1/terminals/BADIN000/telemetry?bukcet=1%20hour', 'query.bukcet');
      await expect400('GET', '/v1/fleet/summary?provider=x', 'query.provider');
    });

    it('CSV import: a missing required or an unknown header column is a 400 naming it; a row with extra fields is refused on its line', async () => {
      const importCsv = (csv: string) =>
        call<ErrorBody & { credentials: { sn: string }[]; errors: { row: number; sn: string | null; message: string }[] }>(
          'POST',
          '/v1/terminals/import',
          ops,
          csv,
          { 'content-type': 'text/csv' },
        );
      const missing = await importCsv('sn,tid\nCSVHD001,TID00001\n');
      expect(missing.status).toBe(400);
      expect(missing.body.error.code).toBe('VALIDATION_FAILED');
      expect(missing.body.error.details?.map((d) => d.field)).toStrictEqual(['header.model']);
      const unknown = await importCsv('sn,modle\nCSVHD002,EP-T1\n');
      expect(unknown.status).toBe(400);
      expect(unknown.body.error.details?.map((d) => d.field)).toStrictEqual(['header.model', 'header.modle']);
      expect(unknown.body.error.message).toContain('unknown column "modle"');
      const wide = await importCsv('sn,model\nCSVHD003,EP-T1\nCSVHD004,EP-T1,surplus\n');
      expect(wide.status).toBe(200);
      expect(wide.body.credentials.map((c) => c.sn)).toStrictEqual(['CSVHD003']);
      expect(wide.body.errors.map((e) => [e.row, e.sn])).toStrictEqual([[3, 'CSVHD004']]);
      expect(wide.body.errors[0].message).toContain('line 3 has more fields than the header');
      expect(await gw.query(`SELECT sn FROM terminals WHERE sn LIKE 'CSVHD%' ORDER BY sn`)).toStrictEqual([{ sn: 'CSVHD003' }]);
    });

    it('every operation of the OpenAPI document refuses an unknown query parameter, also those that declare no query', async () => {
      // The document of the running app (not the committed file), so new endpoints are covered too.
      const doc = buildOpenApiDocument(gw.running.app);
      const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
        ['get', 'post', 'put', 'patch', 'delete'].filter((m) => m in ops).map((method) => ({ method: method.toUpperCase(), path })),
      );
      expect(operations.filter((o) => o.method === 'GET').map((o) => o.path)).toEqual(
        expect.arrayContaining(['/v1/providers', '/v1/providers/tree', '/v1/api-keys', '/v1/terminals/{sn}', '/v1/terminals/{sn}/providers']),
      );
      const [auditBefore] = await gw.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log');
      const answers: string[] = [];
      for (const { method, path } of operations) {
        const url = path.replace('{sn}', 'BADIN000').replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
        const res = await call<ErrorBody>(method, `${url}?limitt=5&zz=1`, ops);
        const fields = res.status === 400 ? (res.body.error.details ?? []).map((d) => d.field).sort() : [];
        answers.push(`${method} ${path} ${res.status} ${fields.join(',')}`);
      }
      expect(answers).toStrictEqual(operations.map(({ method, path }) => `${method} ${path} 400 query.limitt,query.zz`));
      const [auditAfter] = await gw.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_log');
      expect(auditAfter.n).toBe(auditBefore.n);
    });

    it('NUL bytes in query strings, JSON bodies and CSV cells are 400s naming the field', async () => {
      await expect400('GET', '/v1/terminals?model=EP%00T1', 'query.model');
      await expect400('GET', '/v1/audit?action=provider.%00', 'query.action');
      await expect400('POST', '/v1/providers', 'body.name', { code: 'nul-test', name: 'Nul\u0000Name' });
      await expect400('POST', '/v1/api-keys', 'body.name', { name: 'key\u0000', role: 'ops-viewer' });
      await expect400('POST', '/v1/terminals', 'body.mid', { sn: 'BADIN009', model: 'EP-T1', mid: 'M\u0000' });
      await expect400('POST', '/v1/terminals/import', 'body.csv', { csv: 'sn,model\nBADIN010,EP\u0000T1\n' });
      await expect400('POST', '/v1/terminals/import', 'body', 'sn,model\nBADIN011,EP-T1\nBADIN012,EP\u0000T1\n');
      // Nothing was written by any of them.
      expect(await gw.query(`SELECT sn FROM terminals WHERE sn IN ('BADIN009', 'BADIN010', 'BADIN011', 'BADIN012')`)).toStrictEqual([]);
      expect(await gw.query(`SELECT id FROM providers WHERE code = 'nul-test'`)).toStrictEqual([]);
    });
  });
}
