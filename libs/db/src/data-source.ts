import 'reflect-metadata';
import pg from 'pg';
import { DataSource } from 'typeorm';

/** Entity classes a composition maps with TypeORM; libs/db stays free of any feature's entities. */
export type EntityList = readonly (new () => object)[];

const QUERY_TIMEOUT_MS = 60_000;
type QueryFn = (...args: unknown[]) => unknown;

/**
 * A pg client that drops its connection when a query times out (`query_timeout`). pg reports the
 * timeout but keeps waiting on that connection for the lost reply, so every later query on it
 * hangs as well, and the pool keeps handing it out: with a pool of one (the embedded database)
 * nothing is ever written again. Closing it makes the pool discard it and open a new one.
 * Workaround for https://github.com/brianc/node-postgres/issues/3399.
 */
export class TimeoutSafeClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = super.query.bind(this) as QueryFn;
    const dropOnTimeout = (err: unknown) => {
      // end() marks the client as ending at once (the pool then discards it on release) and, with a
      // query still active, destroys the socket instead of waiting for the reply.
      if (err instanceof Error && err.message === 'Query read timeout') this.end().catch(() => undefined);
    };
    // An own property: pg.Client#query has a dozen overloads to keep, and TypeORM calls it with and without a callback.
    Object.defineProperty(this, 'query', {
      value: (...args: unknown[]): unknown => {
        const last = args[args.length - 1];
        if (typeof last === 'function') {
          const callback = last as (err: unknown, ...rest: unknown[]) => void;
          args[args.length - 1] = (err: unknown, ...rest: unknown[]) => {
            dropOnTimeout(err);
            callback(err, ...rest);
          };
          return query(...args);
        }
        const result = query(...args);
        if (result instanceof Promise) {
          return result.catch((err: unknown) => {
            dropOnTimeout(err);
            throw err;
          });
        }
        return result;
      },
    });
  }
}

/** One DataSource factory for the apps and the CLI. Schema changes only through migrations. */
export function createDataSource(options: {
  url: string;
  poolSize: number;
  applicationName?: string;
  entities?: EntityList;
  /** A query without a reply for this long fails and its connection is replaced (default 60 s). */
  queryTimeoutMs?: number;
}): DataSource {
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
      query_timeout: options.queryTimeoutMs ?? QUERY_TIMEOUT_MS,
      keepAlive: true,
      Client: TimeoutSafeClient,
    },
  });
}
