import { ConfigError, loadConfig, withLocalSecrets } from '#config';
import { createLogger } from '#observability';
import { createApp } from './app-factory.js';
import type { Composition } from './compositions.js';

const SHUTDOWN_TIMEOUT_MS = 30_000;

/** Entry point for a process: config errors stop it with one clear message; signals shut it down gracefully. */
export async function runMain(name: string, composition: Composition): Promise<void> {
  let config;
  try {
    config = withLocalSecrets(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel, name });
  let running;
  try {
    running = await createApp({ name, config, composition, logger });
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    // A second signal (e.g. Ctrl-C reaching both npm and this process) must not cut the flush short.
    if (stopping) return;
    stopping = true;
    logger.info(`${signal} received, shutting down`);
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    running.close().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}
