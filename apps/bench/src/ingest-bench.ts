/**
 * `npm run bench:ingest`: measures the ingest path end to end on this machine.
 *
 *   gateway process (apps/fleet main: broker + ingest + maintenance) with the chosen database
 *   load-generator process (K mqtt.js terminals, QoS 1 heartbeats, PUBACK only after commit)
 *
 * Reports committed heartbeats/s (from the gateway's own counter), acked/s and publish->PUBACK
 * latency (from the loader), gateway CPU and RSS, loader and database CPU, and commit batch stats.
 * Warm-up is excluded from every figure. The run is bounded and cleans up after itself, also on
 * Ctrl-C and on error; child processes shut down by themselves if this process is killed hard.
 *
 * Usage: npm run bench:ingest -- [--db pglite|postgres|none] [--terminals K] [--duration S]
 *          [--warmup S] [--rate N] [--connect-rate N] [--gateway-env KEY=VALUE]... [--composition single|gateway]
 *          [--baseline] [--markdown] [--label TEXT]
 *          [--soak [--soak-interval S] [--snapshot-dir DIR]]
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIngestOptions, type IngestOptions } from './bench-options.js';
import { launch, repoRoot, stopManaged, waitMessage } from './child-process.js';
import { benchSn, registerTerminals, scrape, type Scrape } from './gateway-http.js';
import { payloadTemplate, printLogTail, startDatabase, startGateway, startLoader } from './ingest-children.js';
import { availabilityLines, buildResult, compareWithBaseline, markdownTable, mqttFloodLines, summary, type BenchResult } from './ingest-report.js';
import { machineInfo } from './proc-stats.js';
import type { LoaderToParent, ParentToLoader } from './protocol.js';
import { cleanup, exitAfterFailure, handleInterrupts, log, onCleanup, pause } from './run-lifecycle.js';
import { latencyStats, mib, round } from './report.js';
import { delta } from './prom-text.js';
import { progressLine, Sampler } from './sampling.js';
import { soakExecArgv, soakLines, soakResult, soakWindow, type SoakResult } from './soak.js';

/** Printed when a run fails, before the temp dir is removed. */
let currentGatewayLog: string | null = null;

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function run(opts: IngestOptions): Promise<BenchResult & { soak?: SoakResult }> {
  const machine = machineInfo();
  const commit = gitCommit();
  const tmp = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  const gatewayLog = join(tmp, 'gateway.log');
  currentGatewayLog = gatewayLog;
  onCleanup('temp dir', () => {
    // BENCH_GATEWAY_LOG keeps the gateway's log (e.g. its --trace-gc output) before the directory goes.
    const keep = process.env.BENCH_GATEWAY_LOG;
    if (keep && existsSync(gatewayLog)) appendFileSync(keep, readFileSync(gatewayLog));
    return Promise.resolve(rmSync(tmp, { recursive: true, force: true }));
  });
  const template = payloadTemplate();

  const db = opts.db === 'postgres' ? await startDatabase(tmp) : null;
  const snapshotDir = opts.snapshotDir || join(tmp, 'snapshots');
  // The embedded database's worker thread writes its own heap snapshots on request (pglite-worker.mjs).
  if (opts.soak && opts.db === 'pglite') opts.gatewayEnv.EMBEDDED_DB_HEAP_SNAPSHOT_DIR = snapshotDir;
  const gateway = await startGateway(opts, tmp, gatewayLog, db?.url ?? null, opts.soak ? soakExecArgv(snapshotDir) : []);

  let creds: { sn: string; secret: string }[];
  if (opts.db === 'none') {
    creds = Array.from({ length: opts.terminals }, (_, i) => ({ sn: benchSn(i), secret: 'unused' }));
  } else {
    const t = performance.now();
    creds = await registerTerminals(gateway.httpUrl, gateway.adminToken, opts.terminals, opts.registerBatch);
    log(`registered ${creds.length} terminals in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const loader = await startLoader(opts, tmp, { mqttUrl: gateway.mqttUrl, terminals: creds, payloadTemplate: template });

  const sampler = new Sampler(gateway.managed.pid, loader.managed.pid, db ? db.child.pid : null);
  sampler.start();
  onCleanup('sampler', () => Promise.resolve(sampler.stop()));
  const send = (m: ParentToLoader) => loader.managed.child.send(m);
  const loaderSays = (type: LoaderToParent['type'], timeoutMs: number, what: string) =>
    waitMessage<LoaderToParent>(loader.managed, (m) => m.type === type, timeoutMs, what);

  const mode = opts.rate === null ? 'closed loop (1 in flight per terminal)' : `open loop, ${opts.rate}/s`;
  log(`load: ${mode}; warm-up ${opts.warmup} s, then measuring ${opts.duration} s`);
  send({ type: 'start' });
  const startedAt = performance.now();
  const progress = setInterval(() => log(progressLine(loader.ticks, sampler, startedAt, opts.warmup)), 5_000);
  onCleanup('progress', () => Promise.resolve(clearInterval(progress)));
  await pause(opts.warmup * 1000);

  const flood = opts.httpFlood > 0 ? await startFlood(gateway.httpUrl, opts.httpFlood, opts.floodMib) : null;
  const m0 = await scrape(gateway.httpUrl);
  const rssStart = sampler.sample().gatewayRss;
  send({ type: 'mark' });
  await loaderSays('marked', 30_000, 'loader mark');
  const health = probeHealth(gateway.httpUrl);
  const mqttFlood =
    opts.mqttFlood > 0
      ? await mqttFloodPhases(opts, gateway.mqttUrl, sampler, async () => {
          const lap = loaderSays('lap', 30_000, 'loader lap');
          send({ type: 'lap' });
          const msg = await lap;
          if (msg.type !== 'lap') throw new Error('unexpected loader message');
          return msg;
        })
      : undefined;
  const soak =
    opts.soak && !mqttFlood
      ? await soakWindow({
          durationS: opts.duration,
          intervalS: opts.soakInterval,
          gatewayPid: gateway.managed.pid,
          httpUrl: gateway.httpUrl,
          snapshotDir,
          workerSnapshots: opts.db === 'pglite',
          sampler,
          ticks: loader.ticks,
          pauseLoad: () => send({ type: 'pause' }),
          resumeLoad: () => send({ type: 'resume' }),
        })
      : null;
  if (!mqttFlood && !soak) await pause(opts.duration * 1000);
  const healthMs = await health.stop();
  const floodResult = flood ? await flood.stop() : undefined;

  const m1 = await scrape(gateway.httpUrl);
  alertEvaluationLine(m0, m1);
  const endSample = sampler.sample();
  send({ type: 'stop' });
  const resultMsg = await loaderSays('result', 60_000, 'loader result');
  if (resultMsg.type !== 'result') throw new Error('unexpected loader message');
  clearInterval(progress);
  sampler.stop();

  // Let the loader disconnect cleanly before the gateway is stopped by cleanup.
  loader.managed.stopping = true;
  await Promise.race([loader.managed.exited, sleep(25_000)]);

  const result = buildResult({
    opts,
    commit,
    machine,
    connected: loader.connected,
    m0,
    m1,
    window: sampler.window(m0.at, endSample.at),
    rssStart,
    endSample,
    ticks: loader.ticks,
    loader: resultMsg.result,
    hasDatabase: db !== null,
    warnLogLines: existsSync(gatewayLog)
      ? readFileSync(gatewayLog, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '').length
      : 0,
  });
  return {
    ...result,
    health: latencyStats(healthMs),
    flood: floodResult,
    mqttFlood: mqttFlood && withRefusals(mqttFlood, m0, m1),
    soak: soak ? await soakResult(opts.soakInterval, soak, gatewayLog) : undefined,
  };
}

/**
 * The alert evaluator's share of the window (single-process compositions), on stderr: evaluations/s,
 * batches, time in batches. A batch's time starts before its transaction has a connection, so on the
 * embedded database (one connection) it includes waiting for the ingest statement: it is not the
 * time the evaluator holds the connection.
 */
function alertEvaluationLine(m0: Scrape, m1: Scrape): void {
  const seconds = (m1.at - m0.at) / 1000;
  const evaluations = delta(m0.snapshot, m1.snapshot, 'fleet_alerts_evaluations_total', { kind: 'heartbeat' });
  const batches = delta(m0.snapshot, m1.snapshot, 'fleet_alerts_batch_seconds_count', { job: 'heartbeat' });
  const inBatches = delta(m0.snapshot, m1.snapshot, 'fleet_alerts_batch_seconds_sum', { job: 'heartbeat' });
  if (evaluations === null || batches === null || inBatches === null || batches === 0) return;
  log(
    `alert evaluation: ${Math.round(evaluations / seconds)} heartbeats/s in ${batches} batches (${Math.round(evaluations / batches)} each), ` +
      `mean batch ${round((inBatches / batches) * 1000, 1)} ms, ${round((inBatches / seconds) * 100, 1)} % of the window in evaluation batches (waiting for a connection included)`,
  );
}

type MqttFloodResult = NonNullable<BenchResult['mqttFlood']>;
type Lap = Extract<LoaderToParent, { type: 'lap' }>;

/**
 * `--mqtt-flood K`: the measured window in three equal phases, baseline / attack / after, with the
 * attacker (its own process) running only in the middle one. Gateway RSS at each phase boundary and
 * its maximum in each phase; PUBACK latency per phase from the loader's laps.
 */
async function mqttFloodPhases(opts: IngestOptions, mqttUrl: string, sampler: Sampler, lap: () => Promise<Lap>): Promise<MqttFloodResult> {
  const phaseMs = (opts.duration * 1000) / 3;
  const rssMiB = (v: number | null) => mib(v);
  const maxRss = (from: number, to: number) => {
    const values = sampler
      .window(from, to)
      .map((x) => x.gatewayRss)
      .filter((v): v is number => v !== null);
    return values.length ? rssMiB(Math.max(...values)) : null;
  };
  const phase = (l: Lap, from: number, to: number, rssEnd: number | null) => ({
    seconds: round(l.seconds, 1),
    ackedPerSec: round(l.acked / l.seconds, 0),
    p50Ms: l.latency.p50Ms,
    p99Ms: l.latency.p99Ms,
    rssMaxMiB: maxRss(from, to),
    rssEndMiB: rssMiB(rssEnd),
  });

  const t0 = performance.now();
  await pause(phaseMs);
  const baselineLap = await lap();
  const t1 = performance.now();
  const rssBefore = sampler.sample().gatewayRss;

  const declared = Math.min(Math.round(opts.mqttFloodMib * 1024 * 1024), 268_435_455);
  const attacker = launch('mqtt flood', 'mqtt-flood-child.js', {
    env: { ...process.env, FLOOD_MQTT_URL: mqttUrl, FLOOD_CONCURRENCY: String(opts.mqttFlood), FLOOD_PACKET_BYTES: String(declared) },
  });
  onCleanup('mqtt flood', () => stopManaged(attacker, 5_000));
  await waitMessage<{ type: string }>(attacker, (m) => m.type === 'flood-ready', 60_000, 'mqtt flood start');
  log(`mqtt flood: ${opts.mqttFlood} unauthenticated connections, each declaring a ${opts.mqttFloodMib} MiB CONNECT`);
  await pause(phaseMs);
  const attackLap = await lap();
  const stopped = waitMessage<{ type: string } & Omit<MqttFloodResult['attacker'], never>>(
    attacker,
    (m) => m.type === 'flood-result',
    30_000,
    'mqtt flood result',
  );
  attacker.child.send({ type: 'stop' });
  const attack = await stopped;
  attacker.stopping = true;
  const t2 = performance.now();
  const rssAtAttackEnd = sampler.sample().gatewayRss;
  log('mqtt flood stopped');

  await pause(phaseMs);
  const afterLap = await lap();
  const t3 = performance.now();
  const rssAfter = sampler.sample().gatewayRss;
  return {
    concurrency: opts.mqttFlood,
    declaredMiB: round(declared / 1024 / 1024, 1),
    attacker: {
      opened: attack.opened,
      closedByServer: attack.closedByServer,
      refusedAtConnect: attack.refusedAtConnect,
      bytesWritten: attack.bytesWritten,
      maxBytesOnOneConnection: attack.maxBytesOnOneConnection,
    },
    refusedByReason: {},
    baseline: phase(baselineLap, t0, t1, rssBefore),
    attack: phase(attackLap, t1, t2, rssAtAttackEnd),
    after: phase(afterLap, t2, t3, rssAfter),
  };
}

/** The gateway's own count of refused connections, by reason, over the measured window. */
function withRefusals(flood: MqttFloodResult, m0: Scrape, m1: Scrape): MqttFloodResult {
  const name = 'fleet_mqtt_connections_refused_total';
  const reasons = new Set(m1.snapshot.series.filter((x) => x.name === name).map((x) => x.labels.reason));
  const refusedByReason: Record<string, number> = {};
  for (const reason of reasons) refusedByReason[reason] = delta(m0.snapshot, m1.snapshot, name, { reason }) ?? 0;
  return { ...flood, refusedByReason };
}

/** GET /health/live every 100 ms (one at a time) until stopped; the round trips in ms. */
function probeHealth(httpUrl: string): { stop: () => Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await (await fetch(`${httpUrl}/health/live`, { signal: AbortSignal.timeout(30_000) })).arrayBuffer();
        samples.push(performance.now() - t);
      } catch {
        samples.push(30_000);
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

type FloodResult = NonNullable<BenchResult['flood']>;

/** Starts the unauthenticated HTTP attacker in its own process (its CPU is not the gateway's). */
async function startFlood(httpUrl: string, concurrency: number, mib: number): Promise<{ stop: () => Promise<FloodResult> }> {
  const managed = launch('http flood', 'http-flood-child.js', {
    env: { ...process.env, FLOOD_URL: httpUrl, FLOOD_CONCURRENCY: String(concurrency), FLOOD_BYTES: String(Math.round(mib * 1024 * 1024)) },
  });
  onCleanup('http flood', () => stopManaged(managed, 5_000));
  await waitMessage<{ type: string }>(managed, (m) => m.type === 'flood-ready', 60_000, 'flood start');
  log(`http flood: ${concurrency} clients without a valid key, ${mib} MiB bodies`);
  return {
    stop: async () => {
      managed.child.send({ type: 'stop' });
      const r = await waitMessage<{ type: string; sent: number; bodyBytes: number; outcomes: Record<string, number> }>(
        managed,
        (m) => m.type === 'flood-result',
        30_000,
        'flood result',
      );
      managed.stopping = true;
      return { concurrency, bodyBytes: r.bodyBytes, sent: r.sent, outcomes: r.outcomes };
    },
  };
}

handleInterrupts();
const opts = parseIngestOptions();
try {
  let result = await run(opts);
  await cleanup();
  if (opts.baseline && opts.db !== 'none') {
    log('baseline: the same load against a bare aedes broker (--db none)');
    const bare = await run({ ...opts, db: 'none', httpFlood: 0, mqttFlood: 0 });
    await cleanup();
    process.stdout.write(`${summary(bare)}\n`);
    result = { ...result, baseline: compareWithBaseline(result, bare) };
  }
  process.stdout.write(`${summary(result)}\n`);
  for (const line of availabilityLines(result, opts.label)) process.stdout.write(`${line}\n`);
  for (const line of mqttFloodLines(result, opts.label)) process.stdout.write(`${line}\n`);
  if (result.soak) for (const line of soakLines(result.soak)) process.stdout.write(`${line}\n`);
  if (opts.markdown) process.stdout.write(`\n${markdownTable(result, opts.label)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  await exitAfterFailure(err, () => {
    if (currentGatewayLog) printLogTail(currentGatewayLog);
  });
}
