import type { z } from 'zod';
import { ApiErrorCode, ApiException } from './api-error.js';

/** Parses a request part with a zod schema; failures become 400 with field-level details. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, part: 'body' | 'query' | 'params' = 'body'): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ApiException(
    ApiErrorCode.ValidationFailed,
    `invalid request ${part}`,
    result.error.issues.slice(0, 50).map((i) => ({ field: [part, ...i.path.map(String)].join('.'), message: i.message })),
  );
}
