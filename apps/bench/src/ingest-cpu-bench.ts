/**
 * `npm run bench:ingest-cpu`: the gateway's own CPU per heartbeat on the ingest path, in this one
 * process on one core, without MQTT or a database: IngestService (parse, validation, batch writer,
 * metrics) and HeartbeatRepository's batch encoding, with a stand-in DataSource that "commits" each
 * batch on the next turn of the event loop. The part of bench:ingest's gateway CPU that is ours and
 * not aedes' or the kernel's, measurable in seconds while the machine is busy with other runs (it
 * uses one core and needs no lock), and comparable across builds (run another build's copy).
 *
 * Usage: node dist/apps/bench/src/ingest-cpu-bench.js [heartbeats=200000] [inFlight=5000] [rounds=3] [commitMs=0]
 *
 * commitMs > 0 holds each batch that long before it "commits", as a loaded database does (at
 * saturation a heartbeat lives K / rate, ~0.7 s): what is held per in-flight heartbeat then
 * survives scavenges, which is what young-generation GC pauses are made of. The heap held per
 * in-flight heartbeat is printed (V8 heap after a full GC with every heartbeat in flight, minus
 * idle; needs --expose-gc).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DataSource } from 'typeorm';
import { loadConfig } from '#config';
import { DeadLetterRepository, HeartbeatRepository, IngestService, PresenceRepository } from '#ingest';
import { MetricsService } from '#observability';
import { makeHeartbeat } from '#testing';

const [total, inFlight, rounds, commitMs] = [200_000, 5_000, 3, 0].map((d, i) => Number(process.argv[2 + i] ?? d));

let onCommit: (() => void) | null = null;

/** Answers like pg for the heartbeat batch (new rows = the batch), after a turn of the loop (or commitMs). */
const dataSource = {
  query: (_sql: string, params: unknown[]) => {
    // pg flattens and measures every string parameter when it sends the query.
    for (const p of params) if (typeof p === 'string') Buffer.byteLength(p);
    return new Promise((resolve) => {
      const commit = (): void => {
        const sns = params[1];
        const rows = Array.isArray(sns) ? sns.length : typeof sns === 'string' ? sns.split(',').length : 0;
        if (onCommit) onCommit();
        resolve([{ inserted: rows }]);
      };
      if (commitMs > 0) setTimeout(commit, commitMs);
      else setImmediate(commit);
    });
  },
} as unknown as DataSource;

const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: 'postgres://unused', DATABASE_POOL_SIZE: '10', ALERTS_ENABLED: 'true' });
const metrics = new MetricsService();
const ingest = new IngestService(
  config,
  metrics,
  new HeartbeatRepository(dataSource, config),
  new PresenceRepository(dataSource),
  new DeadLetterRepository(dataSource),
);

// Distinct payloads (ts, seq), made before measuring: the loader's work, not the gateway's.
const base = Date.now() - 3_600_000;
const payloads = Array.from({ length: total }, (_, i) => Buffer.from(JSON.stringify(makeHeartbeat({ seq: i }, new Date(base + i)))));

type Outcome = { stored: boolean };
/**
 * The broker's entry: the callback form where this build has it (no promise per heartbeat), else the
 * promise form older builds had (this file is copied into them for A/B runs).
 */
const entry = ingest as unknown as {
  acceptHeartbeat?: (sn: string, topic: string, payload: Buffer, done: (err: Error | null, o: Outcome | null) => void) => void;
  ingestHeartbeat: (sn: string, topic: string, payload: Buffer) => Promise<Outcome>;
};
const accept = entry.acceptHeartbeat;
function submit(sn: string, payload: Buffer, then: (outcome: Outcome) => void): void {
  const fail = (err: unknown) =>
    setImmediate(() => {
      throw err;
    });
  if (accept) accept.call(ingest, sn, 'x', payload, (err, outcome) => (err || !outcome ? fail(err) : then(outcome)));
  else entry.ingestHeartbeat.call(ingest, sn, 'x', payload).then(then, fail);
}

async function round(): Promise<{ usPerHeartbeat: number; wallS: number; lagP50Ms: number; lagP99Ms: number; lagMaxMs: number }> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  let next = 0;
  let done = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  lag.enable();
  await new Promise<void>((resolve) => {
    const one = (): void => {
      const i = next++;
      submit(`BENCH${String(i % inFlight).padStart(6, '0')}`, payloads[i], (outcome) => {
        if (!outcome.stored) throw new Error('bench heartbeat refused');
        if (++done === total) resolve();
        else if (next < total) one();
      });
    };
    for (let k = 0; k < Math.min(inFlight, total); k++) one();
  });
  lag.disable();
  const cpu = process.cpuUsage(cpu0);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return {
    usPerHeartbeat: Math.round(((cpu.user + cpu.system) / total) * 10) / 10,
    wallS: Math.round(wallS * 10) / 10,
    lagP50Ms: ms(lag.percentile(50)),
    lagP99Ms: ms(lag.percentile(99)),
    lagMaxMs: ms(lag.max),
  };
}

/** V8 heap held per in-flight heartbeat: after a full GC at the first commit, all in flight, minus idle. */
async function heldPerHeartbeat(): Promise<number | null> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || commitMs <= 0) return null;
  gc();
  const idle = process.memoryUsage().heapUsed;
  let held = 0;
  onCommit = () => {
    onCommit = null;
    gc();
    held = process.memoryUsage().heapUsed - idle;
  };
  const n = Math.min(inFlight, total);
  await new Promise<void>((resolve) => {
    let settled = 0;
    for (let i = 0; i < n; i++) submit(`BENCH${String(i).padStart(6, '0')}`, payloads[i], () => ++settled === n && resolve());
  });
  return Math.round(held / n);
}

const held = await heldPerHeartbeat();
if (held !== null)
  process.stdout.write(`V8 heap held per in-flight heartbeat: ${held} bytes (${Math.min(inFlight, total)} in flight, commit ${commitMs} ms)\n`);
const results = [];
for (let r = 0; r < rounds; r++) {
  const result = await round();
  results.push(result);
  process.stdout.write(`round ${r + 1}: ${JSON.stringify(result)}\n`);
}
const sorted = results.map((r) => r.usPerHeartbeat).sort((a, b) => a - b);
process.stdout.write(`median CPU per heartbeat: ${sorted[Math.floor(sorted.length / 2)]} µs (${total} heartbeats per round, ${inFlight} in flight)\n`);
await ingest.close();
process.exit(0);
