import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Transform } from 'node:stream';
import { freePort } from './test-database.js';

/**
 * A TCP relay to a local port that can be cut: every relayed connection dropped and new ones refused,
 * as when a process loses its network. A gateway whose database traffic goes through it can be made
 * to "crash" from the database's point of view (no more writes, no lease renewal) inside a test.
 */
export interface TcpProxy {
  port: number;
  /** Connections relayed so far. */
  readonly connections: number;
  /** While on, what the target sends is swallowed and the connections stay open (a reply lost on the way). */
  dropReplies(on: boolean): void;
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let connections = 0;
  let dropping = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (server) return resolve();
      const s = createServer((inbound) => {
        const outbound = createConnection(targetPort, targetHost);
        connections++;
        track(inbound);
        track(outbound);
        inbound.pipe(outbound);
        outbound.pipe(new Transform({ transform: (chunk: Buffer, _enc, done) => done(null, dropping ? undefined : chunk) })).pipe(inbound);
        inbound.on('close', () => outbound.destroy());
        outbound.on('close', () => inbound.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve();
      });
    });
  const stop = async () => {
    const s = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    port,
    get connections() {
      return connections;
    },
    dropReplies: (on) => {
      dropping = on;
    },
    cut: stop,
    resume: listen,
    close: stop,
  };
}
