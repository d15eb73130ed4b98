import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import {
  connectOk,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { startTestReceiver, type TestReceiver } from '#testing/notification-receivers.js';

/**
 * The whole path in one process: a heartbeat over MQTT, the alert the engine raises, and the signed
 * webhook the notifier sends. The notifier's poll is an hour here, so the webhook can only arrive
 * through the engine's in-process wake-up (OutboxSignal).
 */
for (const kind of testDbKinds()) {
  describe(`heartbeat to webhook on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let receiver: TestReceiver;
    let client: MqttClient | undefined;

    beforeAll(async () => {
      receiver = await startTestReceiver();
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { ALERTS_EVAL_INTERVAL_MS: '50', ALERTS_SWEEP_INTERVAL_MS: '86400000', NOTIFY_POLL_INTERVAL_MS: '3600000' });
    });
    afterAll(async () => {
      if (client) await endClient(client, true);
      await gw?.close();
      await db?.stop();
      await receiver?.close();
    });

    it('a low battery heartbeat reaches the provider webhook, signed, without waiting for the notifier poll', async () => {
      const ops = await gw.issueKey('ops');
      const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
        const res = await fetch(`${gw.httpUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${ops}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as T };
      };
      const provider = await call<{ id: string }>('POST', '/v1/providers', { code: 'hook-sp', name: 'Hook SP' });
      expect(provider.status).toBe(201);
      const secret = 'whsec-e2e-0123456789abcdef';
      receiver.secrets.set('e2e', secret);
      const channel = await call<{ id: string }>('POST', '/v1/notification-channels', {
        providerId: provider.body.id,
        type: 'webhook',
        name: 'e2e',
        url: `${receiver.url}/hook/e2e`,
        secret,
      });
      expect(channel.status).toBe(201);
      const sub = await call('POST', '/v1/notification-subscriptions', {
        channelId: channel.body.id,
        rules: ['battery_low'],
        minSeverity: 'warning',
        locale: 'zh-CN',
      });
      expect(sub.status).toBe(201);
      const SN = 'HOOK0001';
      const reg = await gw.registry.register([{ sn: SN, model: 'EP-T1', tid: 'TIDHOOK1', mid: '898000000000009', providerCode: 'hook-sp' }]);
      client = await connectOk(gw.mqttUrl, SN, reg.credentials[0].secret);

      await publishHeartbeat(client, SN, makeHeartbeat({ seq: 1, battery: { percent: 5, charging: false } }, new Date()));
      const [receipt] = await waitFor(
        () => Promise.resolve(receiver.byName('e2e')),
        (r) => r.length >= 1,
        30_000,
      );
      expect(receipt.signatureOk).toBe(true);
      expect(JSON.stringify(receipt.json)).toContain(SN);
      expect(JSON.stringify(receipt.json)).toContain('battery_low');
      const [alert] = await gw.query<{ state: string; severity: string }>(`SELECT state, severity FROM alerts WHERE sn = $1 AND rule = 'battery_low'`, [SN]);
      expect(alert).toStrictEqual({ state: 'open', severity: 'critical' });
    });
  });
}
