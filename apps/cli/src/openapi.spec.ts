import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { generateOpenApiJson, OPENAPI_FILE } from './openapi-spec.js';

describe('committed OpenAPI document', () => {
  it('matches what the code declares (run `npm run openapi` after changing the API)', async () => {
    const generated = await generateOpenApiJson();
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    const paths = (json: string) => Object.keys((JSON.parse(json) as { paths: Record<string, unknown> }).paths).sort();
    expect(paths(committed)).toStrictEqual(paths(generated));
    expect(committed).toBe(generated);
  });

  it('documents only the versioned API, each operation with its error responses', async () => {
    const doc = JSON.parse(await generateOpenApiJson()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const paths = Object.keys(doc.paths);
    expect(paths.length > 0).toBeTruthy();
    expect(paths.every((p) => p.startsWith('/v1/'))).toBeTruthy();
    const without401 = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([method, op]) => (op.responses['401'] ? [] : [`${method} ${path}`])),
    );
    expect(without401).toStrictEqual([]);
  });
});
