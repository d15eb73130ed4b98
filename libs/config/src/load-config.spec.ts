import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
  assert.ok(caught instanceof ConfigError, `expected ConfigError for ${JSON.stringify(overrides)}, got ${String(caught)}`);
  assert.equal(caught.name, 'ConfigError');
  for (const name of names) assert.match(caught.message, new RegExp(`\\b${name}\\b`), `message should name ${name}: ${caught.message}`);
  return caught.message;
}

describe('loadConfig defaults', () => {
  it('uses the embedded database with one connection and migrations on start when DATABASE_URL is unset', () => {
    const c = load();
    assert.equal(c.env, 'development');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.database.url, null);
    assert.equal(c.database.poolSize, 1);
    assert.equal(c.database.migrateOnStart, true);
    assert.equal(c.database.timescale, 'auto');
    assert.equal(c.database.dataDir, './data');
    assert.equal(c.database.embeddedPort, 0);
  });

  it('has the documented service defaults', () => {
    const c = load();
    assert.equal(c.mqtt.host, '0.0.0.0');
    assert.equal(c.mqtt.port, 1883);
    assert.equal(c.mqtt.maxConnections, 200_000);
    assert.equal(c.http.port, 8080);
    assert.equal(c.auth.pepper, null);
    assert.equal(c.auth.adminToken, null);
    assert.equal(c.auth.cacheTtlMs, 30_000);
    assert.equal(c.auth.cacheMaxEntries, 500_000);
    assert.deepEqual(c.heartbeat, { maxBytes: 8192, maxFutureSkewS: 600, maxAgeS: 7 * 86_400 });
    assert.deepEqual(c.ingest, { batchMaxRows: 2000, batchMaxWaitMs: 100, bufferMaxRows: 20_000, ackTimeoutMs: 30_000, retryMaxBackoffMs: 5000 });
    assert.equal(c.telemetry.retention, '90 days');
  });

  it('ignores the process environment when given an explicit env object', () => {
    const saved = process.env.MQTT_PORT;
    process.env.MQTT_PORT = '9999';
    try {
      assert.equal(loadConfig({}).mqtt.port, 1883);
      assert.equal(loadConfig({}, {}).mqtt.port, 1883);
    } finally {
      if (saved === undefined) delete process.env.MQTT_PORT;
      else process.env.MQTT_PORT = saved;
    }
  });
});

describe('loadConfig values', () => {
  it('parses numbers and booleans from strings', () => {
    const c = load({ MQTT_PORT: '1884', HTTP_PORT: '0', HEARTBEAT_MAX_BYTES: '256', MIGRATE_ON_START: 'no', LOG_LEVEL: 'debug' });
    assert.equal(c.mqtt.port, 1884);
    assert.equal(c.http.port, 0);
    assert.equal(c.heartbeat.maxBytes, 256);
    assert.equal(c.database.migrateOnStart, false, 'explicit false wins over the embedded default');
    assert.equal(c.logLevel, 'debug');
  });

  it('uses the pool size and no automatic migrations with an external database', () => {
    const c = load({ DATABASE_URL: EXTERNAL_URL });
    assert.equal(c.database.url, EXTERNAL_URL);
    assert.equal(c.database.poolSize, 10);
    assert.equal(c.database.migrateOnStart, false);
    assert.equal(load({ DATABASE_URL: EXTERNAL_URL, DATABASE_POOL_SIZE: '25', MIGRATE_ON_START: '1' }).database.poolSize, 25);
    assert.equal(load({ DATABASE_URL: EXTERNAL_URL, MIGRATE_ON_START: 'true' }).database.migrateOnStart, true);
    assert.equal(load({ DATABASE_URL: 'postgresql://db/pos' }).database.url, 'postgresql://db/pos');
  });

  it('forces one connection for the embedded database whatever DATABASE_POOL_SIZE says', () => {
    assert.equal(load({ DATABASE_POOL_SIZE: '25' }).database.poolSize, 1);
  });

  it('keeps the buffer at least one batch', () => {
    const c = load({ INGEST_BATCH_MAX_ROWS: '5000', INGEST_BUFFER_MAX_ROWS: '100' });
    assert.equal(c.ingest.batchMaxRows, 5000);
    assert.equal(c.ingest.bufferMaxRows, 5000);
  });

  it('lets overrides win over env, and falls back to env for other keys', () => {
    const c = loadConfig({ MQTT_PORT: '1884', HTTP_PORT: '8081' }, { MQTT_PORT: '1885' });
    assert.equal(c.mqtt.port, 1885);
    assert.equal(c.http.port, 8081);
  });

  it('treats empty strings as unset', () => {
    const c = load({ MQTT_PORT: '', DATABASE_URL: '', LOG_LEVEL: '', CREDENTIAL_PEPPER: '', MIGRATE_ON_START: '' });
    assert.equal(c.mqtt.port, 1883);
    assert.equal(c.database.url, null);
    assert.equal(c.database.poolSize, 1);
    assert.equal(c.database.migrateOnStart, true);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.auth.pepper, null, 'an empty pepper is not a (too short) pepper');
    assert.equal(loadConfig({ MQTT_PORT: '' }).mqtt.port, 1883, 'empty in env too');
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
    assert.doesNotMatch(message, /\bHTTP_PORT\b/, 'valid settings are not mentioned');
  });

  it('requires CREDENTIAL_PEPPER in production with an external database', () => {
    expectConfigError({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL }, 'CREDENTIAL_PEPPER');
    expectConfigError({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL, CREDENTIAL_PEPPER: '' }, 'CREDENTIAL_PEPPER');
    const c = load({ NODE_ENV: 'production', DATABASE_URL: EXTERNAL_URL, CREDENTIAL_PEPPER: PEPPER });
    assert.equal(c.auth.pepper, PEPPER);
    assert.equal(c.env, 'production');
  });

  it('does not require a pepper in production with the embedded database, or outside production', () => {
    assert.equal(load({ NODE_ENV: 'production' }).auth.pepper, null);
    assert.equal(load({ NODE_ENV: 'development', DATABASE_URL: EXTERNAL_URL }).auth.pepper, null);
    assert.equal(load({ NODE_ENV: 'test', DATABASE_URL: EXTERNAL_URL }).auth.pepper, null);
  });
});
