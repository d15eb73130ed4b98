import 'reflect-metadata';
import { DataSource } from 'typeorm';

/** Entity classes a composition maps with TypeORM; libs/db stays free of any feature's entities. */
export type EntityList = readonly (new () => object)[];

/** One DataSource factory for the apps and the CLI. Schema changes only through migrations. */
export function createDataSource(options: { url: string; poolSize: number; applicationName?: string; entities?: EntityList }): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: [...(options.entities ?? [])],
    synchronize: false,
    migrationsRun: false,
    // TypeORM would otherwise CREATE EXTENSION "uuid-ossp" on connect for uuid-generated columns.
    installExtensions: false,
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
