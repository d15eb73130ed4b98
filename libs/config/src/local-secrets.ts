import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN_FILE } from '#contracts';
import type { AppConfig } from './config.schema.js';

export const PEPPER_FILE = 'credential-pepper';

function readOrCreate(dir: string, file: string): string {
  const path = join(dir, file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dir, { recursive: true });
  const value = randomBytes(32).toString('base64url');
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
}

/**
 * With the embedded database nothing else is configured, so secrets the operator did not set
 * are generated once and kept beside the data (mode 0600). An external database needs them set.
 */
export function withLocalSecrets(config: AppConfig): AppConfig {
  if (config.database.url !== null && config.auth.pepper !== null) return config;
  const dir = resolve(config.database.dataDir);
  return {
    ...config,
    auth: {
      ...config.auth,
      pepper: config.auth.pepper ?? readOrCreate(dir, PEPPER_FILE),
      adminToken: config.auth.adminToken ?? (config.database.url === null ? readOrCreate(dir, ADMIN_TOKEN_FILE) : null),
    },
  };
}
