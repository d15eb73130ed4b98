import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { buildOpenApiDocument } from '#api';
import { ConfigModule, loadConfig } from '#config';
import { createDataSource, DatabaseFlavor, DatabaseModule } from '#db';
import { ObservabilityModule } from '#observability';
import { API } from '#runtime';

export const OPENAPI_FILE = 'docs/openapi.json';

/**
 * The OpenAPI document as the code declares it. Built from the API composition with a database
 * handle that is never connected: route metadata needs no data.
 */
export async function generateOpenApiJson(): Promise<string> {
  const config = loadConfig(
    {},
    { DATABASE_URL: 'postgres://openapi@127.0.0.1:1/openapi', CREDENTIAL_PEPPER: 'openapi-generation-pepper-0123456789', LOG_LEVEL: 'silent' },
  );
  const dataSource = createDataSource({ url: config.database.url ?? '', poolSize: 1, entities: API.entities });
  @Module({
    imports: [
      ConfigModule.forRoot(config),
      DatabaseModule.forRoot({ dataSource, info: { flavor: DatabaseFlavor.Plain, embedded: false }, embedded: null }),
      ObservabilityModule,
      ...API.features,
    ],
  })
  class OpenApiModule {}
  const app = await NestFactory.create(OpenApiModule, new FastifyAdapter(), { logger: false });
  try {
    return `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
