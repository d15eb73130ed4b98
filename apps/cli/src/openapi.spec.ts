import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generateOpenApiJson, OPENAPI_FILE } from './openapi-spec.js';

describe('committed OpenAPI document', () => {
  it('matches what the code declares (run `npm run openapi` after changing the API)', async () => {
    const generated = await generateOpenApiJson();
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    const paths = (json: string) => Object.keys((JSON.parse(json) as { paths: Record<string, unknown> }).paths).sort();
    assert.deepEqual(paths(committed), paths(generated), 'same endpoints');
    assert.equal(committed, generated, 'same schemas, parameters and responses');
  });

  it('documents only the versioned API, each operation with its error responses', async () => {
    const doc = JSON.parse(await generateOpenApiJson()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const paths = Object.keys(doc.paths);
    assert.ok(paths.length > 0);
    assert.ok(paths.every((p) => p.startsWith('/v1/')), paths.join(', '));
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) assert.ok(op.responses['401'], `${method} ${path} documents 401`);
    }
  });
});
