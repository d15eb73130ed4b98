import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** The kernel's start time of a process (Linux /proc), null where unknown or gone. */
function processStartTime(pid: number): string | null {
  try {
    // Field 22 of /proc/<pid>/stat; the command name (field 2) may contain spaces, so count after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
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

interface LockOwner {
  pid: number;
  /** Tells a live owner from an unrelated process that got the same pid after a crash or reboot. */
  startTime: string | null;
}

function readOwner(path: string): LockOwner | null {
  const text = readFileSync(path, 'utf8').trim();
  // Lock files of earlier versions hold a bare pid.
  if (/^\d+$/.test(text)) return { pid: Number(text), startTime: null };
  try {
    const owner = JSON.parse(text) as Partial<LockOwner> | null;
    return typeof owner?.pid === 'number' ? { pid: owner.pid, startTime: owner.startTime ?? null } : null;
  } catch {
    return null;
  }
}

function ownerAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid || !processAlive(owner.pid)) return false;
  const current = processStartTime(owner.pid);
  // Same pid, another start time: the owner died and the pid was reused.
  return owner.startTime === null || current === null || current === owner.startTime;
}

/**
 * PGlite has no multi-process locking: two processes on one data directory would corrupt it. The
 * lock file is created atomically (O_EXCL); a lock left by a crashed process, or naming a pid now
 * used by another process, is taken over.
 */
function acquireLock(path: string): string {
  const mine = JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) } satisfies LockOwner);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, mine, { flag: 'wx' });
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(path);
    if (owner && ownerAlive(owner)) {
      throw new Error(`the embedded database in ${path.replace(/pg\.lock$/, '')} is in use by process ${owner.pid}; stop it first`);
    }
    rmSync(path, { force: true });
  }
  throw new Error(`could not take the embedded database lock ${path}`);
}
