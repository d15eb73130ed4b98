import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './test-database.js';

/**
 * A TCP relay to a local port that can be cut: every relayed connection dropped and new ones refused,
 * as when a process loses its network. A gateway whose database traffic goes through it can be made
 * to "crash" from the database's point of view (no more writes, no lease renewal) inside a test.
 */
export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
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
        track(inbound);
        track(outbound);
        inbound.pipe(outbound).pipe(inbound);
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
  return { port, cut: stop, resume: listen, close: stop };
}
