/**
 * Samples over time during an ingest run: CPU, RSS and run-queue wait of the bench processes and
 * the machine once a second (from proc-stats), the loader's ack counter ticks, and the figures
 * derived from them.
 */
import { performance } from 'node:perf_hooks';
import { rssBytes, RunQueueMeter, scanProcesses, SystemCpuMeter, TreeCpuMeter } from './proc-stats.js';
import { median, mib, round } from './report.js';

export interface Sample {
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

/** The load generator's cumulative PUBACK count, as of `at` (performance.now()). */
export interface LoaderTick {
  at: number;
  acked: number;
}

export class Sampler {
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

export interface CpuStats {
  mean: number | null;
  median: number | null;
  max: number | null;
}

/** Time-weighted mean, and median and max over the full (about 1 s) intervals, to 0.1 %. */
export function cpuStats(samples: Sample[], pick: (s: Sample) => number | null): CpuStats {
  // Short intervals (the extra samples at mark/stop) are too coarse for per-interval figures.
  const values = fullIntervals(samples, pick);
  let weighted = 0;
  let seconds = 0;
  for (const s of samples) {
    const v = pick(s);
    if (v === null) continue;
    weighted += v * s.seconds;
    seconds += s.seconds;
  }
  return { mean: seconds ? round(weighted / seconds, 1) : null, median: round(median(values), 1), max: values.length ? round(Math.max(...values), 1) : null };
}

/** The picked figure of the samples that cover a full interval (not the extra ones at mark/stop). */
export function fullIntervals(samples: Sample[], pick: (s: Sample) => number | null): number[] {
  return samples.filter((s) => s.seconds >= 0.5 && pick(s) !== null).map((s) => pick(s) as number);
}

/** CPU used on the machine by anything but this bench (builds, tests, ...): a disturbed run shows it. */
export const otherCpu = (s: Sample): number | null => (s.sysBusy === null || s.ownTreeCpu === null ? null : Math.max(0, s.sysBusy - s.ownTreeCpu));

/** Gateway RSS (MiB) of the first sample in each 10 s slot from `from` on; null for a slot without one. */
export function rssTimeline(samples: Sample[], from: number): (number | null)[] {
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

/** Acked/s between consecutive loader ticks inside (from, to]. */
export function ackRates(ticks: LoaderTick[], from: number, to: number): number[] {
  const inWindow = ticks.filter((t) => t.at > from && t.at <= to);
  const rates: number[] = [];
  for (let i = 1; i < inWindow.length; i++) {
    rates.push((inWindow[i].acked - inWindow[i - 1].acked) / ((inWindow[i].at - inWindow[i - 1].at) / 1000));
  }
  return rates;
}

/** One progress line over the last ~5 s: acked/s and CPU of the gateway, loader, database and machine. */
export function progressLine(ticks: LoaderTick[], sampler: Sampler, startedAt: number, warmupS: number): string {
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
  return (
    `t=${elapsed.toFixed(0)}s ${elapsed < warmupS ? 'warm-up' : 'measure'} | acked ${Math.round(rate)}/s | gateway ${avg((s) => s.gatewayCpu)}% CPU ` +
    `${mib(last?.gatewayRss ?? null)} MiB | loader ${avg((s) => s.loaderCpu)}%${db === null ? '' : ` | db ${db}%`} | machine ${avg((s) => s.sysBusy)}% (other ${avg(otherCpu)}%)`
  );
}
