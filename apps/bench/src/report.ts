/** Statistics, rounding and formatting shared by the benches' reports. */

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // Nearest rank; p = 0 is the minimum.
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface LatencyStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Percentiles of raw samples (ms), to 0.01. */
export function latencyStats(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50), 2), p90: round(percentile(s, 90), 2), p99: round(percentile(s, 99), 2), max: round(s[s.length - 1], 2) };
}

/** Rounds to `digits` decimals; null stays null. */
export function round(v: number, digits?: number): number;
export function round(v: number | null, digits?: number): number | null;
export function round(v: number | null, digits = 0): number | null {
  if (v === null) return null;
  const scale = 10 ** digits;
  return Math.round(v * scale) / scale;
}

export const mib = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / 1024 / 1024));

/** A figure for a human: thousands separators, `n/a` when missing, `>max` for an open-ended bucket. */
export function fmt(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined) return 'n/a';
  if (!Number.isFinite(v)) return `>max${unit}`;
  return `${v.toLocaleString('en-US')}${unit}`;
}

export const markdownRow = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

export const markdownHeader = (columns: readonly string[]): string => `${markdownRow(columns)}\n|${'---|'.repeat(columns.length)}`;
