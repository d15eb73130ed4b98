import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '#config';
import { apiKeyFrom } from '../auth/api-auth.guard.js';
import { ApiKeyService } from '../auth/api-key.service.js';
import { Role } from '../auth/roles.js';

/** The one route that takes a raw body: an artifact upload. */
export const ARTIFACT_UPLOAD_ROUTE = '/v1/releases/:id/artifact';

function refusal(statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode });
}

/**
 * Hands `application/octet-stream` bodies of PUT /v1/releases/{id}/artifact to the handler as the
 * unread stream (the store streams it to disk), and refuses the type everywhere else (415), so no
 * other route ever sees a stream as its body. Before any byte is read it refuses callers that may
 * not upload (403) and a declared Content-Length over OTA_ARTIFACT_MAX_BYTES (413); Fastify closes
 * the connection on a parser refusal, so the unread body is never drained.
 */
@Injectable()
export class ArtifactBodyParser implements OnModuleInit {
  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(ApiKeyService) private readonly keys: ApiKeyService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter as { getInstance?: () => unknown } | undefined;
    const instance = adapter?.getInstance?.() as FastifyInstance | undefined;
    if (!instance || typeof instance.addContentTypeParser !== 'function' || instance.hasContentTypeParser('application/octet-stream')) return;
    instance.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      this.admit(request).then(
        () => done(null, payload),
        (err: Error) => done(err, undefined),
      );
    });
  }

  private async admit(request: FastifyRequest): Promise<void> {
    if (request.method !== 'PUT' || request.routeOptions.url !== ARTIFACT_UPLOAD_ROUTE) throw refusal(415, 'unsupported content type');
    // The edge authenticated the key already (cached); the role decides before the body is read.
    const token = apiKeyFrom(request.headers);
    const auth = token ? await this.keys.authenticate(token) : null;
    if (!auth) throw refusal(401, 'missing or invalid API key');
    if (auth.principal.role !== Role.OpsAdmin) throw refusal(403, 'only ops-admin uploads artifacts');
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > this.config.ota.artifactMaxBytes) throw refusal(413, 'request body too large');
  }
}
