import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidSn, parseTerminalTopic, terminalPrefix, TOPIC_ROOT, topics } from './topics.js';

describe('isValidSn', () => {
  it('accepts 4 to 32 letters, digits, "-" and "_" starting with a letter or digit', () => {
    for (const sn of ['ABCD', 'EP0000000001', 'a-b_c', '0abc', 'Z'.repeat(32), 'T1-2_3']) assert.equal(isValidSn(sn), true, sn);
  });

  it('rejects too short, too long, leading separators, MQTT wildcards, slashes and other characters', () => {
    for (const sn of ['', 'ABC', 'Z'.repeat(33), '-ABC', '_ABC', 'AB+C', 'AB#C', 'AB/C', '+', '#', 'AB C', 'ABCD\n', 'ÄBCD', 'AB.CD', 'AB$CD']) {
      assert.equal(isValidSn(sn), false, JSON.stringify(sn));
    }
  });
});

describe('topic builders', () => {
  it('build per-terminal topics under pos/v1/{sn}', () => {
    assert.equal(TOPIC_ROOT, 'pos/v1');
    assert.equal(terminalPrefix('EP0001'), 'pos/v1/EP0001');
    assert.equal(topics.heartbeat('EP0001'), 'pos/v1/EP0001/heartbeat');
    assert.equal(topics.presence('EP0001'), 'pos/v1/EP0001/presence');
    assert.equal(topics.commands('EP0001'), 'pos/v1/EP0001/commands');
    assert.equal(topics.commandAck('EP0001'), 'pos/v1/EP0001/commands/ack');
  });

  it('offer single-level wildcard filters for service accounts', () => {
    assert.equal(topics.allHeartbeats, 'pos/v1/+/heartbeat');
    assert.equal(topics.allPresence, 'pos/v1/+/presence');
    assert.equal(topics.allCommandAcks, 'pos/v1/+/commands/ack');
  });

  it('round-trip through parseTerminalTopic', () => {
    assert.deepEqual(parseTerminalTopic(topics.heartbeat('EP0001')), { sn: 'EP0001', kind: 'heartbeat' });
    assert.deepEqual(parseTerminalTopic(topics.presence('EP0001')), { sn: 'EP0001', kind: 'presence' });
    assert.deepEqual(parseTerminalTopic(topics.commands('EP0001')), { sn: 'EP0001', kind: 'commands' });
    assert.deepEqual(parseTerminalTopic(topics.commandAck('EP0001')), { sn: 'EP0001', kind: 'commands/ack' });
  });
});

describe('parseTerminalTopic', () => {
  it('gives kind null for an unknown suffix under a valid terminal prefix', () => {
    for (const suffix of ['status', 'heartbeat/extra', 'commands/ack/x', 'HEARTBEAT', 'heartbeat/', '']) {
      assert.deepEqual(parseTerminalTopic(`pos/v1/EP0001/${suffix}`), { sn: 'EP0001', kind: null }, suffix);
    }
  });

  it('returns null for an invalid SN level (wildcards, too short, empty)', () => {
    for (const topic of ['pos/v1/+/heartbeat', 'pos/v1/#', 'pos/v1/#/heartbeat', 'pos/v1/AB/heartbeat', 'pos/v1//heartbeat', 'pos/v1/-ABC/heartbeat']) {
      assert.equal(parseTerminalTopic(topic), null, topic);
    }
  });

  it('returns null for topics outside the root or without a message level', () => {
    for (const topic of ['pos/v2/EP0001/heartbeat', 'pos/EP0001/heartbeat', 'x/pos/v1/EP0001/heartbeat', 'pos/v1', 'pos/v1/', 'pos/v1/EP0001', '$SYS/broker/clients', '/pos/v1/EP0001/heartbeat', 'POS/V1/EP0001/heartbeat']) {
      assert.equal(parseTerminalTopic(topic), null, topic);
    }
  });
});
