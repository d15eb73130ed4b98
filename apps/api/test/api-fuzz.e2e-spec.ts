import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

// Property test over the whole OpenAPI document: generated strings, numbers, cursors and bodies at
// every operation. Fixed seed in `npm test`; a longer run:
//   FUZZ_RUNS=500 FUZZ_SEED=$RANDOM TEST_DB=pglite npx jest apps/api/test/api-fuzz.e2e-spec.ts
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const RUNS = Number(process.env.FUZZ_RUNS ?? 12);

type Param = { in: 'path' | 'query'; name: string; schema?: { type?: string } };
type Operation = { parameters?: Param[]; requestBody?: { content: Record<string, unknown> } };
const doc = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, Operation>> };
const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

/** Hostile and careless values: NUL, unicode, huge and negative numbers, empty strings, dates, cursors. */
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '-1', '0', '1e309', '99999999999999999999', 'NaN', 'true', 'null', '[]', '{}', '../..', '%00'),
  fc.constantFrom('2024-02-30T00:00:00Z', '9999-12-31', '0000-00-00', 'eyJ0IjoiOTk5OTktMDEtMDEiLCJzIjoiWCJ9', 'eyJ9', '!!!'),
  fc.integer().map(String),
  fc.double().map(String),
  fc.base64String({ maxLength: 60 }),
);
const jsonBody = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }));
const rawBody = fc.oneof(
  fc.constantFrom('', '{', '{"a":', 'null', '[', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}'),
  fc.string({ maxLength: 80 }),
);

const kind = testDbKinds()[0] ?? 'pglite';

describe(`fleet API under generated input on ${kind}`, () => {
  let db: TestDatabase;
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let key: string;

  /** Everything a 4xx must leave untouched (last_used_at moves with every authenticated call). */
  const snapshot = async (): Promise<string> => {
    const rows = await gw.query<{ s: string }>(
      `SELECT concat_ws('|',
         (SELECT md5(coalesce(string_agg(p::text, ',' ORDER BY p.id), '')) FROM providers p),
         (SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t.sn), '')) FROM terminals t),
         (SELECT md5(coalesce(string_agg(concat_ws(';', k.id, k.name, k.role, k.provider_id, k.revoked_at), ',' ORDER BY k.id), '')) FROM api_keys k),
         (SELECT count(*) FROM audit_log), (SELECT count(*) FROM terminal_provider_history)) AS s`,
    );
    return rows[0].s;
  };

  beforeAll(async () => {
    db = await startTestDatabase(kind);
    gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '1000000' });
    call = apiClient(gw.httpUrl);
    key = await gw.issueKey('fuzz');
    await gw.register(['FUZZ0001', 'FUZZ0002']);
  });
  afterAll(async () => {
    await gw?.close();
    await db?.stop();
  });

  it.each(operations.map((o) => [`${o.method} ${o.path}`, o] as const))(
    '%s: no 5xx, the error body on every 4xx, and no change when refused',
    async (_name, { path, method, op }) => {
      const params = op.parameters ?? [];
      const input = fc.record({
        path: fc.tuple(...params.filter((p) => p.in === 'path').map(() => fc.oneof(nasty, fc.constantFrom('FUZZ0001')))),
        query: fc.array(
          fc.tuple(fc.oneof(fc.constantFrom(...params.filter((p) => p.in === 'query').map((p) => p.name), 'limt', 'sort'), fc.string({ maxLength: 8 })), nasty),
          { maxLength: 4 },
        ),
        body: op.requestBody
          ? fc.oneof(
              jsonBody.map((v) => ({ json: v })),
              rawBody.map((raw) => ({ raw })),
            )
          : fc.constant(undefined),
      });
      await fc.assert(
        fc.asyncProperty(input, async ({ path: values, query, body }) => {
          let i = 0;
          const url = path.replace(/\{\w+\}/g, () => encodeURIComponent(values[i++] ?? ''));
          const qs = new URLSearchParams(query).toString();
          const before = await snapshot();
          const headers: Record<string, string> = body && 'raw' in body ? { 'content-type': 'application/json' } : {};
          const res = await call(method, qs ? `${url}?${qs}` : url, key, body ? ('raw' in body ? body.raw : body.json) : undefined, headers);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String), requestId: expect.any(String) } });
            expect(await snapshot()).toBe(before);
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    },
  );
});
