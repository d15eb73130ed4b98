import { parseArgs } from 'node:util';
import { ApiKeyRepository, ApiKeyService, ApiModule, Role } from '#api';
import { cliConfig, openCliContext } from './cli-context.js';

const USAGE = `Usage: npm run api-keys -- bootstrap [--name NAME]

  bootstrap   On a fresh install, create the first ops-admin API key and print it once.
              Refuses when an active ops-admin key already exists (use the API to issue more).`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string', default: 'bootstrap ops-admin' }, help: { type: 'boolean', short: 'h', default: false } },
});
if (positionals[0] !== 'bootstrap' || values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 64);
}
const config = cliConfig('api-keys');
const context = await openCliContext(config, [ApiModule]);
try {
  const existing = await context.get(ApiKeyRepository).countActiveOpsAdmins();
  if (existing > 0) {
    process.stderr.write(`api-keys: ${existing} active ops-admin key(s) exist already; issue more through POST /v1/api-keys\n`);
    process.exitCode = 3;
  } else {
    const issued = await context.get(ApiKeyService).issue({ name: values.name, role: Role.OpsAdmin, providerId: null, createdBy: null });
    process.stdout.write(`${issued.token}\n`);
    process.stderr.write(`ops-admin key ${issued.key.id} created; it is shown only once.\n`);
  }
} catch (err) {
  process.stderr.write(`api-keys: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await context.close();
}
