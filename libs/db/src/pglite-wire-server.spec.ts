import { describe, expect, it } from '@jest/globals';
import { FrontendMessageFramer } from './pglite-wire-server.mjs';

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
