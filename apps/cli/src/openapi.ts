import { readFileSync, writeFileSync } from 'node:fs';
import { generateOpenApiJson, OPENAPI_FILE } from './openapi-spec.js';

/** `npm run openapi` rewrites docs/openapi.json; `npm run openapi -- --check` fails when it is stale. */
const json = await generateOpenApiJson();
if (process.argv.includes('--check')) {
  const committed = readFileSync(OPENAPI_FILE, 'utf8');
  if (committed !== json) {
    process.stderr.write(`${OPENAPI_FILE} is out of date: run \`npm run openapi\` and commit it\n`);
    process.exit(1);
  }
  process.stdout.write(`${OPENAPI_FILE} is up to date\n`);
} else {
  writeFileSync(OPENAPI_FILE, json);
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
}
