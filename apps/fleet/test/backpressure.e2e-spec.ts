import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import {
  connectOk,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  scrapeMetric,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';

const BUFFER = 5;

const gauge = (gw: TestGateway, name: string, labels: string) => scrapeMetric(gw.httpUrl, name, labels);

for (const kind of testDbKinds()) {
  describe(`backpressure on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let clients: MqttClient[] = [];
    const sns = Array.from({ length: 12 }, (_, i) => `BKP${String(i).padStart(5, '0')}`);
    let secrets: Map<string, string>;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, {
        INGEST_BATCH_MAX_ROWS: String(BUFFER),
        INGEST_BUFFER_MAX_ROWS: String(BUFFER),
        INGEST_ACK_TIMEOUT_MS: '1500',
      });
      secrets = await gw.register(sns);
      clients = await Promise.all(sns.map((sn) => connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '', { keepalive: 0 })));
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => endClient(c, true)));
      await gw?.close();
      await db?.stop();
    });

    it('holds at most the configured rows while the database is down, then stores everything', async () => {
      await db.pause();
      let acked = 0;
      const publishes = sns.map((sn, i) =>
        publishHeartbeat(clients[i], sn, makeHeartbeat({ seq: 1 }, new Date(Date.now() - 60_000))).then(() => {
          acked++;
        }),
      );
      await waitFor(
        () => gauge(gw, 'fleet_ingest_waiting_publishers', 'stream="heartbeats"'),
        (n) => n === sns.length - BUFFER,
        5_000,
      );
      expect(await gauge(gw, 'fleet_ingest_buffer_rows', 'stream="heartbeats"')).toBe(BUFFER);
      expect(acked).toBe(0);
      await db.resume();
      await Promise.all(publishes);
      expect(acked).toBe(sns.length);
      const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn LIKE $1', ['BKP%']);
      expect(rows[0].n).toBe(sns.length);
    });

    it('disconnects publishers that waited past the admission timeout; what was buffered still lands', async () => {
      await db.pause();
      const closed = new Set<number>();
      clients.forEach((c, i) => c.once('close', () => closed.add(i)));
      const at = new Date(Date.now() - 30_000);
      const publishes = sns.map((sn, i) =>
        publishHeartbeat(clients[i], sn, makeHeartbeat({ seq: 2 }, at)).then(
          () => i,
          () => -1,
        ),
      );
      await waitFor(
        async () => closed.size,
        (n) => n === sns.length - BUFFER,
        8_000,
      );
      await db.resume();
      const settled = await Promise.race([
        Promise.all(publishes.filter((_, i) => !closed.has(i))),
        new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
      ]);
      expect(settled).toBeTruthy();
      const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn LIKE $1 AND time = $2', ['BKP%', at]);
      expect(rows[0].n).toBe(BUFFER);
      // A disconnected terminal reconnects and retransmits; it lands once.
      const i = [...closed][0];
      const again = await connectOk(gw.mqttUrl, sns[i], secrets.get(sns[i]) ?? '');
      await publishHeartbeat(again, sns[i], makeHeartbeat({ seq: 2 }, at));
      const mine = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1 AND time = $2', [sns[i], at]);
      expect(mine[0].n).toBe(1);
      clients[i] = again;
    });
  });
}
