import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ApiKeyService, Role } from '#api';
import { BrokerService } from '#broker';
import { loadConfig, type AppConfig } from '#config';
import { createLogger } from '#observability';
import { createApp, SINGLE_PROCESS, type AppInstantiator, type Composition, type RunningApp } from '#runtime';
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
  /** Issues an API key straight through the service (no HTTP, no audit actor); ops-admin by default. */
  issueKey(name?: string, role?: Role, providerId?: string | null): Promise<string>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Defaults to the single-process composition (`npm start`). */
  composition?: Composition;
  /** Seams: e.g. `(b) => b.overrideProvider(Clock).useValue(fakeClock)`. */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

/** Builds the app the way the Nest docs show for tests: a TestingModule, then its application. */
function testingInstantiator(override: TestGatewayOptions['override']): AppInstantiator {
  return async (root, adapter, options) => {
    const builder = Test.createTestingModule({ imports: [root] });
    const moduleRef = await (override ? override(builder) : builder).compile();
    return moduleRef.createNestApplication<NestFastifyApplication>(adapter, options);
  };
}

/** A composition (single process by default) on ephemeral ports against a test database. */
export async function startTestGateway(db: TestDatabase, env: Record<string, string> = {}, options: TestGatewayOptions = {}): Promise<TestGateway> {
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
    composition: options.composition ?? SINGLE_PROCESS,
    logger: createLogger({ level: config.logLevel, name: 'test' }),
    instantiate: testingInstantiator(options.override),
  });
  const dataSource = running.app.get(DataSource);
  const registry = running.app.get(TerminalRegistryService);
  // Compositions without the broker (the API process alone) have no MQTT side.
  const maybeBroker = (() => {
    try {
      return running.app.get(BrokerService, { strict: false });
    } catch {
      return undefined;
    }
  })();
  const requireBroker = (): BrokerService => {
    if (!maybeBroker) throw new Error('this test gateway runs a composition without the MQTT broker');
    return maybeBroker;
  };
  return {
    running,
    config,
    get mqttUrl() {
      return `mqtt://127.0.0.1:${requireBroker().port}`;
    },
    httpUrl: `http://127.0.0.1:${running.httpPort}`,
    dataSource,
    registry,
    get broker() {
      return requireBroker();
    },
    async register(sns, model = 'EP-T1') {
      const result = await registry.register(sns.map((sn) => ({ sn, model })));
      if (result.errors.length) throw new Error(`registration failed: ${JSON.stringify(result.errors)}`);
      return new Map(result.credentials.map((c) => [c.sn, c.secret]));
    },
    query: (sql, params = []) => dataSource.query(sql, params),
    issueKey: async (name = 'ops', role = Role.OpsAdmin, providerId = null) =>
      (await running.app.get(ApiKeyService).issue({ name, role, providerId, createdBy: null })).token,
    close: () => running.close(),
  };
}

/** One sample from the app's Prometheus endpoint (0 when the series does not exist yet). */
export async function scrapeMetric(httpUrl: string, name: string, labels = ''): Promise<number> {
  const body = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}
