import { describe, expect, it } from '@jest/globals';
import { isValidSn, parseTerminalTopic, terminalPrefix, TOPIC_ROOT, topics } from './topics.js';

describe('isValidSn', () => {
  it('accepts 4 to 32 letters, digits, "-" and "_" starting with a letter or digit', () => {
    for (const sn of ['ABCD', 'EP0000000001', 'a-b_c', '0abc', 'Z'.repeat(32), 'T1-2_3']) expect(isValidSn(sn)).toBe(true);
  });

  it('rejects too short, too long, leading separators, MQTT wildcards, slashes and other characters', () => {
    for (const sn of ['', 'ABC', 'Z'.repeat(33), '-ABC', '_ABC', 'AB+C', 'AB#C', 'AB/C', '+', '#', 'AB C', 'ABCD\n', 'ÄBCD', 'AB.CD', 'AB$CD']) {
      expect(isValidSn(sn)).toBe(false);
    }
  });
});

describe('topic builders', () => {
  it('build per-terminal topics under pos/v1/{sn}', () => {
    expect(TOPIC_ROOT).toBe('pos/v1');
    expect(terminalPrefix('EP0001')).toBe('pos/v1/EP0001');
    expect(topics.heartbeat('EP0001')).toBe('pos/v1/EP0001/heartbeat');
    expect(topics.presence('EP0001')).toBe('pos/v1/EP0001/presence');
    expect(topics.commands('EP0001')).toBe('pos/v1/EP0001/commands');
    expect(topics.commandAck('EP0001')).toBe('pos/v1/EP0001/commands/ack');
  });

  it('offer single-level wildcard filters for service accounts', () => {
    expect(topics.allHeartbeats).toBe('pos/v1/+/heartbeat');
    expect(topics.allPresence).toBe('pos/v1/+/presence');
    expect(topics.allCommandAcks).toBe('pos/v1/+/commands/ack');
  });

  it('round-trip through parseTerminalTopic', () => {
    expect(parseTerminalTopic(topics.heartbeat('EP0001'))).toStrictEqual({ sn: 'EP0001', kind: 'heartbeat' });
    expect(parseTerminalTopic(topics.presence('EP0001'))).toStrictEqual({ sn: 'EP0001', kind: 'presence' });
    expect(parseTerminalTopic(topics.commands('EP0001'))).toStrictEqual({ sn: 'EP0001', kind: 'commands' });
    expect(parseTerminalTopic(topics.commandAck('EP0001'))).toStrictEqual({ sn: 'EP0001', kind: 'commands/ack' });
  });
});

describe('parseTerminalTopic', () => {
  it('gives kind null for an unknown suffix under a valid terminal prefix', () => {
    for (const suffix of ['status', 'heartbeat/extra', 'commands/ack/x', 'HEARTBEAT', 'heartbeat/', '']) {
      expect(parseTerminalTopic(`pos/v1/EP0001/${suffix}`)).toStrictEqual({ sn: 'EP0001', kind: null });
    }
  });

  it('returns null for an invalid SN level (wildcards, too short, empty)', () => {
    for (const topic of ['pos/v1/+/heartbeat', 'pos/v1/#', 'pos/v1/#/heartbeat', 'pos/v1/AB/heartbeat', 'pos/v1//heartbeat', 'pos/v1/-ABC/heartbeat']) {
      expect(parseTerminalTopic(topic)).toBe(null);
    }
  });

  it('returns null for topics outside the root or without a message level', () => {
    for (const topic of [
      'pos/v2/EP0001/heartbeat',
      'pos/EP0001/heartbeat',
      'x/pos/v1/EP0001/heartbeat',
      'pos/v1',
      'pos/v1/',
      'pos/v1/EP0001',
      '$SYS/broker/clients',
      '/pos/v1/EP0001/heartbeat',
      'POS/V1/EP0001/heartbeat',
    ]) {
      expect(parseTerminalTopic(topic)).toBe(null);
    }
  });
});
