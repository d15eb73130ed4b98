// Plain JavaScript on purpose: this module runs inside the embedded database's worker thread
// (pglite-worker.mjs), and a worker thread loads its files with Node's own loader, which cannot
// run TypeScript (Jest's transform applies only to the test's own thread). Types for TypeScript
// callers: pglite-wire-server.d.mts.
import { createServer } from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/**
 * Splits a byte stream into whole Postgres frontend messages. The first message of a connection
 * (startup, SSL or cancel request) has no type byte; every later one is type + int32 length.
 */
export class FrontendMessageFramer {
  /** @type {Buffer} */
  #buffer = Buffer.alloc(0);
  #startup = true;

  /**
   * Appends bytes; returns the complete messages now available, in order.
   * @param {Buffer} chunk
   * @returns {{ startup: boolean; bytes: Buffer }[]}
   */
  push(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out = [];
    let offset = 0;
    for (;;) {
      const headerLength = this.#startup ? 4 : 5;
      if (this.#buffer.length - offset < headerLength) break;
      const length = this.#startup ? this.#buffer.readInt32BE(offset) : 1 + this.#buffer.readInt32BE(offset + 1);
      if (length < headerLength - (this.#startup ? 0 : 1) || length > 1 << 30) throw new Error(`invalid message length ${length}`);
      if (this.#buffer.length - offset < length) break;
      const bytes = this.#buffer.subarray(offset, offset + length);
      const wasStartup = this.#startup;
      if (this.#startup) {
        const code = bytes.length >= 8 ? bytes.readInt32BE(4) : 0;
        // After an SSL/GSS request the client sends the real startup message.
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) this.#startup = false;
      }
      out.push({ startup: wasStartup, bytes });
      offset += length;
    }
    this.#buffer = offset === this.#buffer.length ? Buffer.alloc(0) : Buffer.from(this.#buffer.subarray(offset));
    return out;
  }
}

/**
 * What a call into PGlite carried, for the report of a stuck call: message types and the SQL of a
 * Parse or Query, truncated.
 * @param {Buffer} bytes one or more frontend messages
 * @param {number} ms
 */
function describeCall(bytes, ms) {
  const types = [];
  let sql = '';
  for (let offset = 0; offset + 5 <= bytes.length && types.length < 20;) {
    const type = String.fromCharCode(bytes[offset]);
    const length = bytes.readInt32BE(offset + 1);
    types.push(type);
    if (!sql && (type === 'Q' || type === 'P')) {
      const body = bytes.subarray(offset + 5, Math.min(offset + 1 + length, offset + 5 + 400));
      const text = type === 'P' ? body.subarray(body.indexOf(0) + 1) : body;
      sql = text
        .subarray(0, Math.max(0, text.indexOf(0) >= 0 ? text.indexOf(0) : text.length))
        .toString('utf8')
        .slice(0, 200);
    }
    if (length < 4) break;
    offset += 1 + length;
  }
  return `a PGlite call has not returned after ${ms} ms (messages ${types.join('') || '(startup)'}${sql ? `, SQL: ${sql}` : ''})`;
}

/**
 * Serves a PGlite instance over the Postgres wire protocol, one client connection at a time
 * (PGlite is a single backend session; later connections wait their turn).
 *
 * Replaces @electric-sql/pglite-socket 0.0.19's handler, which hands every TCP chunk to PGlite as
 * if it were whole messages: a query larger than one socket read (bulk inserts) is split and
 * crashes the WASM backend with "RuntimeError: unreachable". Workaround for
 * https://github.com/electric-sql/pglite/pull/775 (fixed upstream in later pglite-socket releases
 * that do not work with the TimescaleDB build of PGlite we depend on).
 */
export class PgliteWireServer {
  /** @type {import('node:net').Server | null} */
  #server = null;
  /** @type {import('node:net').Socket | null} */
  #active = null;
  /** @type {import('node:net').Socket[]} */
  #waiting = [];
  /** @type {Set<import('node:net').Socket>} */
  #sockets = new Set();
  /** Serializes every call into the single PGlite backend. @type {Promise<unknown>} */
  #chain = Promise.resolve();
  #db;
  #onError;
  #onStuck;
  #callTimeoutMs;

  /**
   * @param {import('@electric-sql/pglite').PGlite} db
   * @param {(err: unknown) => void} [onError] a call into PGlite failed (not an SQL error: those are replies)
   * @param {{ callTimeoutMs?: number; onStuck?: (detail: string) => void }} [options] a call into PGlite that has
   *   not returned after callTimeoutMs (default 5 min) is reported to onStuck: every later call waits behind it, so
   *   the database is lost for good and the owner should fail loudly rather than hang. Clients give up long before
   *   (query_timeout 60 s), so no legitimate call comes near it.
   */
  constructor(db, onError = () => undefined, options = {}) {
    this.#db = db;
    this.#onError = onError;
    this.#callTimeoutMs = options.callTimeoutMs ?? 300_000;
    this.#onStuck = options.onStuck ?? (() => undefined);
  }

  /**
   * @param {number} port
   * @param {string} [host]
   * @returns {Promise<number>} the bound port
   */
  async listen(port, host = '127.0.0.1') {
    const server = createServer((socket) => this.#accept(socket));
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(undefined);
      });
    });
    this.#server = server;
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  /** Stops listening, drops every client and waits for the call in progress. */
  async close() {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(() => resolve(undefined)));
    await this.#chain.catch(() => undefined);
  }

  /** @param {import('node:net').Socket} socket */
  #accept(socket) {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const queued = this.#waiting.indexOf(socket);
      if (queued >= 0) this.#waiting.splice(queued, 1);
      if (this.#active === socket) this.#release();
    });
    if (this.#active) {
      socket.pause();
      this.#waiting.push(socket);
    } else this.#activate(socket);
  }

  /** @param {import('node:net').Socket} socket */
  #activate(socket) {
    this.#active = socket;
    const framer = new FrontendMessageFramer();
    socket.on('data', (/** @type {Buffer} */ chunk) => {
      let messages;
      try {
        messages = framer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      // The messages of one read go to PGlite in one call (a query's Parse/Bind/Describe/Execute/Sync
      // arrive together): one trip into the WASM backend instead of five.
      let batch = [];
      for (const message of messages) {
        if (!message.startup) {
          batch.push(message.bytes);
          continue;
        }
        if (batch.length) this.#handle(socket, { startup: false, bytes: batch.length === 1 ? batch[0] : Buffer.concat(batch) });
        batch = [];
        this.#handle(socket, message);
      }
      if (batch.length) this.#handle(socket, { startup: false, bytes: batch.length === 1 ? batch[0] : Buffer.concat(batch) });
    });
    socket.resume();
  }

  /**
   * @param {import('node:net').Socket} socket
   * @param {{ startup: boolean; bytes: Buffer }} message
   */
  #handle(socket, message) {
    if (message.startup && message.bytes.length >= 8) {
      const code = message.bytes.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        socket.write('N');
        return;
      }
      if (code === CANCEL_REQUEST) {
        socket.destroy();
        return;
      }
    }
    this.#chain = this.#chain
      .then(async () => {
        if (socket.destroyed) return;
        const watchdog = setTimeout(() => this.#onStuck(describeCall(message.bytes, this.#callTimeoutMs)), this.#callTimeoutMs);
        watchdog.unref();
        // execProtocol, not execProtocolRaw: PGlite parses every reply message into its private
        // message list and only execProtocol empties it again. With execProtocolRaw alone that list
        // kept every row ever returned (the heap growth of the embedded soak). throwOnError: false
        // because SQL errors are replies for the client, like any other.
        const { data: reply } = await this.#db
          .execProtocol(new Uint8Array(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength), { throwOnError: false })
          .finally(() => clearTimeout(watchdog));
        // A copy: the reply is a view of PGlite's receive buffer, which the next call overwrites while
        // a write the kernel did not take at once still waits in the socket's queue.
        if (reply.length > 0 && !socket.destroyed) socket.write(Buffer.from(reply));
      })
      .catch((err) => {
        socket.destroy();
        this.#onError(err);
      });
  }

  #release() {
    this.#active = null;
    // A client that vanished mid-transaction must not leave the shared session inside it.
    this.#chain = this.#chain.then(() => this.#db.exec('ROLLBACK').catch(() => undefined)).catch(() => undefined);
    const next = this.#waiting.shift();
    if (next) void this.#chain.then(() => this.#activate(next));
  }
}
