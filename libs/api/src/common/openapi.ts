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
  413: 'Request body too large',
  415: 'Unsupported content type',
  429: 'Rate limit exceeded: per API key, or per client address without valid credentials (see Retry-After)',
  500: 'Internal error (logged with the requestId)',
};

/** Answers every operation can give: bad input, no key, rate limit, internal error. */
const ALWAYS = [400, 401, 429, 500];

export function ApiOkZod(schema: z.ZodType, status = 200, description = 'OK'): MethodDecorator {
  return ApiResponse({ status, description, schema: toOpenApi(schema) });
}

const integer = { schema: { type: 'integer' as const } };
/** Sent with 429 (RateLimit-* also with every answer a limiter counted): IETF RateLimit header draft. */
const RATE_LIMIT_HEADERS = {
  'Retry-After': { description: 'Seconds until the caller may try again', ...integer },
  'RateLimit-Limit': { description: 'Requests per minute allowed (per key, or per address without valid credentials)', ...integer },
  'RateLimit-Remaining': { description: 'Requests left in the current window', ...integer },
  'RateLimit-Reset': { description: 'Seconds until the window resets', ...integer },
};

export function ApiErrors(...statuses: number[]): MethodDecorator {
  const errorSchema = toOpenApi(errorBodySchema);
  const all = [...new Set([...ALWAYS, ...statuses])].sort((a, b) => a - b);
  return applyDecorators(
    ...all.map((status) =>
      ApiResponse({ status, description: ERROR_TEXT[status], schema: errorSchema, headers: status === 429 ? RATE_LIMIT_HEADERS : undefined }),
    ),
  );
}

/** A 204 answer (DELETE): done, no body. */
export function ApiNoContent(description: string): MethodDecorator {
  return ApiResponse({ status: 204, description });
}

type OperationObject = { requestBody?: unknown; responses: Record<string, unknown> };

/** Operations that take a body may also answer 413 and 415, with the same error body. */
export function addBodyErrors(paths: Record<string, Record<string, OperationObject>>): void {
  const content = { 'application/json': { schema: toOpenApi(errorBodySchema) } };
  for (const ops of Object.values(paths)) {
    for (const op of Object.values(ops)) {
      if (!op.requestBody) continue;
      for (const status of [413, 415]) op.responses[status] ??= { description: ERROR_TEXT[status], content };
    }
  }
}
