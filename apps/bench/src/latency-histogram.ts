import type { LatencySummary } from './protocol.js';

const MIN_MS = 0.01;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 2_000; // 0.01 ms * 1.01^2000 ≈ 73 minutes

/**
 * Log-bucketed latency histogram (HDR-like): constant memory, each recorded value is placed in a
 * bucket whose bounds differ by 1 %, so percentiles are exact to within 1 %.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sum = 0;
  private max = 0;

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.counts[i]++;
    this.total++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** Upper bound of the bucket holding the p-th percentile (p in 0..100). */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const target = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= target) return Math.min(this.max, MIN_MS * GROWTH ** i);
    }
    return this.max;
  }

  summary(): LatencySummary {
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      count: this.total,
      meanMs: round(this.total ? this.sum / this.total : 0),
      p50Ms: round(this.percentile(50)),
      p90Ms: round(this.percentile(90)),
      p99Ms: round(this.percentile(99)),
      p999Ms: round(this.percentile(99.9)),
      maxMs: round(this.max),
    };
  }
}
