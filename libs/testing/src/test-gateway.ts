import { DataSource } from 'typeorm';
import { BrokerService } from '#broker';
import { loadConfig, type AppConfig } from '#config';
import { createLogger } from '#observability';
import { createApp, SINGLE_PROCESS, type RunningApp } from '#runtime';
import { TerminalRegistryService } from '#terminals';
import type { TestDatabase } from './test-database.js';

export const TEST_PEPPER = 'test-pepper-0123456789abcdef0123456789abcdef';
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestGateway {
  running: RunningApp;
  config: AppConfig;
  mqttUrl: string;
  httpUrl: string;
  dataSource: DataSource;
  registry: TerminalRegistryService;
  broker: BrokerService;
  /** Registers terminals and returns their secrets by SN. */
  register(sns: string[], model?: string): Promise<Map<string, string>>;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** The single-process composition on ephemeral ports against a test database. */
export async function startTestGateway(db: TestDatabase, env: Record<string, string> = {}): Promise<TestGateway> {
  const config = loadConfig(
    {},
    {
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: db.kind === 'pglite' ? '1' : '8',
      MIGRATE_ON_START: 'true',
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      CREDENTIAL_PEPPER: TEST_PEPPER,
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      INGEST_BATCH_MAX_WAIT_MS: '20',
      INGEST_RETRY_MAX_BACKOFF_MS: '500',
      ...env,
    },
  );
  const running = await createApp({
    name: 'test-gateway',
    config,
    composition: SINGLE_PROCESS,
    logger: createLogger({ level: config.logLevel, name: 'test' }),
  });
  const broker = running.app.get(BrokerService);
  const dataSource = running.app.get(DataSource);
  const registry = running.app.get(TerminalRegistryService);
  return {
    running,
    config,
    mqttUrl: `mqtt://127.0.0.1:${broker.port}`,
    httpUrl: `http://127.0.0.1:${running.httpPort}`,
    dataSource,
    registry,
    broker,
    async register(sns, model = 'EP-T1') {
      const result = await registry.register(sns.map((sn) => ({ sn, model })));
      if (result.errors.length) throw new Error(`registration failed: ${JSON.stringify(result.errors)}`);
      return new Map(result.credentials.map((c) => [c.sn, c.secret]));
    },
    query: (sql, params = []) => dataSource.query(sql, params),
    close: () => running.close(),
  };
}

/** One sample from the app's Prometheus endpoint (0 when the series does not exist yet). */
export async function scrapeMetric(httpUrl: string, name: string, labels = ''): Promise<number> {
  const body = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}
