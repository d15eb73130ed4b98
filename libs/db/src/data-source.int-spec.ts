import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { createDataSource } from './data-source.js';

/** A TCP proxy to the database that can stop forwarding replies, as a reply lost on the way would. */
async function startProxy(target: URL): Promise<{ server: Server; port: number; dropReplies: boolean; connections: number }> {
  const state = { server: null as unknown as Server, port: 0, dropReplies: false, connections: 0 };
  const sockets = new Set<Socket>();
  state.server = createServer((client) => {
    state.connections++;
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!state.dropReplies) client.write(chunk);
    });
  });
  state.server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  const address = state.server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  return state;
}

for (const kind of testDbKinds()) {
  describe(`database connections on ${kind}`, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
    });
    afterAll(async () => {
      await db?.stop();
    });

    it('replaces a connection whose query timed out, so a lost reply does not stop every later query (pool of one)', async () => {
      const target = new URL(db.url);
      const proxy = await startProxy(target);
      const url = new URL(db.url);
      url.port = String(proxy.port);
      const ds = createDataSource({ url: url.toString(), poolSize: 1, queryTimeoutMs: 1_000 });
      await ds.initialize();
      try {
        expect(await ds.query('SELECT 1 AS n')).toStrictEqual([{ n: 1 }]);
        proxy.dropReplies = true;
        await expect(ds.query('SELECT 2 AS n')).rejects.toThrow('Query read timeout');
        proxy.dropReplies = false;
        // pg would keep the one connection waiting for the lost reply: this query would time out too.
        expect(await ds.query('SELECT 3 AS n')).toStrictEqual([{ n: 3 }]);
        expect(proxy.connections).toBe(2);
      } finally {
        await ds.destroy();
        await new Promise((resolve) => proxy.server.close(resolve));
      }
    }, 60_000);
  });
}
