/**
 * `bench:ingest --soak`: the measured window as a memory soak. Every `--soak-interval` seconds the
 * gateway's RSS (from /proc), main-thread V8 heap and external memory (its /metrics), the embedded
 * database worker's heap and WASM memory, and the acked rate; a heap snapshot of the gateway's main
 * thread right after warm-up and another at the end (node --heapsnapshot-signal), and the
 * constructors that grew most between them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { scrape } from './gateway-http.js';
import { summarizeHeapSnapshot, topGrowth, totalBytes, type GroupDelta } from './heap-snapshot.js';
import { mib, round } from './report.js';
import { log, pause } from './run-lifecycle.js';
import type { LoaderTick, Sampler } from './sampling.js';

export interface SoakPoint {
  /** Seconds since the start of the measured window. */
  t: number;
  rssMiB: number | null;
  heapUsedMiB: number | null;
  externalMiB: number | null;
  dbWorkerHeapMiB: number | null;
  wasmMiB: number | null;
  ackedPerSec: number | null;
}

export interface Trend {
  first: number | null;
  last: number | null;
  min: number | null;
  max: number | null;
  /** Least-squares slope, MiB per minute, over the whole window and over its second half. */
  slopeMiBPerMin: number | null;
  secondHalfSlopeMiBPerMin: number | null;
}

export interface SnapshotDiff {
  files: string[];
  liveMiBBefore: number;
  liveMiBAfter: number;
  topGrowth: GroupDelta[];
}

export interface SoakResult {
  intervalS: number;
  series: SoakPoint[];
  trends: Record<'rssMiB' | 'heapUsedMiB' | 'externalMiB' | 'dbWorkerHeapMiB' | 'wasmMiB', Trend>;
  snapshots: SnapshotDiff | null;
  /** The same for the embedded database's worker thread (pglite). */
  workerSnapshots: SnapshotDiff | null;
  /** The gateway's warn and error log lines (first 20), so a soak's errors are visible in its output. */
  gatewayWarnings: string[];
}

/** Node flags for the gateway so the soak can ask it for heap snapshots. */
export function soakExecArgv(snapshotDir: string): string[] {
  mkdirSync(snapshotDir, { recursive: true });
  return ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`];
}

/** Signals the gateway and waits until its snapshot file is complete (the gateway answers again and the size is stable). */
async function takeSnapshot(pid: number, dir: string, httpUrl: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  const started = performance.now();
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  while (!file) {
    if (performance.now() - started > 300_000) throw new Error('heap snapshot not written within 300 s');
    await pause(500);
    file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
  }
  const path = join(dir, file);
  // The main thread writes the snapshot synchronously: once /metrics answers, it is done.
  await scrape(httpUrl).catch(() => undefined);
  let size = -1;
  while (statSync(path).size !== size || size === 0) {
    size = statSync(path).size;
    await pause(2_000);
  }
  log(`heap snapshot ${file}: ${mib(size)} MiB file, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return path;
}

/** Asks the embedded database's worker thread for a heap snapshot (see pglite-worker.mjs) and waits for it. */
async function takeWorkerSnapshot(dir: string, n: number): Promise<string | null> {
  const file = join(dir, `embedded-db-worker.${n}.heapsnapshot`);
  const started = performance.now();
  writeFileSync(join(dir, 'embedded-db-snapshot.request'), '');
  while (!existsSync(file)) {
    if (performance.now() - started > 300_000) {
      log('embedded database worker heap snapshot not written within 300 s');
      return null;
    }
    await pause(500);
  }
  log(`embedded database worker heap snapshot: ${mib(statSync(file).size)} MiB file, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return file;
}

export async function soakWindow(ctx: {
  durationS: number;
  intervalS: number;
  gatewayPid: number;
  httpUrl: string;
  snapshotDir: string;
  /** Also snapshot the embedded database's worker thread. */
  workerSnapshots: boolean;
  sampler: Sampler;
  ticks: LoaderTick[];
  /**
   * Stops and restarts the load around each snapshot: a snapshot stops the gateway's main thread for
   * seconds, and at a rate near capacity the backlog after it ended in admission timeouts and lost
   * connections (the loader does not reconnect). The pause is part of the window.
   */
  pauseLoad: () => void;
  resumeLoad: () => void;
}): Promise<{ series: SoakPoint[]; snapshotFiles: string[]; workerSnapshotFiles: string[] }> {
  const files: string[] = [];
  const workerFiles: (string | null)[] = [];
  const snapshots = async (n: number) => {
    ctx.pauseLoad();
    // Let the heartbeats in flight be committed and acknowledged.
    await pause(5_000);
    files.push(await takeSnapshot(ctx.gatewayPid, ctx.snapshotDir, ctx.httpUrl));
    if (ctx.workerSnapshots) workerFiles.push(await takeWorkerSnapshot(ctx.snapshotDir, n));
    ctx.resumeLoad();
  };
  await snapshots(1);
  // The series starts after the first snapshot (which pauses the gateway for seconds).
  const started = performance.now();
  const series: SoakPoint[] = [];
  let lastAcked: LoaderTick | null = ctx.ticks.at(-1) ?? null;
  const point = async (): Promise<void> => {
    const m = (await scrape(ctx.httpUrl)).snapshot;
    const tick = ctx.ticks.at(-1) ?? null;
    const ackedPerSec = tick && lastAcked && tick.at > lastAcked.at ? round(((tick.acked - lastAcked.acked) * 1000) / (tick.at - lastAcked.at), 0) : null;
    lastAcked = tick;
    const p: SoakPoint = {
      t: round((performance.now() - started) / 1000, 0),
      rssMiB: mib(ctx.sampler.sample().gatewayRss),
      heapUsedMiB: mib(m.get('fleet_process_nodejs_heap_size_used_bytes')),
      externalMiB: mib(m.get('fleet_process_nodejs_external_memory_bytes')),
      dbWorkerHeapMiB: mib(m.get('fleet_embedded_db_heap_used_bytes')),
      wasmMiB: mib(m.get('fleet_embedded_db_wasm_memory_bytes')),
      ackedPerSec,
    };
    series.push(p);
    log(
      `soak t=${p.t}s rss ${p.rssMiB} MiB, heap ${p.heapUsedMiB}, external ${p.externalMiB}, db worker heap ${p.dbWorkerHeapMiB}, wasm ${p.wasmMiB}, acked/s ${p.ackedPerSec}`,
    );
  };
  await point();
  for (let next = ctx.intervalS; next <= ctx.durationS; next += ctx.intervalS) {
    await pause(Math.max(0, started + next * 1000 - performance.now()));
    await point();
  }
  await snapshots(2);
  return { series, snapshotFiles: files, workerSnapshotFiles: workerFiles.filter((f): f is string => f !== null) };
}

function slope(points: [number, number][]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? null : round((num / den) * 60, 2);
}

export function trend(series: SoakPoint[], key: keyof SoakResult['trends']): Trend {
  const points = series.filter((p) => p[key] !== null).map((p): [number, number] => [p.t, p[key] as number]);
  const values = points.map(([, y]) => y);
  const half = points.filter(([t]) => t >= (series.at(-1)?.t ?? 0) / 2);
  return {
    first: values[0] ?? null,
    last: values.at(-1) ?? null,
    min: values.length ? Math.min(...values) : null,
    max: values.length ? Math.max(...values) : null,
    slopeMiBPerMin: slope(points),
    secondHalfSlopeMiBPerMin: slope(half),
  };
}

async function diffSnapshots(files: string[]): Promise<SnapshotDiff | null> {
  if (files.length !== 2) return null;
  log(`summarising heap snapshots ${files.join(', ')} ...`);
  const before = await summarizeHeapSnapshot(files[0]);
  const after = await summarizeHeapSnapshot(files[1]);
  return { files, liveMiBBefore: mib(totalBytes(before)) ?? 0, liveMiBAfter: mib(totalBytes(after)) ?? 0, topGrowth: topGrowth(before, after, 15) };
}

export async function soakResult(
  intervalS: number,
  window: { series: SoakPoint[]; snapshotFiles: string[]; workerSnapshotFiles: string[] },
  gatewayLog: string,
): Promise<SoakResult> {
  const keys = ['rssMiB', 'heapUsedMiB', 'externalMiB', 'dbWorkerHeapMiB', 'wasmMiB'] as const;
  const trends = Object.fromEntries(keys.map((k) => [k, trend(window.series, k)])) as SoakResult['trends'];
  const gatewayWarnings = existsSync(gatewayLog)
    ? readFileSync(gatewayLog, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(0, 20)
        .map((l) => l.slice(0, 500))
    : [];
  return {
    intervalS,
    series: window.series,
    trends,
    snapshots: await diffSnapshots(window.snapshotFiles),
    workerSnapshots: await diffSnapshots(window.workerSnapshotFiles),
    gatewayWarnings,
  };
}

export function soakLines(r: SoakResult): string[] {
  const fmt = (v: number | null) => (v === null ? 'n/a' : String(v));
  const lines = [`memory soak, every ${r.intervalS} s (MiB; slope MiB/min over the window / its second half):`];
  for (const [key, t] of Object.entries(r.trends)) {
    lines.push(
      `  ${key.padEnd(16)} first ${fmt(t.first)}, last ${fmt(t.last)}, min ${fmt(t.min)}, max ${fmt(t.max)}; slope ${fmt(t.slopeMiBPerMin)} / ${fmt(t.secondHalfSlopeMiBPerMin)}`,
    );
  }
  for (const key of ['rssMiB', 'heapUsedMiB', 'dbWorkerHeapMiB', 'wasmMiB'] as const) {
    lines.push(`  ${key} series: ${r.series.map((p) => fmt(p[key])).join(' ')}`);
  }
  lines.push(`  acked/s series: ${r.series.map((p) => fmt(p.ackedPerSec)).join(' ')}`);
  for (const [what, d] of [
    ['gateway main thread', r.snapshots],
    ['embedded database worker thread', r.workerSnapshots],
  ] as const) {
    if (!d) continue;
    lines.push(`heap snapshots (${what}, live objects after a full GC): ${d.liveMiBBefore} MiB -> ${d.liveMiBAfter} MiB`);
    lines.push('  top growth by self size (constructor: count before -> after, KiB before -> after):');
    for (const g of d.topGrowth) {
      lines.push(`    ${g.name}: ${g.countBefore} -> ${g.countAfter}, ${round(g.bytesBefore / 1024, 0)} -> ${round(g.bytesAfter / 1024, 0)} KiB`);
    }
  }
  if (r.gatewayWarnings.length) lines.push('gateway warnings and errors (first 20):', ...r.gatewayWarnings.map((l) => `  ${l}`));
  return lines;
}
