/**
 * The ingest bench's result: figures of the measured window from the gateway's /metrics, the
 * samples and the loader, as a readable summary, a docs/benchmarks.md table row and JSON.
 */
import type { IngestOptions } from './bench-options.js';
import type { Scrape } from './gateway-http.js';
import type { machineInfo } from './proc-stats.js';
import { delta, histogramQuantile } from './prom-text.js';
import type { LatencySummary, LoaderResult } from './protocol.js';
import { fmt, markdownHeader, markdownRow, median, mib, round, type LatencyStats } from './report.js';
import { ackRates, cpuStats, fullIntervals, otherCpu, rssTimeline, type CpuStats, type LoaderTick, type Sample } from './sampling.js';

export interface BenchResult {
  date: string;
  commit: string;
  machine: ReturnType<typeof machineInfo>;
  db: IngestOptions['db'];
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
    cpuPct: CpuStats;
    rssMiB: { start: number | null; median: number | null; max: number | null; end: number | null };
    /** V8 heap in use and memory outside it (Buffers, ArrayBuffers: PGlite's WASM memory), MiB, at start and end. */
    heapUsedMiB: { start: number | null; end: number | null };
    externalMiB: { start: number | null; end: number | null };
    /** RSS every 10 s through the window, MiB: flat, growing, or levelling off. */
    rssTimelineMiB: (number | null)[];
    gcSeconds: number | null;
    eventLoopLagP99Ms: number | null;
    /** monitorEventLoopDelay over the window (the gateway's histogram is reset at every scrape), ms. */
    eventLoopLagMs: { p50: number | null; p99: number | null; max: number | null };
    /**
     * Gateway CPU (mean % of a core over the window) per committed heartbeat, µs; per acked message
     * for --db none (the bare broker).
     */
    cpuUsPerMessage: number | null;
    /** Main thread runnable but not running (CPU contention), % of wall time. */
    runQueueWaitPct: CpuStats;
    warnLogLines: number;
  };
  loader: {
    cpuPct: CpuStats;
    eventLoopUtilization: number;
    runQueueWaitPct: CpuStats;
  };
  database: { cpuPct: CpuStats } | null;
  /** otherPct: machine busy minus this bench's own processes = other work on the machine (disturbance). */
  system: { busyPctMedian: number | null; stealPctMedian: number | null; otherPct: CpuStats; cores: number };
  /** /health/live round trips (ms) probed every 100 ms through the measured window. */
  health?: LatencyStats;
  /** What the unauthenticated HTTP flood sent and how the server answered (--http-flood). */
  flood?: { concurrency: number; bodyBytes: number; sent: number; outcomes: Record<string, number> };
  /** --mqtt-flood: the window in three phases (baseline, attack, after) and what the attacker saw. */
  mqttFlood?: {
    concurrency: number;
    declaredMiB: number;
    attacker: { opened: number; closedByServer: number; refusedAtConnect: number; bytesWritten: number; maxBytesOnOneConnection: number };
    /** fleet_mqtt_connections_refused_total over the window, by reason. */
    refusedByReason: Record<string, number>;
    baseline: MqttFloodPhase;
    attack: MqttFloodPhase;
    after: MqttFloodPhase;
  };
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
  loaderErrors: { publishErrors: number; disconnected: number; inFlightAtStop: number; droppedAtTerminal: number };
  /** --baseline: the same load against bare aedes (--db none) right after this run. */
  baseline?: BaselineComparison;
}

export interface BaselineComparison {
  ackedPerSec: number;
  cpuPctMean: number | null;
  cpuUsPerAck: number | null;
  eventLoopLagMs: { p50: number | null; p99: number | null; max: number | null };
  loaderCpuPctMedian: number | null;
  otherCpuPctMean: number | null;
  /** Gateway µs per committed heartbeat ÷ bare broker µs per ack. */
  ratio: number | null;
}

export function compareWithBaseline(run: BenchResult, bare: BenchResult): BaselineComparison {
  const g = run.gateway.cpuUsPerMessage;
  const b = bare.gateway.cpuUsPerMessage;
  return {
    ackedPerSec: bare.ackedPerSec,
    cpuPctMean: bare.gateway.cpuPct.mean,
    cpuUsPerAck: b,
    eventLoopLagMs: bare.gateway.eventLoopLagMs,
    loaderCpuPctMedian: bare.loader.cpuPct.median,
    otherCpuPctMean: bare.system.otherPct.mean,
    ratio: g !== null && b ? round(g / b, 2) : null,
  };
}

/** One phase of an --mqtt-flood run: PUBACKs, publish->PUBACK latency and gateway RSS. */
export interface MqttFloodPhase {
  seconds: number;
  ackedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMaxMiB: number | null;
  /** Gateway RSS when the phase ended. */
  rssEndMiB: number | null;
}

/** What a run measured; the window runs from the /metrics scrape at mark (m0) to the one at stop (m1). */
export interface Measured {
  opts: IngestOptions;
  commit: string;
  machine: ReturnType<typeof machineInfo>;
  connected: number;
  m0: Scrape;
  m1: Scrape;
  /** Samples in the window; the gateway RSS sampled at mark; the sample taken at stop. */
  window: Sample[];
  rssStart: number | null;
  endSample: Sample;
  ticks: LoaderTick[];
  loader: LoaderResult;
  hasDatabase: boolean;
  warnLogLines: number;
}

export function buildResult(m: Measured): BenchResult {
  const { opts, m0, m1, window: win, loader: lr } = m;
  const seconds = (m1.at - m0.at) / 1000;
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
  const lagMs = (name: string) => {
    const v = m1.snapshot.get(`fleet_process_nodejs_eventloop_lag_${name}_seconds`);
    return v === null ? null : round(v * 1000, 1);
  };
  const gatewayCpu = cpuStats(win, (s) => s.gatewayCpu);
  // CPU per message: the bare broker has no commit counter, its acks are its messages.
  const perSec = opts.db === 'none' ? lr.acked / lr.windowSeconds : stored === null ? null : stored / seconds;
  const tickRates = ackRates(m.ticks, m0.at, m1.at);
  const atBothEnds = (name: string) => ({ start: mib(m0.snapshot.get(name)), end: mib(m1.snapshot.get(name)) });
  return {
    date: new Date().toISOString(),
    commit: m.commit,
    machine: m.machine,
    db: opts.db,
    mode: opts.rate === null ? 'closed-loop' : 'open-loop',
    terminals: opts.terminals,
    connected: m.connected,
    targetRate: opts.rate,
    warmupS: opts.warmup,
    durationS: round(seconds, 1),
    // --alerts off shows as the setting it applies.
    gatewayEnv: opts.alerts === 'off' ? { ALERTS_ENABLED: 'false', ...opts.gatewayEnv } : opts.gatewayEnv,
    committedPerSec: stored === null ? null : Math.round(stored / seconds),
    ackedPerSec: Math.round(lr.acked / lr.windowSeconds),
    publishedPerSec: Math.round(lr.published / lr.windowSeconds),
    ackedPerSecond: {
      median: round(median(tickRates)),
      min: tickRates.length ? Math.round(Math.min(...tickRates)) : null,
      max: tickRates.length ? Math.round(Math.max(...tickRates)) : null,
    },
    latency: lr.latency,
    latencyFromSchedule: lr.latencyFromSchedule,
    gateway: {
      cpuPct: gatewayCpu,
      rssMiB: { start: mib(m.rssStart), median: mib(median(rss)), max: mib(rss.length ? Math.max(...rss) : null), end: mib(m.endSample.gatewayRss) },
      rssTimelineMiB: rssTimeline(win, m0.at),
      heapUsedMiB: atBothEnds('fleet_process_nodejs_heap_size_used_bytes'),
      externalMiB: atBothEnds('fleet_process_nodejs_external_memory_bytes'),
      gcSeconds: round(delta(m0.snapshot, m1.snapshot, 'fleet_process_nodejs_gc_duration_seconds_sum'), 2),
      eventLoopLagP99Ms: lagP99 === null ? null : round(lagP99 * 1000, 1),
      eventLoopLagMs: { p50: lagMs('p50'), p99: lagMs('p99'), max: lagMs('max') },
      cpuUsPerMessage: gatewayCpu.mean !== null && perSec ? round((gatewayCpu.mean / 100) * (1e6 / perSec), 1) : null,
      runQueueWaitPct: cpuStats(win, (s) => s.gatewayRunQueue),
      warnLogLines: m.warnLogLines,
    },
    loader: {
      cpuPct: cpuStats(win, (s) => s.loaderCpu),
      eventLoopUtilization: lr.eventLoopUtilization,
      runQueueWaitPct: cpuStats(win, (s) => s.loaderRunQueue),
    },
    database: m.hasDatabase ? { cpuPct: cpuStats(win, (s) => s.dbCpu) } : null,
    system: {
      busyPctMedian: round(median(fullIntervals(win, (s) => s.sysBusy)), 1),
      stealPctMedian: round(median(fullIntervals(win, (s) => s.steal)), 1),
      otherPct: cpuStats(win, otherCpu),
      cores: m.machine.cpus,
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
      commitMeanMs: commitCount && commitSum !== null ? round((commitSum / commitCount) * 1000, 1) : null,
      commitP50LeMs: le(0.5),
      commitP99LeMs: le(0.99),
      bufferRowsAtEnd: m1.snapshot.get('fleet_ingest_buffer_rows', hb),
      waitingPublishersAtEnd: m1.snapshot.get('fleet_ingest_waiting_publishers', hb),
    },
    loaderErrors: { publishErrors: lr.errors, disconnected: lr.disconnected, inFlightAtStop: lr.inFlightAtStop, droppedAtTerminal: lr.droppedAtTerminal },
  };
}

const cpu = (c: CpuStats) => `mean ${fmt(c.mean, '%')}, median ${fmt(c.median, '%')}, max ${fmt(c.max, '%')}`;

const envText = (env: Record<string, string>, none: string): string =>
  Object.keys(env).length
    ? Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    : none;

export function summary(r: BenchResult): string {
  const lines = [
    '',
    `=== ingest bench: ${r.db}, ${r.mode}${r.targetRate ? ` at ${r.targetRate}/s` : ''}, ${r.connected}/${r.terminals} terminals, ${r.durationS} s measured (warm-up ${r.warmupS} s) ===`,
    `commit ${r.commit}, ${r.date}; ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}`,
    `gateway env: ${envText(r.gatewayEnv, '(defaults)')}`,
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
    `gateway GC ${fmt(r.gateway.gcSeconds, ' s')} in window, event-loop lag ms p50 ${fmt(r.gateway.eventLoopLagMs.p50)} p99 ${fmt(r.gateway.eventLoopLagMs.p99)} max ${fmt(r.gateway.eventLoopLagMs.max)}, log lines (warn+) ${r.gateway.warnLogLines}`,
    `gateway CPU per ${r.db === 'none' ? 'ack' : 'committed heartbeat'}: ${fmt(r.gateway.cpuUsPerMessage, ' µs')} (mean CPU ÷ rate)`,
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
  lines.push(
    `loader: publish errors ${r.loaderErrors.publishErrors}, disconnects ${r.loaderErrors.disconnected}, in flight at stop ${r.loaderErrors.inFlightAtStop}, ` +
      `held heartbeats dropped at the terminals ${r.loaderErrors.droppedAtTerminal}`,
  );
  const b = r.baseline;
  if (b) {
    lines.push(
      `bare aedes, same load, same invocation: ${fmt(b.ackedPerSec)} acked/s at ${fmt(b.cpuPctMean, '%')} CPU = ${fmt(b.cpuUsPerAck, ' µs')} per ack; ` +
        `lag ms p50 ${fmt(b.eventLoopLagMs.p50)} p99 ${fmt(b.eventLoopLagMs.p99)}; loader CPU median ${fmt(b.loaderCpuPctMedian, '%')}; other CPU ${fmt(b.otherCpuPctMean, '%')}`,
      `gateway CPU per committed heartbeat ÷ bare aedes CPU per ack: ${fmt(b.ratio)}×`,
    );
  }
  return lines.join('\n');
}

/** The columns of the results tables in docs/benchmarks.md. */
const MARKDOWN_COLUMNS = [
  'date',
  'commit',
  'db',
  'load',
  'gateway env',
  'committed/s',
  'acked/s',
  'p50 / p99 ms',
  'gw CPU med / max',
  'gw RSS MiB start / med / max / end',
  'loader CPU med (ELU)',
  'db CPU med',
  'other CPU mean',
  'batch avg rows / commit mean ms',
  'gw µs/msg',
  'lag p50 / p99 ms',
  'bare aedes acks/s, µs/ack (ratio)',
  'notes',
];

/** Header and one row for docs/benchmarks.md. */
export function markdownTable(r: BenchResult, label: string): string {
  const load = r.mode === 'closed-loop' ? `closed, K=${r.terminals}` : `open ${r.targetRate}/s, K=${r.terminals}`;
  const g = r.gateway;
  const cells = [
    r.date.slice(0, 10),
    r.commit,
    r.db,
    `${load}, ${r.durationS} s`,
    envText(r.gatewayEnv, 'defaults'),
    fmt(r.committedPerSec),
    fmt(r.ackedPerSec),
    `${r.latency.p50Ms} / ${r.latency.p99Ms}`,
    `${fmt(g.cpuPct.median, '%')} / ${fmt(g.cpuPct.max, '%')}`,
    `${fmt(g.rssMiB.start)} / ${fmt(g.rssMiB.median)} / ${fmt(g.rssMiB.max)} / ${fmt(g.rssMiB.end)}`,
    `${fmt(r.loader.cpuPct.median, '%')} (${r.loader.eventLoopUtilization})`,
    r.database ? fmt(r.database.cpuPct.median, '%') : '-',
    fmt(r.system.otherPct.mean, '%'),
    r.db === 'none' ? '-' : `${fmt(r.ingest.avgBatchRows)} / ${fmt(r.ingest.commitMeanMs)}`,
    fmt(g.cpuUsPerMessage),
    `${fmt(g.eventLoopLagMs.p50)} / ${fmt(g.eventLoopLagMs.p99)}`,
    r.baseline ? `${fmt(r.baseline.ackedPerSec)}, ${fmt(r.baseline.cpuUsPerAck)} (${fmt(r.baseline.ratio)}×)` : '-',
    label,
  ];
  return `${markdownHeader(MARKDOWN_COLUMNS)}\n${markdownRow(cells)}`;
}

/** Availability under an unauthenticated HTTP flood: health-probe and ingest latency side by side. */
export function availabilityLines(r: BenchResult, label: string): string[] {
  if (!r.health) return [];
  const h = r.health;
  const f = r.flood;
  const flood = f ? `${f.concurrency} × ${fmt(round(f.bodyBytes / 1024 / 1024, 1))} MiB, ${fmt(f.sent)} sent, answers ${JSON.stringify(f.outcomes)}` : 'none';
  return [
    `/health/live ms:               p50 ${h.p50}  p90 ${h.p90}  p99 ${h.p99}  max ${h.max}  (n ${h.n})`,
    `HTTP flood:                    ${flood}`,
    '',
    markdownRow([
      r.date.slice(0, 10),
      r.commit,
      label || '-',
      f ? `${f.concurrency} × ${fmt(round(f.bodyBytes / 1024 / 1024, 1))} MiB` : 'none',
      `${h.p50} / ${h.p99}`,
      `${r.latency.p50Ms} / ${r.latency.p99Ms}`,
      fmt(r.committedPerSec),
      f ? fmt(f.sent) : '-',
    ]),
  ];
}

/** MQTT flood (--mqtt-flood): RSS and PUBACK latency before, during and after the attack, same run. */
export function mqttFloodLines(r: BenchResult, label: string): string[] {
  const f = r.mqttFlood;
  if (!f) return [];
  const a = f.attacker;
  const phase = (name: string, p: MqttFloodPhase) =>
    `${name.padEnd(9)} ${fmt(p.seconds)} s: acked/s ${fmt(p.ackedPerSec)}, PUBACK p50 ${p.p50Ms} p99 ${p.p99Ms} ms, gateway RSS max ${fmt(p.rssMaxMiB)} MiB, at end ${fmt(p.rssEndMiB)} MiB`;
  return [
    `MQTT flood: ${f.concurrency} unauthenticated connections at a time, each declaring a ${fmt(f.declaredMiB)} MiB CONNECT`,
    `  attacker: ${fmt(a.opened)} connections opened, ${fmt(a.closedByServer)} closed by the gateway, ${fmt(a.refusedAtConnect)} refused at connect, ` +
      `${fmt(round(a.bytesWritten / 1024 / 1024, 1))} MiB written in all, at most ${fmt(round(a.maxBytesOnOneConnection / 1024, 1))} KiB on one connection`,
    `  gateway refusals by reason: ${JSON.stringify(f.refusedByReason)}`,
    `  ${phase('baseline', f.baseline)}`,
    `  ${phase('attack', f.attack)}`,
    `  ${phase('after', f.after)}`,
    '',
    markdownRow([
      r.date.slice(0, 10),
      r.commit,
      label || '-',
      `${f.concurrency} × ${fmt(f.declaredMiB)} MiB`,
      `${fmt(f.baseline.rssEndMiB)} / ${fmt(f.attack.rssMaxMiB)} / ${fmt(f.after.rssEndMiB)}`,
      `${f.baseline.p50Ms} / ${f.baseline.p99Ms}`,
      `${f.attack.p50Ms} / ${f.attack.p99Ms}`,
      `${f.after.p50Ms} / ${f.after.p99Ms}`,
      `${fmt(f.baseline.ackedPerSec)} / ${fmt(f.attack.ackedPerSec)} / ${fmt(f.after.ackedPerSec)}`,
      `${fmt(a.opened)} (max ${fmt(round(a.maxBytesOnOneConnection / 1024, 1))} KiB each)`,
    ]),
  ];
}
