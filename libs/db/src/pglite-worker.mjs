// Entry of the embedded database's worker thread (started by embedded-database.ts): PGlite, the
// WASM PostgreSQL, runs here with its wire server, so query execution never blocks the app's event
// loop. Plain JavaScript because worker threads cannot load TypeScript (see pglite-wire-server.mjs).
//
// Messages from the parent: { id, op: 'stopServer' | 'restartServer' | 'stats' | 'ping' | 'close' }.
// To the parent: { type: 'ready', port } once serving; { type: 'reply', id, ok, value | error };
// { type: 'error', message } for a failed call into PGlite. A fatal error exits the thread with
// code 1; the parent treats any exit it did not ask for as a crash.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { timescaledb } from '@electric-sql/pglite/timescaledb';
import { PgliteWireServer } from './pglite-wire-server.mjs';

/** @type {{ dir: string; port: number; host: string }} */
const { dir, port, host } = workerData;
if (!parentPort) throw new Error('pglite-worker.mjs runs only as a worker thread');
const parent = parentPort;

const describe = (err) => (err instanceof Error ? (err.stack ?? err.message) : String(err));

/** A call into PGlite threw (SQL errors are replies, not throws). A WASM trap leaves the backend unusable: crash loudly. */
function onWireError(err) {
  parent.postMessage({ type: 'error', message: describe(err) });
  if (err instanceof WebAssembly.RuntimeError) throw err;
}

const db = await PGlite.create({ dataDir: dir, extensions: { timescaledb } });
// PGlite has no shared_preload_libraries: unless the TimescaleDB loader is loaded before first
// use, a reopened database runs without the TSL module and every compression or retention
// policy call fails with 'not supported under the current "timescale" license'.
await db.exec(`LOAD 'timescaledb'`);
/**
 * A call into PGlite that never returns holds the one session for good, and every query after it
 * waits: end the thread (the parent treats that as a crash and the process exits) instead of hanging.
 * @param {string} detail
 */
function onStuck(detail) {
  parent.postMessage({ type: 'error', message: detail });
  // In a worker, process.exit ends this thread only; a moment first, so the message above is delivered.
  setTimeout(() => process.exit(1), 100);
}
const wireOptions = { onStuck };
/** @type {PgliteWireServer | null} */
let server = new PgliteWireServer(db, onWireError, wireOptions);
const boundPort = await server.listen(port, host);

const ops = {
  /** Stops accepting connections but keeps the database open (used to simulate an outage). */
  async stopServer() {
    await server?.close();
    server = null;
  },
  /** Serves again on the same port after stopServer(). */
  async restartServer() {
    if (server) return;
    const next = new PgliteWireServer(db, onWireError, wireOptions);
    await next.listen(boundPort, host);
    server = next;
  },
  /** This thread's V8 heap and PGlite's WASM memory, bytes. */
  stats() {
    const heap = getHeapStatistics();
    /** @type {{ HEAP8?: { byteLength: number } } | undefined} */
    const mod = /** @type {{ mod?: { HEAP8?: { byteLength: number } } }} */ (/** @type {unknown} */ (db)).mod;
    return { heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size, external: heap.external_memory, wasmMemory: mod?.HEAP8?.byteLength ?? null };
  },
  /** The parent's liveness check: any reply shows this thread's event loop runs. */
  ping() {
    return true;
  },
  /** Closes the server, then PGlite (a clean shutdown that writes everything to the data directory). */
  async close() {
    await server?.close();
    server = null;
    if (!db.closed) await db.close();
  },
};

parent.on('message', (/** @type {{ id: number; op: keyof typeof ops }} */ msg) => {
  void (async () => {
    try {
      const value = await ops[msg.op]();
      parent.postMessage({ type: 'reply', id: msg.id, ok: true, value });
      if (msg.op === 'close') parent.close();
    } catch (err) {
      parent.postMessage({ type: 'reply', id: msg.id, ok: false, error: describe(err) });
    }
  })();
});
// Diagnostics for the soak bench: worker threads get no signals, so with this variable set the
// thread writes a heap snapshot of itself whenever a request file appears in that directory.
const snapshotDir = process.env.EMBEDDED_DB_HEAP_SNAPSHOT_DIR;
if (snapshotDir) {
  let taken = 0;
  setInterval(() => {
    const request = join(snapshotDir, 'embedded-db-snapshot.request');
    if (!existsSync(request)) return;
    rmSync(request, { force: true });
    const file = join(snapshotDir, `embedded-db-worker.${++taken}.heapsnapshot`);
    writeHeapSnapshot(`${file}.tmp`);
    renameSync(`${file}.tmp`, file);
  }, 1_000).unref();
}
parent.postMessage({ type: 'ready', port: boundPort });
