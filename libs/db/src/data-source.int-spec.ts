import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTcpProxy, startTestDatabase, testDbKinds, type TestDatabase } from '#testing';
import { createDataSource } from './data-source.js';

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
      // What the database sends can be swallowed on the way, as a lost reply would be.
      const proxy = await startTcpProxy(Number(new URL(db.url).port));
      const url = new URL(db.url);
      url.port = String(proxy.port);
      const ds = createDataSource({ url: url.toString(), poolSize: 1, queryTimeoutMs: 1_000 });
      await ds.initialize();
      try {
        expect(await ds.query('SELECT 1 AS n')).toStrictEqual([{ n: 1 }]);
        proxy.replies('drop');
        await expect(ds.query('SELECT 2 AS n')).rejects.toThrow('Query read timeout');
        proxy.replies('pass');
        // pg would keep the one connection waiting for the lost reply: this query would time out too.
        expect(await ds.query('SELECT 3 AS n')).toStrictEqual([{ n: 3 }]);
        expect(proxy.connections).toBe(2);
      } finally {
        await ds.destroy();
        await proxy.close();
      }
    }, 60_000);
  });
}
