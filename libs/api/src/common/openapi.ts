import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiErrorCode } from './api-error.js';

type JsonSchema = Record<string, unknown>;

/**
 * OpenAPI 3.0 schema from the same zod schema that validates the request (io 'input': ZodBody,
 * ZodQuery and ZodParams through buildOpenApiDocument) or shapes the response.
 */
export function toOpenApi(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.values(ApiErrorCode)),
    message: z.string(),
    details: z.array(z.record(z.string(), z.unknown())).optional(),
    requestId: z.string(),
  }),
});

const ERROR_TEXT: Record<number, string> = {
  400: 'Validation failed (field-level details)',
  401: 'Missing or invalid API key',
  403: 'The role may not do this',
  404: 'Unknown id, or outside the caller\u2019s scope',
  409: 'Conflict with the current state',
  429: 'Rate limit exceeded for this key',
};

export function ApiOkZod(schema: z.ZodType, status = 200, description = 'OK'): MethodDecorator {
  return ApiResponse({ status, description, schema: toOpenApi(schema) });
}

export function ApiErrors(...statuses: number[]): MethodDecorator {
  const errorSchema = toOpenApi(errorBodySchema);
  return applyDecorators(...[401, 429, ...statuses].map((status) => ApiResponse({ status, description: ERROR_TEXT[status], schema: errorSchema })));
}
