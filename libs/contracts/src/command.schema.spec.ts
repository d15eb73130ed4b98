import { describe, expect, it } from '@jest/globals';
import { commandAckSchema, commandParamsSchemas, otaInstallParamsSchema, setHeartbeatIntervalParamsSchema } from './command.schema.js';
import { parsePayload } from './validation.js';

const ack = (extra: Record<string, unknown>) => ({ v: 1, id: 'c1', ts: '2026-12-01T10:00:00+08:00', ...extra });

describe('command contracts', () => {
  it('accepts every terminal-reported state with what it needs', () => {
    for (const status of ['accepted', 'downloading', 'downloaded', 'verified', 'installing', 'succeeded', 'rolled_back', 'received', 'in_progress']) {
      expect(commandAckSchema.safeParse(ack({ status })).success).toBe(true);
    }
    expect(commandAckSchema.safeParse(ack({ status: 'deferred', reason: 'battery' })).success).toBe(true);
    expect(commandAckSchema.safeParse(ack({ status: 'failed', reason: 'checksum_mismatch' })).success).toBe(true);
    // v1 terminals (and the simulator) reject with a free-text error only.
    expect(commandAckSchema.safeParse(ack({ status: 'rejected', error: 'not implemented' })).success).toBe(true);
  });

  it('refuses a deferral without a known reason, and a failure without a code', () => {
    expect(commandAckSchema.safeParse(ack({ status: 'deferred' })).success).toBe(false);
    expect(commandAckSchema.safeParse(ack({ status: 'deferred', reason: 'bored' })).success).toBe(false);
    expect(commandAckSchema.safeParse(ack({ status: 'failed' })).success).toBe(false);
    expect(commandAckSchema.safeParse(ack({ status: 'failed', reason: 'Not A Code' })).success).toBe(false);
  });

  it('parses an ack payload end to end (refinements keep extra-field detection working)', () => {
    const parsed = parsePayload(JSON.stringify(ack({ status: 'downloading', progress: 42, extra: 1 })), commandAckSchema, {
      maxBytes: 2048,
      supportedVersions: [1],
    });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.extra).toEqual({ extra: 1 });
  });

  it('bounds the heartbeat interval', () => {
    expect(setHeartbeatIntervalParamsSchema.safeParse({ seconds: 29 }).success).toBe(false);
    expect(setHeartbeatIntervalParamsSchema.safeParse({ seconds: 3601 }).success).toBe(false);
    expect(setHeartbeatIntervalParamsSchema.safeParse({ seconds: 300 }).success).toBe(true);
    expect(setHeartbeatIntervalParamsSchema.safeParse({ seconds: 300, extra: 1 }).success).toBe(false);
  });

  it('fills OTA guard defaults (23:00-05:00 Asia/Shanghai) and checks the digest', () => {
    const base = {
      releaseId: 'r1',
      component: 'firmware',
      version: '2.5.0',
      url: 'https://cdn.example.com/fw.bin',
      size: 1000,
      sha256: 'a'.repeat(64),
      signature: 'c2ln',
    };
    const parsed = otaInstallParamsSchema.parse(base);
    expect(parsed.guards.window).toEqual({ start: '23:00', end: '05:00', tz: 'Asia/Shanghai' });
    expect(parsed.guards.minBatteryPct).toBe(30);
    expect(otaInstallParamsSchema.safeParse({ ...base, sha256: 'xyz' }).success).toBe(false);
    expect(commandParamsSchemas.reboot.parse({})).toEqual({ force: false });
  });
});
