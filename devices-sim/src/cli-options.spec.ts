import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { CliUsageError, parseCliOptions, USAGE, type SimOptions } from './cli-options.js';
import { SCENARIO_KINDS } from './scenarios.js';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): SimOptions {
  const parsed = parseCliOptions(argv, env);
  expect(parsed.kind).toBe('run');
  if (parsed.kind !== 'run') throw new Error('unreachable');
  return parsed.options;
}

describe('parseCliOptions', () => {
  it('takes the admin token from ADMIN_TOKEN when --admin-token is not given (the flag wins)', () => {
    expect(run([], { ADMIN_TOKEN: 'env-token-0123456789abcdef' }).adminToken).toBe('env-token-0123456789abcdef');
    expect(run(['--admin-token', 'flag'], { ADMIN_TOKEN: 'env-token-0123456789abcdef' }).adminToken).toBe('flag');
    expect(run([], { ADMIN_TOKEN: '' }).adminToken).toBe(null);
  });

  it('has the documented defaults', () => {
    const o = run([]);
    expect(o.terminals).toBe(200);
    expect(o.brokerUrl).toBe('mqtt://127.0.0.1:1883');
    expect(o.httpUrl).toBe('http://127.0.0.1:8080');
    expect(o.adminToken).toBe(null);
    expect(o.adminTokenFile).toBe(join('data', 'admin-token'));
    expect(o.intervalS).toBe(60);
    expect(o.rampPerS).toBe(200);
    expect(o.credentialsFile).toBe('.sim/credentials.json');
    expect(o.snPrefix).toBe('SIM');
    expect(o.durationS).toBe(null);
    expect(o.qos).toBe(1);
    expect(o.includeLocation).toBe(false);
    expect(o.quiet).toBe(false);
    expect(o.seedGenerated).toBe(true);
    expect(o.seed).toMatch(/^[0-9a-f]{8}$/);
    expect(o.scenarios).toStrictEqual([]);
    expect(o.scenarioStartAfterMs).toBe(180_000);
    expect(o.scenarioClearAfterMs).toBe(null);
    expect(o.otaScenarios).toStrictEqual([]);
    expect(o.releasePublicKey).toBe(null);
    expect(o.otaIgnoreWindow).toBe(false);
    expect(o.otaDropAtPercent).toBe(null);
    expect(o.otaInstallDelayMs).toBe(20_000);
    expect(o.otaRebootDelayMs).toBe(15_000);
    expect(o.otaDeferRetryMs).toBe(60_000);
  });

  it('splits ota-… items of --scenario into OTA scenarios and reads the OTA flags', () => {
    const o = run([
      '--scenario',
      'weak-signal=2,ota-checksum-mismatch=3',
      '--scenario',
      'ota-bad-release=10%',
      '--release-public-key',
      'abcd:AAAA',
      '--ota-window-ignore',
      '--ota-drop-at',
      '40%',
      '--ota-install-delay',
      '5s',
    ]);
    expect(o.scenarios).toStrictEqual([{ kind: 'weak-signal', amount: { count: 2 } }]);
    expect(o.otaScenarios).toStrictEqual([
      { kind: 'ota-checksum-mismatch', amount: { count: 3 } },
      { kind: 'ota-bad-release', amount: { percent: 10 } },
    ]);
    expect(o.releasePublicKey).toBe('abcd:AAAA');
    expect(o.otaIgnoreWindow).toBe(true);
    expect(o.otaDropAtPercent).toBe(40);
    expect(o.otaInstallDelayMs).toBe(5_000);
    expect(run(['--scenario', 'ota-install-fail=1']).scenarios).toStrictEqual([]);
  });

  it('takes the release key from the first OTA_RELEASE_PUBLIC_KEYS entry (the flag wins)', () => {
    expect(run([], { OTA_RELEASE_PUBLIC_KEYS: 'k1:AAAA,k2:BBBB' }).releasePublicKey).toBe('k1:AAAA');
    expect(run(['--release-public-key', 'x.pem'], { OTA_RELEASE_PUBLIC_KEYS: 'k1:AAAA' }).releasePublicKey).toBe('x.pem');
  });

  it('lists the OTA scenarios in --help', () => {
    for (const k of ['ota-checksum-mismatch', 'ota-low-battery', 'ota-install-fail', 'ota-bad-release', '--ota-drop-at', '--release-public-key']) {
      expect(USAGE).toContain(k);
    }
  });

  it('parses scenarios (repeatable, counts and shares) with their start and clear times', () => {
    const o = run(['--interval', '10', '--scenario', 'weak-signal=3%,sim-swap=2', '--scenario', 'drop=1', '--scenario-clear-after', '10m']);
    expect(o.scenarios).toStrictEqual([
      { kind: 'weak-signal', amount: { percent: 3 } },
      { kind: 'drop', amount: { count: 1 } },
      { kind: 'sim-swap', amount: { count: 2 } },
    ]);
    // default start: three heartbeat intervals
    expect(o.scenarioStartAfterMs).toBe(30_000);
    expect(o.scenarioClearAfterMs).toBe(600_000);
    expect(run(['--scenario', 'silent=1', '--scenario-start-after', '0']).scenarioStartAfterMs).toBe(0);
    expect(run(['--scenario', 'silent=1', '--scenario-start-after', '2h']).scenarioStartAfterMs).toBe(7_200_000);
  });

  it('lists every scenario in --help', () => {
    for (const kind of SCENARIO_KINDS) expect(USAGE).toContain(`  ${kind} `);
  });

  it('parses every option', () => {
    const o = run(
      [
        '--terminals',
        '5000',
        '--url',
        'mqtts://broker:8883',
        '--http',
        'https://gw:8443/',
        '--admin-token',
        ' tok ',
        '--interval',
        '0.5',
        '--ramp',
        '50',
        '--credentials',
        '/tmp/c.json',
        '--sn-prefix',
        'LOAD',
        '--seed',
        'abc',
        '--duration',
        '30',
        '--qos',
        '0',
        '--location',
        '--quiet',
      ],
      { DATA_DIR: '/var/lib/fleet' },
    );
    expect(o.terminals).toBe(5000);
    expect(o.brokerUrl).toBe('mqtts://broker:8883');
    expect(o.httpUrl).toBe('https://gw:8443');
    expect(o.adminToken).toBe('tok');
    expect(o.adminTokenFile).toBe(join('/var/lib/fleet', 'admin-token'));
    expect(o.intervalS).toBe(0.5);
    expect(o.rampPerS).toBe(50);
    expect(o.credentialsFile).toBe('/tmp/c.json');
    expect(o.snPrefix).toBe('LOAD');
    expect(o.seed).toBe('abc');
    expect(o.seedGenerated).toBe(false);
    expect(o.durationS).toBe(30);
    expect(o.qos).toBe(0);
    expect(o.includeLocation).toBe(true);
    expect(o.quiet).toBe(true);
  });

  it('recognises --help', () => {
    expect(parseCliOptions(['-h'], {})).toStrictEqual({ kind: 'help' });
  });

  for (const argv of [
    ['--terminals', '0'],
    ['--terminals', '1.5'],
    ['--terminals', 'many'],
    ['--interval', '-1'],
    ['--ramp', ''],
    ['--qos', '2'],
    ['--url', 'http://x:1883'],
    ['--http', 'not a url'],
    ['--sn-prefix', 'a/b'],
    ['--seed', ''],
    ['--bogus'],
    ['positional'],
    ['--scenario', 'weak-signal'],
    ['--scenario', 'nope=1'],
    ['--scenario', 'drop=0'],
    ['--scenario', 'drop=1', '--scenario', 'drop=2'],
    ['--scenario', 'drop=1', '--scenario-clear-after', '0'],
    ['--scenario', 'drop=1', '--scenario-clear-after', 'soon'],
    ['--scenario', 'drop=1', '--scenario-start-after', '-1m'],
    ['--scenario-clear-after', '10m'],
    ['--scenario', 'ota-nope=1'],
    ['--scenario', 'ota-install-fail=1,ota-install-fail=2'],
    ['--ota-drop-at', '0'],
    ['--ota-drop-at', '100'],
    ['--ota-drop-at', 'half'],
    ['--ota-defer-retry', '0'],
  ]) {
    it(`rejects ${argv.join(' ')}`, () => {
      expect(() => parseCliOptions(argv, {})).toThrow(CliUsageError);
    });
  }
});
