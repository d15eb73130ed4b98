import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import { ConnectionGuard, limitPacketSize, RefusalReason } from './connection-guard.js';

function fakeSocket(address: string): Socket {
  return Object.assign(new EventEmitter(), { remoteAddress: address, destroyed: false }) as unknown as Socket;
}

describe('ConnectionGuard', () => {
  it('caps pending connections per address and in total, and frees a slot on settle or close', async () => {
    const pending: number[] = [];
    const guard = new ConnectionGuard({ maxPending: 3, maxPendingPerAddress: 2, connectRatePerAddressPerMinute: 100, onPendingChange: (n) => pending.push(n) });
    const a1 = fakeSocket('10.0.0.1');
    const a2 = fakeSocket('10.0.0.1');
    expect(await guard.admit(a1)).toBeNull();
    expect(await guard.admit(a2)).toBeNull();
    expect(await guard.admit(fakeSocket('10.0.0.1'))).toBe(RefusalReason.PendingPerAddressLimit);
    expect(await guard.admit(fakeSocket('10.0.0.2'))).toBeNull();
    expect(await guard.admit(fakeSocket('10.0.0.3'))).toBe(RefusalReason.PendingLimit);
    guard.settle(a1);
    expect(guard.isPending(a1)).toBe(false);
    a2.emit('close');
    expect(await guard.admit(fakeSocket('10.0.0.1'))).toBeNull();
    expect(pending).toStrictEqual([1, 2, 3, 2, 1, 2]);
    // Settling twice (authenticated, then closed) counts once.
    guard.settle(a1);
    a1.emit('close');
    expect(pending.at(-1)).toBe(2);
  });

  it('rate-limits new connections per address, other addresses unaffected', async () => {
    const guard = new ConnectionGuard({ maxPending: 100, maxPendingPerAddress: 100, connectRatePerAddressPerMinute: 2 });
    expect(await guard.admit(fakeSocket('10.0.0.1'))).toBeNull();
    expect(await guard.admit(fakeSocket('10.0.0.1'))).toBeNull();
    expect(await guard.admit(fakeSocket('10.0.0.1'))).toBe(RefusalReason.RateLimited);
    expect(await guard.admit(fakeSocket('10.0.0.2'))).toBeNull();
  });
});

describe('limitPacketSize', () => {
  it('stops the real mqtt-packet parser at the fixed header of a packet over the cap', () => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const seen: string[] = [];
    const tooLarge: number[] = [];
    parser.on('packet', (p: { cmd: string }) => seen.push(p.cmd));
    expect(
      limitPacketSize(
        parser,
        () => 100,
        (declared) => tooLarge.push(declared),
      ),
    ).toBe(true);
    // PINGREQ (no body) passes.
    parser.parse(Buffer.from([0xc0, 0x00]));
    expect(seen).toStrictEqual(['pingreq']);
    // CONNECT declaring 200 MiB (remaining length 0x80 0x80 0x80 0x64).
    parser.parse(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x64, 0x41, 0x41]));
    expect(tooLarge).toStrictEqual([200 * 1024 * 1024]);
    expect(seen).toStrictEqual(['pingreq']);
  });

  it('refuses to hook a parser of an unexpected shape', () => {
    expect(
      limitPacketSize(
        {},
        () => 1,
        () => undefined,
      ),
    ).toBe(false);
    expect(
      limitPacketSize(
        null,
        () => 1,
        () => undefined,
      ),
    ).toBe(false);
  });
});
