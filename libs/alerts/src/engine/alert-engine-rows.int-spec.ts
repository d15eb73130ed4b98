import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#config';
import { createDataSource, DatabaseFlavor, migrate } from '#db';
import { HeartbeatRepository } from '#ingest';
import { makeHeartbeat, startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { AlertEngineRepository } from './alert-engine.repository.js';

const SN = 'ROWS0001';
const FRESH = 'ROWS0002';
const T0 = Date.parse('2026-11-30T10:00:00Z');
const at = (minute: number) => new Date(T0 + minute * 60_000);

for (const kind of testDbKinds()) {
  describe(`alert engine reads on ${kind}: json rows (embedded) and plain columns agree`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    const plain = () => new AlertEngineRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: false });
    const json = () => new AlertEngineRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: true });

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
      await migrate(ds, { timescale: 'auto' });
      await ds.query(
        `INSERT INTO terminals (sn, model, tid, provider_id, credential_hash, registered_lat, registered_lon)
         SELECT sn, 'EP-T1', 'T' || right(sn, 7), (SELECT id FROM providers WHERE parent_id IS NULL), '\\x00', 23.1291, 113.2644 FROM unnest($1::text[]) sn`,
        [[SN, FRESH]],
      );
      // Three heartbeats with everything a sample can hold (tx counters, declines by code, position), one with the optional parts missing.
      const ingest = new HeartbeatRepository(ds, loadConfig({}, { ALERTS_ENABLED: 'true' }));
      const rich = (minute: number) =>
        makeHeartbeat(
          {
            seq: minute,
            tx: { approved: 12, declined: 3, declinesByCode: { '05': 2, '91': 1 }, reversals: { pending: 1, succeeded: 2, failed: 0 } },
          },
          at(minute),
        );
      await ingest.insertBatch([
        { time: at(1), sn: SN, receivedAt: at(1), heartbeat: rich(1), extra: null },
        { time: at(2), sn: SN, receivedAt: at(2), heartbeat: rich(2), extra: null },
        { time: at(3), sn: SN, receivedAt: at(3), heartbeat: makeHeartbeat({ seq: 3 }, at(3)), extra: null },
        { time: at(2), sn: FRESH, receivedAt: at(2), heartbeat: rich(2), extra: null },
      ]);
      await ds.query(`INSERT INTO alert_eval_cursor (sn, evaluated_through) VALUES ($1, $2)`, [SN, at(1)]);
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.stop();
    });

    it('terminals: the same facts, latest state and cursor either way', async () => {
      const columns = await ds.transaction((em) => plain().terminalsBySn(em, [SN, FRESH]));
      const rows = await ds.transaction((em) => json().terminalsBySn(em, [SN, FRESH]));
      const bySn = (list: typeof rows) => [...list].sort((a, b) => (a.facts.sn < b.facts.sn ? -1 : 1));
      expect(bySn(rows)).toStrictEqual(bySn(columns));
      const loaded = bySn(rows)[0];
      expect(loaded.evaluatedThrough).toStrictEqual(at(1));
      expect(loaded.facts.registeredLat).toBeCloseTo(23.1291);
      expect(loaded.facts.latest?.time).toStrictEqual(at(3));
    });

    it('heartbeats: the same samples either way, with the one at the cursor only when asked', async () => {
      const cursors = (previous: boolean) => [
        { sn: SN, after: at(1), previous },
        { sn: FRESH, after: null, previous },
      ];
      for (const previous of [true, false]) {
        const columns = await ds.transaction((em) => plain().heartbeats(em, cursors(previous), 200));
        const rows = await ds.transaction((em) => json().heartbeats(em, cursors(previous), 200));
        expect(rows).toStrictEqual(columns);
        expect(rows.get(SN)?.map((h) => h.time)).toStrictEqual(previous ? [at(1), at(2), at(3)] : [at(2), at(3)]);
        expect(rows.get(FRESH)?.map((h) => h.time)).toStrictEqual([at(2)]);
      }
      const [sample] = (await ds.transaction((em) => json().heartbeats(em, cursors(false), 200))).get(SN) ?? [];
      expect(sample.tx).toStrictEqual({
        approved: 12,
        declined: 3,
        declinesByCode: { '05': 2, '91': 1 },
        reversalsPending: 1,
        reversalsSucceeded: 2,
        reversalsFailed: 0,
      });
    });
  });
}
