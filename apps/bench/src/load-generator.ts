/**
 * Load generator for `npm run bench:ingest`, run as a child process of ingest-bench.ts (IPC).
 * Holds K real mqtt.js connections (MQTT 3.1.1, one per terminal) and publishes QoS 1 heartbeats:
 *  - closed loop (rate null): each terminal publishes its next heartbeat as soon as the previous one
 *    is PUBACKed, so at most one is in flight per terminal;
 *  - open loop (rate N): N heartbeats/s in total, round-robin over the terminals. Like a terminal
 *    following the protocol (§4), each keeps at most maxInFlight unacknowledged and holds the rest,
 *    up to maxHeld, dropping the oldest held when full (0 in flight: no limit, a pipelining client).
 * Every heartbeat has a strictly increasing `ts` per terminal, so each one is a new row.
 * Exits by itself when the orchestrator goes away (IPC disconnect).
 */
import { readFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '#contracts';
import { LatencyHistogram } from './latency-histogram.js';
import { isMessage, SEQ_MARKER, TS_MARKER, type LoaderConfig, type LoaderResult, type LoaderToParent, type ParentToLoader } from './protocol.js';

interface Terminal {
  sn: string;
  topic: string;
  client: MqttClient;
  /** Messages published so far; also the ts offset and seq of the next one. */
  counter: number;
  alive: boolean;
  inFlight: number;
  /** Scheduled send times of held heartbeats, oldest first. */
  held: number[];
}

function send(message: LoaderToParent): void {
  process.send?.(message);
}

const configPath = process.argv[2];
if (!configPath || !process.send) {
  process.stderr.write('load-generator: run by ingest-bench.ts (needs an IPC channel and a config file)\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8')) as LoaderConfig;

const tsQuoted = JSON.stringify(TS_MARKER);
const [head, afterTs] = splitOnce(config.payloadTemplate, tsQuoted);
const [middle, tail] = splitOnce(afterTs, String(SEQ_MARKER));

function splitOnce(text: string, marker: string): [string, string] {
  const i = text.indexOf(marker);
  if (i < 0) throw new Error(`payload template lacks ${marker}`);
  return [text.slice(0, i), text.slice(i + marker.length)];
}

function payloadFor(n: number): string {
  return `${head}"${new Date(config.tsBaseMs + n).toISOString()}"${middle}${n}${tail}`;
}

const terminals: Terminal[] = [];
let running = false;
let measuring = false;
let disconnected = 0;
let inFlight = 0;
// Cumulative counters (ticks) and window counters (between mark and stop).
let acked = 0;
let published = 0;
let errors = 0;
let windowAcked = 0;
let windowPublished = 0;
let windowErrors = 0;
let windowDropped = 0;
let windowStart = 0;
let eluAtMark: EventLoopUtilization | null = null;
const latency = new LatencyHistogram();
// Laps split the window into phases (e.g. baseline / attack / after) without changing its totals.
const lapLatency = new LatencyHistogram();
let lapAcked = 0;
let lapStart = 0;
const latencyFromSchedule = new LatencyHistogram();
const openLoop = config.rate !== null;

function publish(t: Terminal, scheduledAt: number | null): void {
  const n = t.counter++;
  const started = performance.now();
  inFlight++;
  t.inFlight++;
  published++;
  if (measuring) windowPublished++;
  t.client.publish(t.topic, payloadFor(n), { qos: 1 }, (err) => {
    inFlight--;
    t.inFlight--;
    if (err) {
      errors++;
      if (measuring) windowErrors++;
      return;
    }
    acked++;
    if (measuring) {
      const now = performance.now();
      windowAcked++;
      latency.record(now - started);
      lapAcked++;
      lapLatency.record(now - started);
      if (scheduledAt !== null) latencyFromSchedule.record(now - scheduledAt);
    }
    if (running && t.alive) {
      if (!openLoop) publish(t, null);
      else {
        const next = t.held.shift();
        if (next !== undefined) publish(t, next);
      }
    }
  });
}

/** Open loop: sends now if the terminal may have another in flight, else holds it (newest wins). */
function offer(t: Terminal, scheduledAt: number): void {
  if (config.maxInFlight === 0 || t.inFlight < config.maxInFlight) return publish(t, scheduledAt);
  if (t.held.length >= config.maxHeld) {
    t.held.shift();
    if (measuring) windowDropped++;
    if (config.maxHeld === 0) return;
  }
  t.held.push(scheduledAt);
}

function connectOne(sn: string, secret: string): Promise<Terminal | string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(config.mqttUrl, {
      protocolVersion: 4,
      clientId: sn,
      username: sn,
      password: secret,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: config.connectTimeoutMs,
      keepalive: 60,
      // Do not re-arm the keepalive timer on every publish: loader CPU, not gateway behaviour.
      reschedulePings: false,
      resubscribe: false,
    });
    let settled = false;
    const terminal: Terminal = { sn, topic: topics.heartbeat(sn), client, counter: 0, alive: false, inFlight: 0, held: [] };
    client.on('error', (err) => {
      if (!settled) {
        settled = true;
        client.end(true);
        resolve(err.message);
      }
    });
    client.on('close', () => {
      if (!settled) {
        settled = true;
        resolve('closed before CONNACK');
        return;
      }
      if (terminal.alive) {
        terminal.alive = false;
        if (running) disconnected++;
      }
    });
    client.once('connect', () => {
      settled = true;
      terminal.alive = true;
      resolve(terminal);
    });
  });
}

async function connectAll(): Promise<void> {
  const started = performance.now();
  const creds = config.terminals;
  const pending: Promise<void>[] = [];
  let connected = 0;
  let failed = 0;
  let firstError: string | null = null;
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((config.connectRate * tickMs) / 1000));
  let next = 0;
  let lastProgress = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && next < creds.length; i++) {
        const { sn, secret } = creds[next++];
        pending.push(
          connectOne(sn, secret).then((r) => {
            if (typeof r === 'string') {
              failed++;
              firstError ??= `${sn}: ${r}`;
            } else {
              connected++;
              terminals.push(r);
            }
          }),
        );
      }
      if (performance.now() - lastProgress > 2_000) {
        lastProgress = performance.now();
        send({ type: 'connect-progress', attempted: next, connected, failed });
      }
      if (next >= creds.length) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  await Promise.all(pending);
  send({ type: 'ready', connected, failed, seconds: (performance.now() - started) / 1000, firstError });
}

let openLoopTimer: NodeJS.Timeout | null = null;
let openLoopT0 = 0;
let pausedAt: number | null = null;

/** Open loop: stop issuing; resume() shifts the schedule by the pause, so no backlog is sent at once. */
function pause(): void {
  pausedAt ??= performance.now();
}
function resume(): void {
  if (pausedAt === null) return;
  openLoopT0 += performance.now() - pausedAt;
  pausedAt = null;
}
let tickTimer: NodeJS.Timeout | null = null;

function start(): void {
  running = true;
  tickTimer = setInterval(() => {
    let alive = 0;
    for (const t of terminals) if (t.alive) alive++;
    send({ type: 'tick', acked, published, errors, inFlight, alive });
  }, 1_000);
  if (!openLoop) {
    for (const t of terminals) publish(t, null);
    return;
  }
  const rate = config.rate ?? 0;
  openLoopT0 = performance.now();
  let issued = 0;
  let cursor = 0;
  openLoopTimer = setInterval(() => {
    if (pausedAt !== null) return;
    const t0 = openLoopT0;
    const due = Math.floor(((performance.now() - t0) / 1000) * rate) - issued;
    for (let i = 0; i < due; i++) {
      let t: Terminal | null = null;
      for (let tries = 0; tries < terminals.length; tries++) {
        const candidate = terminals[cursor];
        cursor = (cursor + 1) % terminals.length;
        if (candidate.alive) {
          t = candidate;
          break;
        }
      }
      if (!t) return;
      // When this message should have gone out: a late loader shows up in latencyFromSchedule.
      const scheduledAt = t0 + ((issued + 1) / rate) * 1000;
      issued++;
      offer(t, scheduledAt);
    }
  }, 5);
}

function mark(): void {
  latency.reset();
  latencyFromSchedule.reset();
  windowAcked = 0;
  windowPublished = 0;
  windowErrors = 0;
  windowDropped = 0;
  windowStart = performance.now();
  lapLatency.reset();
  lapAcked = 0;
  lapStart = windowStart;
  eluAtMark = performance.eventLoopUtilization();
  measuring = true;
  send({ type: 'marked' });
}

/** Reports the phase since mark or the previous lap, and starts the next one. */
function lap(): void {
  const now = performance.now();
  send({ type: 'lap', seconds: (now - lapStart) / 1000, acked: lapAcked, latency: lapLatency.summary() });
  lapLatency.reset();
  lapAcked = 0;
  lapStart = now;
}

async function stop(): Promise<void> {
  const windowSeconds = (performance.now() - windowStart) / 1000;
  measuring = false;
  running = false;
  const elu = eluAtMark ? performance.eventLoopUtilization(eluAtMark).utilization : 0;
  const inFlightAtStop = inFlight;
  if (openLoopTimer) clearInterval(openLoopTimer);
  if (tickTimer) clearInterval(tickTimer);
  const result: LoaderResult = {
    windowSeconds,
    acked: windowAcked,
    published: windowPublished,
    errors: windowErrors,
    droppedAtTerminal: windowDropped,
    disconnected,
    latency: latency.summary(),
    latencyFromSchedule: openLoop ? latencyFromSchedule.summary() : null,
    eventLoopUtilization: Math.round(elu * 1000) / 1000,
    inFlightAtStop,
  };
  send({ type: 'result', result });
  // Let outstanding PUBACKs arrive (bounded), then disconnect cleanly.
  const deadline = performance.now() + 10_000;
  while (inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await Promise.race([
    Promise.all(terminals.map((t) => new Promise<void>((resolve) => t.client.end(false, {}, () => resolve())))),
    new Promise((r) => setTimeout(r, 10_000)),
  ]);
  process.exit(0);
}

process.on('disconnect', () => process.exit(0));
process.on('message', (raw: unknown) => {
  if (!isMessage<ParentToLoader>(raw)) return;
  if (raw.type === 'start') start();
  else if (raw.type === 'mark') mark();
  else if (raw.type === 'lap') lap();
  else if (raw.type === 'stop') void stop();
  else if (raw.type === 'pause') pause();
  else if (raw.type === 'resume') resume();
});

connectAll().catch((err: unknown) => {
  send({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
