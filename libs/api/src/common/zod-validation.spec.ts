import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, Post, UseFilters, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { z } from 'zod';
import { DomainException } from '#contracts';
import { expectPresent } from '#testing/expect-present.js';
import { ApiExceptionFilter } from './api-exception.filter.js';
import { validate, ZodBody, ZodParams, ZodQuery } from './zod-validation.js';

const bodySchema = z.object({
  code: z.string().regex(/^[a-z]+$/, 'lowercase letters only'),
  name: z.string().trim().min(1),
  tags: z.array(z.string().max(3)).default([]),
});
const querySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  sort: z.enum(['sn', 'lastSeen']).default('sn'),
});
const paramsSchema = z.object({ id: z.uuid() });

const ID = '3f0e8a5c-9d1b-4c2e-8f6a-0b1c2d3e4f50';

@Controller('things')
@UseFilters(ApiExceptionFilter)
class ThingsController {
  @Post(':id')
  create(
    @ZodParams(paramsSchema) params: z.output<typeof paramsSchema>,
    @ZodQuery(querySchema) query: z.output<typeof querySchema>,
    @ZodBody(bodySchema) body: z.output<typeof bodySchema>,
  ): { params: typeof params; query: typeof query; body: typeof body } {
    return { params, query, body };
  }

  @Get()
  list(@ZodQuery(querySchema) query: z.output<typeof querySchema>): z.output<typeof querySchema> {
    return query;
  }
}

/** The parts of the OpenAPI document the tests read. */
interface Parameter {
  name: string;
  in: string;
  required: boolean;
  schema: Record<string, unknown>;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Record<string, unknown> }> };
}
type OpenApiDoc = { paths: Record<string, Record<string, Operation>> };

interface RouteArg {
  index: number;
  pipes: PipeTransform[];
  schema?: unknown;
}

/** What a Zod* decorator registered for parameter `index` of `method`. */
function routeArg(method: 'create' | 'list', index: number): RouteArg {
  const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, ThingsController, method) as Record<string, RouteArg>;
  const arg = Object.values(args).find((a) => a.index === index);
  expectPresent(arg);
  return arg;
}

/** Runs the decorator's pipe the way Nest does: with the parameter type and the declared schema. */
function runPipe(arg: RouteArg, type: ArgumentMetadata['type'], value: unknown): unknown {
  expect(arg.pipes).toHaveLength(1);
  return arg.pipes[0].transform(value, { type, metatype: Object, data: undefined, schema: arg.schema as ArgumentMetadata['schema'] });
}

function thrownBy(fn: () => unknown): DomainException {
  let thrown: unknown = null;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainException);
  return thrown as DomainException;
}

describe('validate', () => {
  it('returns the parsed output: defaults filled in, strings trimmed, numbers coerced', () => {
    expect(validate(bodySchema, { code: 'acme', name: '  Acme  ' }, 'body')).toStrictEqual({ code: 'acme', name: 'Acme', tags: [] });
    expect(validate(querySchema, { limit: '25' }, 'query')).toStrictEqual({ limit: 25, sort: 'sn' });
  });

  it('treats a missing part (undefined or null) as an empty object', () => {
    expect(validate(querySchema, undefined, 'query')).toStrictEqual({ limit: 100, sort: 'sn' });
    expect(validate(querySchema, null, 'query')).toStrictEqual({ limit: 100, sort: 'sn' });
  });

  it('answers VALIDATION_FAILED "invalid request <part>" with one detail per issue, prefixed by the part', () => {
    const error = thrownBy(() => validate(bodySchema, { code: 'ACME', name: '   ', tags: ['ok', 'toolong'] }, 'body'));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toBe('invalid request body');
    expect(error.details).toHaveLength(3);
    expect((error.details ?? []).map((d) => d.field)).toStrictEqual(['body.code', 'body.name', 'body.tags.1']);
    expect(error.details?.[0]).toStrictEqual({ field: 'body.code', message: 'lowercase letters only' });
  });

  it('names the part itself for an issue on the whole object', () => {
    const refined = z.object({ a: z.string().optional(), b: z.string().optional() }).refine((v) => v.a !== undefined || v.b !== undefined, 'give a and/or b');
    const error = thrownBy(() => validate(refined, {}, 'body'));
    expect(error.details).toStrictEqual([{ field: 'body', message: 'give a and/or b' }]);
    expect(thrownBy(() => validate(bodySchema, 'not an object', 'body')).details?.[0].field).toBe('body');
  });

  it('reports at most 50 issues', () => {
    const many = z.object(Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, z.string()])));
    const error = thrownBy(() => validate(many, {}, 'query'));
    expect(error.details).toHaveLength(50);
    expect(error.details?.[49]).toMatchObject({ field: 'query.f49' });
  });
});

describe('ZodBody / ZodQuery / ZodParams', () => {
  it('declare their zod schema on the route parameter (what @nestjs/swagger documents) with one pipe', () => {
    expect(routeArg('create', 0).schema).toBe(paramsSchema);
    expect(routeArg('create', 1).schema).toBe(querySchema);
    expect(routeArg('create', 2).schema).toBe(bodySchema);
    expect(routeArg('list', 0).schema).toBe(querySchema);
  });

  it('the pipe hands on the parsed value', () => {
    expect(runPipe(routeArg('create', 2), 'body', { code: 'x', name: ' X ' })).toStrictEqual({ code: 'x', name: 'X', tags: [] });
    expect(runPipe(routeArg('create', 1), 'query', { limit: '7', sort: 'lastSeen' })).toStrictEqual({ limit: 7, sort: 'lastSeen' });
    expect(runPipe(routeArg('create', 0), 'param', { id: ID })).toStrictEqual({ id: ID });
  });

  it.each<[number, ArgumentMetadata['type'], unknown, string, string]>([
    [2, 'body', { code: 'x' }, 'invalid request body', 'body.name'],
    [1, 'query', { limit: '0' }, 'invalid request query', 'query.limit'],
    [1, 'query', { sort: 'price' }, 'invalid request query', 'query.sort'],
    [0, 'param', { id: 'not-a-uuid' }, 'invalid request params', 'params.id'],
  ])('parameter %i (%s) rejects %j as "%s" with field %s', (index, type, value, message, field) => {
    const error = thrownBy(() => runPipe(routeArg('create', index), type, value));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toBe(message);
    expect((error.details ?? []).map((d) => d.field)).toStrictEqual([field]);
  });

  it('the pipe refuses a parameter without a zod schema or of another kind (a programming error, not a 400)', () => {
    const pipe = routeArg('create', 2).pipes[0];
    expect(() => pipe.transform({}, { type: 'body', data: undefined }) as unknown).toThrow('ZodBody/ZodQuery/ZodParams without a zod schema');
    expect(() => pipe.transform({}, { type: 'custom', data: undefined, schema: bodySchema }) as unknown).toThrow(
      'ZodBody/ZodQuery/ZodParams without a zod schema',
    );
  });
});

describe('Zod* decorators in a running Nest app', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [ThingsController] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app.close();
  });

  it('hands the handler the parsed params, query and body', async () => {
    const res = await app.inject({ method: 'POST', url: `/things/${ID}?limit=5`, payload: { code: 'acme', name: ' Acme ', tags: ['a'] } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toStrictEqual({ params: { id: ID }, query: { limit: 5, sort: 'sn' }, body: { code: 'acme', name: 'Acme', tags: ['a'] } });
  });

  it('answers a bad query with 400 VALIDATION_FAILED and query.* details', async () => {
    const res = await app.inject({ method: 'GET', url: '/things?limit=abc&sort=price' });
    expect(res.statusCode).toBe(400);
    const body = res.json<{ error: { code: string; message: string; details: { field: string }[]; requestId: string } }>();
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.message).toBe('invalid request query');
    expect(body.error.details.map((d) => d.field)).toStrictEqual(['query.limit', 'query.sort']);
    expect(typeof body.error.requestId).toBe('string');
  });

  it('answers a bad path parameter with params.* details', async () => {
    const res = await app.inject({ method: 'POST', url: '/things/123', payload: { code: 'acme', name: 'Acme' } });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { details: { field: string }[] } }>().error.details.map((d) => d.field)).toStrictEqual(['params.id']);
  });

  it('answers a bad body with body.* details', async () => {
    const res = await app.inject({ method: 'POST', url: `/things/${ID}`, payload: { code: 'BAD', name: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { message: string; details: { field: string }[] } }>().error).toMatchObject({
      message: 'invalid request body',
      details: [{ field: 'body.code', message: 'lowercase letters only' }],
    });
  });
});

/**
 * What buildOpenApiDocument declares for ZodParams/ZodQuery/ZodBody routes, read from the committed
 * docs/openapi.json (apps/cli/src/openapi.spec.ts keeps it identical to the generated document;
 * reading the file avoids building the whole API here).
 */
describe('OpenAPI request schemas from ZodBody / ZodQuery / ZodParams', () => {
  const doc = JSON.parse(readFileSync(new URL('../../../../docs/openapi.json', import.meta.url), 'utf8')) as OpenApiDoc;

  const operation = (method: string, path: string): Operation => {
    const op = doc.paths[path]?.[method];
    expectPresent(op);
    return op;
  };

  it('ZodParams: each schema property becomes a required path parameter with its schema', () => {
    for (const [method, path] of [
      ['get', '/v1/providers/{id}'],
      ['patch', '/v1/providers/{id}'],
      ['delete', '/v1/providers/{id}'],
      ['delete', '/v1/api-keys/{id}'],
    ]) {
      const params = operation(method, path).parameters ?? [];
      expect(params.map((p) => [p.name, p.in, p.required])).toStrictEqual([['id', 'path', true]]);
      expect(params[0].schema).toMatchObject({ type: 'string', format: 'uuid' });
    }
  });

  it('ZodQuery: each schema property becomes a query parameter, optional ones not required, defaults shown', () => {
    const params = operation('get', '/v1/audit').parameters ?? [];
    expect(params.map((p) => [p.name, p.in, p.required])).toStrictEqual([
      ['limit', 'query', false],
      ['before', 'query', false],
      ['action', 'query', false],
      ['targetId', 'query', false],
    ]);
    expect(params.map((p) => p.schema)).toStrictEqual([
      { type: 'integer', minimum: 1, maximum: 500, default: 100 },
      { type: 'string', pattern: '^[1-9]\\d{0,17}$' },
      { type: 'string', maxLength: 100 },
      { type: 'string', maxLength: 200 },
    ]);
  });

  it('ZodBody: the request body is required JSON with the input schema of the zod body', () => {
    const create = operation('post', '/v1/providers').requestBody;
    expectPresent(create);
    expect(create.required).toBe(true);
    const createSchema = create.content['application/json'].schema;
    expect(createSchema).toMatchObject({
      type: 'object',
      required: ['code', 'name'],
      properties: {
        code: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{1,63}$' },
        name: { type: 'string', minLength: 1, maxLength: 200 },
        parentId: { type: 'string', format: 'uuid' },
      },
    });
    expect(Object.keys(createSchema.properties as object)).toStrictEqual(['code', 'name', 'parentId']);

    const update = operation('patch', '/v1/providers/{id}').requestBody;
    expectPresent(update);
    expect(update.required).toBe(true);
    const updateSchema = update.content['application/json'].schema;
    expect(updateSchema).toMatchObject({
      type: 'object',
      properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, parentId: { type: 'string', format: 'uuid' } },
    });
    expect(Object.keys(updateSchema.properties as object)).toStrictEqual(['name', 'parentId']);
    expect(updateSchema.required).toBeUndefined(); // both optional; the refine (one of them) is not representable
  });

  it('routes without Zod* parameters declare none', () => {
    expect(operation('get', '/v1/providers').parameters ?? []).toStrictEqual([]);
    expect(operation('get', '/v1/providers').requestBody).toBeUndefined();
  });
});

describe('validate: hostile strings and strict queries', () => {
  const fieldsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(DomainException);
      expect((err as DomainException).code).toBe('VALIDATION_FAILED');
      return ((err as DomainException).details as { field: string }[]).map((d) => d.field);
    }
    throw new Error('expected a 400');
  };

  it.each<[string, unknown, string]>([
    ['a top-level body string', { code: 'ab\0c', name: 'x' }, 'body.code'],
    ['a string that would pass trim and min', { code: 'abc', name: '\0' }, 'body.name'],
    ['an array item', { code: 'abc', name: 'x', tags: ['ok', 'a\0'] }, 'body.tags.1'],
    ['an unknown key the schema would strip', { code: 'abc', name: 'x', note: 'hi\0' }, 'body.note'],
    ['a key', { code: 'abc', name: 'x', ['k\0']: 1 }, 'body.k\\0'],
  ])('a NUL character in %s is a 400 naming the field', (_label, input, field) => {
    expect(fieldsOf(() => validate(bodySchema, input, 'body'))).toStrictEqual([field]);
  });

  it('a NUL character in a query value is a 400 naming the parameter', () => {
    expect(fieldsOf(() => validate(querySchema, { sort: 'sn\0' }, 'query'))).toStrictEqual(['query.sort']);
  });

  it.each<[Record<string, unknown>, string[]]>([
    [{ limt: '5' }, ['query.limt']],
    [{ limit: '5', sort: 'sn', extra: 'x', other: '' }, ['query.extra', 'query.other']],
    [{ __proto__x: '1' }, ['query.__proto__x']],
  ])('unknown query parameters %j are a 400 naming each', (input, fields) => {
    expect(fieldsOf(() => validate(querySchema, input, 'query'))).toStrictEqual(fields);
  });

  it.each<[Record<string, unknown>, string]>([
    [{ limit: '' }, 'query.limit'],
    [{ sort: '' }, 'query.sort'],
  ])('an empty value %j is a 400, not a default or 0', (input, field) => {
    expect(fieldsOf(() => validate(querySchema, input, 'query'))).toStrictEqual([field]);
  });

  it('known, non-empty parameters still parse', () => {
    expect(validate(querySchema, { limit: '7', sort: 'lastSeen' }, 'query')).toStrictEqual({ limit: 7, sort: 'lastSeen' });
  });
});
