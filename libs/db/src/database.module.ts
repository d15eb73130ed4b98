import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import type { AppConfig } from '#config';
import { HealthService, MetricsService } from '#observability';
import { createDataSource, type EntityList } from './data-source.js';
import { DATABASE_INFO, DatabaseFlavor, type DatabaseInfo } from './database-mode.js';
import { EmbeddedDatabase } from './embedded-database.js';
import { migrate, readFlavor } from './migrator.js';
import { AuditLogRepository } from './audit-log.repository.js';
import { TimeseriesRepository } from './timeseries.repository.js';

export const EMBEDDED_DATABASE = Symbol('EMBEDDED_DATABASE');

/** Opens (and with embedded defaults, starts) the database; optionally migrates before anything else runs. */
export async function openDatabase(
  config: AppConfig,
  options: { applicationName: string; entities?: EntityList; log?: (msg: string) => void },
): Promise<{ dataSource: DataSource; info: DatabaseInfo; embedded: EmbeddedDatabase | null }> {
  const log = options.log ?? (() => undefined);
  let embedded: EmbeddedDatabase | null = null;
  let url = config.database.url;
  if (url === null) {
    embedded = await EmbeddedDatabase.start({
      dataDir: config.database.dataDir,
      port: config.database.embeddedPort,
      // Surfaced, not swallowed: the client's connection was dropped and it reconnects.
      onError: (message) => new Logger('EmbeddedDatabase').error(message),
      // No onCrash: a dead worker is an uncaught exception that ends the process with its stack
      // (a supervisor restarts it), rather than a gateway that accepts heartbeats it cannot store.
    });
    url = embedded.url;
    log(`embedded PGlite+TimescaleDB listening on 127.0.0.1:${embedded.port} (data in ${config.database.dataDir})`);
  }
  const dataSource = createDataSource({
    url,
    poolSize: config.database.poolSize,
    applicationName: options.applicationName,
    entities: options.entities,
  });
  try {
    await dataSource.initialize();
    let flavor: DatabaseFlavor | null;
    if (config.database.migrateOnStart) {
      const result = await migrate(dataSource, { timescale: config.database.timescale, log });
      flavor = result.flavor;
    } else {
      flavor = await readFlavor(dataSource);
      if (flavor === null) throw new Error('database schema is not migrated: run `npm run migrate` first');
    }
    return { dataSource, info: { flavor, embedded: embedded !== null }, embedded };
  } catch (err) {
    await dataSource.destroy().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }
}

class DatabaseLifecycle implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(EMBEDDED_DATABASE) private readonly embedded: EmbeddedDatabase | null,
    @Inject(HealthService) health: HealthService,
    @Inject(MetricsService) metrics: MetricsService,
  ) {
    if (embedded) registerEmbeddedMetrics(metrics, embedded);
    health.register('database', async () => {
      await this.dataSource.query('SELECT 1');
      return { name: 'database', ok: true };
    });
  }

  /** Runs after every beforeApplicationShutdown hook, so writers have flushed. */
  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    if (this.embedded) {
      await this.embedded.stop();
      this.logger.log('embedded database closed');
    }
  }
}

/** The worker thread's memory, which the process's default metrics (main thread only) do not see. */
function registerEmbeddedMetrics(metrics: MetricsService, embedded: EmbeddedDatabase): void {
  const registers = [metrics.registry];
  let last: Promise<Awaited<ReturnType<EmbeddedDatabase['stats']>> | null> | null = null;
  // One stats call per scrape for both gauges.
  const stats = () => {
    last ??= embedded
      .stats()
      .catch(() => null)
      .finally(() => setTimeout(() => (last = null), 100).unref());
    return last;
  };
  new Gauge({
    name: 'fleet_embedded_db_heap_used_bytes',
    help: 'V8 heap in use by the embedded database worker thread',
    registers,
    async collect() {
      const s = await stats();
      if (s) this.set(s.heapUsed);
    },
  });
  new Gauge({
    name: 'fleet_embedded_db_wasm_memory_bytes',
    help: "PGlite's WASM linear memory in the embedded database worker thread",
    registers,
    async collect() {
      const s = await stats();
      if (s?.wasmMemory != null) this.set(s.wasmMemory);
    },
  });
}

@Global()
@Module({})
export class DatabaseModule {
  static forRoot(opened: { dataSource: DataSource; info: DatabaseInfo; embedded: EmbeddedDatabase | null }): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        { provide: DataSource, useValue: opened.dataSource },
        { provide: DATABASE_INFO, useValue: opened.info },
        { provide: EMBEDDED_DATABASE, useValue: opened.embedded },
        {
          provide: TimeseriesRepository,
          useFactory: (ds: DataSource, info: DatabaseInfo) => new TimeseriesRepository(ds, info),
          inject: [DataSource, DATABASE_INFO],
        },
        AuditLogRepository,
        DatabaseLifecycle,
      ],
      exports: [DataSource, DATABASE_INFO, EMBEDDED_DATABASE, TimeseriesRepository, AuditLogRepository],
    };
  }
}
