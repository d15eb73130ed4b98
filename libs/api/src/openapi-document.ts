import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiModule } from './api.module.js';
import { toOpenApi } from './common/openapi.js';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('POS fleet API')
    .setDescription(
      'Providers, terminals, API keys and audit for the e-signature POS terminal fleet. ' +
        'Authenticate with an API key: `Authorization: Bearer fk_...`. Provider keys see only their provider\u2019s subtree; ' +
        'anything outside it answers 404. Errors share one body: `{ "error": { code, message, details?, requestId } }`.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key (fk_...)' })
    .build();
  return SwaggerModule.createDocument(app, config, {
    // Only the versioned API; operator and metrics endpoints are documented in the README.
    include: [ApiModule],
    deepScanRoutes: true,
    // Request schemas of ZodBody/ZodQuery/ZodParams, converted like the response schemas.
    standardSchemaConverter: (schema, { schemaType }) => (schema instanceof z.ZodType ? { schema: toOpenApi(schema, schemaType) } : undefined),
  });
}

/** Serves Swagger UI at /docs and the JSON at /docs/openapi.json. */
export function mountApiDocs(app: INestApplication): void {
  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
}
