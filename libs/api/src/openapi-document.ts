import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiModule } from './api.module.js';
import { addBodyErrors, toOpenApi } from './common/openapi.js';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('POS fleet API')
    .setDescription(
      'Providers, terminals, API keys and audit for the e-signature POS terminal fleet. ' +
        'Authenticate with an API key: `Authorization: Bearer fk_...`. Provider keys see only their provider\u2019s subtree; ' +
        'anything outside it answers 404. Errors share one body: `{ "error": { code, message, details?, requestId } }`.',
    )
    .setVersion('1')
    // API keys are opaque tokens (not JWTs), sent as a bearer token or in X-API-Key.
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'fk_ API key', description: 'Authorization: Bearer fk_...' }, 'bearer')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key, in a header of its own' }, 'api-key')
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    // Only the versioned API; operator and metrics endpoints are documented in the README.
    include: [ApiModule],
    deepScanRoutes: true,
    // Request schemas of ZodBody/ZodQuery/ZodParams, converted like the response schemas.
    standardSchemaConverter: (schema, { schemaType }) => (schema instanceof z.ZodType ? { schema: toOpenApi(schema, schemaType) } : undefined),
  });
  addBodyErrors(document.paths as unknown as Parameters<typeof addBodyErrors>[0]);
  return document;
}

/** Serves Swagger UI at /docs and the JSON at /docs/openapi.json. */
export function mountApiDocs(app: INestApplication): void {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
}
