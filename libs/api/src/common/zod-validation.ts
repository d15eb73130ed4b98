import { Body, Param, Query, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { DomainException } from '#contracts';
import { ApiErrorCode } from './api-error.js';

type RequestPart = 'body' | 'query' | 'params';

/** Parses a request part with a zod schema; failures become 400 with field-level details. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, part: RequestPart): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new DomainException(
    ApiErrorCode.ValidationFailed,
    `invalid request ${part}`,
    result.error.issues.slice(0, 50).map((i) => ({ field: [part, ...i.path.map(String)].join('.'), message: i.message })),
  );
}

const PARTS: Partial<Record<ArgumentMetadata['type'], RequestPart>> = { body: 'body', query: 'query', param: 'params' };

/** Validates a parameter with the zod schema its decorator declared, and hands on the parsed value. */
const zodValidationPipe: PipeTransform = {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const part = PARTS[metadata.type];
    if (!part || !(metadata.schema instanceof z.ZodType)) throw new Error('ZodBody/ZodQuery/ZodParams without a zod schema');
    return validate(metadata.schema, value, part);
  },
};

/**
 * The request body, validated with `schema` (400 with field details) and documented from it:
 * @nestjs/swagger reads the schema off the route parameter (see buildOpenApiDocument). Type the
 * parameter as `z.output<typeof schema>`. ZodQuery and ZodParams work the same way.
 */
export const ZodBody = (schema: z.ZodType): ParameterDecorator => Body({ schema, pipes: [zodValidationPipe] });

/** Query parameters, documented one by one from the schema's properties. */
export const ZodQuery = (schema: z.ZodObject): ParameterDecorator => Query({ schema, pipes: [zodValidationPipe] });

/** Path parameters, documented one by one from the schema's properties. */
export const ZodParams = (schema: z.ZodObject): ParameterDecorator => Param({ schema, pipes: [zodValidationPipe] });
