import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { parseApiBenchOptions, parseIngestOptions, readOptions, UsageError } from './bench-options.js';

/** One option of every kind, with the camelCase keys that become kebab-case option names. */
const spec = {
  db: { type: 'choice', choices: ['pglite', 'postgres', 'none'], default: 'pglite' },
  terminals: { type: 'number', min: 1, max: 100_000, default: 2000, integer: true },
  duration: { type: 'number', min: 1, max: 3_600, default: 180 },
  rate: { type: 'number', min: 1, max: 1_000_000 },
  gatewayEnv: { type: 'key-values' },
  markdown: { type: 'flag' },
  label: { type: 'string', default: '' },
} as const;

function usageError(args: string[]): UsageError {
  let thrown: unknown = null;
  try {
    readOptions(spec, args);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(UsageError);
  return thrown as UsageError;
}

describe('readOptions', () => {
  it('fills in the defaults; a number without a default is null, key-values empty, flags false', () => {
    expect(readOptions(spec, [])).toStrictEqual({
      help: false,
      values: { db: 'pglite', terminals: 2000, duration: 180, rate: null, gatewayEnv: {}, markdown: false, label: '' },
    });
  });

  it('reads every kind, with kebab-case names, in both --name value and --name=value forms', () => {
    const { values } = readOptions(spec, [
      '--db',
      'postgres',
      '--terminals=5000',
      '--duration',
      '2.5',
      '--rate',
      '800',
      '--gateway-env',
      'A=1',
      '--markdown',
      '--label',
      'quiet run',
    ]);
    expect(values).toStrictEqual({ db: 'postgres', terminals: 5000, duration: 2.5, rate: 800, gatewayEnv: { A: '1' }, markdown: true, label: 'quiet run' });
  });

  it('rounds integer options and keeps fractions of the others', () => {
    expect(readOptions(spec, ['--terminals', '2.6', '--duration', '2.6']).values).toMatchObject({ terminals: 3, duration: 2.6 });
  });

  it('accepts both bounds', () => {
    expect(readOptions(spec, ['--terminals', '1']).values.terminals).toBe(1);
    expect(readOptions(spec, ['--terminals', '100000']).values.terminals).toBe(100_000);
  });

  it.each([
    [['--terminals', '0'], '--terminals must be a number in [1, 100000], got 0'],
    [['--terminals', '100001'], '--terminals must be a number in [1, 100000], got 100001'],
    [['--terminals', 'many'], '--terminals must be a number in [1, 100000], got many'],
    [['--duration', 'Infinity'], '--duration must be a number in [1, 3600], got Infinity'],
    [['--rate=-5'], '--rate must be a number in [1, 1000000], got -5'],
  ])('refuses %j out of bounds or not a number: %s', (args, message) => {
    expect(usageError(args).message).toBe(message);
  });

  it('refuses a value that is not one of the choices, naming them', () => {
    expect(usageError(['--db', 'mysql']).message).toBe('--db must be pglite, postgres or none, got mysql');
  });

  it('collects repeated KEY=VALUE options; the value may contain "=" or be empty', () => {
    const { values } = readOptions(spec, ['--gateway-env', 'INGEST_BATCH_MAX_ROWS=5000', '--gateway-env', 'OPTS=a=b', '--gateway-env', 'EMPTY=']);
    expect(values.gatewayEnv).toStrictEqual({ INGEST_BATCH_MAX_ROWS: '5000', OPTS: 'a=b', EMPTY: '' });
  });

  it.each([['NOVALUE'], ['=value']])('refuses a key-values entry %s without KEY=', (kv) => {
    expect(usageError(['--gateway-env', kv]).message).toBe(`--gateway-env expects KEY=VALUE, got ${kv}`);
  });

  it.each([
    ['an unknown option', ['--nope'], "Unknown option '--nope'"],
    ['an option the spec does not declare', ['--connect-rate', '5'], "Unknown option '--connect-rate'"],
    ['a camelCase spelling of a known option', ['--gatewayEnv', 'A=1'], "Unknown option '--gatewayEnv'"],
    ['a positional argument', ['extra'], "Unexpected argument 'extra'"],
    ['a value for a flag', ['--markdown=yes'], "Option '--markdown' does not take an argument"],
    ['a missing value', ['--label'], "Option '--label <value>' argument missing"],
  ])('refuses %s as a usage error', (_label, args, message) => {
    expect(usageError(args).message).toContain(message);
  });

  it('reports -h and --help', () => {
    expect(readOptions(spec, ['-h']).help).toBe(true);
    expect(readOptions(spec, ['--help', '--db', 'none'])).toMatchObject({ help: true, values: { db: 'none' } });
  });

  it('UsageError is an Error', () => {
    expect(new UsageError('x')).toBeInstanceOf(Error);
  });
});

class Exit extends Error {
  constructor(readonly code: number | string | null | undefined) {
    super(`process.exit(${String(code)})`);
  }
}

describe('bench command lines', () => {
  const argv = process.argv;
  let exit: jest.Spied<typeof process.exit>;
  let stdout: jest.Spied<typeof process.stdout.write>;
  let stderr: jest.Spied<typeof process.stderr.write>;

  beforeEach(() => {
    exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Exit(code);
    });
    stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    process.argv = argv;
    exit.mockRestore();
    stdout.mockRestore();
    stderr.mockRestore();
  });

  const withArgs = (...args: string[]): void => {
    process.argv = ['node', 'bench.js', ...args];
  };

  /** Runs `parse`, expecting process.exit; returns the exit code. */
  function exitCode(parse: () => unknown): number | string | null | undefined {
    let thrown: unknown = null;
    try {
      parse();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Exit);
    return (thrown as Exit).code;
  }

  it('bench:ingest has the documented defaults', () => {
    withArgs();
    expect(parseIngestOptions()).toStrictEqual({
      db: 'pglite',
      terminals: 2000,
      duration: 180,
      warmup: 10,
      rate: null,
      maxInflight: 1,
      held: 5,
      connectRate: 500,
      registerBatch: 1000,
      gatewayEnv: {},
      alerts: 'on',
      composition: 'single',
      baseline: false,
      httpFlood: 0,
      floodMib: 10,
      mqttFlood: 0,
      mqttFloodMib: 200,
      soak: false,
      soakInterval: 30,
      snapshotDir: '',
      markdown: false,
      label: '',
    });
    expect(exit).not.toHaveBeenCalled();
  });

  it('bench:ingest reads its options', () => {
    withArgs(
      '--db',
      'none',
      '--terminals',
      '5000',
      '--warmup',
      '0',
      '--rate',
      '20000',
      '--max-inflight',
      '0',
      '--held',
      '2',
      '--connect-rate',
      '1000',
      '--register-batch',
      '250',
      '--gateway-env',
      'INGEST_BATCH_MAX_ROWS=500',
      '--alerts',
      'off',
      '--composition',
      'gateway',
      '--baseline',
      '--http-flood',
      '8',
      '--flood-mib',
      '2.5',
      '--mqtt-flood',
      '6',
      '--mqtt-flood-mib',
      '100',
      '--soak',
      '--soak-interval',
      '10',
      '--snapshot-dir',
      '/tmp/snapshots',
      '--markdown',
      '--label',
      'x',
    );
    expect(parseIngestOptions()).toStrictEqual({
      db: 'none',
      terminals: 5000,
      duration: 180,
      warmup: 0,
      rate: 20000,
      maxInflight: 0,
      held: 2,
      connectRate: 1000,
      registerBatch: 250,
      gatewayEnv: { INGEST_BATCH_MAX_ROWS: '500' },
      alerts: 'off',
      composition: 'gateway',
      baseline: true,
      httpFlood: 8,
      floodMib: 2.5,
      mqttFlood: 6,
      mqttFloodMib: 100,
      soak: true,
      soakInterval: 10,
      snapshotDir: '/tmp/snapshots',
      markdown: true,
      label: 'x',
    });
  });

  it('bench:ingest bounds: --warmup may be 0 but not above 600, --register-batch at most 10000', () => {
    withArgs('--warmup', '601');
    expect(exitCode(parseIngestOptions)).toBe(64);
    withArgs('--register-batch', '10001');
    expect(exitCode(parseIngestOptions)).toBe(64);
    // MQTT's remaining length ends at 256 MiB - 1.
    withArgs('--mqtt-flood-mib', '256');
    expect(exitCode(parseIngestOptions)).toBe(64);
  });

  it('bench:ingest with an unknown option prints the error and the usage to stderr and exits 64', () => {
    withArgs('--bogus');
    expect(exitCode(parseIngestOptions)).toBe(64);
    const written = stderr.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(written).toContain('--bogus');
    expect(written).toContain('Usage: npm run bench:ingest -- [options]');
    expect(stdout).not.toHaveBeenCalled();
  });

  it('bench:ingest with a bad choice names the choices and exits 64', () => {
    withArgs('--db', 'sqlite');
    expect(exitCode(parseIngestOptions)).toBe(64);
    expect(String(stderr.mock.calls[0][0])).toContain('--db must be pglite, postgres or none, got sqlite');
  });

  it('bench:ingest --help prints the usage to stdout and exits 0', () => {
    withArgs('--help');
    expect(exitCode(parseIngestOptions)).toBe(0);
    expect(String(stdout.mock.calls[0][0])).toMatch(/^Usage: npm run bench:ingest -- \[options\]/);
    expect(stderr).not.toHaveBeenCalled();
  });

  it('bench:api has the documented defaults', () => {
    withArgs();
    expect(parseApiBenchOptions()).toStrictEqual({ terminals: 1_000_000, detail: 2000, pages: 200, summaries: 20, markdown: false });
  });

  it('bench:api allows 0 requests of a kind but not 0 terminals', () => {
    withArgs('--detail', '0', '--pages', '0', '--summaries', '0');
    expect(parseApiBenchOptions()).toMatchObject({ detail: 0, pages: 0, summaries: 0 });
    withArgs('--terminals', '0');
    expect(exitCode(parseApiBenchOptions)).toBe(64);
    expect(String(stderr.mock.calls[0][0])).toContain('--terminals must be a number in [1, 100000000], got 0');
  });

  it('bench:api -h prints its own usage', () => {
    withArgs('-h');
    expect(exitCode(parseApiBenchOptions)).toBe(0);
    expect(String(stdout.mock.calls[0][0])).toMatch(/^Usage: npm run bench:api -- \[options\]/);
  });

  it('bench:api refuses the ingest-only options', () => {
    withArgs('--db', 'pglite');
    expect(exitCode(parseApiBenchOptions)).toBe(64);
  });
});
