import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { loadConfig, type AppConfig } from '#config';
import { createDataSource, DatabaseFlavor, HEARTBEAT_ROLLUPS, migrate, TimeseriesRepository, type HeartbeatRollup } from '#db';
import { MetricsService } from '#observability';
import { startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { FLEET_SUMMARY, RollupRefreshRepository } from './rollup-refresh.repository.js';
import { RollupRefreshService } from './rollup-refresh.service.js';

interface Hb {
  time: number;
  sn: string;
  seq: number;
  model: string;
  fw: string;
  app: string;
  battery: number;
  rsrp: number | null;
  rssi: number | null;
  sinr: number | null;
  dataMb: number;
  uptime: number;
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const floorTo = (t: number, w: number): number => Math.floor(t / w) * w;
const avg = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const min = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.min(...v) : null;
};
const num = (x: unknown): number | null => (x === null ? null : Number(x));

/** What each rollup must hold for these heartbeats, computed here from the raw rows (not by SQL). */
function expectedTerminalRows(hbs: readonly Hb[], widthMs: number): Map<string, Record<string, unknown>> {
  const groups = new Map<string, Hb[]>();
  for (const h of hbs) {
    const key = `${floorTo(h.time, widthMs)}|${h.sn}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const out = new Map<string, Record<string, unknown>>();
  for (const [key, g] of groups) {
    const latest = g.reduce((a, b) => (b.time > a.time ? b : a));
    out.set(key, {
      heartbeats: g.length,
      last_time: latest.time,
      model: latest.model,
      firmware_version: latest.fw,
      app_version: latest.app,
      battery_min: min(g.map((h) => h.battery)),
      battery_avg: avg(g.map((h) => h.battery)),
      rsrp_min: min(g.map((h) => h.rsrp)),
      rsrp_avg: avg(g.map((h) => h.rsrp)),
      rssi_min: min(g.map((h) => h.rssi)),
      rssi_avg: avg(g.map((h) => h.rssi)),
      sinr_avg: avg(g.map((h) => h.sinr)),
      data_used_mb_max: Math.max(...g.map((h) => h.dataMb)),
      uptime_s_max: Math.max(...g.map((h) => h.uptime)),
      boots: g.filter((h) => h.seq === 0).length,
    });
  }
  return out;
}

function expectedFleetRows(hbs: readonly Hb[], widthMs: number, providerOf: Map<string, string>): Map<string, Record<string, unknown>> {
  const groups = new Map<string, Hb[]>();
  for (const h of hbs) {
    const key = `${floorTo(h.time, widthMs)}|${providerOf.get(h.sn)}|${h.model}|${h.fw}`;
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const out = new Map<string, Record<string, unknown>>();
  const distinct = (g: Hb[]) => new Set(g.map((h) => h.sn)).size;
  for (const [key, g] of groups) {
    const where = (f: (h: Hb) => boolean) => g.filter(f).length;
    out.set(key, {
      terminals: distinct(g),
      heartbeats: g.length,
      boots: where((h) => h.seq === 0),
      battery_avg: avg(g.map((h) => h.battery)),
      rsrp_avg: avg(g.map((h) => h.rsrp)),
      rssi_avg: avg(g.map((h) => h.rssi)),
      hb_battery_low: where((h) => h.battery < 20),
      hb_battery_mid: where((h) => h.battery >= 20 && h.battery < 50),
      hb_battery_high: where((h) => h.battery >= 50),
      hb_rsrp_excellent: where((h) => h.rsrp !== null && h.rsrp >= -80),
      hb_rsrp_good: where((h) => h.rsrp !== null && h.rsrp >= -90 && h.rsrp < -80),
      hb_rsrp_fair: where((h) => h.rsrp !== null && h.rsrp >= -100 && h.rsrp < -90),
      hb_rsrp_poor: where((h) => h.rsrp !== null && h.rsrp < -100),
      hb_rsrp_unknown: where((h) => h.rsrp === null),
      terminals_battery_low: distinct(g.filter((h) => h.battery < 20)),
      terminals_rsrp_below_110: distinct(g.filter((h) => h.rsrp !== null && h.rsrp < -110)),
    });
  }
  return out;
}

/** Compares rollup rows with expectations; floats to 4 decimals (real columns and float sums). */
function expectRowsMatch(actual: Map<string, Record<string, unknown>>, expected: Map<string, Record<string, unknown>>): void {
  expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
  for (const [key, want] of expected) {
    const got = actual.get(key) ?? {};
    for (const [col, value] of Object.entries(want)) {
      const v = got[col];
      if (typeof value === 'number') {
        const n = v instanceof Date ? v.getTime() : num(v);
        expect({ key, col, diff: n === null ? null : Math.round((n - value) * 1e4) / 1e4 }).toStrictEqual({ key, col, diff: 0 });
      } else {
        expect({ key, col, v }).toStrictEqual({ key, col, v: value });
      }
    }
  }
}

function config(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({}, { NODE_ENV: 'test', ROLLUP_LATE_WINDOW: '30 minutes', ...overrides });
}

for (const kind of testDbKinds()) {
  describe(`rollup refresh on ${kind}`, () => {
    let db: TestDatabase;
    let ds: DataSource;
    let flavor: DatabaseFlavor;
    let service: RollupRefreshService;
    let repo: RollupRefreshRepository;
    let timeseries: TimeseriesRepository;
    const providerOf = new Map<string, string>();
    const hbs: Hb[] = [];
    let now = 0;

    async function insert(rows: Hb[]): Promise<void> {
      await ds.query(
        `INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, rsrp, rssi, sinr,
                                 mcc_mnc, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s)
         SELECT to_timestamp(t / 1000.0), sn, now(), seq, model, fw, app, battery, false, 'lte', rsrp, rssi, sinr,
                '46000', '8986000000000000001', '860000000000001', 'physical', 'CMCC', 'active', current_date + 10, true, data_mb, uptime
           FROM unnest($1::float8[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::real[], $8::real[], $9::real[], $10::real[], $11::real[], $12::bigint[])
             AS u(t, sn, seq, model, fw, app, battery, rsrp, rssi, sinr, data_mb, uptime)`,
        [
          rows.map((h) => h.time),
          rows.map((h) => h.sn),
          rows.map((h) => h.seq),
          rows.map((h) => h.model),
          rows.map((h) => h.fw),
          rows.map((h) => h.app),
          rows.map((h) => h.battery),
          rows.map((h) => h.rsrp),
          rows.map((h) => h.rssi),
          rows.map((h) => h.sinr),
          rows.map((h) => h.dataMb),
          rows.map((h) => h.uptime),
        ],
      );
      hbs.push(...rows);
    }

    async function rollupRows(rollup: HeartbeatRollup): Promise<Map<string, Record<string, unknown>>> {
      const rows: Record<string, unknown>[] = await ds.query(`SELECT * FROM ${rollup.name}`);
      const key = (r: Record<string, unknown>) =>
        rollup.grain === 'terminal'
          ? `${(r.bucket as Date).getTime()}|${String(r.sn)}`
          : `${(r.bucket as Date).getTime()}|${String(r.provider_id)}|${String(r.model)}|${String(r.firmware_version)}`;
      return new Map(rows.map((r) => [key(r), r]));
    }

    /** fleet_registry_counts (non-zero rows) equals a count over terminals. */
    async function expectRegistryCounts(): Promise<void> {
      const q = (sql: string) => ds.query<{ provider_id: string; model: string; n: number }[]>(sql);
      const kept = await q(`SELECT provider_id, model, terminals::int AS n FROM fleet_registry_counts WHERE terminals <> 0 ORDER BY 1, 2`);
      const counted = await q(`SELECT provider_id, model, count(*)::int AS n FROM terminals GROUP BY 1, 2 ORDER BY 1, 2`);
      expect(kept).toStrictEqual(counted);
    }

    /** Expected rows: complete buckets inside [from, to), from the raw heartbeats given. */
    function expected(rollup: HeartbeatRollup, rows: readonly Hb[]): Map<string, Record<string, unknown>> {
      return rollup.grain === 'terminal' ? expectedTerminalRows(rows, rollup.widthMs) : expectedFleetRows(rows, rollup.widthMs, providerOf);
    }

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      ds = createDataSource({ url: db.url, poolSize: kind === 'pglite' ? 1 : 4 });
      await ds.initialize();
      flavor = (await migrate(ds, { timescale: 'auto' })).flavor;
      timeseries = new TimeseriesRepository(ds, { flavor, embedded: kind === 'pglite' });
      repo = new RollupRefreshRepository(ds);
      service = new RollupRefreshService(config(), timeseries, repo, new MetricsService());
      const [root]: { id: string; path: string }[] = await ds.query(`SELECT id, path FROM providers WHERE parent_id IS NULL`);
      const [sp]: { id: string }[] = await ds.query(
        `INSERT INTO providers (id, parent_id, code, name, path) SELECT x.id, $1, 'sp-a', 'A', $2 || x.id || '/' FROM (SELECT gen_random_uuid() AS id) x RETURNING id`,
        [root.id, root.path],
      );
      const sns = ['ROLL0001', 'ROLL0002', 'ROLL0003', 'ROLL0004'];
      for (const [i, sn] of sns.entries()) providerOf.set(sn, i < 2 ? root.id : sp.id);
      await ds.query(
        `INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT sn, 'EP-T1', p, '\\x00'::bytea FROM unnest($1::text[], $2::uuid[]) AS u(sn, p)`,
        [sns, sns.map((sn) => providerOf.get(sn))],
      );
      const [{ t }]: { t: Date }[] = await ds.query(`SELECT now() AS t`);
      now = new Date(t).getTime();
      // 8 hours of heartbeats every 3 minutes; a reboot every 100 minutes; some without signal; an upgrade midway.
      const start = floorTo(now, HOUR) - 8 * HOUR;
      const rows: Hb[] = [];
      for (const [i, sn] of sns.entries()) {
        let seq = 5;
        for (let time = start + i * 7_000; time < now - 10_000; time += 3 * MIN) {
          const k = Math.round((time - start) / (3 * MIN));
          seq = k % 33 === 0 ? 0 : seq + 1;
          rows.push({
            time,
            sn,
            seq,
            model: i === 3 ? 'MP-S3' : 'EP-T1',
            fw: time < start + 4 * HOUR + i * 5 * MIN ? 'V1.0.0' : 'V1.1.0',
            app: 'app-2',
            battery: (k * 7 + i * 13) % 100,
            rsrp: k % 5 === 0 ? null : -70 - ((k * 3 + i * 11) % 50),
            rssi: k % 7 === 0 ? null : -60 - ((k + i) % 30),
            sinr: (k % 20) - 5,
            dataMb: 10 + k * 0.5,
            uptime: seq * 180,
          });
        }
      }
      await insert(rows);
    });
    afterAll(async () => {
      await ds?.destroy();
      await db?.stop();
    });

    it('materializes complete buckets only, each value matching the raw heartbeats', async () => {
      for (const rollup of HEARTBEAT_ROLLUPS) expect(await service.refreshRollup(rollup)).toBe('refreshed');
      for (const rollup of HEARTBEAT_ROLLUPS) {
        const [{ through }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [rollup.name]);
        const to = new Date(through).getTime();
        expect(to).toBe(floorTo(to, rollup.widthMs));
        expect(to <= Date.now() && to > Date.now() - rollup.widthMs - 60_000).toBe(true);
        expectRowsMatch(
          await rollupRows(rollup),
          expected(
            rollup,
            hbs.filter((h) => h.time < to),
          ),
        );
        // The bucket under way is not there yet.
        expect([...(await rollupRows(rollup)).values()].some((r) => (r.bucket as Date).getTime() >= to)).toBe(false);
      }
      // Nothing completed since: nothing to do. The 5-minute bucket under way may have completed while
      // this test ran on a slow machine; then a refresh is due, and the one after it has nothing to do.
      const first = HEARTBEAT_ROLLUPS[0];
      const [{ through }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [first.name]);
      const dbNow = async (): Promise<number> => new Date((await ds.query<{ t: Date }[]>(`SELECT now() AS t`))[0].t).getTime();
      const before = await dbNow();
      const outcome = await service.refreshRollup(first);
      const after = await dbNow();
      if (floorTo(after, first.widthMs) <= new Date(through).getTime()) expect(outcome).toBe('up_to_date');
      else if (floorTo(before, first.widthMs) > new Date(through).getTime()) expect(outcome).toBe('refreshed');
      else expect(outcome).toMatch(/^(up_to_date|refreshed)$/);
      expect(await service.refreshRollup(first)).toBe('up_to_date');
    });

    it('folds late heartbeats in at the next refresh when their bucket ended within the late window, not older ones', async () => {
      const rollup = HEARTBEAT_ROLLUPS[0];
      const [{ through }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [rollup.name]);
      const to = new Date(through).getTime();
      const base: Omit<Hb, 'time' | 'sn'> = {
        seq: 0,
        model: 'EP-T1',
        fw: 'V1.1.0',
        app: 'app-3',
        battery: 1,
        rsrp: -125,
        rssi: -99,
        sinr: 0,
        dataMb: 999,
        uptime: 1,
      };
      const recent = { ...base, sn: 'ROLL0001', time: to - rollup.widthMs + 1_234 };
      const old = { ...base, sn: 'ROLL0002', time: to - 3 * HOUR + 4_321 };
      await insert([recent, old]);
      // As if a bucket had completed since the last refresh.
      await ds.query(`UPDATE rollup_refresh SET refreshed_through = $2 WHERE name = $1`, [rollup.name, new Date(to - rollup.widthMs)]);
      expect(await service.refreshRollup(rollup)).toBe('refreshed');
      const rows = await rollupRows(rollup);
      const [{ through: to2 }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [rollup.name]);
      const withoutOld = hbs.filter((h) => h !== old && h.time < new Date(to2).getTime());
      expectRowsMatch(rows, expected(rollup, withoutOld));
      expect(rows.get(`${floorTo(recent.time, rollup.widthMs)}|ROLL0001`)?.boots).toBeTruthy();
      // Materialized again from the start (first refresh: no window), the old one is there too.
      await ds.query(`UPDATE rollup_refresh SET refreshed_through = NULL WHERE name = $1`, [rollup.name]);
      expect(await service.refreshRollup(rollup)).toBe('refreshed');
      const [{ through: after }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [
        rollup.name,
      ]);
      expectRowsMatch(
        await rollupRows(rollup),
        expected(
          rollup,
          hbs.filter((h) => h.time < new Date(after).getTime()),
        ),
      );
    });

    it('builds the fleet summary snapshot with the live definitions and its time', async () => {
      await ds.query(
        `INSERT INTO terminal_state (sn, online, last_connected_at, plan_status, firmware_version, battery_pct, rsrp, plan_expires_on, plan_auto_renew, renewal_result)
         VALUES ('ROLL0001', true, now(), 'active', 'V1.1.0', 10, -120, current_date + 3, false, 'failed'),
                ('ROLL0002', false, now(), 'grace', 'V1.1.0', 80, -90, current_date + 60, true, NULL),
                ('ROLL0003', false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
      );
      const before = Date.now();
      const asOf = await service.refreshSummary();
      expect(asOf).not.toBeNull();
      expect(Math.abs((asOf?.getTime() ?? 0) - before) < 60_000).toBe(true);
      const rows: Record<string, unknown>[] = await ds.query(
        `SELECT provider_id, model, plan_status, firmware_version, terminals::int, reported::int, online::int, offline::int, plan_expiring_30d::int AS expiring,
                auto_renew_off::int, auto_renew_failed::int, battery_below_20::int, signal_below_minus_110::int
           FROM fleet_summary ORDER BY provider_id, model, plan_status NULLS LAST`,
      );
      const [root, sp] = [providerOf.get('ROLL0001'), providerOf.get('ROLL0003')];
      const zero = { reported: 0, online: 0, offline: 0, expiring: 0, auto_renew_off: 0, auto_renew_failed: 0, battery_below_20: 0, signal_below_minus_110: 0 };
      const want = [
        {
          provider_id: root,
          model: 'EP-T1',
          plan_status: 'active',
          firmware_version: 'V1.1.0',
          terminals: 1,
          ...zero,
          reported: 1,
          online: 1,
          expiring: 1,
          auto_renew_off: 1,
          auto_renew_failed: 1,
          battery_below_20: 1,
          signal_below_minus_110: 1,
        },
        { provider_id: root, model: 'EP-T1', plan_status: 'grace', firmware_version: 'V1.1.0', terminals: 1, ...zero, reported: 1, offline: 1 },
        { provider_id: sp, model: 'EP-T1', plan_status: null, firmware_version: null, terminals: 2, ...zero, reported: 1 },
      ].sort((a, b) => String(a.provider_id).localeCompare(String(b.provider_id)));
      expect(
        rows
          .map((r) => ({ ...r }))
          .sort((a, b) => String(a.provider_id).localeCompare(String(b.provider_id)) || String(a.plan_status).localeCompare(String(b.plan_status))),
      ).toStrictEqual(
        want.sort((a, b) => String(a.provider_id).localeCompare(String(b.provider_id)) || String(a.plan_status).localeCompare(String(b.plan_status))),
      );
      // A rebuild right after is not due (half an interval).
      expect(await service.refreshSummary()).toBeNull();
    });

    it('keeps registered counts per provider and model exact through inserts, moves, model changes, other updates and deletes', async () => {
      await expectRegistryCounts();
      const [root, sp] = [providerOf.get('ROLL0001'), providerOf.get('ROLL0003')];
      await ds.query(
        `INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT 'REG' || lpad(g::text, 5, '0'), 'QR-Mini', $1, '\\x00'::bytea FROM generate_series(1, 30) g`,
        [sp],
      );
      await ds.query(`UPDATE terminals SET provider_id = $1 WHERE sn LIKE 'REG%' AND sn <= 'REG00010'`, [root]);
      await ds.query(`UPDATE terminals SET model = 'EP-T2' WHERE sn IN ('REG00001', 'REG00020')`);
      await ds.query(`UPDATE terminals SET status = 'disabled', updated_at = now() WHERE sn LIKE 'REG%'`);
      await ds.query(`DELETE FROM terminals WHERE sn LIKE 'REG%' AND sn > 'REG00025'`);
      await expectRegistryCounts();
      await ds.query(`DELETE FROM terminals WHERE sn LIKE 'REG%'`);
      await expectRegistryCounts();
    });

    if (kind === 'pglite') {
      it('on a TimescaleDB server, adds one refresh policy per continuous aggregate and keeps them on re-apply', async () => {
        const server = new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Timescale, embedded: false });
        expect(server.rollupsRefreshedByDatabase).toBe(true);
        const settings = { refreshIntervalMs: 30_000, lateWindow: '30 minutes' };
        const jobs = async () =>
          ds.query<{ job_id: number; name: string; start: string; every: string }[]>(
            `SELECT job_id, hypertable_name AS name, config ->> 'start_offset' AS start, schedule_interval::text AS every
               FROM timescaledb_information.jobs WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY hypertable_name`,
          );
        await server.applyRollupPolicies(settings);
        const first = await jobs();
        expect(first.map((j) => [j.name, j.start, j.every])).toStrictEqual([
          ['fleet_heartbeats_1h', '02:30:00', '00:00:30'],
          ['fleet_heartbeats_5m', '00:40:00', '00:00:30'],
          ['heartbeats_1h', '02:30:00', '00:00:30'],
          ['heartbeats_5m', '00:40:00', '00:00:30'],
        ]);
        await server.applyRollupPolicies(settings);
        expect(await jobs()).toStrictEqual(first);
        // The embedded database's maintenance does not run them (the worker refreshes instead).
        const report = await timeseries.runMaintenance({ chunkInterval: '1 day', compressAfter: '1 day', retention: '90 days' });
        expect(report.jobsRun).toBe(0);
        for (const j of first) await ds.query(`SELECT delete_job($1)`, [j.job_id]);
      });
    }

    if (kind === 'postgres') {
      it('two workers racing: one refreshes each relation, the other finds it leased or done', async () => {
        const ds2 = createDataSource({ url: db.url, poolSize: 4 });
        await ds2.initialize();
        try {
          const repo2 = new RollupRefreshRepository(ds2);
          const other = new RollupRefreshService(config(), new TimeseriesRepository(ds2, { flavor, embedded: false }), repo2, new MetricsService());
          await ds.query(`UPDATE rollup_refresh SET refreshed_at = NULL, refreshed_through = NULL`);
          const summaries = await Promise.all([service.refreshSummary(), other.refreshSummary()]);
          expect(summaries.filter((s) => s !== null)).toHaveLength(1);
          for (const rollup of HEARTBEAT_ROLLUPS) {
            const outcomes = await Promise.all([service.refreshRollup(rollup), other.refreshRollup(rollup)]);
            expect(outcomes.filter((o) => o === 'refreshed')).toHaveLength(1);
            expect(outcomes.filter((o) => o !== 'refreshed')[0]).toMatch(/^(busy|up_to_date)$/);
            const [{ through }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [rollup.name]);
            expectRowsMatch(
              await rollupRows(rollup),
              expected(
                rollup,
                hbs.filter((h) => h.time < new Date(through).getTime()),
              ),
            );
          }
          // Concurrent registrations and moves of the same groups from two connections: counts stay exact.
          const [root, sp] = [providerOf.get('ROLL0001'), providerOf.get('ROLL0003')];
          await Promise.all(
            Array.from({ length: 20 }, (_v, i) =>
              (i % 2 ? ds : ds2).query(
                `WITH t AS (INSERT INTO terminals (sn, model, provider_id, credential_hash) VALUES ($1, 'EP-T1', $2, '\\x00'::bytea) RETURNING sn)
                 SELECT sn FROM t`,
                [`RACE${String(i).padStart(4, '0')}`, i % 3 ? root : sp],
              ),
            ),
          );
          await Promise.all(
            Array.from({ length: 20 }, (_v, i) =>
              (i % 2 ? ds2 : ds).query(`UPDATE terminals SET provider_id = $2 WHERE sn = $1`, [`RACE${String(i).padStart(4, '0')}`, i % 3 ? sp : root]),
            ),
          );
          await expectRegistryCounts();
          await ds.query(`DELETE FROM terminals WHERE sn LIKE 'RACE%'`);
          // A lease held by a live worker is not taken.
          expect(await repo.acquire(FLEET_SUMMARY, 'worker-a', 60_000, 0)).not.toBeNull();
          expect(await repo2.acquire(FLEET_SUMMARY, 'worker-b', 60_000, 0)).toBeNull();
          await repo.release(FLEET_SUMMARY, 'worker-a');
        } finally {
          await ds2.destroy();
        }
      });
    }
    it('keeps rollups for their own retention (TimescaleDB: policies on the continuous aggregates; plain: batched deletes)', async () => {
      const settings = { chunkInterval: '1 day', compressAfter: '1 day', retention: '90 days', rollupRetention: { '5m': '1 day', '1h': '3 days' } };
      await timeseries.applyPolicies(settings);
      if (flavor === DatabaseFlavor.Timescale) {
        const jobs = await timeseries.listJobs();
        const retention = jobs.filter((j) => j.procName === 'policy_retention').map((j) => [j.table, j.config.drop_after]);
        expect(retention.sort()).toStrictEqual(
          [
            ['fleet_heartbeats_1h', '3 days'],
            ['fleet_heartbeats_5m', '1 day'],
            ['heartbeats', '90 days'],
            ['heartbeats_1h', '3 days'],
            ['heartbeats_5m', '1 day'],
            ['presence_events', '90 days'],
          ].sort(),
        );
        return;
      }
      // As if it were a day (5m) / three days (1h) after the rollups' middle: the older half goes.
      const cut = floorTo(now, HOUR) - 4 * HOUR;
      const counts = async () =>
        ds.query<{ name: string; old: number; kept: number }[]>(
          `SELECT '5m' AS name, count(*) FILTER (WHERE bucket < $1)::int AS old, count(*) FILTER (WHERE bucket >= $1)::int AS kept FROM heartbeats_5m
           UNION ALL SELECT '1h', count(*) FILTER (WHERE bucket < $1)::int, count(*) FILTER (WHERE bucket >= $1)::int FROM heartbeats_1h`,
          [new Date(cut)],
        );
      const before = await counts();
      expect(before.every((c) => c.old > 0 && c.kept > 0)).toBe(true);
      await timeseries.runMaintenance({ ...settings, rollupRetention: { '5m': '1 day', '1h': '1 day' } }, new Date(cut + 24 * HOUR));
      const after = await counts();
      expect(after).toStrictEqual(before.map((c) => ({ ...c, old: 0 })));
    });
  });
}
