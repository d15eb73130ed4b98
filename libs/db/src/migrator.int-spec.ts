import { mkdtempSync, writeFileSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { createDataSource } from './data-source.js';
import { DatabaseFlavor } from './database-mode.js';
import { loadMigrations, migrate, MIGRATIONS_DIR } from './migrator.js';
import { TimeseriesRepository } from './timeseries.repository.js';

const settings = { chunkInterval: '1 day', compressAfter: '1 day', retention: '90 days' };

for (const kind of testDbKinds()) {
  describe(`migrations and time-series maintenance on ${kind}`, () => {
    let db: TestDatabase;
    let ds: DataSource;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      ds = createDataSource({ url: db.url, poolSize: 1 });
      await ds.initialize();
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.stop();
    });

    it('applies the schema once, picking TimescaleDB when available, and is idempotent', async () => {
      const first = await migrate(ds, { timescale: 'auto' });
      const expected = kind === 'pglite' ? DatabaseFlavor.Timescale : DatabaseFlavor.Plain;
      expect(first.flavor).toBe(expected);
      expect(first.applied).toStrictEqual(loadMigrations(expected).map((m) => m.name));
      expect(first.applied.length >= 2).toBeTruthy();
      const second = await migrate(ds, { timescale: 'auto' });
      expect(second).toStrictEqual({ flavor: expected, applied: [] });
      const hypertables: { n: number }[] = await ds.query(
        kind === 'pglite' ? `SELECT count(*)::int AS n FROM timescaledb_information.hypertables` : `SELECT 0 AS n`,
      );
      expect(hypertables[0].n).toBe(kind === 'pglite' ? 2 : 0);
    });

    it('refuses a migration whose file changed after it was applied', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
      cpSync(MIGRATIONS_DIR, dir, { recursive: true });
      writeFileSync(join(dir, '0001_init.sql'), '-- edited\n', { flag: 'a' });
      const edited = loadMigrations(DatabaseFlavor.Plain, dir)[0];
      rmSync(dir, { recursive: true, force: true });
      const original = loadMigrations(DatabaseFlavor.Plain)[0];
      expect(edited.checksum).not.toBe(original.checksum);
      // Simulate: the recorded checksum differs from the file on disk.
      await ds.query(`UPDATE schema_migrations SET checksum = 'stale' WHERE version = '0001'`);
      await expect((() => migrate(ds, { timescale: 'auto' }))()).rejects.toThrow(/changed after it was applied/);
      const flavor = kind === 'pglite' ? DatabaseFlavor.Timescale : DatabaseFlavor.Plain;
      await ds.query(`UPDATE schema_migrations SET checksum = $1 WHERE version = '0001'`, [loadMigrations(flavor)[0].checksum]);
    });

    if (kind === 'postgres') {
      it('serializes concurrent migrators with an advisory lock', async () => {
        await ds.query(`CREATE DATABASE concurrent_test`);
        const url = db.url.replace(/\/fleet$/, '/concurrent_test');
        const sources = [0, 1, 2].map(() => createDataSource({ url, poolSize: 2 }));
        await Promise.all(sources.map((s) => s.initialize()));
        try {
          const results = await Promise.all(sources.map((s) => migrate(s, { timescale: 'auto' })));
          const total = loadMigrations(DatabaseFlavor.Plain).length;
          expect(results.filter((r) => r.applied.length === total).length).toBe(1);
          expect(results.filter((r) => r.applied.length === 0).length).toBe(2);
          const rows: { n: number }[] = await sources[0].query('SELECT count(*)::int AS n FROM schema_migrations');
          expect(rows[0].n).toBe(total);
        } finally {
          await Promise.all(sources.map((s) => s.destroy()));
        }
      });

      it('deletes expired rows itself on plain PostgreSQL', async () => {
        const repo = new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Plain, embedded: false });
        await ds.query(
          `INSERT INTO presence_events (time, sn, online, reason) VALUES (now() - interval '100 days', 'OLD00001', true, 'connected'), (now(), 'NEW00001', true, 'connected')`,
        );
        const report = await repo.runMaintenance(settings);
        expect(report.rowsDeleted).toBe(1);
        const rows: { sn: string }[] = await ds.query('SELECT sn FROM presence_events');
        expect(rows.map((r) => r.sn)).toStrictEqual(['NEW00001']);
      });
    } else {
      it('applies compression and retention policies from config and replaces them when config changes', async () => {
        const repo = new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: true });
        await repo.applyPolicies(settings);
        await repo.applyPolicies(settings);
        let jobs = await repo.listJobs();
        const summary = () => jobs.map((j) => `${j.procName}:${j.table}:${String(j.config.drop_after ?? j.config.compress_after)}`).sort();
        expect(summary()).toStrictEqual([
          'policy_compression:heartbeats:1 day',
          'policy_retention:heartbeats:90 days',
          'policy_retention:presence_events:90 days',
        ]);
        await repo.applyPolicies({ ...settings, retention: '30 days' });
        jobs = await repo.listJobs();
        expect(summary()).toStrictEqual([
          'policy_compression:heartbeats:1 day',
          'policy_retention:heartbeats:30 days',
          'policy_retention:presence_events:30 days',
        ]);
      });

      it('runs the policy jobs itself on the embedded database: old chunks are compressed and dropped', async () => {
        const repo = new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: true });
        await ds.query(`
          INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, mcc_mnc,
                                  iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s)
          SELECT now() - make_interval(days => d), 'TS000001', now(), d, 'M', '1', '1', 50, false, 'LTE', '46000',
                 '89860000000000000000', '860000000000000', 'esim', 'CMCC', 'active', '2027-01-01', true, 1, 1
            FROM unnest(ARRAY[0, 3, 40]) AS d`);
        const report = await repo.runMaintenance(settings);
        expect(report.jobsRun >= 3).toBeTruthy();
        const left: { n: number }[] = await ds.query(`SELECT count(*)::int AS n FROM heartbeats`);
        expect(left[0].n).toBe(2);
        const compressed: { n: number }[] = await ds.query(
          `SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'heartbeats' AND is_compressed`,
        );
        expect(compressed[0].n >= 1).toBeTruthy();
      });
    }
  });
}
