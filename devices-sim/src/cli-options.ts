import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ADMIN_TOKEN_FILE } from '#contracts';
import { isValidSnPrefix } from './identifiers.js';
import { parseDurationMs, parseScenarioSpecs, SCENARIO_DESCRIPTIONS, SCENARIO_KINDS, ScenarioSyntaxError, type ScenarioRequest } from './scenarios.js';

export interface SimOptions {
  readonly terminals: number;
  readonly brokerUrl: string;
  readonly httpUrl: string;
  /** Explicit --admin-token; null = read `adminTokenFile` when enrolment is needed. */
  readonly adminToken: string | null;
  readonly adminTokenFile: string;
  readonly intervalS: number;
  readonly rampPerS: number;
  readonly credentialsFile: string;
  readonly snPrefix: string;
  readonly seed: string;
  /** True when the seed was generated because none was given. */
  readonly seedGenerated: boolean;
  readonly durationS: number | null;
  readonly qos: 0 | 1;
  readonly includeLocation: boolean;
  readonly quiet: boolean;
  /** Alert scenarios (--scenario), in assignment order; empty = none. */
  readonly scenarios: readonly ScenarioRequest[];
  /** When scenarios start, after the simulator start (default: three heartbeat intervals). */
  readonly scenarioStartAfterMs: number;
  /** How long scenarios last before they clear; null = until the simulator stops. */
  readonly scenarioClearAfterMs: number | null;
}

export type ParsedCli = { kind: 'help' } | { kind: 'run'; options: SimOptions };

export class CliUsageError extends Error {}

export const USAGE = `Usage: npm run sim -- [options]

Simulates a fleet of POS terminals: each one is an MQTT 3.1.1 client sending heartbeats.

  --terminals N        fleet size (default 200)
  --url URL            broker (default mqtt://127.0.0.1:1883)
  --http URL           gateway HTTP base for enrolment (default http://127.0.0.1:8080)
  --admin-token TOKEN  bearer token for enrolment (default: $ADMIN_TOKEN, else the contents of
                       $DATA_DIR/admin-token, DATA_DIR=./data)
  --interval S         seconds between heartbeats per terminal (default 60)
  --ramp N             new connections per second at start (default 200)
  --credentials FILE   credentials store (default .sim/credentials.json); missing terminals are enrolled
  --sn-prefix P        serial number prefix, SNs are P-000001... (default SIM)
  --seed S             PRNG seed; same seed, same fleet (default: random, printed in the summary)
  --duration S         stop after S seconds
  --qos 0|1            heartbeat QoS (default 1)
  --location           include GPS/cell location in heartbeats
  --quiet              no status line or logs; print only the final JSON summary
  --scenario LIST      put chosen terminals into an alert condition: name=N (count) or name=P% (share of the
                       fleet), comma-separated, repeatable, e.g. --scenario weak-signal=3%,sim-swap=2,drop=1
                       (deterministic with --seed; one scenario per terminal; see the list below)
  --scenario-start-after D   when scenarios start, after the simulator start (default: 3 heartbeat intervals)
  --scenario-clear-after D   scenarios clear D after they start, so their alerts resolve (default: never)
                       durations: 90 (seconds), 90s, 10m, 2h, 1d
  -h, --help           show this help

Scenarios (--scenario name=...):
${SCENARIO_KINDS.map((k) => `  ${k.padEnd(18)} ${SCENARIO_DESCRIPTIONS[k].effect} [${SCENARIO_DESCRIPTIONS[k].rule}]; clears: ${SCENARIO_DESCRIPTIONS[k].clear}`).join('\n')}
`;

function positiveNumber(name: string, raw: string, integer: boolean): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new CliUsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

function checkUrl(name: string, raw: string, protocols: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliUsageError(`--${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new CliUsageError(`--${name} must use ${protocols.join(' or ')}, got "${url.protocol}"`);
  }
  return raw.replace(/\/+$/, '');
}

export function parseCliOptions(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCli {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        terminals: { type: 'string', default: '200' },
        url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
        http: { type: 'string', default: 'http://127.0.0.1:8080' },
        'admin-token': { type: 'string' },
        interval: { type: 'string', default: '60' },
        ramp: { type: 'string', default: '200' },
        credentials: { type: 'string', default: '.sim/credentials.json' },
        'sn-prefix': { type: 'string', default: 'SIM' },
        seed: { type: 'string' },
        duration: { type: 'string' },
        qos: { type: 'string', default: '1' },
        location: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        scenario: { type: 'string', multiple: true },
        'scenario-start-after': { type: 'string' },
        'scenario-clear-after': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new CliUsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return { kind: 'help' };

  const terminals = positiveNumber('terminals', values.terminals, true);
  if (terminals > 1_000_000) throw new CliUsageError('--terminals must be at most 1000000');
  const qosRaw = values.qos;
  if (qosRaw !== '0' && qosRaw !== '1') throw new CliUsageError(`--qos must be 0 or 1, got "${qosRaw}"`);
  const snPrefix = values['sn-prefix'];
  if (!isValidSnPrefix(snPrefix)) {
    throw new CliUsageError(`--sn-prefix "${snPrefix}" would make SNs outside [A-Za-z0-9][A-Za-z0-9_-]{3,31}`);
  }
  // Like the gateway: a gateway started with ADMIN_TOKEN set does not write the token file.
  const fromEnv = env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN.trim() !== '' ? env.ADMIN_TOKEN : undefined;
  const adminToken = values['admin-token'] ?? fromEnv;
  if (adminToken !== undefined && adminToken.trim() === '') throw new CliUsageError('--admin-token is empty');
  const seed = values.seed;
  if (seed !== undefined && seed === '') throw new CliUsageError('--seed is empty');

  const intervalS = positiveNumber('interval', values.interval, false);
  let scenarios: ScenarioRequest[];
  let scenarioStartAfterMs = Math.round(3 * intervalS * 1000);
  let scenarioClearAfterMs: number | null = null;
  try {
    scenarios = parseScenarioSpecs(values.scenario ?? []);
    const startAfter = values['scenario-start-after'];
    const clearAfter = values['scenario-clear-after'];
    if ((startAfter !== undefined || clearAfter !== undefined) && scenarios.length === 0) {
      throw new ScenarioSyntaxError('--scenario-start-after and --scenario-clear-after need --scenario');
    }
    if (startAfter !== undefined) scenarioStartAfterMs = parseDurationMs(startAfter);
    if (clearAfter !== undefined) {
      scenarioClearAfterMs = parseDurationMs(clearAfter);
      if (scenarioClearAfterMs <= 0) throw new ScenarioSyntaxError('--scenario-clear-after must be longer than 0');
    }
  } catch (err) {
    if (err instanceof ScenarioSyntaxError) throw new CliUsageError(err.message);
    throw err;
  }

  return {
    kind: 'run',
    options: {
      terminals,
      brokerUrl: checkUrl('url', values.url, ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:']),
      httpUrl: checkUrl('http', values.http, ['http:', 'https:']),
      adminToken: adminToken?.trim() ?? null,
      adminTokenFile: join(env.DATA_DIR && env.DATA_DIR !== '' ? env.DATA_DIR : './data', ADMIN_TOKEN_FILE),
      intervalS,
      rampPerS: positiveNumber('ramp', values.ramp, false),
      credentialsFile: values.credentials,
      snPrefix,
      seed: seed ?? randomBytes(4).toString('hex'),
      seedGenerated: seed === undefined,
      durationS: values.duration === undefined ? null : positiveNumber('duration', values.duration, false),
      qos: qosRaw === '1' ? 1 : 0,
      includeLocation: values.location,
      quiet: values.quiet,
      scenarios,
      scenarioStartAfterMs,
      scenarioClearAfterMs,
    },
  };
}
