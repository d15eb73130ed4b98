import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiQuery, ApiResponse } from '@nestjs/swagger';
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/** OpenAPI 3.0 schema from the same zod schema that validates the request or shapes the response. */
export function toOpenApi(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return json;
}

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum(['VALIDATION_FAILED', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'RATE_LIMITED', 'INTERNAL']),
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

export function ApiBodyZod(schema: z.ZodType): MethodDecorator {
  return ApiBody({ schema: toOpenApi(schema, 'input') });
}

export function ApiOkZod(schema: z.ZodType, status = 200, description = 'OK'): MethodDecorator {
  return ApiResponse({ status, description, schema: toOpenApi(schema) });
}

/** One ApiQuery per property of a zod object schema. */
export function ApiQueryZod(schema: z.ZodObject): MethodDecorator {
  const json = toOpenApi(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  const required = new Set(json.required ?? []);
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, prop]) =>
      ApiQuery({ name, required: required.has(name), schema: prop, description: typeof prop.description === 'string' ? prop.description : undefined }),
    ),
  );
}

export function ApiErrors(...statuses: number[]): MethodDecorator {
  const errorSchema = toOpenApi(errorBodySchema);
  return applyDecorators(...[401, 429, ...statuses].map((status) => ApiResponse({ status, description: ERROR_TEXT[status], schema: errorSchema })));
}
