import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, describe, expect, it } from '@jest/globals';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { OPENAPI_FILE } from './openapi-spec.js';

type Operation = { parameters?: { in: string; name: string }[]; responses: Record<string, unknown>; requestBody?: unknown };
type Doc = { paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, Record<string, unknown>> } };

const committed = (): Doc => JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as Doc;
const operations = (doc: Doc) => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

describe('the committed OpenAPI document as a contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-client-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a valid OpenAPI 3 document (swagger-parser validates it against the OpenAPI schema)', async () => {
    await expect(SwaggerParser.validate(committed() as never)).resolves.toBeTruthy();
  });

  it('declares every path parameter, a 204 for every DELETE, and the error answers every operation can give', () => {
    const problems: string[] = [];
    for (const { path, method, op } of operations(committed())) {
      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        if (!op.parameters?.some((p) => p.in === 'path' && p.name === name)) problems.push(`${method} ${path}: no path parameter ${name}`);
      }
      if (method === 'delete' && !op.responses['204']) problems.push(`${method} ${path}: no 204`);
      for (const status of ['400', '401', '429', '500']) if (!op.responses[status]) problems.push(`${method} ${path}: no ${status}`);
      if (op.requestBody) for (const status of ['413', '415']) if (!op.responses[status]) problems.push(`${method} ${path}: no ${status}`);
    }
    expect(problems).toStrictEqual([]);
  });

  it('describes API keys as what they are: a bearer token or X-API-Key, not a JWT', () => {
    const schemes = committed().components.securitySchemes;
    expect(Object.values(schemes).some((s) => s.bearerFormat === 'JWT')).toBe(false);
    expect(schemes['api-key']).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Key' });
    expect(schemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('generates a typed client (openapi-typescript) that type-checks against real use', async () => {
    const types = astToString(await openapiTS(committed() as never));
    writeFileSync(join(dir, 'fleet-api.d.ts'), types);
    // How an integrator would use it: typed paths, parameters, bodies and error bodies.
    writeFileSync(
      join(dir, 'use.ts'),
      `import type { paths } from './fleet-api.js';
type Detail = paths['/v1/terminals/{sn}']['get'];
export const sn: Detail['parameters']['path']['sn'] = 'P3000001';
type Page = paths['/v1/terminals']['get']['responses'][200]['content']['application/json'];
export const firstSn = (page: Page): string | undefined => page.items[0]?.sn;
type Created = paths['/v1/providers']['post']['requestBody'];
export const body: NonNullable<Created>['content']['application/json'] = { code: 'sp-east', name: 'East' };
type Problem = paths['/v1/providers/{id}']['delete']['responses'][404]['content']['application/json'];
export const code = (p: Problem): string => p.error.code;
`,
    );
    const program = ts.createProgram([join(dir, 'use.ts')], {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: false,
      types: [],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toStrictEqual([]);
  });
});
