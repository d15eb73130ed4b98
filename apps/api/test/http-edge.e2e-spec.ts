import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestDatabase, startTestGateway, TEST_ADMIN_TOKEN, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient, type ApiResponse } from './api-client.js';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown[]; requestId: string };
}

const UNAUTH_LIMIT = 20;

/** The one error body with a request id that matches the response header. */
function expectErrorBody(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: (res.body as ErrorBody).error?.code }).toStrictEqual({ status, code });
  const body = res.body as ErrorBody;
  expect(Object.keys(body)).toStrictEqual(['error']);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
}

/**
 * Sends the head of a request declaring a large body, plus only its first bytes, and resolves with
 * the status line of the answer: it can only arrive if the server answers without reading the body.
 */
function answerBeforeBody(
  port: number,
  path: string,
  headers: Record<string, string>,
  declared: number,
): Promise<{ status: number; ms: number; head: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer without the body after 5 s: ${received}`));
    }, 5_000);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (!match || !received.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(match[1]), ms: Date.now() - started, head: received.split('\r\n\r\n')[0].toLowerCase() });
    });
    socket.on('connect', () => {
      const head = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', 'content-length': String(declared), ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n[[[[[[[[[[[[[[[[`);
    });
  });
}

const kind = testDbKinds()[0];
describe(`HTTP edge on ${kind}`, () => {
  let db: TestDatabase;
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let ops: string;
  let port: number;
  const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

  beforeAll(async () => {
    db = await startTestDatabase(kind);
    gw = await startTestGateway(db, { HTTP_UNAUTHENTICATED_RATE_LIMIT_PER_MINUTE: String(UNAUTH_LIMIT) });
    call = apiClient(gw.httpUrl);
    port = gw.running.httpPort;
    ops = await gw.issueKey();
  });

  afterAll(async () => {
    await gw?.close();
    await db?.stop();
  });

  describe('errors raised before a handler use the one error body', () => {
    it('unknown routes are 404 NOT_FOUND, under /v1 and elsewhere', async () => {
      expectErrorBody(await call('GET', '/v1/nothing-here', ops), 404, 'NOT_FOUND');
      expectErrorBody(await call('GET', '/v1/providers/x/y/z', ops), 404, 'NOT_FOUND');
      expectErrorBody(await call('GET', '/nothing-here', null), 404, 'NOT_FOUND');
    });

    it('a known path with an unsupported method is 405 METHOD_NOT_ALLOWED with Allow', async () => {
      const put = await call('PUT', '/v1/providers', ops, {});
      expectErrorBody(put, 405, 'METHOD_NOT_ALLOWED');
      expect(put.headers.get('allow')).toContain('GET');
      expect(put.headers.get('allow')).toContain('POST');
      const del = await call('DELETE', '/v1/terminals/P3000001/presence', ops);
      expectErrorBody(del, 405, 'METHOD_NOT_ALLOWED');
      expectErrorBody(await call('PATCH', '/v1/fleet/summary', ops, {}), 405, 'METHOD_NOT_ALLOWED');
    });

    it('malformed JSON, an empty JSON body and a JSON body where none is allowed are 400 VALIDATION_FAILED', async () => {
      const json = { 'content-type': 'application/json' };
      expectErrorBody(await call('POST', '/v1/providers', ops, '{"code": "x",', json), 400, 'VALIDATION_FAILED');
      expectErrorBody(await call('POST', '/v1/providers', ops, '', json), 400, 'VALIDATION_FAILED');
      expectErrorBody(await call('POST', '/v1/providers', ops, 'null', json), 400, 'VALIDATION_FAILED');
      expectErrorBody(await call('POST', '/v1/providers', ops), 400, 'VALIDATION_FAILED');
    });

    it('prototype-polluting keys are refused with 400', async () => {
      const json = { 'content-type': 'application/json' };
      expectErrorBody(await call('POST', '/v1/providers', ops, '{"code":"pp","name":"pp","__proto__":{"admin":true}}', json), 400, 'VALIDATION_FAILED');
      expectErrorBody(
        await call('POST', '/v1/providers', ops, '{"code":"pp","name":"pp","constructor":{"prototype":{"admin":true}}}', json),
        400,
        'VALIDATION_FAILED',
      );
      expect(await gw.query(`SELECT 1 FROM providers WHERE code = 'pp'`)).toHaveLength(0);
    });

    it(`JSON nested deeper than the limit is refused with 400, at any size`, async () => {
      const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
      const res = await call('POST', '/v1/providers', ops, `{"code":"dd","name":"dd","x":${deep(40)}}`, { 'content-type': 'application/json' });
      expectErrorBody(res, 400, 'VALIDATION_FAILED');
      expect((res.body as unknown as ErrorBody).error.message).toContain('nested');
      // Brackets inside strings are data, not nesting.
      const fine = await call('POST', '/v1/providers', ops, { code: 'dd', name: '['.repeat(100) });
      expect(fine.status).toBe(201);
    });

    it('a body over 64 KiB on a JSON route is 413 PAYLOAD_TOO_LARGE; CSV import keeps its larger limit', async () => {
      const big = { code: 'big', name: 'x'.repeat(70 * 1024) };
      expectErrorBody(await call('POST', '/v1/providers', ops, big), 413, 'PAYLOAD_TOO_LARGE');
      expectErrorBody(await call('PATCH', '/v1/providers/00000000-0000-0000-0000-000000000000', ops, big), 413, 'PAYLOAD_TOO_LARGE');
      const rows = Array.from({ length: 3000 }, (_, i) => `E${String(i).padStart(7, '0')},EP-T1-WITH-A-LONGER-MODEL-NAME,,,,,`).join('\n');
      const csv = `sn,model,tid,mid,provider,lat,lon\n${rows}\n`;
      expect(csv.length).toBeGreaterThan(64 * 1024);
      const imported = await call('POST', '/v1/terminals/import', ops, csv, { 'content-type': 'text/csv' });
      expect(imported.status).toBe(200);
    });

    it('a URI over 8 KiB is 414 URI_TOO_LONG', async () => {
      expectErrorBody(await call('GET', `/v1/terminals?model=${'m'.repeat(9000)}`, ops), 414, 'URI_TOO_LONG');
      expectErrorBody(await call('GET', `/${'a'.repeat(9000)}`, null), 414, 'URI_TOO_LONG');
    });

    it('headers over 16 KiB are 431 in the same body (refused by the HTTP parser, before routing)', async () => {
      const res = await call<ErrorBody>('GET', '/v1/providers', ops, undefined, { 'x-padding': 'p'.repeat(20_000) });
      expect(res.status).toBe(431);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('an unsupported content type is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      expectErrorBody(await call('POST', '/v1/providers', ops, '<a/>', { 'content-type': 'application/xml' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expectErrorBody(await call('POST', '/v1/providers', ops, 'x=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('/internal answers 401 UNAUTHENTICATED and its validation errors in the same body', async () => {
      expectErrorBody(await call('POST', '/internal/v1/terminals', null, { terminals: [] }), 401, 'UNAUTHENTICATED');
      expectErrorBody(
        await call('POST', '/internal/v1/terminals', null, { terminals: [] }, { authorization: 'Bearer wrong-token-0123456789abcdef' }),
        401,
        'UNAUTHENTICATED',
      );
      expectErrorBody(await call('GET', '/internal/v1/ingest/summary', null), 401, 'UNAUTHENTICATED');
      const invalid = await call('POST', '/internal/v1/terminals', null, { terminals: [] }, admin);
      expectErrorBody(invalid, 400, 'VALIDATION_FAILED');
      expect((invalid.body as unknown as ErrorBody).error.details).toBeDefined();
    });

    it('/metrics and /health stay open and unchanged', async () => {
      const metrics = await fetch(`${gw.httpUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# HELP');
      const live = await call('GET', '/health/live', null);
      expect(live.status).toBe(200);
      expect(live.body).toStrictEqual({ ok: true });
    });
  });

  describe('authentication before the body', () => {
    it('answers 401 to a request declaring a 10 MB body without reading it, on /v1 and /internal', async () => {
      const v1 = await answerBeforeBody(port, '/v1/providers', {}, 10 * 1024 * 1024);
      expect(v1.status).toBe(401);
      expect(v1.ms).toBeLessThan(2_000);
      // The connection is closed rather than drained, so the body is not even received.
      expect(v1.head).toContain('connection: close');
      const wrongKey = await answerBeforeBody(port, '/v1/terminals/import', { authorization: 'Bearer fk_000000000000_' + 'A'.repeat(43) }, 10 * 1024 * 1024);
      expect(wrongKey.status).toBe(401);
      const internal = await answerBeforeBody(port, '/internal/v1/terminals', { authorization: 'Bearer nope' }, 10 * 1024 * 1024);
      expect(internal.status).toBe(401);
    });

    it('no spelling of a /v1 path reaches a route without a key', async () => {
      for (const path of ['/%761/providers', '/v1/%70roviders', '/v1//providers', '/v1/providers/', '/v1/providers?x=1']) {
        const res = await call<ErrorBody>('GET', path, null);
        expect([401, 404]).toContain(res.status);
        expect(res.body.error.requestId).toBe(res.headers.get('x-request-id'));
      }
    });

    it('answers 413 at once to a valid key declaring a body over the route limit', async () => {
      const res = await answerBeforeBody(port, '/v1/providers', { authorization: `Bearer ${ops}` }, 10 * 1024 * 1024);
      expect(res.status).toBe(413);
    });

    it('matches the Bearer scheme case-insensitively, for API keys and the admin token', async () => {
      for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
        expect((await call('GET', '/v1/providers', null, undefined, { authorization: `${scheme} ${ops}` })).status).toBe(200);
        expect((await call('GET', '/internal/v1/ingest/summary', null, undefined, { authorization: `${scheme} ${TEST_ADMIN_TOKEN}` })).status).toBe(200);
      }
      expect((await call('GET', '/v1/providers', null, undefined, { 'x-api-key': ops })).status).toBe(200);
    });
  });

  describe('responses carrying a secret are not stored', () => {
    it('sends Cache-Control: no-store on new keys, new terminals, rotation, import and enrolment', async () => {
      const key = await call('POST', '/v1/api-keys', ops, { name: 'nostore', role: 'ops-viewer' });
      expect(key.status).toBe(201);
      expect(key.headers.get('cache-control')).toBe('no-store');
      const terminal = await call('POST', '/v1/terminals', ops, { sn: 'NS000001', model: 'EP-T1' });
      expect(terminal.status).toBe(201);
      expect(terminal.headers.get('cache-control')).toBe('no-store');
      const rotated = await call('POST', '/v1/terminals/NS000001/credentials/rotate', ops);
      expect(rotated.status).toBe(200);
      expect(rotated.headers.get('cache-control')).toBe('no-store');
      const imported = await call('POST', '/v1/terminals/import', ops, 'sn,model\nNS000002,EP-T1\n', { 'content-type': 'text/csv' });
      expect(imported.status).toBe(200);
      expect(imported.headers.get('cache-control')).toBe('no-store');
      const enrolled = await call('POST', '/internal/v1/terminals', null, { terminals: [{ sn: 'NS000003', model: 'EP-T1' }] }, admin);
      expect(enrolled.status).toBe(200);
      expect(enrolled.headers.get('cache-control')).toBe('no-store');
      const internalRotate = await call('POST', '/internal/v1/terminals/rotate-credentials', null, { sns: ['NS000003'] }, admin);
      expect(internalRotate.headers.get('cache-control')).toBe('no-store');
      const bootstrap = await call('POST', '/internal/v1/api-keys/bootstrap', null, {}, admin);
      expect(bootstrap.headers.get('cache-control')).toBe('no-store');
    });
  });

  // Last: it exhausts the unauthenticated budget of 127.0.0.1.
  describe('rate limit per client address without valid credentials', () => {
    it('answers 429 with Retry-After and RateLimit-* once bad keys exceed the budget, while a valid key still works', async () => {
      const statuses: number[] = [];
      let last: ApiResponse | null = null;
      for (let i = 0; i < UNAUTH_LIMIT + 3; i++) {
        last = await call('GET', '/v1/providers', `fk_${'0'.repeat(12)}_${'B'.repeat(43)}`);
        statuses.push(last.status);
      }
      expect(statuses).toContain(429);
      expect(statuses.at(-1)).toBe(429);
      expect(last).not.toBeNull();
      const limited = last as ApiResponse;
      expectErrorBody(limited, 429, 'RATE_LIMITED');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get('ratelimit-limit')).toBe(String(UNAUTH_LIMIT));
      expect(limited.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(limited.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
      // The same address: other unauthenticated requests and route probes are limited too.
      expectErrorBody(await call('GET', '/v1/providers', null), 429, 'RATE_LIMITED');
      expectErrorBody(await call('POST', '/internal/v1/terminals', null, {}), 429, 'RATE_LIMITED');
      expectErrorBody(await call('GET', '/wp-login.php', null), 429, 'RATE_LIMITED');
      // A valid key, the admin token, probes and scrapes are not.
      expect((await call('GET', '/v1/providers', ops)).status).toBe(200);
      expect((await call('GET', '/internal/v1/ingest/summary', null, undefined, admin)).status).toBe(200);
      expect((await call('GET', '/health/live', null)).status).toBe(200);
      expect((await fetch(`${gw.httpUrl}/metrics`)).status).toBe(200);
    });
  });
});
