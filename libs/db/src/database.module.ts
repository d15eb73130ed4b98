import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '#config';
import { HealthService } from '#observability';
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
    embedded = await EmbeddedDatabase.start({ dataDir: config.database.dataDir, port: config.database.embeddedPort });
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
  ) {
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
