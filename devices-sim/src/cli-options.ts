import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ADMIN_TOKEN_FILE } from '#contracts';
import { isValidSnPrefix } from './identifiers.js';
import { isOtaScenarioName, OTA_SCENARIO_DESCRIPTIONS, OTA_SCENARIO_KINDS, parseOtaScenarioItems, type OtaScenarioRequest } from './ota-model.js';
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
  /** OTA scenarios (`ota-…` items of --scenario). */
  readonly otaScenarios: readonly OtaScenarioRequest[];
  /** --release-public-key as given (KEYID:BASE64, BASE64 or a .pem path); null = signatures not checked. */
  readonly releasePublicKey: string | null;
  readonly otaIgnoreWindow: boolean;
  /** --ota-drop-at: cut the first download at this percent (then resume with Range). */
  readonly otaDropAtPercent: number | null;
  readonly otaInstallDelayMs: number;
  readonly otaRebootDelayMs: number;
  readonly otaDeferRetryMs: number;
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

Commands (reboot, set_heartbeat_interval, ota.install; docs/protocol.md §6):
  --release-public-key K   release key the Ed25519 signature of an artifact is checked with: KEYID:BASE64 as
                       \`npm run releases -- keygen\` prints it, BASE64 (raw 32 bytes) or a .pem file
                       (default: $OTA_RELEASE_PUBLIC_KEYS's first entry; none: the signature is not checked and
                       the verified ack says so)
  --ota-window-ignore  install outside the maintenance window (demos)
  --ota-drop-at P      cut the first download of every install at P % and resume it with Range
  --ota-install-delay D    time an install takes (default 20s)
  --ota-reboot-delay D     time a reboot takes (default 15s)
  --ota-defer-retry D      how often a deferred install re-checks its guards (default 60s)
  -h, --help           show this help

Scenarios (--scenario name=...):
${SCENARIO_KINDS.map((k) => `  ${k.padEnd(18)} ${SCENARIO_DESCRIPTIONS[k].effect} [${SCENARIO_DESCRIPTIONS[k].rule}]; clears: ${SCENARIO_DESCRIPTIONS[k].clear}`).join('\n')}

OTA scenarios (--scenario name=..., same syntax; independent of the alert scenarios; they act when an
ota.install command arrives):
${OTA_SCENARIO_KINDS.map((k) => `  ${k.padEnd(22)} ${OTA_SCENARIO_DESCRIPTIONS[k]}`).join('\n')}
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
        'release-public-key': { type: 'string' },
        'ota-window-ignore': { type: 'boolean', default: false },
        'ota-drop-at': { type: 'string' },
        'ota-install-delay': { type: 'string', default: '20s' },
        'ota-reboot-delay': { type: 'string', default: '15s' },
        'ota-defer-retry': { type: 'string', default: '60s' },
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
  let otaScenarios: OtaScenarioRequest[];
  let otaInstallDelayMs: number;
  let otaRebootDelayMs: number;
  let otaDeferRetryMs: number;
  let scenarioStartAfterMs = Math.round(3 * intervalS * 1000);
  let scenarioClearAfterMs: number | null = null;
  try {
    // ota-… items go to the OTA scenarios, the rest are alert scenarios
    const items = (values.scenario ?? []).flatMap((spec) => spec.split(',').map((i) => i.trim()));
    const otaItems = items.filter((i) => isOtaScenarioName(i));
    const alertItems = items.filter((i) => !isOtaScenarioName(i));
    otaScenarios = parseOtaScenarioItems(otaItems);
    scenarios = parseScenarioSpecs(alertItems.length === 0 ? [] : [alertItems.join(',')]);
    const startAfter = values['scenario-start-after'];
    const clearAfter = values['scenario-clear-after'];
    otaInstallDelayMs = parseDurationMs(values['ota-install-delay']);
    otaRebootDelayMs = parseDurationMs(values['ota-reboot-delay']);
    otaDeferRetryMs = parseDurationMs(values['ota-defer-retry']);
    if (otaDeferRetryMs <= 0) throw new ScenarioSyntaxError('--ota-defer-retry must be longer than 0');
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

  let otaDropAtPercent: number | null = null;
  const dropRaw = values['ota-drop-at'];
  if (dropRaw !== undefined) {
    otaDropAtPercent = Number(dropRaw.replace(/%$/, ''));
    if (dropRaw.trim() === '' || !(otaDropAtPercent > 0 && otaDropAtPercent < 100)) {
      throw new CliUsageError(`--ota-drop-at must be a percentage between 0 and 100 (exclusive), got "${dropRaw}"`);
    }
  }
  const keyRaw = values['release-public-key'] ?? env.OTA_RELEASE_PUBLIC_KEYS?.split(',')[0];
  const releasePublicKey = keyRaw !== undefined && keyRaw.trim() !== '' ? keyRaw.trim() : null;

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
      otaScenarios,
      releasePublicKey,
      otaIgnoreWindow: values['ota-window-ignore'],
      otaDropAtPercent,
      otaInstallDelayMs,
      otaRebootDelayMs,
      otaDeferRetryMs,
    },
  };
}
