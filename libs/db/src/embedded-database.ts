import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/** The embedded database's worker thread died or reported an error it could not recover from. */
export class EmbeddedDatabaseCrashed extends Error {}

export interface EmbeddedDatabaseStats {
  /** The worker thread's V8 heap, bytes. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** PGlite's WASM linear memory, bytes (null when not visible). */
  wasmMemory: number | null;
}

export interface EmbeddedDatabaseOptions {
  dataDir: string;
  port?: number;
  /**
   * Called once if the worker thread dies unasked (a WASM trap, out of memory). Default: rethrow
   * as an uncaught exception, so the process fails loudly instead of hanging on a dead database.
   */
  onCrash?: (err: EmbeddedDatabaseCrashed) => void;
  /** Errors the worker survived (a failed call into PGlite; the client's connection was dropped). */
  onError?: (message: string) => void;
  /**
   * The thread is asked for a sign of life every `everyMs`; when none has come for `deadlineMs` it is
   * blocked in a synchronous call (PGlite runs each query as one WASM call, so its own stuck-call
   * watchdog cannot fire then) and is ended as a crash. Defaults: every 30 s, deadline 6 minutes
   * (past the wire server's 5-minute stuck-call report, which names the SQL when the thread can run).
   */
  liveness?: { everyMs: number; deadlineMs: number };
}

const DEFAULT_LIVENESS = { everyMs: 30_000, deadlineMs: 360_000 };

type WorkerMessage =
  | { type: 'ready'; port: number }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'error'; message: string };

type Op = 'stopServer' | 'restartServer' | 'stats' | 'ping' | 'close';

/**
 * The worker entry is plain JavaScript next to this file, in the sources (Jest runs them) and in
 * dist (nest-cli.json copies libs/db/src/*.mjs as assets), so one URL works for both.
 */
const WORKER_ENTRY = new URL('./pglite-worker.mjs', import.meta.url);

/**
 * PGlite (WASM PostgreSQL) with TimescaleDB, persisted under a directory and served over the
 * Postgres wire protocol on loopback, so the app uses the same pg/TypeORM path as production.
 * PGlite and its wire server run in a worker thread: queries execute off the app's event loop.
 * PGlite serves one connection at a time and runs no background workers: callers use pool size 1
 * and TimescaleService runs policy jobs itself.
 */
export class EmbeddedDatabase {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private stopping: Promise<void> | null = null;
  private crashed: EmbeddedDatabaseCrashed | null = null;
  /** When the thread last sent anything (a reply, an error report). */
  private lastHeardAt = Date.now();
  private lastCheckAt = Date.now();
  private readonly livenessTimer: NodeJS.Timeout;

  private constructor(
    private readonly worker: Worker,
    readonly port: number,
    private readonly lockFile: string,
    private readonly options: EmbeddedDatabaseOptions,
  ) {
    worker.on('message', (msg: WorkerMessage) => this.onMessage(msg));
    worker.on('error', (err) => this.onCrash(err));
    worker.on('exit', (code) => {
      if (!this.stopping) this.onCrash(new Error(`worker thread exited with code ${code}`));
    });
    const { everyMs, deadlineMs } = options.liveness ?? DEFAULT_LIVENESS;
    this.livenessTimer = setInterval(() => this.checkLiveness(everyMs, deadlineMs), everyMs);
    this.livenessTimer.unref();
  }

  static async start(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
    const dir = resolve(options.dataDir, 'pg');
    mkdirSync(dir, { recursive: true });
    const lock = acquireLock(resolve(options.dataDir, 'pg.lock'));
    let worker: Worker | null = null;
    try {
      worker = new Worker(WORKER_ENTRY, { workerData: { dir, port: options.port ?? 0, host: '127.0.0.1' } });
      const port = await ready(worker);
      return new EmbeddedDatabase(worker, port, lock, options);
    } catch (err) {
      await worker?.terminate();
      rmSync(lock, { force: true });
      throw err;
    }
  }

  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Stops accepting connections but keeps the database open (used to simulate an outage). */
  async stopServer(): Promise<void> {
    await this.call('stopServer');
  }

  /** Serves again on the same port after stopServer(). */
  async restartServer(): Promise<void> {
    await this.call('restartServer');
  }

  /** The worker thread's memory (for metrics and the soak bench). */
  async stats(): Promise<EmbeddedDatabaseStats> {
    return (await this.call('stats')) as EmbeddedDatabaseStats;
  }

  /** Closes the database cleanly (everything written to the data directory), ends the thread, frees the lock. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.livenessTimer);
      try {
        if (!this.crashed) {
          const exited = new Promise<void>((done) => this.worker.once('exit', () => done()));
          try {
            await this.call('close', true);
          } finally {
            // The thread ends by itself once closed; never wait forever on it, nor leave it running
            // after a failed close.
            const timer = setTimeout(() => void this.worker.terminate(), 5_000);
            await exited;
            clearTimeout(timer);
          }
        }
      } finally {
        rmSync(this.lockFile, { force: true });
      }
    })();
    return this.stopping;
  }

  private call(op: Op, stopping = false): Promise<unknown> {
    if (this.crashed) return Promise.reject(this.crashed);
    if (this.stopping && !stopping) return Promise.reject(new Error('the embedded database is stopped'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op });
    });
  }

  private checkLiveness(everyMs: number, deadlineMs: number): void {
    if (this.crashed || this.stopping) return;
    const now = Date.now();
    // This thread's own stall (its timers ran late) is no sign the worker's: its replies may be queued behind it.
    if (now - this.lastCheckAt > 2 * everyMs) this.lastHeardAt = now;
    this.lastCheckAt = now;
    const silentMs = now - this.lastHeardAt;
    if (silentMs < deadlineMs) {
      // Any message counts as a sign of life; the reply itself carries nothing.
      this.call('ping').catch(() => undefined);
      return;
    }
    this.onCrash(new Error(`worker thread has not answered for ${Math.round(silentMs / 1000)} s (blocked in a call into PGlite)`));
    void this.worker.terminate();
  }

  private onMessage(msg: WorkerMessage): void {
    this.lastHeardAt = Date.now();
    if (msg.type === 'error') {
      (this.options.onError ?? ((m: string) => console.error(`embedded database: ${m}`)))(msg.message);
      return;
    }
    if (msg.type !== 'reply') return;
    const waiter = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (msg.ok) waiter?.resolve(msg.value);
    else waiter?.reject(new Error(msg.error));
  }

  private onCrash(cause: unknown): void {
    if (this.crashed) return;
    const detail = cause instanceof Error ? cause.message : String(cause);
    const err = new EmbeddedDatabaseCrashed(`the embedded database worker thread died: ${detail}`, { cause });
    this.crashed = err;
    clearInterval(this.livenessTimer);
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    // A crash while stopping is still reported to the waiting stop() above, and nowhere else.
    if (this.stopping) return;
    const onCrash =
      this.options.onCrash ??
      ((e: EmbeddedDatabaseCrashed) => {
        throw e;
      });
    onCrash(err);
  }
}

/** Waits for the worker's 'ready'; its startup error (bad data dir, port in use) rejects. */
function ready(worker: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: WorkerMessage) => {
      if (msg.type !== 'ready') return;
      cleanup();
      resolve(msg.port);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the embedded database worker exited during startup (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
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
