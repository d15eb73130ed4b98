import { connect } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from '@jest/globals';
import { FrontendMessageFramer, PgliteWireServer } from './pglite-wire-server.mjs';

function startup(): Buffer {
  const body = Buffer.from('\0\x03\0\0user\0postgres\0\0', 'binary');
  const b = Buffer.alloc(4 + body.length);
  b.writeInt32BE(4 + body.length, 0);
  body.copy(b, 4);
  return b;
}

function message(type: string, payload: Buffer): Buffer {
  const b = Buffer.alloc(5 + payload.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + payload.length, 1);
  payload.copy(b, 5);
  return b;
}

describe('FrontendMessageFramer', () => {
  const stream = Buffer.concat([startup(), message('Q', Buffer.from('SELECT 1\0')), message('P', Buffer.alloc(70_000, 0x61)), message('S', Buffer.alloc(0))]);

  it('yields whole messages however the stream is split', () => {
    for (const step of [1, 3, 7, 1000, 65_536, stream.length]) {
      const framer = new FrontendMessageFramer();
      const got: { startup: boolean; bytes: Buffer }[] = [];
      for (let i = 0; i < stream.length; i += step) got.push(...framer.push(stream.subarray(i, i + step)));
      expect(got.map((m) => [m.startup, m.bytes.length])).toStrictEqual([
        [true, startup().length],
        [false, 14],
        [false, 70_005],
        [false, 5],
      ]);
      expect(Buffer.concat(got.map((m) => m.bytes))).toStrictEqual(stream);
    }
  });

  it('treats the message after an SSL request as the startup message', () => {
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(80877103, 4);
    const framer = new FrontendMessageFramer();
    const got = framer.push(Buffer.concat([ssl, startup(), message('Q', Buffer.from('SELECT 1\0'))]));
    expect(got.map((m) => m.startup)).toStrictEqual([true, true, false]);
  });

  it('rejects a corrupt length instead of buffering forever', () => {
    const framer = new FrontendMessageFramer();
    framer.push(startup());
    const bad = Buffer.from([0x51, 0xff, 0xff, 0xff, 0xff]);
    expect(() => framer.push(bad)).toThrow(/invalid message length/);
  });
});

describe('PgliteWireServer watchdog', () => {
  it('reports a call into PGlite that never returns, naming its messages and SQL', async () => {
    let calls = 0;
    // Answers the startup, then never again.
    const never = {
      execProtocol: () => (calls++ === 0 ? Promise.resolve({ data: new Uint8Array(0) }) : new Promise<never>(() => undefined)),
    } as unknown as PGlite;
    const stuck: string[] = [];
    const server = new PgliteWireServer(never, () => undefined, { callTimeoutMs: 200, onStuck: (detail) => stuck.push(detail) });
    const port = await server.listen(0);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(startup());
    await new Promise((r) => setTimeout(r, 50));
    const parse = message('P', Buffer.from('\0INSERT INTO heartbeats VALUES ($1)\0\0\0', 'binary'));
    socket.write(Buffer.concat([parse, message('S', Buffer.alloc(0))]));
    const deadline = Date.now() + 5_000;
    while (stuck.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    expect(stuck).toStrictEqual(['a PGlite call has not returned after 200 ms (messages PS, SQL: INSERT INTO heartbeats VALUES ($1))']);
    await Promise.race([server.close(), new Promise((r) => setTimeout(r, 200))]);
  });

  it('does not report calls that return', async () => {
    const quick = { execProtocol: () => Promise.resolve({ data: new Uint8Array(0) }) } as unknown as PGlite;
    const stuck: string[] = [];
    const server = new PgliteWireServer(quick, () => undefined, { callTimeoutMs: 100, onStuck: (detail) => stuck.push(detail) });
    const port = await server.listen(0);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(Buffer.concat([startup(), message('Q', Buffer.from('SELECT 1\0'))]));
    await new Promise((r) => setTimeout(r, 400));
    socket.destroy();
    expect(stuck).toStrictEqual([]);
    await server.close();
  });
});
