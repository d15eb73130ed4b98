import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PgliteWireServer } from './pglite-wire-server.js';

/**
 * PGlite (WASM PostgreSQL) with TimescaleDB, persisted under a directory and served over the
 * Postgres wire protocol on loopback, so the app uses the same pg/TypeORM path as production.
 * PGlite serves one connection at a time and runs no background workers: callers use pool size 1
 * and TimescaleService runs policy jobs itself.
 */
export class EmbeddedDatabase {
  private constructor(
    private readonly db: PGlite,
    private server: PgliteWireServer | null,
    readonly port: number,
    private readonly lockFile: string,
  ) {}

  static async start(options: { dataDir: string; port?: number }): Promise<EmbeddedDatabase> {
    const dir = resolve(options.dataDir, 'pg');
    mkdirSync(dir, { recursive: true });
    const lock = acquireLock(resolve(options.dataDir, 'pg.lock'));
    try {
      const db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } });
      // PGlite has no shared_preload_libraries: unless the TimescaleDB loader is loaded before first
      // use, a reopened database runs without the TSL module and every compression or retention
      // policy call fails with 'not supported under the current "timescale" license'.
      await db.exec(`LOAD 'timescaledb'`);
      const embedded = new EmbeddedDatabase(db, null, 0, lock);
      return await embedded.listen(options.port ?? 0);
    } catch (err) {
      rmSync(lock, { force: true });
      throw err;
    }
  }

  private async listen(port: number): Promise<EmbeddedDatabase> {
    const server = new PgliteWireServer(this.db);
    const bound = await server.listen(port);
    const next = new EmbeddedDatabase(this.db, server, bound, this.lockFile);
    return next;
  }

  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Stops accepting connections but keeps the database open (used to simulate an outage). */
  async stopServer(): Promise<void> {
    await this.server?.close();
    this.server = null;
  }

  /** Serves again on the same port after stopServer(). */
  async restartServer(): Promise<void> {
    if (this.server) return;
    const server = new PgliteWireServer(this.db);
    await server.listen(this.port);
    this.server = server;
  }

  async stop(): Promise<void> {
    await this.stopServer();
    if (!this.db.closed) await this.db.close();
    rmSync(this.lockFile, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** PGlite has no multi-process locking: two processes on one data directory would corrupt it. */
function acquireLock(path: string): string {
  if (existsSync(path)) {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (pid && pid !== process.pid && processAlive(pid)) {
      throw new Error(`the embedded database in ${path.replace(/pg\.lock$/, '')} is in use by process ${pid}; stop it first`);
    }
  }
  writeFileSync(path, String(process.pid));
  return path;
}
