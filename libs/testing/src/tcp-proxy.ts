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
  /**
   * What happens to what the target sends: relayed (`pass`, the default), swallowed with the
   * connections left open (`drop`: a reply lost on the way) or kept back until `pass` (`hold`: a
   * slow network). Applies to every relayed connection.
   */
  replies(mode: 'pass' | 'drop' | 'hold'): void;
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let connections = 0;
  let mode: 'pass' | 'drop' | 'hold' = 'pass';
  const held = new Set<() => void>();
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
        const filter = new Transform({
          transform: (chunk: Buffer, _enc, done) => {
            if (mode !== 'hold') return done(null, mode === 'drop' ? undefined : chunk);
            const release = () => {
              held.delete(release);
              done(null, chunk);
            };
            held.add(release);
          },
        });
        outbound.pipe(filter).pipe(inbound);
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
    replies: (next) => {
      mode = next;
      if (next !== 'hold') for (const release of [...held]) release();
    },
    cut: stop,
    resume: listen,
    close: stop,
  };
}
