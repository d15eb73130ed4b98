import { describe, expect, it } from '@jest/globals';
import type { MqttIdentity } from './mqtt-identity.js';
import { canSubscribe, decidePublish } from './topic-acl.js';

const terminal: MqttIdentity = { kind: 'terminal', sn: 'EP0001' };
const service: MqttIdentity = { kind: 'service', name: 'ingest' };

describe('decidePublish for a terminal', () => {
  it('allows its own heartbeat, presence and command acks', () => {
    expect(decidePublish(terminal, 'pos/v1/EP0001/heartbeat')).toStrictEqual({ allow: true, kind: 'heartbeat', sn: 'EP0001' });
    expect(decidePublish(terminal, 'pos/v1/EP0001/presence')).toStrictEqual({ allow: true, kind: 'presence', sn: 'EP0001' });
    expect(decidePublish(terminal, 'pos/v1/EP0001/commands/ack')).toStrictEqual({ allow: true, kind: 'commands/ack', sn: 'EP0001' });
  });

  it('denies publishing commands, even to itself', () => {
    expect(decidePublish(terminal, 'pos/v1/EP0001/commands')).toStrictEqual({ allow: false, reason: 'acl_denied' });
  });

  it("denies another terminal's topics", () => {
    for (const topic of [
      'pos/v1/EP0002/heartbeat',
      'pos/v1/EP0002/presence',
      'pos/v1/EP0002/commands/ack',
      'pos/v1/ep0001/heartbeat',
      'pos/v1/EP00011/heartbeat',
    ]) {
      expect(decidePublish(terminal, topic)).toStrictEqual({ allow: false, reason: 'acl_denied' });
    }
  });

  it('reports unknown_topic for an unknown suffix under its own prefix', () => {
    for (const topic of ['pos/v1/EP0001/status', 'pos/v1/EP0001/heartbeat/x', 'pos/v1/EP0001/']) {
      expect(decidePublish(terminal, topic)).toStrictEqual({ allow: false, reason: 'unknown_topic' });
    }
  });

  it('denies topics outside any terminal prefix', () => {
    for (const topic of ['other/topic', 'pos/v1/EP0001', '$SYS/broker/clients', 'pos/v2/EP0001/heartbeat']) {
      expect(decidePublish(terminal, topic)).toStrictEqual({ allow: false, reason: 'acl_denied' });
    }
  });
});

describe('decidePublish for a service account', () => {
  it('allows commands to any terminal', () => {
    expect(decidePublish(service, 'pos/v1/EP0001/commands')).toStrictEqual({ allow: true, kind: 'commands', sn: 'EP0001' });
    expect(decidePublish(service, 'pos/v1/EP0099/commands')).toStrictEqual({ allow: true, kind: 'commands', sn: 'EP0099' });
  });

  it('denies everything else', () => {
    for (const topic of [
      'pos/v1/EP0001/heartbeat',
      'pos/v1/EP0001/presence',
      'pos/v1/EP0001/commands/ack',
      'pos/v1/EP0001/other',
      'pos/v1/+/commands',
      'other/topic',
      '$SYS/x',
    ]) {
      expect(decidePublish(service, topic)).toStrictEqual({ allow: false, reason: 'acl_denied' });
    }
  });
});

describe('canSubscribe', () => {
  it('lets a terminal subscribe only to its own command topic', () => {
    expect(canSubscribe(terminal, 'pos/v1/EP0001/commands')).toBe(true);
    for (const filter of [
      'pos/v1/EP0002/commands',
      'pos/v1/+/commands',
      'pos/v1/EP0001/#',
      'pos/v1/EP0001/+',
      'pos/v1/EP0001/heartbeat',
      'pos/v1/EP0001/commands/ack',
      '#',
      '$SYS/#',
    ]) {
      expect(canSubscribe(terminal, filter)).toBe(false);
    }
  });

  it('lets a service account subscribe under the root and $SYS but not to everything', () => {
    for (const filter of [
      'pos/v1/+/heartbeat',
      'pos/v1/+/presence',
      'pos/v1/+/commands/ack',
      'pos/v1/#',
      'pos/v1/EP0001/heartbeat',
      '$SYS/broker/clients/connected',
    ]) {
      expect(canSubscribe(service, filter)).toBe(true);
    }
    for (const filter of ['#', '+/v1/+/heartbeat', 'other/#', 'pos/v2/#', 'pos/v1']) {
      expect(canSubscribe(service, filter)).toBe(false);
    }
  });
});
