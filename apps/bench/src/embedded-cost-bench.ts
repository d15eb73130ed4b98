/**
 * `node dist/apps/bench/src/embedded-cost-bench.js`: where the embedded database's time goes, in CPU
 * time (both threads, process.cpuUsage, plus the server backend's on PostgreSQL), so a loaded host
 * shifts it less than wall time.
 *
 *   statement: the real HeartbeatRepository.insertBatch against a migrated database with 4,000
 *              registered terminals that all have state, per stored row, by batch size, alert queue
 *              on and off. Battery and RSRP move between heartbeats as real ones do (`--steady`: the
 *              same values every time, as the load generator sends). Each configuration runs
 *              `--runs` times (6 batches of 2,000 rows each; 500/5,000-row batches with `--sizes`);
 *              prints each run and the median, and the share of terminal_state updates that were
 *              HOT (pg_stat_user_tables; PGlite does not count them);
 *   transport: one request/reply round trip to a worker thread over loopback TCP (what the embedded
 *              database uses) vs a MessagePort with a transferred buffer, for a small query and for
 *              one ingest batch's size.
 *
 * Usage: node dist/apps/bench/src/embedded-cost-bench.js [statement|transport]... [--db pglite|postgres]
 *        [--runs 5] [--sizes 2000] [--steady] [--explain]   (default: statement and transport, pglite)
 *        node dist/apps/bench/src/embedded-cost-bench.js evaluate [--db pglite|postgres] [--runs 5]
 *        [--batch-terminals 500] [--batches-per-drain 1] [--rows json|columns] [--moving] [--explain]
 */
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { AlertEngineRepository, AlertEvaluatorService, AlertMetrics, AlertRules, systemClock } from '#alerts';
import { loadConfig } from '#config';
import { createDataSource, DatabaseFlavor, migrate } from '#db';
import { HeartbeatRepository, type HeartbeatRow } from '#ingest';
import { MetricsService } from '#observability';
import type { EntityManager } from 'typeorm';
import { makeHeartbeat, startTestDatabase, type TestDbKind } from '#testing';
import { cpuMicros as processCpuMicros } from './proc-stats.js';

const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Heartbeat rows round the terminals, 1 ms apart from six hours ago. `moving`: RSRP moves by the dB
 * on most heartbeats and the battery by a percent every few, as real ones do.
 */
function heartbeatBatches(sns: readonly string[], moving: boolean): (size: number, seq: number) => HeartbeatRow[] {
  let ms = Date.now() - 6 * 3_600_000;
  let n = 0;
  return (size, seq) =>
    Array.from({ length: size }, () => {
      const k = n++;
      const time = new Date(ms++);
      const heartbeat = makeHeartbeat({ seq }, time);
      if (moving) {
        heartbeat.signal = { ...heartbeat.signal, rsrp: -80 - (k % 23) };
        heartbeat.battery = { ...heartbeat.battery, percent: 100 - (Math.floor(k / 7) % 90) };
      }
      return { time, sn: sns[k % sns.length], receivedAt: new Date(), heartbeat, extra: null };
    });
}

/** A migrated database of one connection with 4,000 terminals of the root provider, and the CPU its server has used. */
async function seededDatabase(kind: TestDbKind, snPrefix: string) {
  const db = await startTestDatabase(kind);
  const ds = createDataSource({ url: db.url, poolSize: 1 });
  await ds.initialize();
  await migrate(ds, { timescale: 'auto' });
  const sns = Array.from({ length: 4000 }, (_, i) => `${snPrefix}${String(i).padStart(6, '0')}`);
  // The root provider every migrated database has.
  const [provider] = await ds.query<{ id: string }[]>(`SELECT id FROM providers WHERE code = 'root'`);
  await ds.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT unnest($1::text[]), 'M', $2, '\\x00'`, [sns, provider.id]);
  // The backend serving this one connection: its CPU is the statement's on PostgreSQL (on PGlite
  // it runs in this process's worker thread, which process.cpuUsage already counts).
  const [{ pid }] = await ds.query<{ pid: number }[]>('SELECT pg_backend_pid() AS pid');
  const serverMicros = () => (kind === 'postgres' ? (processCpuMicros(pid) ?? 0) : 0);
  return { db, ds, sns, serverMicros };
}

async function statement(): Promise<void> {
  const kind = option('db', 'pglite') as TestDbKind;
  if (kind !== 'pglite' && kind !== 'postgres') throw new Error('--db pglite|postgres');
  const runs = Number(option('runs', '5'));
  const sizes = option('sizes', '2000').split(',').map(Number);
  const steady = args.includes('--steady');
  const { db, ds, sns, serverMicros } = await seededDatabase(kind, 'COST');
  try {
    const hotCounts = async () => {
      await ds.query('SELECT pg_stat_force_next_flush()');
      const [r] = await ds.query<{ upd: number; hot: number }[]>(
        `SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'terminal_state'`,
      );
      return r;
    };
    const batch = heartbeatBatches(sns, !steady);
    let seq = 0;
    for (const alerts of [true, false]) {
      const config = loadConfig({ ...process.env, ALERTS_ENABLED: String(alerts) });
      const repo = new HeartbeatRepository(ds, config);
      // Every terminal has state (and a chunk exists) before anything is measured.
      for (let b = 0; b < 3; b++) await repo.insertBatch(batch(2000, seq++));
      for (const size of sizes) {
        const perRow: number[] = [];
        const before = await hotCounts();
        for (let run = 0; run < runs; run++) {
          let rows = 0;
          let cpu = 0;
          for (let b = 0; b < Math.max(3, Math.ceil(12_000 / size)); b++) {
            const rowsIn = batch(size, seq++);
            const c0 = process.cpuUsage();
            const s0 = serverMicros();
            await repo.insertBatch(rowsIn);
            cpu += cpuMicros(c0) + serverMicros() - s0;
            rows += size;
          }
          perRow.push(Math.round(cpu / rows));
        }
        const after = await hotCounts();
        const updates = after.upd - before.upd;
        const hot = updates > 0 ? `${Math.round(((after.hot - before.hot) / updates) * 100)} % of ${updates} terminal_state updates HOT` : 'HOT not counted';
        console.log(
          `statement (${kind}${steady ? ', steady values' : ''}): alert queue ${alerts ? 'on ' : 'off'}, ${size}-row batches: ` +
            `median ${median(perRow)} µs CPU per row (runs: ${perRow.join(', ')}); ${hot}`,
        );
      }
      if (alerts && args.includes('--explain')) {
        // The same statement and parameters, explained instead of run.
        const plan: { 'QUERY PLAN': string }[] = [];
        const explaining = {
          query: async (sql: string, params: unknown[]) => {
            plan.push(...(await ds.query<{ 'QUERY PLAN': string }[]>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params)));
            return [];
          },
        } as unknown as typeof ds;
        const probe = new HeartbeatRepository(explaining, config);
        await probe.insertBatch(batch(2000, seq++));
        console.log(plan.map((p) => p['QUERY PLAN']).join('\n'));
      }
    }
  } finally {
    await ds.destroy().catch(() => undefined);
    await db.stop();
  }
}

/**
 * evaluate: the alert evaluator's cost per evaluated heartbeat, as in the closed loop: each round
 * ingests one 2,000-row batch (2,000 distinct terminals, one heartbeat each, queued by the ingest
 * statement) and then drains the queue with the real AlertEvaluatorService (`--batch-terminals`:
 * ALERTS_EVAL_BATCH_TERMINALS; `--batches-per-drain N`: N ingest batches before each drain, so each terminal
 * has N/2 new heartbeats per evaluation, as with a backlog; heartbeat values fixed as the load generator sends, `--moving`: battery
 * and RSRP move, so alerts are raised and confirmed; `--explain`: each statement's plan, once). CPU per evaluated
 * heartbeat (both threads, plus the server backend on PostgreSQL), and wall time per repository
 * method (what is left is BEGIN/COMMIT and the JS between statements).
 */
async function evaluate(): Promise<void> {
  const kind = option('db', 'pglite') as TestDbKind;
  if (kind !== 'pglite' && kind !== 'postgres') throw new Error('--db pglite|postgres');
  const runs = Number(option('runs', '5'));
  const batchTerminals = option('batch-terminals', '500');
  // The load generator's values by default (fixed: no alert changes); --moving: battery and RSRP move, some alerts are raised and confirmed.
  const moving = args.includes('--moving');
  // Ingest batches per drain: 2 gives every terminal one new heartbeat per evaluation, 8 four (a backlog, as in the closed loop).
  const perDrain = Number(option('batches-per-drain', '1'));
  const { db, ds, sns, serverMicros } = await seededDatabase(kind, 'EVAL');
  try {
    const config = loadConfig({ ...process.env, ALERTS_ENABLED: 'true', ALERTS_EVAL_BATCH_TERMINALS: batchTerminals });
    const ingest = new HeartbeatRepository(ds, config);
    // As the app composes it: json rows on the embedded database (DATABASE_INFO.embedded); --rows json|columns overrides.
    const engine = new AlertEngineRepository(ds, {
      flavor: DatabaseFlavor.Timescale,
      embedded: option('rows', kind === 'pglite' ? 'json' : 'columns') === 'json',
    });
    const evaluator = new AlertEvaluatorService(config, engine, new AlertRules(), systemClock, new AlertMetrics(new MetricsService()));
    // Wall time per repository method (the one connection: no overlap).
    const spent = new Map<string, number>();
    const proto = AlertEngineRepository.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const name of Object.getOwnPropertyNames(AlertEngineRepository.prototype)) {
      const original = proto[name];
      // Public methods only (wideQuery runs inside terminalsBySn and heartbeats).
      if (name === 'constructor' || name === 'wideQuery' || typeof original !== 'function') continue;
      (engine as unknown as Record<string, unknown>)[name] = async function (this: unknown, ...a: unknown[]) {
        const t0 = performance.now();
        try {
          return await original.apply(engine, a);
        } finally {
          spent.set(name, (spent.get(name) ?? 0) + performance.now() - t0);
        }
      };
    }
    const batch = heartbeatBatches(sns, moving);
    let seq = 0;
    // Every terminal has state, a cursor and memory before anything is measured.
    for (let b = 0; b < 4; b++) {
      await ingest.insertBatch(batch(2000, seq++));
      await evaluator.drain();
    }
    const perBeat: number[] = [];
    const wallPerBeat: number[] = [];
    let totalBeats = 0;
    spent.clear();
    for (let run = 0; run < runs; run++) {
      let beats = 0;
      let cpu = 0;
      let wall = 0;
      for (let b = 0; b < 6; b++) {
        for (let i = 0; i < perDrain; i++) await ingest.insertBatch(batch(2000, seq++));
        const c0 = process.cpuUsage();
        const s0 = serverMicros();
        const t0 = performance.now();
        beats += await evaluator.drain();
        wall += performance.now() - t0;
        cpu += cpuMicros(c0) + serverMicros() - s0;
      }
      totalBeats += beats;
      perBeat.push(Math.round(cpu / beats));
      wallPerBeat.push(Math.round((wall * 1000) / beats));
    }
    console.log(
      `evaluate (${kind}, ${batchTerminals}-terminal batches, ${Math.max(1, perDrain / 2)} heartbeats per terminal per evaluation): median ${median(perBeat)} µs CPU per evaluated heartbeat (runs: ${perBeat.join(', ')}); ` +
        `wall ${median(wallPerBeat)} µs (runs: ${wallPerBeat.join(', ')})`,
    );
    const parts = [...spent.entries()].sort((a, b) => b[1] - a[1]);
    console.log(`  wall µs per evaluated heartbeat by method: ${parts.map(([k, v]) => `${k} ${((v * 1000) / totalBeats).toFixed(1)}`).join(', ')}`);
    if (args.includes('--explain')) {
      // One more round, each statement of the evaluator explained (in a savepoint rolled back) before it runs.
      const transaction = ds.transaction.bind(ds) as (run: (em: EntityManager) => Promise<unknown>) => Promise<unknown>;
      (ds as unknown as { transaction: unknown }).transaction = (run: (em: EntityManager) => Promise<unknown>) =>
        transaction(async (em) => {
          const query = em.query.bind(em);
          (em as unknown as { query: unknown }).query = async (sql: string, params?: unknown[]) => {
            await query('SAVEPOINT explain');
            const plan = await query<{ 'QUERY PLAN': string }[]>(`EXPLAIN (ANALYZE, COSTS OFF) ${sql}`, params);
            await query('ROLLBACK TO SAVEPOINT explain');
            console.log(`--- ${sql.trim().slice(0, 80).replaceAll('\n', ' ')}\n${plan.map((p) => p['QUERY PLAN']).join('\n')}`);
            return query<unknown>(sql, params);
          };
          return run(em);
        });
      await ingest.insertBatch(batch(2000, seq++));
      await evaluator.runOnce();
    }
  } finally {
    await ds.destroy().catch(() => undefined);
    await db.stop();
  }
}

/** An echo worker: answers every `size` bytes with 100 bytes, over TCP and over its port. */
const ECHO = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const size = workerData.size;
const server = net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; while (n >= size) { n -= size; s.write(Buffer.alloc(100)); } });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => parentPort.postMessage(new Uint8Array(100)));
`;

async function transport(size: number, n: number): Promise<void> {
  const worker = new Worker(ECHO, { eval: true, workerData: { size } });
  const { port } = await new Promise<{ port: number }>((resolve) => worker.once('message', resolve));
  const payload = Buffer.alloc(size, 7);
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => {
      socket.once('data', resolve);
      socket.write(payload);
    });
  }
  const tcp = cpuMicros(c0) / n;
  c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const copy = new Uint8Array(size);
    copy.set(payload);
    await new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage(copy, [copy.buffer]);
    });
  }
  const messagePort = cpuMicros(c0) / n;
  socket.destroy();
  await worker.terminate();
  console.log(`transport: ${size} B request + 100 B reply: TCP ${Math.round(tcp)} µs, MessagePort ${Math.round(messagePort)} µs CPU per round trip`);
}

const VALUED = new Set(['--db', '--runs', '--sizes', '--batch-terminals', '--batches-per-drain', '--rows']);
const parts = args.filter((a, i) => !a.startsWith('--') && !VALUED.has(args[i - 1] ?? ''));
if (parts.length === 0 || parts.includes('statement')) await statement();
if (parts.includes('evaluate')) await evaluate();
if (parts.length === 0 || parts.includes('transport')) {
  await transport(300, 3000);
  await transport(800_000, 300);
}
