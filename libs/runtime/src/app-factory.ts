import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module, type DynamicModule, type INestApplication, type NestApplicationOptions, type Type } from '@nestjs/common';
import type { Composition } from './compositions.js';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { HTTP_EDGE_SERVER_OPTIONS, installHttpEdge } from '#api';
import { ConfigModule, type AppConfig } from '#config';
import { DatabaseModule, openDatabase } from '#db';
import { createLogger, ObservabilityModule, PinoNestLogger, type Logger } from '#observability';

export interface RunningApp {
  app: INestApplication;
  config: AppConfig;
  logger: Logger;
  httpPort: number;
  close: () => Promise<void>;
}

@Module({})
class AppRootModule {
  static compose(config: AppConfig, db: Awaited<ReturnType<typeof openDatabase>>, features: readonly (Type | DynamicModule)[]): DynamicModule {
    return {
      module: AppRootModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(db), ObservabilityModule, ...features],
    };
  }
}

/**
 * Builds one process from feature modules: validated config, the database (embedded or external,
 * migrated first when configured), metrics/health over HTTP, then the features. Every composition
 * (single process, gateway, worker, tests) goes through here.
 */
/** Turns the composed root module into an application; tests pass one built on @nestjs/testing. */
export type AppInstantiator = (root: DynamicModule, adapter: FastifyAdapter, options: NestApplicationOptions) => Promise<NestFastifyApplication>;

const nestFactory: AppInstantiator = (root, adapter, options) => NestFactory.create<NestFastifyApplication>(root, adapter, options);

export async function createApp(options: {
  name: string;
  config: AppConfig;
  composition: Composition;
  logger?: Logger;
  instantiate?: AppInstantiator;
}): Promise<RunningApp> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel, name: options.name });
  const db = await openDatabase(config, {
    applicationName: options.name,
    entities: options.composition.entities,
    log: (msg) => logger.info(msg),
  });
  let app: NestFastifyApplication;
  try {
    app = await (options.instantiate ?? nestFactory)(
      AppRootModule.compose(config, db, options.composition.features),
      new FastifyAdapter({
        ...HTTP_EDGE_SERVER_OPTIONS,
        // Honour a caller's request id when it looks sane, otherwise mint one.
        genReqId: (req: { headers: IncomingMessage['headers'] }) => {
          const given = req.headers['x-request-id'];
          return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
        },
      }),
      // bodyParser off: the HTTP edge registers the only JSON parser (depth limit, poisoning refused).
      { logger: new PinoNestLogger(logger), abortOnError: false, bodyParser: false },
    );
    installHttpEdge(app, config);
    const fastify = app.getHttpAdapter().getInstance();
    fastify.addHook('onSend', async (request, reply) => {
      void reply.header('x-request-id', request.id);
      // Time spent in this process up to the response, so clients can tell server time from network.
      void reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(2)}`);
    });
    // Access log with the request id: mutations and errors at info, reads (and scrapes) at debug.
    fastify.addHook('onResponse', async (request, reply) => {
      const entry = { reqId: request.id, method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
      if (request.method !== 'GET' || reply.statusCode >= 500) logger.info(entry, 'http');
      else logger.debug(entry, 'http');
    });
    options.composition.setup?.(app);
    await app.listen(config.http.port, config.http.host);
  } catch (err) {
    await db.dataSource.destroy().catch(() => undefined);
    await db.embedded?.stop().catch(() => undefined);
    throw err;
  }
  const address = app.getHttpServer().address();
  const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
  logger.info({ httpPort, database: db.info }, `${options.name} started`);
  let closing: Promise<void> | null = null;
  return {
    app,
    config,
    logger,
    httpPort,
    close: () => (closing ??= closeGracefully(app)),
  };
}

/** In-flight HTTP requests get this long to finish once shutdown starts; then their sockets are cut. */
export const HTTP_CLOSE_GRACE_MS = 5_000;

/**
 * Closes the app without letting HTTP clients hold it open: a keep-alive socket, or one that never
 * sent a request, would keep the server's close waiting for Node's 60 s headers timeout, past the
 * process's shutdown deadline (and the embedded database would not be closed cleanly). Idle sockets
 * go at once; the rest after HTTP_CLOSE_GRACE_MS.
 */
async function closeGracefully(app: NestFastifyApplication): Promise<void> {
  const server = app.getHttpServer();
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
  cut.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}
