import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

/** Large enough for IMPORT_MAX_ROWS rows of the registry's CSV columns. */
export const CSV_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * Lets `text/csv` request bodies through as strings (POST /v1/terminals/import). Registered only by
 * processes that include the API module, on their Fastify instance; gateway and worker processes
 * keep refusing the type. Routes that do not expect a string body reject it in validation.
 */
@Injectable()
export class CsvBodyParser implements OnModuleInit {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    // No HTTP adapter in a standalone application context (CLI).
    const adapter = this.adapterHost.httpAdapter as { getInstance?: () => unknown } | undefined;
    const instance = adapter?.getInstance?.() as FastifyInstance | undefined;
    if (!instance || typeof instance.addContentTypeParser !== 'function' || instance.hasContentTypeParser('text/csv')) return;
    instance.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: CSV_BODY_LIMIT }, (_request, body, done) => done(null, body));
  }
}
