import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MqttIdentity } from './mqtt-identity.js';
import { canSubscribe, decidePublish } from './topic-acl.js';

const terminal: MqttIdentity = { kind: 'terminal', sn: 'EP0001' };
const service: MqttIdentity = { kind: 'service', name: 'ingest' };

describe('decidePublish for a terminal', () => {
  it('allows its own heartbeat, presence and command acks', () => {
    assert.deepEqual(decidePublish(terminal, 'pos/v1/EP0001/heartbeat'), { allow: true, kind: 'heartbeat', sn: 'EP0001' });
    assert.deepEqual(decidePublish(terminal, 'pos/v1/EP0001/presence'), { allow: true, kind: 'presence', sn: 'EP0001' });
    assert.deepEqual(decidePublish(terminal, 'pos/v1/EP0001/commands/ack'), { allow: true, kind: 'commands/ack', sn: 'EP0001' });
  });

  it('denies publishing commands, even to itself', () => {
    assert.deepEqual(decidePublish(terminal, 'pos/v1/EP0001/commands'), { allow: false, reason: 'acl_denied' });
  });

  it("denies another terminal's topics", () => {
    for (const topic of ['pos/v1/EP0002/heartbeat', 'pos/v1/EP0002/presence', 'pos/v1/EP0002/commands/ack', 'pos/v1/ep0001/heartbeat', 'pos/v1/EP00011/heartbeat']) {
      assert.deepEqual(decidePublish(terminal, topic), { allow: false, reason: 'acl_denied' }, topic);
    }
  });

  it('reports unknown_topic for an unknown suffix under its own prefix', () => {
    for (const topic of ['pos/v1/EP0001/status', 'pos/v1/EP0001/heartbeat/x', 'pos/v1/EP0001/']) {
      assert.deepEqual(decidePublish(terminal, topic), { allow: false, reason: 'unknown_topic' }, topic);
    }
  });

  it('denies topics outside any terminal prefix', () => {
    for (const topic of ['other/topic', 'pos/v1/EP0001', '$SYS/broker/clients', 'pos/v2/EP0001/heartbeat']) {
      assert.deepEqual(decidePublish(terminal, topic), { allow: false, reason: 'acl_denied' }, topic);
    }
  });
});

describe('decidePublish for a service account', () => {
  it('allows commands to any terminal', () => {
    assert.deepEqual(decidePublish(service, 'pos/v1/EP0001/commands'), { allow: true, kind: 'commands', sn: 'EP0001' });
    assert.deepEqual(decidePublish(service, 'pos/v1/EP0099/commands'), { allow: true, kind: 'commands', sn: 'EP0099' });
  });

  it('denies everything else', () => {
    for (const topic of ['pos/v1/EP0001/heartbeat', 'pos/v1/EP0001/presence', 'pos/v1/EP0001/commands/ack', 'pos/v1/EP0001/other', 'pos/v1/+/commands', 'other/topic', '$SYS/x']) {
      assert.deepEqual(decidePublish(service, topic), { allow: false, reason: 'acl_denied' }, topic);
    }
  });
});

describe('canSubscribe', () => {
  it('lets a terminal subscribe only to its own command topic', () => {
    assert.equal(canSubscribe(terminal, 'pos/v1/EP0001/commands'), true);
    for (const filter of ['pos/v1/EP0002/commands', 'pos/v1/+/commands', 'pos/v1/EP0001/#', 'pos/v1/EP0001/+', 'pos/v1/EP0001/heartbeat', 'pos/v1/EP0001/commands/ack', '#', '$SYS/#']) {
      assert.equal(canSubscribe(terminal, filter), false, filter);
    }
  });

  it('lets a service account subscribe under the root and $SYS but not to everything', () => {
    for (const filter of ['pos/v1/+/heartbeat', 'pos/v1/+/presence', 'pos/v1/+/commands/ack', 'pos/v1/#', 'pos/v1/EP0001/heartbeat', '$SYS/broker/clients/connected']) {
      assert.equal(canSubscribe(service, filter), true, filter);
    }
    for (const filter of ['#', '+/v1/+/heartbeat', 'other/#', 'pos/v2/#', 'pos/v1']) {
      assert.equal(canSubscribe(service, filter), false, filter);
    }
  });
});
