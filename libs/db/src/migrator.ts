import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSource, QueryRunner } from 'typeorm';
import { DomainException } from '#contracts';
import { DatabaseFlavor } from './database-mode.js';
import { DatabaseErrorCode } from './errors.js';

/** Arbitrary constant shared by every process that migrates this schema. */
const MIGRATION_LOCK_KEY = 7_301_946_120;

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface MigrationFile {
  version: string;
  name: string;
  /** Portable SQL plus the flavour-specific file for the chosen flavour, in that order. */
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  flavor: DatabaseFlavor;
  applied: string[];
}

/** Reads `NNNN_name.sql` with optional `NNNN_name.timescale.sql` / `NNNN_name.plain.sql` companions. */
export function loadMigrations(flavor: DatabaseFlavor, dir = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir);
  const bases = files.filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return bases.map((base) => {
    const stem = base.slice(0, -'.sql'.length);
    const companion = `${stem}.${flavor}.sql`;
    const parts = [readFileSync(join(dir, base), 'utf8')];
    if (files.includes(companion)) parts.push(readFileSync(join(dir, companion), 'utf8'));
    const sql = parts.join('\n');
    return {
      version: stem.slice(0, 4),
      name: stem,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    };
  });
}

async function detectFlavor(runner: QueryRunner, wanted: 'auto' | 'require' | 'off'): Promise<DatabaseFlavor> {
  if (wanted === 'off') return DatabaseFlavor.Plain;
  const rows = (await runner.query(`SELECT installed_version AS installed FROM pg_available_extensions WHERE name = 'timescaledb'`)) as {
    installed: string | null;
  }[];
  if (rows.length === 0) {
    if (wanted === 'require') {
      throw new DomainException(DatabaseErrorCode.TimescaleRequired, 'DATABASE_TIMESCALE=require but the timescaledb extension is not available');
    }
    return DatabaseFlavor.Plain;
  }
  return DatabaseFlavor.Timescale;
}

/**
 * Applies pending migrations in one transaction each, holding a session advisory lock so
 * concurrent starters (several gateway replicas, the migrate command) serialize.
 * The flavour is decided on the first run and recorded; later runs keep it.
 */
export async function migrate(
  dataSource: DataSource,
  options: { timescale: 'auto' | 'require' | 'off'; log?: (msg: string) => void },
): Promise<MigrationResult> {
  const log = options.log ?? (() => undefined);
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await runner.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version     text PRIMARY KEY,
        name        text NOT NULL,
        checksum    text NOT NULL,
        flavor      text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
      )`);
    const done = (await runner.query('SELECT version, checksum, flavor FROM schema_migrations ORDER BY version')) as {
      version: string;
      checksum: string;
      flavor: DatabaseFlavor;
    }[];
    let flavor: DatabaseFlavor;
    if (done.length > 0) {
      flavor = done[0].flavor;
    } else {
      flavor = await detectFlavor(runner, options.timescale);
      if (flavor === DatabaseFlavor.Timescale) await runner.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    }
    if (flavor === DatabaseFlavor.Plain && options.timescale === 'require') {
      throw new DomainException(DatabaseErrorCode.TimescaleRequired, 'schema was created without TimescaleDB but DATABASE_TIMESCALE=require');
    }
    const applied: string[] = [];
    const doneByVersion = new Map(done.map((d) => [d.version, d]));
    for (const migration of loadMigrations(flavor)) {
      const previous = doneByVersion.get(migration.version);
      if (previous) {
        if (previous.checksum !== migration.checksum) {
          throw new DomainException(
            DatabaseErrorCode.MigrationChecksumMismatch,
            `migration ${migration.name} changed after it was applied; add a new migration instead`,
          );
        }
        continue;
      }
      log(`applying migration ${migration.name} (${flavor})`);
      await runner.startTransaction();
      try {
        await runner.query(migration.sql);
        await runner.query('INSERT INTO schema_migrations (version, name, checksum, flavor) VALUES ($1, $2, $3, $4)', [
          migration.version,
          migration.name,
          migration.checksum,
          flavor,
        ]);
        await runner.commitTransaction();
      } catch (err) {
        await runner.rollbackTransaction();
        throw new DomainException(DatabaseErrorCode.MigrationFailed, `migration ${migration.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      applied.push(migration.name);
    }
    return { flavor, applied };
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}

/** Reads the flavour recorded by the first migration run; null when the schema is not migrated. */
export async function readFlavor(dataSource: DataSource): Promise<DatabaseFlavor | null> {
  const rows = await dataSource.query<{ flavor: DatabaseFlavor }[]>(`SELECT flavor FROM schema_migrations ORDER BY version LIMIT 1`).catch(() => []);
  return rows[0]?.flavor ?? null;
}
