import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CliUsageError, parseCliOptions, type SimOptions } from './cli-options.js';

function run(argv: string[], env: NodeJS.ProcessEnv = {}): SimOptions {
  const parsed = parseCliOptions(argv, env);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') throw new Error('unreachable');
  return parsed.options;
}

describe('parseCliOptions', () => {
  it('has the documented defaults', () => {
    const o = run([]);
    assert.equal(o.terminals, 200);
    assert.equal(o.brokerUrl, 'mqtt://127.0.0.1:1883');
    assert.equal(o.httpUrl, 'http://127.0.0.1:8080');
    assert.equal(o.adminToken, null);
    assert.equal(o.adminTokenFile, join('data', 'admin-token'));
    assert.equal(o.intervalS, 60);
    assert.equal(o.rampPerS, 200);
    assert.equal(o.credentialsFile, '.sim/credentials.json');
    assert.equal(o.snPrefix, 'SIM');
    assert.equal(o.durationS, null);
    assert.equal(o.qos, 1);
    assert.equal(o.includeLocation, false);
    assert.equal(o.quiet, false);
    assert.equal(o.seedGenerated, true);
    assert.match(o.seed, /^[0-9a-f]{8}$/);
  });

  it('parses every option', () => {
    const o = run(
      ['--terminals', '5000', '--url', 'mqtts://broker:8883', '--http', 'https://gw:8443/', '--admin-token', ' tok ',
        '--interval', '0.5', '--ramp', '50', '--credentials', '/tmp/c.json', '--sn-prefix', 'LOAD', '--seed', 'abc',
        '--duration', '30', '--qos', '0', '--location', '--quiet'],
      { DATA_DIR: '/var/lib/fleet' },
    );
    assert.equal(o.terminals, 5000);
    assert.equal(o.brokerUrl, 'mqtts://broker:8883');
    assert.equal(o.httpUrl, 'https://gw:8443');
    assert.equal(o.adminToken, 'tok');
    assert.equal(o.adminTokenFile, join('/var/lib/fleet', 'admin-token'));
    assert.equal(o.intervalS, 0.5);
    assert.equal(o.rampPerS, 50);
    assert.equal(o.credentialsFile, '/tmp/c.json');
    assert.equal(o.snPrefix, 'LOAD');
    assert.equal(o.seed, 'abc');
    assert.equal(o.seedGenerated, false);
    assert.equal(o.durationS, 30);
    assert.equal(o.qos, 0);
    assert.equal(o.includeLocation, true);
    assert.equal(o.quiet, true);
  });

  it('recognises --help', () => {
    assert.deepEqual(parseCliOptions(['-h'], {}), { kind: 'help' });
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
  ]) {
    it(`rejects ${argv.join(' ')}`, () => {
      assert.throws(() => parseCliOptions(argv, {}), CliUsageError);
    });
  }
});
