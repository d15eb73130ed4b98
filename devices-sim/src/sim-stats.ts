/**
 * Counters and latency statistics of a simulator run: a rolling window for the live status line and a
 * log-bucketed histogram for the whole run.
 */

/** Log-scale histogram: 2 % relative resolution from 0.01 ms to ~10 minutes. */
export class LatencyHistogram {
  private static readonly MIN_MS = 0.01;
  private static readonly RATIO = 1.02;
  private static readonly BUCKETS = Math.ceil(Math.log(60_000_000) / Math.log(LatencyHistogram.RATIO)) + 1;
  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS);
  private total = 0;
  private maxMs = 0;

  record(ms: number): void {
    const v = Math.max(ms, LatencyHistogram.MIN_MS);
    const i = Math.min(LatencyHistogram.BUCKETS - 1, Math.ceil(Math.log(v / LatencyHistogram.MIN_MS) / Math.log(LatencyHistogram.RATIO)));
    this.counts[i]++;
    this.total++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxMs;
  }

  /** Upper bound of the bucket holding quantile q (0..1); null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.maxMs, LatencyHistogram.MIN_MS * LatencyHistogram.RATIO ** i);
    }
    return this.maxMs;
  }
}

/** Exact quantile of a sorted array (nearest rank). */
export function quantileSorted(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length - 1, rank - 1)];
}

interface WindowBucket {
  second: number;
  acks: number;
  sent: number;
  latencies: number[];
}

export type ErrorKind = 'connect' | 'auth' | 'keepalive' | 'protocol' | 'publish' | 'subscribe_denied' | 'presence' | 'command_ack';

export interface WindowSnapshot {
  /** Window length actually covered, seconds. */
  readonly seconds: number;
  readonly ackRate: number;
  readonly sendRate: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface StatsSummary {
  readonly terminals: number;
  readonly connected: number;
  readonly everConnected: number;
  readonly heartbeats: {
    readonly sent: number;
    readonly acked: number;
    readonly retransmits: number;
    readonly dropped: number;
    readonly lostOnPowerOff: number;
  };
  readonly latencyMs: { readonly p50: number | null; readonly p90: number | null; readonly p99: number | null; readonly max: number | null };
  readonly connections: { readonly attempts: number; readonly reconnects: number; readonly networkDrops: number };
  readonly power: { readonly offEvents: number; readonly boots: number };
  /** `reported`: acks sent per status (an ota.install sends several; `downloading` once per progress step). */
  readonly commands: { readonly received: number; readonly invalid: number; readonly reported: Readonly<Record<string, number>> };
  readonly errors: { readonly total: number } & Partial<Record<ErrorKind, number>>;
}

export class SimStats {
  terminals = 0;
  connected = 0;
  readonly everConnectedSns = new Set<string>();
  sent = 0;
  acked = 0;
  retransmits = 0;
  dropped = 0;
  lostOnPowerOff = 0;
  connectAttempts = 0;
  reconnects = 0;
  /** Connections lost to a `drop` scenario. */
  networkDrops = 0;
  powerOffs = 0;
  boots = 0;
  commandsReceived = 0;
  commandsInvalid = 0;
  /** Command acks sent, by status. */
  readonly commandAcks = new Map<string, number>();
  errorsTotal = 0;
  readonly errors = new Map<ErrorKind, number>();
  readonly histogram = new LatencyHistogram();
  private readonly window: WindowBucket[] = [];

  constructor(
    private readonly windowSeconds = 10,
    private readonly clock: () => number = Date.now,
  ) {}

  private bucket(): WindowBucket {
    const second = Math.floor(this.clock() / 1000);
    const last = this.window[this.window.length - 1];
    if (last && last.second === second) return last;
    const created: WindowBucket = { second, acks: 0, sent: 0, latencies: [] };
    this.window.push(created);
    while (this.window.length > 0 && this.window[0].second <= second - this.windowSeconds) this.window.shift();
    return created;
  }

  heartbeatSent(retransmit: boolean): void {
    this.sent++;
    if (retransmit) this.retransmits++;
    this.bucket().sent++;
  }

  heartbeatAcked(latencyMs: number | null): void {
    this.acked++;
    const b = this.bucket();
    b.acks++;
    if (latencyMs !== null) {
      b.latencies.push(latencyMs);
      this.histogram.record(latencyMs);
    }
  }

  error(kind: ErrorKind): void {
    this.errorsTotal++;
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  connectionUp(sn: string): void {
    this.connected++;
    this.everConnectedSns.add(sn);
  }

  connectionDown(): void {
    this.connected = Math.max(0, this.connected - 1);
  }

  /** Rates and latency percentiles over the last `windowSeconds` (the current second included). */
  windowSnapshot(): WindowSnapshot {
    const now = Math.floor(this.clock() / 1000);
    const buckets = this.window.filter((b) => b.second > now - this.windowSeconds);
    const oldest = buckets.length > 0 ? buckets[0].second : now;
    // a partially elapsed current second counts as a fraction so rates are not inflated at start
    const fraction = (this.clock() % 1000) / 1000;
    const seconds = Math.max(1, Math.min(this.windowSeconds, now - oldest + fraction));
    const latencies = buckets.flatMap((b) => b.latencies).sort((a, b) => a - b);
    return {
      seconds,
      ackRate: buckets.reduce((n, b) => n + b.acks, 0) / seconds,
      sendRate: buckets.reduce((n, b) => n + b.sent, 0) / seconds,
      p50Ms: quantileSorted(latencies, 0.5),
      p99Ms: quantileSorted(latencies, 0.99),
    };
  }

  summary(): StatsSummary {
    const h = this.histogram;
    const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);
    return {
      terminals: this.terminals,
      connected: this.connected,
      everConnected: this.everConnectedSns.size,
      heartbeats: {
        sent: this.sent,
        acked: this.acked,
        retransmits: this.retransmits,
        dropped: this.dropped,
        lostOnPowerOff: this.lostOnPowerOff,
      },
      latencyMs: {
        p50: round(h.quantile(0.5)),
        p90: round(h.quantile(0.9)),
        p99: round(h.quantile(0.99)),
        max: h.count > 0 ? round(h.max) : null,
      },
      connections: { attempts: this.connectAttempts, reconnects: this.reconnects, networkDrops: this.networkDrops },
      power: { offEvents: this.powerOffs, boots: this.boots },
      commands: { received: this.commandsReceived, invalid: this.commandsInvalid, reported: Object.fromEntries(this.commandAcks) },
      errors: { total: this.errorsTotal, ...Object.fromEntries(this.errors) },
    };
  }
}
