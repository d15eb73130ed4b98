/**
 * devices-sim: simulates a fleet of e-signature POS terminals over MQTT.
 *   npm run sim -- --terminals 200 --interval 60
 * See devices-sim/README.md.
 */
import { execFileSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadReleasePublicKey } from './artifact-download.js';
import { CliUsageError, parseCliOptions, USAGE, type SimOptions } from './cli-options.js';
import { CredentialsStore } from './credentials-store.js';
import { ensureCredentials } from './enrolment-client.js';
import { FleetRunner } from './fleet-runner.js';
import { generateFleet, toRegistration } from './fleet-generator.js';
import { assignOtaScenarios, OTA_SCENARIO_KINDS } from './ota-model.js';
import { assignScenarios } from './scenarios.js';
import { SimStats } from './sim-stats.js';
import { StatusReporter } from './status-reporter.js';
import { DEFAULT_COMMAND_RUNTIME, DEFAULT_RUNTIME } from './terminal-client.js';

async function readAdminToken(options: SimOptions): Promise<string> {
  if (options.adminToken) return options.adminToken;
  let token: string;
  try {
    token = (await readFile(options.adminTokenFile, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `terminals need enrolment but no admin token is available: ${options.adminTokenFile} ` +
        `(${code ?? 'unreadable'}). Start the gateway once (it writes the token there), set DATA_DIR, set ADMIN_TOKEN, or pass --admin-token.`,
      { cause: err },
    );
  }
  if (token === '') throw new Error(`${options.adminTokenFile} is empty`);
  return token;
}

/** Soft file-descriptor limit, or null when it cannot be determined. */
function openFileLimit(): number | null {
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const n = Number(out);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

async function run(options: SimOptions): Promise<number> {
  const stats = new SimStats();
  const reporter = new StatusReporter(process.stderr, stats, options.qos, options.quiet);
  const startedAt = Date.now();

  const limit = openFileLimit();
  if (limit !== null && options.terminals + 64 > limit) {
    reporter.warn(`${options.terminals} terminals need as many sockets but the open-file limit is ${limit}; raise it with ulimit -n`);
  }

  const scenarioRun = assignScenarios(generateFleet(options.terminals, { seed: options.seed, snPrefix: options.snPrefix }), options.scenarios, options.seed, {
    startAfterMs: options.scenarioStartAfterMs,
    clearAfterMs: options.scenarioClearAfterMs,
  });
  const profiles = scenarioRun.profiles;
  const otaScenarios = assignOtaScenarios(profiles, options.otaScenarios, options.seed);
  for (const kind of OTA_SCENARIO_KINDS) {
    const sns = profiles.filter((p) => otaScenarios.get(p.sn) === kind).map((p) => p.sn);
    if (sns.length === 0) continue;
    reporter.info(`scenario ${kind}: ${sns.length > 10 ? `${sns.slice(0, 10).join(' ')} … (${sns.length})` : sns.join(' ')}`);
  }
  let releasePublicKey: KeyObject | null = null;
  if (options.releasePublicKey !== null) {
    try {
      releasePublicKey = loadReleasePublicKey(options.releasePublicKey);
    } catch (err) {
      reporter.warn(`--release-public-key: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }
  } else {
    reporter.info('no release public key (--release-public-key): OTA signatures will not be checked');
  }
  for (const s of scenarioRun.shortfalls) reporter.warn(`scenario ${s.kind}: ${s.got} of ${s.wanted} terminals (the fleet is too small)`);
  for (const [kind, sns] of Object.entries(scenarioRun.assigned)) {
    const shown = sns.length > 10 ? `${sns.slice(0, 10).join(' ')} … (${sns.length})` : sns.join(' ');
    reporter.info(`scenario ${kind}: ${shown}`);
  }
  const store = await CredentialsStore.load(options.credentialsFile);
  if (store.meta.seed !== undefined && store.meta.seed !== options.seed && store.size > 0) {
    reporter.warn(
      `${options.credentialsFile} was enrolled with seed "${store.meta.seed}", running with "${options.seed}": ` +
        'models and locations will differ from what was registered (pass --seed to match)',
    );
  }
  if (store.meta.seed === undefined) store.meta = { seed: options.seed, snPrefix: options.snPrefix };

  const report = await ensureCredentials(profiles.map(toRegistration), store, {
    httpUrl: options.httpUrl,
    adminToken: () => readAdminToken(options),
    onProgress: (m) => reporter.info(m),
  });
  if (report.registered + report.rotated > 0) {
    reporter.info(`enrolment: ${report.registered} registered, ${report.rotated} rotated, ${report.alreadyKnown} already in ${options.credentialsFile}`);
  }
  for (const f of report.failed.slice(0, 10)) reporter.warn(`enrolment failed for ${f.sn}: ${f.code}: ${f.message}`);
  if (report.failed.length > 10) reporter.warn(`... and ${report.failed.length - 10} more enrolment failures`);

  const fleet = profiles.flatMap((profile) => {
    const credentials = store.get(profile.sn);
    return credentials ? [{ profile, credentials, otaScenario: otaScenarios.get(profile.sn) ?? null }] : [];
  });
  if (fleet.length === 0) {
    reporter.warn('no terminal has credentials; nothing to run');
    return 1;
  }

  const runner = new FleetRunner(
    fleet,
    {
      rampPerS: options.rampPerS,
      runtime: {
        ...DEFAULT_RUNTIME,
        brokerUrl: options.brokerUrl,
        intervalMs: Math.round(options.intervalS * 1000),
        qos: options.qos,
        includeLocation: options.includeLocation,
        commands: {
          ...DEFAULT_COMMAND_RUNTIME,
          releasePublicKey,
          ignoreWindow: options.otaIgnoreWindow,
          dropAtPercent: options.otaDropAtPercent,
          installDelayMs: options.otaInstallDelayMs,
          rebootDelayMs: options.otaRebootDelayMs,
          deferRetryMs: options.otaDeferRetryMs,
        },
      },
    },
    stats,
    reporter,
  );
  reporter.info(
    `simulating ${fleet.length} terminals against ${options.brokerUrl} (seed ${options.seed}, every ${options.intervalS}s, ramp ${options.rampPerS}/s)`,
  );
  reporter.start();

  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`\n${signal} again: exiting without waiting\n`);
        process.exit(130);
      }
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (options.durationS !== null) setTimeout(() => resolve('duration'), options.durationS * 1000).unref();
  });

  void runner.start();
  const why = await stopped;
  stopping = true;
  reporter.info(`stopping (${why}): waiting up to 5 s for in-flight heartbeats, then disconnecting`);
  const connectedBeforeShutdown = stats.connected;
  const shutdown = await runner.shutdown(5_000);
  reporter.stop();

  const summary = {
    seed: options.seed,
    stoppedBy: why,
    durationS: Math.round((Date.now() - startedAt) / 100) / 10,
    intervalS: options.intervalS,
    qos: options.qos,
    enrolment: { registered: report.registered, rotated: report.rotated, failed: report.failed.length },
    ...stats.summary(),
    connected: connectedBeforeShutdown,
    unackedAtExit: shutdown.unackedAtExit,
    ...(options.scenarios.length > 0
      ? {
          scenarios: {
            startAfterS: options.scenarioStartAfterMs / 1000,
            clearAfterS: options.scenarioClearAfterMs === null ? null : options.scenarioClearAfterMs / 1000,
            terminals: scenarioRun.assigned,
          },
        }
      : {}),
    ...(otaScenarios.size > 0
      ? {
          otaScenarios: Object.fromEntries(
            OTA_SCENARIO_KINDS.flatMap((k): [string, string[]][] => {
              const sns = profiles.filter((p) => otaScenarios.get(p.sn) === k).map((p) => p.sn);
              return sns.length > 0 ? [[k, sns]] : [];
            }),
          ),
        }
      : {}),
  };
  process.stdout.write(`${JSON.stringify(summary, null, options.quiet ? 0 : 2)}\n`);
  return 0;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseCliOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof CliUsageError) {
      process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  try {
    const code = await run(parsed.options);
    process.exit(code);
  } catch (err) {
    process.stderr.write(`\nerror: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

await main();
