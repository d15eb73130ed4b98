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
 *          [--warmup S] [--rate N] [--connect-rate N] [--gateway-env KEY=VALUE]... [--markdown] [--label TEXT]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIngestOptions, type IngestOptions } from './bench-options.js';
import { repoRoot, waitMessage } from './child-process.js';
import { benchSn, registerTerminals, scrape } from './gateway-http.js';
import { payloadTemplate, printLogTail, startDatabase, startGateway, startLoader } from './ingest-children.js';
import { buildResult, markdownTable, summary, type BenchResult } from './ingest-report.js';
import { machineInfo } from './proc-stats.js';
import type { LoaderToParent, ParentToLoader } from './protocol.js';
import { cleanup, exitAfterFailure, handleInterrupts, log, onCleanup, pause } from './run-lifecycle.js';
import { progressLine, Sampler } from './sampling.js';

/** Printed when a run fails, before the temp dir is removed. */
let currentGatewayLog: string | null = null;

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function run(opts: IngestOptions): Promise<BenchResult> {
  const machine = machineInfo();
  const commit = gitCommit();
  const tmp = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  onCleanup('temp dir', () => Promise.resolve(rmSync(tmp, { recursive: true, force: true })));
  const gatewayLog = join(tmp, 'gateway.log');
  currentGatewayLog = gatewayLog;
  const template = payloadTemplate();

  const db = opts.db === 'postgres' ? await startDatabase(tmp) : null;
  const gateway = await startGateway(opts, tmp, gatewayLog, db?.url ?? null);

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

  const m0 = await scrape(gateway.httpUrl);
  const rssStart = sampler.sample().gatewayRss;
  send({ type: 'mark' });
  await loaderSays('marked', 30_000, 'loader mark');
  await pause(opts.duration * 1000);

  const m1 = await scrape(gateway.httpUrl);
  const endSample = sampler.sample();
  send({ type: 'stop' });
  const resultMsg = await loaderSays('result', 60_000, 'loader result');
  if (resultMsg.type !== 'result') throw new Error('unexpected loader message');
  clearInterval(progress);
  sampler.stop();

  // Let the loader disconnect cleanly before the gateway is stopped by cleanup.
  loader.managed.stopping = true;
  await Promise.race([loader.managed.exited, sleep(25_000)]);

  return buildResult({
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
}

handleInterrupts();
const opts = parseIngestOptions();
try {
  const result = await run(opts);
  await cleanup();
  process.stdout.write(`${summary(result)}\n`);
  if (opts.markdown) process.stdout.write(`\n${markdownTable(result, opts.label)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  await exitAfterFailure(err, () => {
    if (currentGatewayLog) printLogTail(currentGatewayLog);
  });
}
