import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    assert.equal(box.size, 3);
    assert.deepEqual(dropped, [0, 1]);
    assert.equal(box.nextToSend(1)?.seq, 2, 'oldest kept heartbeat goes first');
  });

  it('never drops the heartbeat awaiting PUBACK on the live connection', () => {
    const box = new HeartbeatOutbox(3, 1);
    box.push(payload(0), 't0', 0, 1);
    const inflight = box.nextToSend(1);
    assert.ok(inflight);
    box.markSent(inflight, 1);
    const dropped: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = box.push(payload(i), `t${i}`, i, 1);
      if (r.dropped) dropped.push(r.dropped.seq);
    }
    assert.deepEqual(dropped, [1, 2, 3]);
    assert.equal(box.inflight(1), 1);
    assert.equal(box.nextToSend(1), null, 'window still full');
    // on another connection the old in-flight entry is just the oldest
    assert.equal(box.push(payload(6), 't6', 6, 2).dropped?.seq, 0);
  });

  it('limits in-flight publishes per connection and releases on ack', () => {
    const box = new HeartbeatOutbox(5, 2);
    for (let i = 0; i < 4; i++) box.push(payload(i), `t${i}`, i);
    const a = box.nextToSend(1);
    assert.ok(a);
    box.markSent(a, 1);
    const b = box.nextToSend(1);
    assert.ok(b);
    box.markSent(b, 1);
    assert.equal(box.nextToSend(1), null, 'window full');
    assert.equal(box.inflight(1), 2);
    assert.equal(box.ack(a.id)?.seq, 0);
    assert.equal(box.ack(a.id), null, 'double ack is harmless');
    assert.equal(box.nextToSend(1)?.seq, 2);
    assert.equal(box.size, 3);
  });

  it('retransmits unacknowledged heartbeats on the next connection', () => {
    const box = new HeartbeatOutbox(5, 1);
    box.push(payload(0), 't0', 0);
    const e = box.nextToSend(1);
    assert.ok(e);
    box.markSent(e, 1);
    assert.equal(box.nextToSend(1), null);
    // connection 1 lost, connection 2 up
    const again = box.nextToSend(2);
    assert.equal(again?.id, e.id);
    assert.ok(again);
    box.markSent(again, 2);
    assert.equal(again.attempts, 2);
    assert.equal(again.ts, 't0', 'same payload and ts so the backend can deduplicate');
  });

  it('resends after a local publish failure and forgets everything on power loss', () => {
    const box = new HeartbeatOutbox(5, 1);
    box.push(payload(0), 't0', 0);
    const e = box.nextToSend(1);
    assert.ok(e);
    box.markSent(e, 1);
    box.failed(e.id);
    assert.equal(box.nextToSend(1)?.id, e.id);
    box.push(payload(1), 't1', 1);
    assert.equal(box.clear(), 2);
    assert.equal(box.size, 0);
    assert.equal(box.nextToSend(3), null);
  });

  it('rejects nonsensical sizes', () => {
    assert.throws(() => new HeartbeatOutbox(0, 1));
    assert.throws(() => new HeartbeatOutbox(3, 0));
  });
});
