import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API } from '#runtime';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase } from '#testing';

function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const closed = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

// Without the cut in createApp's close, each socket below held the server's close until Node's 60 s
// headers timeout: longer than this test's timeout and the processes' 30 s shutdown deadline.
const [kind] = testDbKinds();
describe(`shutdown with HTTP clients still connected (${kind})`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase(kind);
  });
  afterAll(async () => {
    await db.stop();
  });

  it('closes a keep-alive socket and one that never sent a request, and finishes', async () => {
    const gw = await startTestGateway(db, {}, { composition: API });
    const silent = await openSocket(gw.httpUrl);
    const keepAlive = await openSocket(gw.httpUrl);
    const answered = new Promise<string>((resolve) => keepAlive.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
    keepAlive.write('GET /health/live HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n');
    expect(await answered).toMatch(/^HTTP\/1\.1 200 /);

    await gw.close();
    await Promise.all([closed(silent), closed(keepAlive)]);
    expect([silent.destroyed, keepAlive.destroyed]).toEqual([true, true]);
  }, 25_000);
});
