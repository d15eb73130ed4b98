import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, ConfigModule, loadConfig, withLocalSecrets, type AppConfig } from '#config';
import { DatabaseModule, openDatabase } from '#db';
import { ObservabilityModule } from '#observability';
import type { Composition } from '#runtime';
import { TerminalsModule } from '#terminals';

/** Loads config (one clear message on error) for command-line tools. */
export function cliConfig(name: string): AppConfig {
  try {
    return withLocalSecrets(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** A DI context with the database and terminal registry, plus the features (and their entities) of `extra`. */
export async function openCliContext(
  config: AppConfig,
  extra: Pick<Composition, 'features' | 'entities'> = { features: [] },
): Promise<INestApplicationContext> {
  const db = await openDatabase(config, { applicationName: 'fleet-cli', entities: extra.entities });
  @Module({ imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(db), ObservabilityModule, TerminalsModule, ...extra.features] })
  class CliModule {}
  return NestFactory.createApplicationContext(CliModule, { logger: false });
}

/** The embedded database refused to open because a running app holds it (see EmbeddedDatabase). */
export function heldByRunningApp(err: unknown): boolean {
  return err instanceof Error && /in use by process/.test(err.message);
}

/**
 * openCliContext for commands that cannot go through the running app: when the app holds the
 * embedded database, one line saying what to do instead of a stack trace (exit 75, try later).
 */
export async function openCliContextOrExplain(
  name: string,
  config: AppConfig,
  whileRunning: string,
  extra?: Pick<Composition, 'features' | 'entities'>,
): Promise<INestApplicationContext> {
  try {
    return await openCliContext(config, extra);
  } catch (err) {
    if (!heldByRunningApp(err)) throw err;
    process.stderr.write(`${name}: the app is running and holds the embedded database; ${whileRunning}, or stop the app first.\n`);
    process.exit(75);
  }
}
