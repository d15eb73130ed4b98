import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { API_ENTITIES, ApiModule, BootstrapService } from '#api';
import { ADMIN_TOKEN_FILE } from '#contracts';
import type { AppConfig } from '#config';
import { bootstrapViaApp } from './bootstrap-client.js';
import { cliConfig, heldByRunningApp, openCliContext } from './cli-context.js';

const USAGE = `Usage: npm run api-keys -- bootstrap [--name NAME] [--url http://127.0.0.1:8080]

  bootstrap   On a fresh install, create the first ops-admin API key and print it once.
              Refuses when an active ops-admin key already exists (use the API to issue more).
              Run it while the app runs (it asks the app at --url, default
              http://127.0.0.1:$HTTP_PORT, with the admin token) or while the app is stopped
              (it opens the database itself).`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string', default: 'bootstrap ops-admin' },
    url: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (positionals[0] !== 'bootstrap' || values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 64);
}

async function viaRunningApp(config: AppConfig): Promise<string> {
  const token = config.auth.adminToken ?? readFileSync(join(resolve(config.database.dataDir), ADMIN_TOKEN_FILE), 'utf8').trim();
  return bootstrapViaApp(values.url ?? `http://127.0.0.1:${config.http.port}`, token, values.name);
}

async function direct(config: AppConfig): Promise<string> {
  const context = await openCliContext(config, { features: [ApiModule], entities: API_ENTITIES });
  try {
    return (await context.get(BootstrapService).bootstrap(values.name)).token;
  } finally {
    await context.close();
  }
}

const config = cliConfig('api-keys');
try {
  let token: string;
  try {
    token = await direct(config);
  } catch (err) {
    // The single-process app holds the embedded database: go through it.
    if (!heldByRunningApp(err) && !values.url) throw err;
    token = await viaRunningApp(config);
  }
  process.stdout.write(`${token}\n`);
  process.stderr.write('ops-admin key created; it is shown only once.\n');
} catch (err) {
  process.stderr.write(`api-keys: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = /exist already/.test(String(err)) ? 3 : 1;
}
