import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { API } from '#runtime';
import { LIVE_SESSIONS, type LiveSessionsPort } from '#terminals';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase } from '#testing';
import { apiClient } from './api-client.js';

const kind = testDbKinds()[0] ?? 'pglite';

describe(`fleet API and live MQTT sessions on ${kind}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase(kind);
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('the API process alone has no live-sessions port; disable, enable and rotate still answer 200', async () => {
    const gw = await startTestGateway(db, {}, { composition: API });
    try {
      expect(() => gw.running.app.get<LiveSessionsPort>(LIVE_SESSIONS, { strict: false })).toThrow();
      expect(() => gw.broker).toThrow(/without the MQTT broker/);
      const call = apiClient(gw.httpUrl);
      const key = await gw.issueKey();
      await gw.register(['APIONLY01']);
      const disabled = await call('POST', '/v1/terminals/APIONLY01/disable', key);
      expect(disabled.status).toBe(200);
      expect(disabled.headers.get('ratelimit-limit')).toBe(String(gw.config.api.rateLimitPerMinute));
      expect((await call('POST', '/v1/terminals/APIONLY01/enable', key)).status).toBe(200);
      expect((await call('POST', '/v1/terminals/APIONLY01/credentials/rotate', key)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it('in one process the API tells the broker: disable drops the session, rotate and enable drop cached credentials', async () => {
    const sessions = { invalidate: jest.fn<LiveSessionsPort['invalidate']>(), disconnect: jest.fn<LiveSessionsPort['disconnect']>(() => true) };
    // The seam: the broker's port replaced by a recorder, everything else real.
    const gw = await startTestGateway(db, {}, { override: (b) => b.overrideProvider(LIVE_SESSIONS).useValue(sessions) });
    try {
      const call = apiClient(gw.httpUrl);
      const key = await gw.issueKey();
      await gw.register(['ONEPROC01']);
      expect((await call('POST', '/v1/terminals/ONEPROC01/disable', key)).status).toBe(200);
      expect(sessions.disconnect.mock.calls).toStrictEqual([['ONEPROC01']]);
      expect((await call('POST', '/v1/terminals/ONEPROC01/enable', key)).status).toBe(200);
      expect((await call('POST', '/v1/terminals/ONEPROC01/credentials/rotate', key)).status).toBe(200);
      expect(sessions.invalidate.mock.calls).toStrictEqual([['ONEPROC01'], ['ONEPROC01']]);
    } finally {
      await gw.close();
    }
  });
});
