import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { ConfigError, ConfigModule, loadConfig, withLocalSecrets, type AppConfig } from '#config';
import { DatabaseModule, openDatabase } from '#db';
import { ObservabilityModule } from '#observability';
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

/** A DI context with the database and terminal registry, for the terminals command. */
export async function openCliContext(config: AppConfig, extra: (Type | DynamicModule)[] = []): Promise<INestApplicationContext> {
  const db = await openDatabase(config, { applicationName: 'fleet-cli' });
  @Module({ imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(db), ObservabilityModule, TerminalsModule, ...extra] })
  class CliModule {}
  return NestFactory.createApplicationContext(CliModule, { logger: false });
}
