import { describe, expect, it } from '@jest/globals';
import { LatencyHistogram, SimStats, quantileSorted } from './sim-stats.js';
import { formatStatusLine } from './status-reporter.js';

describe('latency statistics', () => {
  it('nearest-rank quantiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantileSorted(xs, 0.5)).toBe(50);
    expect(quantileSorted(xs, 0.99)).toBe(99);
    expect(quantileSorted([], 0.5)).toBe(null);
  });

  it('histogram quantiles are within 2 % of the exact value', () => {
    const h = new LatencyHistogram();
    const xs: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const v = 0.2 + (i % 1000) ** 1.5 / 10;
      xs.push(v);
      h.record(v);
    }
    xs.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = quantileSorted(xs, q) ?? 0;
      const approx = h.quantile(q) ?? 0;
      expect(Math.abs(approx - exact) / exact < 0.021).toBeTruthy();
    }
    expect(h.count).toBe(10_000);
    expect(new LatencyHistogram().quantile(0.5)).toBe(null);
  });

  it('window rates and percentiles cover only the last window', () => {
    let now = 1_000_000;
    const stats = new SimStats(10, () => now);
    for (let i = 0; i < 50; i++) {
      stats.heartbeatSent(false);
      stats.heartbeatAcked(100);
    }
    now += 20_000; // the old second falls out of the window
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 20; i++) {
        stats.heartbeatSent(i === 0);
        stats.heartbeatAcked(i < 10 ? 1 : i < 19 ? 2 : 50);
      }
      now += 1000;
    }
    now -= 1; // still inside the last second
    const w = stats.windowSnapshot();
    expect(Math.abs(w.ackRate - 20) < 0.5).toBeTruthy();
    expect(w.p50Ms).toBe(1);
    expect(w.p99Ms).toBe(50);
    expect(stats.acked).toBe(250);
    expect(stats.retransmits).toBe(10);
    const summary = stats.summary();
    expect(summary.heartbeats.sent).toBe(250);
    expect((summary.latencyMs.p50 ?? 0) <= 2.05).toBeTruthy();
    stats.terminals = 7;
    stats.connectionUp('A');
    stats.error('auth');
    const line = formatStatusLine(stats, 1);
    expect(line).toMatch(/connected 1\/7 {2}sent 250 {2}acked 250 {2}errors 1 {2}reconnects 0 {2}20\.\d ack\/s {2}p50 1\.0ms p99 50ms/);
  });
});
