/** Minimal reader for the Prometheus text exposition format (what /metrics returns). */
export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class MetricsSnapshot {
  constructor(
    readonly series: readonly Series[],
    /** Metric families declared by `# TYPE` lines (a labelled counter has no series until first used). */
    readonly families: ReadonlySet<string> = new Set(),
  ) {}

  static parse(text: string): MetricsSnapshot {
    const out: Series[] = [];
    const families = new Set<string>();
    for (const line of text.split('\n')) {
      const type = /^# TYPE (\S+) /.exec(line);
      if (type) families.add(type[1]);
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const lm of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
      out.push({ name: m[1], labels, value: Number(m[4]) });
    }
    return new MetricsSnapshot(out, families);
  }

  /** Sum of every series of `name` whose labels include `match`; 0 for a declared family without such series, else null. */
  get(name: string, match: Record<string, string> = {}): number | null {
    let found = false;
    let sum = 0;
    for (const s of this.series) {
      if (s.name !== name) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      found = true;
      sum += s.value;
    }
    if (found) return sum;
    return this.families.has(name) || this.families.has(name.replace(/_(sum|count|bucket)$/, '')) ? 0 : null;
  }

  /** Cumulative bucket counts of a histogram, by upper bound. */
  buckets(name: string, match: Record<string, string> = {}): Map<number, number> {
    const out = new Map<number, number>();
    for (const s of this.series) {
      if (s.name !== `${name}_bucket`) continue;
      if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
      const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      out.set(le, (out.get(le) ?? 0) + s.value);
    }
    return out;
  }
}

/** Difference of a counter between two snapshots (null when absent). */
export function delta(a: MetricsSnapshot, b: MetricsSnapshot, name: string, match: Record<string, string> = {}): number | null {
  const x = a.get(name, match);
  const y = b.get(name, match);
  return x === null || y === null ? null : y - x;
}

/** Upper bucket bound holding quantile q of the observations made between two snapshots. */
export function histogramQuantile(a: MetricsSnapshot, b: MetricsSnapshot, name: string, q: number, match: Record<string, string> = {}): number | null {
  const before = a.buckets(name, match);
  const after = b.buckets(name, match);
  const bounds = [...after.keys()].sort((x, y) => x - y);
  if (bounds.length === 0) return null;
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return null;
  for (const le of bounds) {
    const cumulative = (after.get(le) ?? 0) - (before.get(le) ?? 0);
    if (cumulative >= q * total) return le;
  }
  return null;
}
