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
