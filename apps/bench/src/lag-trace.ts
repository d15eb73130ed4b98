/**
 * A preload that says what each long event-loop stall was made of, for a gateway (or the bare
 * broker) under bench load:
 *   BENCH_GATEWAY_EXEC_ARGV="--import ./dist/apps/bench/src/lag-trace.js" LAG_TRACE_DIR=/tmp/lag npm run bench:ingest -- ...
 * A 5 ms timer records every gap over 40 ms between its firings (wall time, epoch ms), with the
 * main thread's time on a CPU and waiting for one during the gap (/proc schedstat); a
 * PerformanceObserver records every GC pause (start, ms, V8 GC type: 1 scavenge, 4 mark-compact,
 * 8 incremental marking, 16 weak callbacks). Both are written to LAG_TRACE_DIR/lag-<pid>.json at
 * exit. A gap that holds a GC pause was (at least partly) that pause; one with little CPU and
 * much waiting was the machine, not the process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.LAG_TRACE_DIR ?? '/tmp';
const origin = performance.timeOrigin;
/** [start epoch ms, duration ms, V8 GC type] */
const gcs: [number, number, number][] = [];
/** [start epoch ms, gap ms, main thread on CPU ms, waiting for a CPU ms] */
const gaps: [number, number, number, number][] = [];

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    gcs.push([Math.round(origin + e.startTime), Math.round(e.duration * 100) / 100, kind]);
  }
}).observe({ entryTypes: ['gc'] });

const statPath = `/proc/self/task/${process.pid}/schedstat`;
function schedstat(): [number, number] {
  try {
    const [run, wait] = readFileSync(statPath, 'latin1').split(' ');
    return [Number(run) / 1e6, Number(wait) / 1e6];
  } catch {
    return [0, 0];
  }
}

let last = performance.now();
let [lastRun, lastWait] = schedstat();
setInterval(() => {
  const now = performance.now();
  const [run, wait] = schedstat();
  const round = (ms: number) => Math.round(ms * 10) / 10;
  if (now - last > 40) gaps.push([Math.round(origin + last), round(now - last), round(run - lastRun), round(wait - lastWait)]);
  last = now;
  lastRun = run;
  lastWait = wait;
}, 5).unref();

const save = () => {
  try {
    writeFileSync(`${dir}/lag-${process.pid}.json`, JSON.stringify({ gcs, gaps }));
  } catch {
    // Diagnostics only.
  }
};
process.on('exit', save);
// Saved at SIGTERM too: a shutdown that ends in process.exit() skips nothing, one killed later would lose it.
process.on('SIGTERM', save);
