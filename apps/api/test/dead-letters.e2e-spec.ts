import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  connectOk,
  endClient,
  publishHeartbeat,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { apiClient } from './api-client.js';

interface Letter {
  id: string;
  receivedAt: string;
  clientId: string | null;
  topic: string;
  reason: string;
  detail: string;
  payloadSize: number;
  payloadBase64: string;
  truncated: boolean;
}
interface LetterPage {
  items: Letter[];
  nextCursor: string | null;
}
interface ErrorBody {
  error: { code: string; requestId: string; details?: { field: string }[] };
}

/** The dead-letter API (issue 7): ops roles read what the gateway refused, payload as base64. */
for (const kind of testDbKinds()) {
  describe(`GET /v1/dead-letters on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let opsAdmin: string;
    let opsViewer: string;
    let providerAdmin: string;
    let providerViewer: string;

    /** Seeded letters: 7 of them, received one minute apart from 2026-01-01T00:00Z. */
    const seed = async (): Promise<void> => {
      for (let i = 0; i < 7; i++) {
        const payload = i === 6 ? Buffer.from([0xff, 0x00, 0xfe, 0x7b]) : Buffer.from(`{"n":${i}}`);
        await gw.query(
          `INSERT INTO dead_letters (received_at, client_id, topic, reason, detail, payload_size, payload, truncated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            new Date(Date.UTC(2026, 0, 1, 0, i)),
            i % 2 === 0 ? 'DLSEED01' : 'DLSEED02',
            i % 2 === 0 ? 'pos/v1/DLSEED01/heartbeat' : 'pos/v1/DLSEED02/heartbeat',
            i < 4 ? 'schema_violation' : 'malformed_json',
            `seeded ${i}`,
            i === 6 ? 100_000 : payload.length,
            payload,
            i === 6,
          ],
        );
      }
    };

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '100000' });
      call = apiClient(gw.httpUrl);
      opsAdmin = await gw.issueKey('dl-ops-admin', 'ops-admin');
      opsViewer = await gw.issueKey('dl-ops-viewer', 'ops-viewer');
      const [root] = await gw.query<{ id: string }>(`SELECT id::text AS id FROM providers WHERE code = 'root'`);
      providerAdmin = await gw.issueKey('dl-provider-admin', 'provider-admin', root.id);
      providerViewer = await gw.issueKey('dl-provider-viewer', 'provider-viewer', root.id);
      await seed();
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('ops roles read it; provider roles (even the root provider) are 403, no key is 401', async () => {
      for (const key of [opsAdmin, opsViewer]) expect((await call('GET', '/v1/dead-letters', key)).status).toBe(200);
      for (const key of [providerAdmin, providerViewer]) {
        for (const path of ['/v1/dead-letters', '/v1/dead-letters/1']) {
          const res = await call<ErrorBody>('GET', path, key);
          expect({ path, status: res.status, code: res.body.error.code }).toStrictEqual({ path, status: 403, code: 'FORBIDDEN' });
        }
      }
      expect((await call('GET', '/v1/dead-letters', null)).status).toBe(401);
    });

    it('pages newest first with a cursor, every letter exactly once, payload as base64 with the truncated flag', async () => {
      const seen: Letter[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: LetterPage } = await call<LetterPage>(
          'GET',
          `/v1/dead-letters?limit=3&from=2026-01-01T00:00:00Z${cursor ? `&cursor=${cursor}` : ''}`,
          opsViewer,
        );
        expect(res.status).toBe(200);
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      expect(seen.map((l) => l.detail)).toStrictEqual(['seeded 6', 'seeded 5', 'seeded 4', 'seeded 3', 'seeded 2', 'seeded 1', 'seeded 0']);
      expect(pages).toBe(3);
      const [newest] = seen;
      expect(Buffer.from(newest.payloadBase64, 'base64')).toStrictEqual(Buffer.from([0xff, 0x00, 0xfe, 0x7b]));
      expect([newest.payloadSize, newest.truncated, newest.reason, newest.clientId, newest.receivedAt]).toStrictEqual([
        100_000,
        true,
        'malformed_json',
        'DLSEED01',
        '2026-01-01T00:06:00.000Z',
      ]);
      expect(Buffer.from(seen[6].payloadBase64, 'base64').toString()).toBe('{"n":0}');
      expect(seen[6].truncated).toBe(false);

      const one = await call<Letter>('GET', `/v1/dead-letters/${newest.id}`, opsAdmin);
      expect(one.status).toBe(200);
      expect(one.body).toStrictEqual(newest);
    });

    it('filters by reason, topic, client id and received time range', async () => {
      const details = async (query: string): Promise<string[]> => {
        const res = await call<LetterPage>('GET', `/v1/dead-letters?limit=100&${query}`, opsAdmin);
        expect({ query, status: res.status }).toStrictEqual({ query, status: 200 });
        return res.body.items.map((l) => l.detail).filter((d) => d.startsWith('seeded'));
      };
      expect(await details('reason=malformed_json')).toStrictEqual(['seeded 6', 'seeded 5', 'seeded 4']);
      expect(await details('topic=pos/v1/DLSEED02/heartbeat')).toStrictEqual(['seeded 5', 'seeded 3', 'seeded 1']);
      expect(await details('clientId=DLSEED01&reason=schema_violation')).toStrictEqual(['seeded 2', 'seeded 0']);
      expect(await details('from=2026-01-01T00:02:00Z&to=2026-01-01T00:04:00Z')).toStrictEqual(['seeded 3', 'seeded 2']);
      expect(await details('from=2026-01-01T01:02:00%2B01:00&to=2026-01-01T00:03:00Z')).toStrictEqual(['seeded 2']);
    });

    it('bad input is a 400 naming the field; an unknown id is a 404', async () => {
      const expect400 = async (path: string, field: string): Promise<void> => {
        const res = await call<ErrorBody>('GET', path, opsAdmin);
        expect({ path, status: res.status, code: res.body.error.code }).toStrictEqual({ path, status: 400, code: 'VALIDATION_FAILED' });
        expect(res.body.error.details?.map((d) => d.field)).toStrictEqual([field]);
      };
      await expect400('/v1/dead-letters?reason=bogus', 'query.reason');
      await expect400('/v1/dead-letters?limit=101', 'query.limit');
      await expect400('/v1/dead-letters?limit=', 'query.limit');
      await expect400('/v1/dead-letters?from=yesterday', 'query.from');
      await expect400('/v1/dead-letters?from=2026-01-01T00:02:00Z&to=2026-01-01T00:02:00Z', 'query.from');
      await expect400('/v1/dead-letters?topic=a%00b', 'query.topic');
      await expect400('/v1/dead-letters?reasn=acl_denied', 'query.reasn');
      await expect400('/v1/dead-letters?cursor=eyJ9', 'query.cursor');
      await expect400(`/v1/dead-letters?cursor=${Buffer.from(JSON.stringify({ s: 'id:desc', v: null, k: '0; DROP' })).toString('base64url')}`, 'query.cursor');
      await expect400('/v1/dead-letters/abc', 'params.id');
      await expect400('/v1/dead-letters/99999999999999999999', 'params.id');
      // Extreme but well-formed instants are answered, not a database error.
      for (const q of ['from=0000-01-01T00:00:00Z', 'to=0000-01-01T00:00:00Z', 'from=9999-12-31T23:59:59%2B14:00', 'to=0001-01-01T00:00:00-14:00']) {
        expect({ q, status: (await call('GET', `/v1/dead-letters?${q}`, opsAdmin)).status }).toStrictEqual({ q, status: 200 });
      }
      const missing = await call<ErrorBody>('GET', '/v1/dead-letters/999999999', opsAdmin);
      expect([missing.status, missing.body.error.code]).toStrictEqual([404, 'NOT_FOUND']);
    });

    it('a payload the gateway refuses shows up with its exact bytes', async () => {
      const secret = (await gw.register(['DLLIVE01'])).get('DLLIVE01') ?? '';
      const client = await connectOk(gw.mqttUrl, 'DLLIVE01', secret);
      const bytes = Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]); // {"\xC3(" }: invalid UTF-8
      await publishHeartbeat(client, 'DLLIVE01', bytes);
      await endClient(client);
      const page = await waitFor(
        () => call<LetterPage>('GET', '/v1/dead-letters?clientId=DLLIVE01', opsViewer),
        (res) => res.status === 200 && res.body.items.length > 0,
        20_000,
      );
      const [letter] = page.body.items;
      expect([letter.reason, letter.topic, letter.truncated, letter.payloadSize]).toStrictEqual(['malformed_json', 'pos/v1/DLLIVE01/heartbeat', false, 6]);
      expect(Buffer.from(letter.payloadBase64, 'base64')).toStrictEqual(bytes);
    });
  });
}
