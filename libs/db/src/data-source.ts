import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ENTITIES } from './entities/index.js';

/** One DataSource factory for the apps and the CLI. Schema changes only through migrations. */
export function createDataSource(options: { url: string; poolSize: number; applicationName?: string }): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: ENTITIES,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: options.applicationName ?? 'pos-fleet',
    extra: {
      max: options.poolSize,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      // A dead server must not hang the ingest loop forever.
      query_timeout: 60_000,
      keepAlive: true,
    },
  });
}
