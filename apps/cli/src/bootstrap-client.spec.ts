import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '#testing';
import { bootstrapViaApp, REACH_THE_APP } from './bootstrap-client.js';

describe('api-keys bootstrap through the running app', () => {
  let other: Server;
  let otherUrl: string;

  beforeAll(async () => {
    // Something else on the port: answers 404 with HTML.
    other = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const address = other.address();
    otherUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => other.close(resolve));
  });

  it('a port where nothing listens says what to do, not a bare "fetch failed"', async () => {
    const base = `http://127.0.0.1:${await freePort()}`;
    const err = await bootstrapViaApp(base, 'x'.repeat(32), 'first').then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toContain(`does not answer at ${base}`);
    expect(err?.message).toContain('ECONNREFUSED');
    expect(err?.message).toContain(REACH_THE_APP);
    expect(err?.message).not.toBe('fetch failed');
  });

  it('a port where another server answers says so and what to do', async () => {
    await expect(bootstrapViaApp(otherUrl, 'x'.repeat(32), 'first')).rejects.toThrow(`${otherUrl} answered 404, not like this app: ${REACH_THE_APP}`);
  });
});
