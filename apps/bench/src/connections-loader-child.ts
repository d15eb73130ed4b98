/**
 * Load generator for `npm run bench:connections` (child of connections-bench.ts, IPC). Holds its
 * share of terminals as real mqtt.js connections, each from its own loopback source address group
 * (127.1.x.y, 100 terminals per address) so the gateway's per-address admission limits apply as they
 * would to a fleet, and each heartbeating QoS 1 every `intervalMs` with a random phase.
 * A lost connection is retried with the protocol's backoff (docs/protocol.md §8: full jitter,
 * ceiling 1 s x 2^attempt up to 60 s, attempt reset once a connection stayed up 10 s); after a
 * reconnect the terminal sends a heartbeat at once. Reports publish->PUBACK latencies (raw samples,
 * so the orchestrator computes exact percentiles over all loaders) and reconnect-storm progress.
 */
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { MqttClient } from 'mqtt';
import { topics } from '#contracts';
import { backoffDelayMs } from '../../../devices-sim/src/backoff.js';
import { isMessage, SEQ_MARKER, TS_MARKER } from './protocol.js';

export interface ConnectionsLoaderConfig {
  mqttHost: string;
  mqttPort: number;
  terminals: { sn: string; secret: string; localAddress: string }[];
  connectRate: number;
  intervalMs: number;
  payloadTemplate: string;
}

export type ToConnectionsLoader =
  { type: 'connect'; count: number } | { type: 'lap' } | { type: 'storm'; sinceEpochMs: number } | { type: 'storm-status' } | { type: 'stop' };

export interface StormStatus {
  terminals: number;
  /** Terminals connected again since the storm mark, and when the last one did (epoch ms). */
  reconnected: number;
  lastReconnectAt: number | null;
  reconnectMs: number[];
  /** Terminals with a heartbeat PUBACKed since the mark. */
  acked: number;
  lastAckAt: number | null;
  ackMs: number[];
  attempts: number;
  /** Failed attempts by cause: connection refused (gateway down), CONNACK return codes, timeouts. */
  failures: Record<string, number>;
}

export type FromConnectionsLoader =
  | { type: 'connected'; connected: number; failed: number; firstError: string | null }
  | { type: 'lap'; seconds: number; latencies: number[]; acked: number; errors: number; alive: number; lagP99Ms: number }
  | { type: 'storm-status'; status: StormStatus }
  | { type: 'fatal'; message: string };

interface Terminal {
  sn: string;
  secret: string;
  localAddress: string;
  topic: string;
  client: MqttClient | null;
  alive: boolean;
  attempt: number;
  seq: number;
  timer: NodeJS.Timeout | null;
  upSince: number;
  /** Storm progress (epoch ms), since the storm mark. */
  reconnectedAt: number | null;
  ackedAt: number | null;
}

const send = (m: FromConnectionsLoader): void => {
  process.send?.(m);
};

const configPath = process.argv[2];
if (!configPath || !process.send) {
  process.stderr.write('connections-loader-child: run by connections-bench.ts\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8')) as ConnectionsLoaderConfig;
const [head, afterTs] = splitOnce(config.payloadTemplate, JSON.stringify(TS_MARKER));
const [middle, tail] = splitOnce(afterTs, String(SEQ_MARKER));

function splitOnce(text: string, marker: string): [string, string] {
  const i = text.indexOf(marker);
  if (i < 0) throw new Error(`payload template lacks ${marker}`);
  return [text.slice(0, i), text.slice(i + marker.length)];
}

const terminals: Terminal[] = config.terminals.map((t) => ({
  ...t,
  topic: topics.heartbeat(t.sn),
  client: null,
  alive: false,
  attempt: 0,
  seq: 0,
  timer: null,
  upSince: 0,
  reconnectedAt: null,
  ackedAt: null,
}));
let started = 0;
let stopping = false;
let lapStart = performance.now();
let lapLatencies: number[] = [];
let lapAcked = 0;
let lapErrors = 0;
// The loader's own event-loop delay: a late PUBACK callback here is not the gateway's latency.
const lapLag = monitorEventLoopDelay({ resolution: 10 });
lapLag.enable();
let stormSince: number | null = null;
let stormAttempts = 0;
const stormFailures: Record<string, number> = {};

function heartbeat(t: Terminal): void {
  const client = t.client;
  if (!client || !t.alive) return;
  const n = ++t.seq;
  const body = `${head}"${new Date().toISOString()}"${middle}${n}${tail}`;
  const at = performance.now();
  client.publish(t.topic, body, { qos: 1 }, (err) => {
    if (err) {
      lapErrors++;
      return;
    }
    lapLatencies.push(performance.now() - at);
    lapAcked++;
    if (stormSince !== null && t.ackedAt === null && t.reconnectedAt !== null) t.ackedAt = Date.now();
  });
}

function schedule(t: Terminal, firstInMs: number): void {
  if (t.timer) clearTimeout(t.timer);
  t.timer = setTimeout(function tick() {
    heartbeat(t);
    t.timer = setTimeout(tick, config.intervalMs);
  }, firstInMs);
}

function failure(kind: string): void {
  if (stormSince !== null) stormFailures[kind] = (stormFailures[kind] ?? 0) + 1;
}

/** One connection attempt; on failure or later loss, the next one after the protocol's backoff. */
function connect(t: Terminal, onFirst?: (ok: boolean, error: string | null) => void): void {
  if (stopping) return;
  if (stormSince !== null) stormAttempts++;
  const client = new MqttClient(() => createConnection({ host: config.mqttHost, port: config.mqttPort, localAddress: t.localAddress }), {
    protocolVersion: 4,
    clientId: t.sn,
    username: t.sn,
    password: t.secret,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    keepalive: 120,
    reschedulePings: false,
    resubscribe: false,
  });
  t.client = client;
  let settled = false;
  client.on('error', (err: Error & { code?: number | string }) => {
    if (settled) return;
    settled = true;
    failure(typeof err.code === 'number' ? `connack_${err.code}` : String(err.code ?? 'error'));
    onFirst?.(false, err.message);
    client.end(true);
    retry(t);
  });
  client.once('connect', () => {
    settled = true;
    t.alive = true;
    t.upSince = performance.now();
    const reconnect = onFirst === undefined;
    if (reconnect && stormSince !== null && t.reconnectedAt === null) t.reconnectedAt = Date.now();
    onFirst?.(true, null);
    // A reconnecting terminal sends at once (what it holds); a new one at a random phase of its interval.
    schedule(t, reconnect ? 0 : Math.random() * config.intervalMs);
  });
  client.on('close', () => {
    if (!settled) {
      settled = true;
      failure('closed_before_connack');
      onFirst?.(false, 'closed before CONNACK');
      retry(t);
      return;
    }
    if (!t.alive) return;
    t.alive = false;
    if (t.timer) clearTimeout(t.timer);
    // A connection that stayed up 10 s resets the backoff (protocol §8).
    if (performance.now() - t.upSince > 10_000) t.attempt = 0;
    retry(t);
  });
}

function retry(t: Terminal): void {
  if (stopping) return;
  const delay = backoffDelayMs(t.attempt++, Math.random());
  setTimeout(() => {
    t.client?.end(true);
    connect(t);
  }, delay);
}

async function connectUpTo(count: number): Promise<void> {
  const target = Math.min(count, terminals.length);
  const perTick = Math.max(1, Math.round(config.connectRate / 20));
  let failed = 0;
  let firstError: string | null = null;
  const waits: Promise<void>[] = [];
  while (started < target) {
    for (let i = 0; i < perTick && started < target; i++) {
      const t = terminals[started++];
      waits.push(
        new Promise<void>((resolve) =>
          connect(t, (ok, error) => {
            if (!ok) {
              failed++;
              firstError ??= error;
            }
            resolve();
          }),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(waits);
  send({ type: 'connected', connected: terminals.filter((t) => t.alive).length, failed, firstError });
}

function stormStatus(): StormStatus {
  const since = stormSince ?? Date.now();
  const active = terminals.slice(0, started);
  const reconnectMs = active.filter((t) => t.reconnectedAt !== null).map((t) => (t.reconnectedAt as number) - since);
  const ackMs = active.filter((t) => t.ackedAt !== null).map((t) => (t.ackedAt as number) - since);
  return {
    terminals: active.length,
    reconnected: reconnectMs.length,
    lastReconnectAt: reconnectMs.length ? since + Math.max(...reconnectMs) : null,
    reconnectMs,
    acked: ackMs.length,
    lastAckAt: ackMs.length ? since + Math.max(...ackMs) : null,
    ackMs,
    attempts: stormAttempts,
    failures: { ...stormFailures },
  };
}

process.on('message', (raw: unknown) => {
  if (!isMessage<ToConnectionsLoader>(raw)) return;
  switch (raw.type) {
    case 'connect':
      connectUpTo(raw.count).catch((err: unknown) => send({ type: 'fatal', message: String(err) }));
      break;
    case 'lap': {
      const now = performance.now();
      send({
        type: 'lap',
        seconds: (now - lapStart) / 1000,
        latencies: lapLatencies,
        acked: lapAcked,
        errors: lapErrors,
        alive: terminals.filter((t) => t.alive).length,
        lagP99Ms: lapLag.percentile(99) / 1e6,
      });
      lapLag.reset();
      lapStart = now;
      lapLatencies = [];
      lapAcked = 0;
      lapErrors = 0;
      break;
    }
    case 'storm':
      stormSince = raw.sinceEpochMs;
      for (const t of terminals) {
        t.reconnectedAt = null;
        t.ackedAt = null;
      }
      break;
    case 'storm-status':
      send({ type: 'storm-status', status: stormStatus() });
      break;
    case 'stop':
      stopping = true;
      for (const t of terminals) {
        if (t.timer) clearTimeout(t.timer);
        t.client?.end(true);
      }
      setTimeout(() => process.exit(0), 500);
      break;
  }
});
process.on('disconnect', () => process.exit(0));
