import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from './load-config.js';

const EXTERNAL_URL = 'postgres://pos:secret@db.internal:5432/pos';
const PEPPER = 'p'.repeat(32);

/** Loads with an empty environment so the machine's variables cannot leak in. */
const load = (overrides: Record<string, string> = {}) => loadConfig({}, overrides);

function expectConfigError(overrides: Record<string, string>, ...names: string[]): string {
  let caught: unknown;
  try {
    load(overrides);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  if (!(caught instanceof ConfigError)) throw caught;
  expect(caught.name).toBe('ConfigError');
  for (const name of names) expect(caught.message).toMatch(new RegExp(`\\b${name}\\b`));
  return caught.message;
}

describe('loadConfig defaults', () => {
  it('uses the embedded database with one connection and migrations on start when DATABASE_URL is unset', () => {
    const c = load();
    expect(c.env).toBe('development');
    expect(c.logLevel).toBe('info');
    expect(c.database.url).toBe(null);
    expect(c.database.poolSize).toBe(1);
    expect(c.database.migrateOnStart).toBe(true);
    expect(c.database.timescale).toBe('auto');
    expect(c.database.dataDir).toBe('./data');
    expect(c.database.embeddedPort).toBe(0);
  });

  it('has the documented service defaults', () => {
    const c = load();
    expect(c.mqtt.host).toBe('0.0.0.0');
    expect(c.mqtt.port).toBe(1883);
    expect(c.mqtt.maxConnections).toBe(200_000);
    expect(c.http.port).toBe(8080);
    expect(c.auth.pepper).toBe(null);
    expect(c.auth.adminToken).toBe(null);
    expect(c.auth.cacheTtlMs).toBe(30_000);
    expect(c.auth.cacheMaxEntries).toBe(500_000);
    expect(c.heartbeat).toStrictEqual({ maxBytes: 8192, maxFutureSkewS: 600, maxAgeS: 7 * 86_400 });
    expect(c.ingest).toStrictEqual({
      batchMaxRows: 2000,
      batchMaxWaitMs: 100,
      bufferMaxRows: 20_000,
      ackTimeoutMs: 30_000,
      retryMaxBackoffMs: 5000,
      turnMaxUnits: 256,
      turnBudgetMs: 5,
    });
    expect(c.telemetry.retention).toBe('90 days');
  });

  it('ignores the process environment when given an explicit env object', () => {
    const saved = process.env.MQTT_PORT;
    process.env.MQTT_PORT = '9999';
    try {
      expect(loadConfig({}).mqtt.port).toBe(1883);
      expect(loadConfig({}, {}).mqtt.port).toBe(1883);
    } finally {
      if (saved === undefined) delete process.env.MQTT_PORT;
      else process.env.MQTT_PORT = saved;
    }
  });
});

describe('loadConfig values', () => {
  it('parses numbers and booleans from strings', () => {
    const c = load({ MQTT_PORT: '1884', HTTP_PORT: '0', HEARTBEAT_MAX_BYTES: '256', MIGRATE_ON_START: 'no', LOG_LEVEL: 'debug' });
    expect(c.mqtt.port).toBe(1884);
    expect(c.http.port).toBe(0);
    expect(c.heartbeat.maxBytes).toBe(256);
    expect(c.database.migrateOnStart).toBe(false);
    expect(c.logLevel).toBe('debug');
  });

  it('uses the pool size and no automatic migrations with an external database', () => {
    const c = load({ DATABASE_URL: EXTERNAL_URL });
    expect(c.database.url).toBe(EXTERNAL_URL);
    expect(c.database.poolSize).toBe(10);
    expect(c.database.migrateOnStart).toBe(false);
    expect(load({ DATABASE_URL: EXTERNAL_URL, DATABASE_POOL_SIZE: '25', MIGRATE_ON_START: '1' }).database.poolSize).toBe(25);
    expect(load({ DATABASE_URL: EXTERNAL_URL, MIGRATE_ON_START: 'true' }).database.migrateOnStart).toBe(true);
    expect(load({ DATABASE_URL: 'postgresql://db/pos' }).database.url).toBe('postgresql://db/pos');
  });

  it('forces one connection for the embedded database whatever DATABASE_POOL_SIZE says', () => {
    expect(load({ DATABASE_POOL_SIZE: '25' }).database.poolSize).toBe(1);
  });

  it('keeps the buffer at least one batch', () => {
    const c = load({ INGEST_BATCH_MAX_ROWS: '5000', INGEST_BUFFER_MAX_ROWS: '100' });
    expect(c.ingest.batchMaxRows).toBe(5000);
    expect(c.ingest.bufferMaxRows).toBe(5000);
  });

  it('lets overrides win over env, and falls back to env for other keys', () => {
    const c = loadConfig({ MQTT_PORT: '1884', HTTP_PORT: '8081' }, { MQTT_PORT: '1885' });
    expect(c.mqtt.port).toBe(1885);
    expect(c.http.port).toBe(8081);
  });

  it('runs alert evaluation by default, every 250 ms, with a sweep every minute; ALERTS_ENABLED=false turns it off', () => {
    expect(load().alerts).toStrictEqual({
      enabled: true,
      evalIntervalMs: 250,
      evalBatchTerminals: 500,
      evalMaxHeartbeats: 200,
      sweepIntervalMs: 60_000,
      sweepPageSize: 2000,
      sweepFullEveryMs: 21_600_000,
    });
    expect(load({ ALERTS_ENABLED: 'false' }).alerts.enabled).toBe(false);
    expect(load({ ALERTS_ENABLED: '0', ALERTS_EVAL_INTERVAL_MS: '50', ALERTS_SWEEP_INTERVAL_MS: '5000' }).alerts).toMatchObject({
      enabled: false,
      evalIntervalMs: 50,
      sweepIntervalMs: 5000,
    });
    expectConfigError({ ALERTS_ENABLED: 'maybe', ALERTS_EVAL_INTERVAL_MS: '0' }, 'ALERTS_ENABLED', 'ALERTS_EVAL_INTERVAL_MS');
  });

  it('treats empty strings as unset', () => {
    const c = load({ MQTT_PORT: '', DATABASE_URL: '', LOG_LEVEL: '', CREDENTIAL_PEPPER: '', MIGRATE_ON_START: '' });
    expect(c.mqtt.port).toBe(1883);
    expect(c.database.url).toBe(null);
    expect(c.database.poolSize).toBe(1);
    expect(c.database.migrateOnStart).toBe(true);
    expect(c.logLevel).toBe('info');
    expect(c.auth.pepper).toBe(null);
    expect(loadConfig({ MQTT_PORT: '' }).mqtt.port).toBe(1883);
  });
});

describe('loadConfig errors', () => {
  it('throws ConfigError naming the variable for a non-numeric port', () => {
    expectConfigError({ MQTT_PORT: 'abc' }, 'MQTT_PORT');
  });

  it('throws for out-of-range numbers', () => {
    expectConfigError({ HEARTBEAT_MAX_BYTES: '1' }, 'HEARTBEAT_MAX_BYTES');
    expectConfigError({ MQTT_PORT: '65536' }, 'MQTT_PORT');
    expectConfigError({ HTTP_PORT: '-1' }, 'HTTP_PORT');
    expectConfigError({ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE');
    expectConfigError({ INGEST_BATCH_MAX_ROWS: '1.5' }, 'INGEST_BATCH_MAX_ROWS');
  });

  it('throws for bad enums, booleans, URLs and short secrets', () => {
    expectConfigError({ NODE_ENV: 'staging' }, 'NODE_ENV');
    expectConfigError({ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL');
    expectConfigError({ MIGRATE_ON_START: 'maybe' }, 'MIGRATE_ON_START');
    expectConfigError({ DATABASE_URL: 'mysql://db/pos' }, 'DATABASE_URL');
    expectConfigError({ DATABASE_URL: 'not a url' }, 'DATABASE_URL');
    expectConfigError({ CREDENTIAL_PEPPER: 'short' }, 'CREDENTIAL_PEPPER');
    expectConfigError({ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN');
    expectConfigError({ TELEMETRY_RETENTION: '3 weeks' }, 'TELEMETRY_RETENTION');
  });

  it('names every bad variable in one message', () => {
    const message = expectConfigError({ MQTT_PORT: 'abc', HEARTBEAT_MAX_BYTES: '1', NODE_ENV: 'prod' }, 'MQTT_PORT', 'HEARTBEAT_MAX_BYTES', 'NODE_ENV');
    expect(message).not.toMatch(/\bHTTP_PORT\b/);
  });

  it('requires CREDENTIAL_PEPPER in production with an external database', () => {
    expectConfigError({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL }, 'CREDENTIAL_PEPPER');
    expectConfigError({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL, CREDENTIAL_PEPPER: '' }, 'CREDENTIAL_PEPPER');
    const c = load({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL, CREDENTIAL_PEPPER: PEPPER });
    expect(c.auth.pepper).toBe(PEPPER);
    expect(c.env).toBe('production');
  });

  it('does not require a pepper in production with the embedded database, or outside production', () => {
    expect(load({ NODE_ENV: 'production' }).auth.pepper).toBe(null);
    expect(load({ NODE_ENV: 'development', DATABASE_URL: EXTERNAL_URL }).auth.pepper).toBe(null);
    expect(load({ NODE_ENV: 'test', DATABASE_URL: EXTERNAL_URL }).auth.pepper).toBe(null);
  });
});
