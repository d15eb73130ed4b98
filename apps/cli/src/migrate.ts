import { createDataSource, EmbeddedDatabase, migrate } from '#db';
import { cliConfig } from './cli-context.js';

/** `npm run migrate`: applies pending SQL migrations under an advisory lock, then exits. */
const config = cliConfig('migrate');
let embedded: EmbeddedDatabase | null = null;
try {
  let url = config.database.url;
  if (url === null) {
    embedded = await EmbeddedDatabase.start({ dataDir: config.database.dataDir });
    url = embedded.url;
  }
  const dataSource = createDataSource({ url, poolSize: 1, applicationName: 'fleet-migrate' });
  await dataSource.initialize();
  try {
    const result = await migrate(dataSource, { timescale: config.database.timescale, log: (m) => process.stdout.write(`${m}\n`) });
    process.stdout.write(
      result.applied.length ? `applied ${result.applied.length} migration(s) (${result.flavor})\n` : `schema is up to date (${result.flavor})\n`,
    );
  } finally {
    await dataSource.destroy();
  }
} catch (err) {
  process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await embedded?.stop();
}
