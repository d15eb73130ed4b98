import { describe, expect, it } from '@jest/globals';
import { expectPresent } from '#testing/expect-present.js';
import { HeartbeatOutbox } from './heartbeat-outbox.js';

const payload = (n: number): Buffer => Buffer.from(`{"seq":${n}}`);

describe('HeartbeatOutbox', () => {
  it('keeps at most `capacity` heartbeats, newest wins', () => {
    const box = new HeartbeatOutbox(3, 1);
    const dropped: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = box.push(payload(i), `t${i}`, i);
      if (r.dropped) dropped.push(r.dropped.seq);
    }
    expect(box.size).toBe(3);
    expect(dropped).toStrictEqual([0, 1]);
    expect(box.nextToSend(1)?.seq).toBe(2);
  });

  it('never drops the heartbeat awaiting PUBACK on the live connection', () => {
    const box = new HeartbeatOutbox(3, 1);
    box.push(payload(0), 't0', 0, 1);
    const inflight = box.nextToSend(1);
    expectPresent(inflight);
    box.markSent(inflight, 1);
    const dropped: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = box.push(payload(i), `t${i}`, i, 1);
      if (r.dropped) dropped.push(r.dropped.seq);
    }
    expect(dropped).toStrictEqual([1, 2, 3]);
    expect(box.inflight(1)).toBe(1);
    expect(box.nextToSend(1)).toBe(null);
    // on another connection the old in-flight entry is just the oldest
    expect(box.push(payload(6), 't6', 6, 2).dropped?.seq).toBe(0);
  });

  it('limits in-flight publishes per connection and releases on ack', () => {
    const box = new HeartbeatOutbox(5, 2);
    for (let i = 0; i < 4; i++) box.push(payload(i), `t${i}`, i);
    const a = box.nextToSend(1);
    expectPresent(a);
    box.markSent(a, 1);
    const b = box.nextToSend(1);
    expectPresent(b);
    box.markSent(b, 1);
    expect(box.nextToSend(1)).toBe(null);
    expect(box.inflight(1)).toBe(2);
    expect(box.ack(a.id)?.seq).toBe(0);
    expect(box.ack(a.id)).toBe(null);
    expect(box.nextToSend(1)?.seq).toBe(2);
    expect(box.size).toBe(3);
  });

  it('retransmits unacknowledged heartbeats on the next connection', () => {
    const box = new HeartbeatOutbox(5, 1);
    box.push(payload(0), 't0', 0);
    const e = box.nextToSend(1);
    expectPresent(e);
    box.markSent(e, 1);
    expect(box.nextToSend(1)).toBe(null);
    // connection 1 lost, connection 2 up
    const again = box.nextToSend(2);
    expect(again?.id).toBe(e.id);
    expectPresent(again);
    box.markSent(again, 2);
    expect(again.attempts).toBe(2);
    expect(again.ts).toBe('t0');
  });

  it('resends after a local publish failure and forgets everything on power loss', () => {
    const box = new HeartbeatOutbox(5, 1);
    box.push(payload(0), 't0', 0);
    const e = box.nextToSend(1);
    expectPresent(e);
    box.markSent(e, 1);
    box.failed(e.id);
    expect(box.nextToSend(1)?.id).toBe(e.id);
    box.push(payload(1), 't1', 1);
    expect(box.clear()).toBe(2);
    expect(box.size).toBe(0);
    expect(box.nextToSend(3)).toBe(null);
  });

  it('rejects nonsensical sizes', () => {
    expect(() => new HeartbeatOutbox(0, 1)).toThrow();
    expect(() => new HeartbeatOutbox(3, 0)).toThrow();
  });
});
