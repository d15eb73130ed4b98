import { Body, Param, Query, type ArgumentMetadata, type CanActivate, type ExecutionContext, type PipeTransform } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { DomainException } from '#contracts';
import { ApiErrorCode } from './api-error.js';

type RequestPart = 'body' | 'query' | 'params';

interface Issue {
  field: string;
  message: string;
}

const MAX_ISSUES = 50;

/**
 * NUL characters anywhere in the input (values and keys, nested): Postgres refuses them in text,
 * so they must be a 400 naming the field here rather than a database error later.
 */
function nulIssues(input: unknown, path: string[], out: Issue[], depth = 0): void {
  if (out.length >= MAX_ISSUES || depth > 64) return;
  if (typeof input === 'string') {
    if (input.includes('\0')) out.push({ field: path.join('.'), message: 'must not contain NUL characters' });
  } else if (Array.isArray(input)) {
    input.forEach((item, i) => nulIssues(item, [...path, String(i)], out, depth + 1));
  } else if (typeof input === 'object' && input !== null) {
    for (const [key, value] of Object.entries(input)) {
      if (key.includes('\0')) out.push({ field: [...path, key.replaceAll('\0', '\\0')].join('.'), message: 'must not contain NUL characters' });
      else nulIssues(value, [...path, key], out, depth + 1);
    }
  }
}

/**
 * Query strings are strict: a parameter the endpoint does not know (a misspelled filter would
 * otherwise silently widen the result) and an empty value (`?limit=` would coerce to 0) are 400s.
 */
function queryIssues(schema: z.ZodType, input: unknown, out: Issue[]): void {
  if (!(schema instanceof z.ZodObject) || typeof input !== 'object' || input === null) return;
  const known = new Set(Object.keys(schema.shape));
  for (const [key, value] of Object.entries(input)) {
    if (!known.has(key)) out.push({ field: `query.${key}`, message: `unknown query parameter; known: ${[...known].join(', ') || 'none'}` });
    else if (value === '') out.push({ field: `query.${key}`, message: 'must not be empty (leave the parameter out instead)' });
  }
}

/** Parses a request part with a zod schema; failures become 400 with field-level details. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, part: RequestPart): z.output<S> {
  const issues: Issue[] = [];
  nulIssues(input, [part], issues);
  if (part === 'query') queryIssues(schema, input, issues);
  if (issues.length > 0) throw new DomainException(ApiErrorCode.ValidationFailed, `invalid request ${part}`, issues.slice(0, MAX_ISSUES));
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new DomainException(
    ApiErrorCode.ValidationFailed,
    `invalid request ${part}`,
    result.error.issues.slice(0, MAX_ISSUES).map((i) => ({ field: [part, ...i.path.map(String)].join('.'), message: i.message })),
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

/** Marks a handler that declared its query with ZodQuery (StrictQueryGuard leaves it to the schema). */
const QUERY_DECLARED = 'fleet:query-declared';

/** Query parameters, documented one by one from the schema's properties. */
export const ZodQuery =
  (schema: z.ZodObject): ParameterDecorator =>
  (target, key, index) => {
    if (key !== undefined) Reflect.defineMetadata(QUERY_DECLARED, true, (target as Record<string | symbol, object>)[key]);
    Query({ schema, pipes: [zodValidationPipe] })(target, key, index);
  };

const NO_QUERY = z.object({});

/**
 * Every fleet endpoint is strict about its query string, also one that takes no query at all: on
 * a handler without ZodQuery any query parameter is the same 400 as an unknown one elsewhere
 * (`query.<name>`), checked before the handler runs. Applied by FleetController to every route.
 */
export class StrictQueryGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (Reflect.getMetadata(QUERY_DECLARED, context.getHandler()) === true) return true;
    validate(NO_QUERY, context.switchToHttp().getRequest<FastifyRequest>().query, 'query');
    return true;
  }
}

/** Path parameters, documented one by one from the schema's properties. */
export const ZodParams = (schema: z.ZodObject): ParameterDecorator => Param({ schema, pipes: [zodValidationPipe] });
