/**
 * IPC messages between the bench orchestrator (ingest-bench.ts) and its child processes:
 * the load generator, the database holder and the gateway wrapper.
 */

/** Written by the orchestrator to a temp JSON file whose path is the load generator's only argument. */
export interface LoaderConfig {
  mqttUrl: string;
  terminals: { sn: string; secret: string }[];
  /** Total heartbeats/s across all terminals (open loop); null: closed loop, one in flight per terminal. */
  rate: number | null;
  /** Open loop: unacknowledged heartbeats per terminal (0: no limit); a heartbeat due beyond it is held. */
  maxInFlight: number;
  /** Open loop: heartbeats held per terminal; when full the oldest is dropped (protocol §4). */
  maxHeld: number;
  /** New MQTT connections per second while connecting. */
  connectRate: number;
  connectTimeoutMs: number;
  /** A valid heartbeat serialised with TS_MARKER in place of `ts` and SEQ_MARKER in place of `seq`. */
  payloadTemplate: string;
  /** Base of the per-terminal ts counter (ms since epoch); ts = base + per-terminal message number. */
  tsBaseMs: number;
}

export const TS_MARKER = '__BENCH_TS__';
export const SEQ_MARKER = 987_654_321;

/** pause/resume: open loop only (the soak's heap snapshots), the schedule resumes without a backlog. */
export type ParentToLoader = { type: 'start' } | { type: 'mark' } | { type: 'lap' } | { type: 'stop' } | { type: 'pause' } | { type: 'resume' };

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface LoaderResult {
  /** Seconds between `mark` and `stop` on the loader's clock. */
  windowSeconds: number;
  /** PUBACKs received in the window. */
  acked: number;
  /** Publishes issued in the window. */
  published: number;
  /** Publish callbacks with an error (connection closed while in flight) in the window. */
  errors: number;
  /** Open loop: held heartbeats dropped in the window because the terminal's buffer was full. */
  droppedAtTerminal: number;
  /** Connections that closed during the whole run (not counting the final disconnect). */
  disconnected: number;
  /** publish() call -> PUBACK, for PUBACKs received in the window. */
  latency: LatencySummary;
  /** Open loop only: scheduled send time -> PUBACK (includes any delay of the loader itself). */
  latencyFromSchedule: LatencySummary | null;
  /** Event-loop utilisation of the loader over the window, 0..1 (1 = its thread never idles). */
  eventLoopUtilization: number;
  /** Heartbeats still awaiting PUBACK when the window closed. */
  inFlightAtStop: number;
}

export type LoaderToParent =
  | { type: 'connect-progress'; attempted: number; connected: number; failed: number }
  | { type: 'ready'; connected: number; failed: number; seconds: number; firstError: string | null }
  | { type: 'tick'; acked: number; published: number; errors: number; inFlight: number; alive: number }
  | { type: 'marked' }
  /** PUBACKs and publish->PUBACK latency since mark or the previous lap. */
  | { type: 'lap'; seconds: number; acked: number; latency: LatencySummary }
  | { type: 'result'; result: LoaderResult }
  | { type: 'fatal'; message: string };

export type DbChildToParent = { type: 'db-ready'; url: string } | { type: 'db-failed'; message: string };

export function isMessage<T extends { type: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
