import { describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import type { Heartbeat } from '#contracts';
import { loadConfig } from '#config';
import { HEARTBEAT_FIELDS } from '#db';
import { makeHeartbeat } from '#testing';
import { encodeHeartbeatRow, HeartbeatRepository, type HeartbeatRow } from './heartbeat.repository.js';

/** A DataSource that records each query's parameters and answers like the batch statement. */
function recordingDataSource(): { dataSource: DataSource; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const dataSource = {
    query: (_sql: string, params: unknown[]) => {
      calls.push(params);
      return Promise.resolve([{ inserted: 2 }]);
    },
  } as unknown as DataSource;
  return { dataSource, calls };
}

const config = loadConfig({}, { DATABASE_URL: 'postgres://unused' });
/** Parameter index of a heartbeat field's column: time, sn and received_at come first. */
const param = (key: (typeof HEARTBEAT_FIELDS)[number]['key']) => 3 + HEARTBEAT_FIELDS.findIndex((f) => f.key === key);

function row(sn: string, hb: Heartbeat, extra: Record<string, unknown> | null = null, receivedAt = new Date('2026-12-01T10:00:00.123Z')): HeartbeatRow {
  return { time: new Date(hb.ts), sn, receivedAt, heartbeat: hb, extra };
}

describe('HeartbeatRepository batch encoding', () => {
  it('sends each column as one array literal, rows in order, text quoted and escaped, absent values NULL', async () => {
    const { dataSource, calls } = recordingDataSource();
    const repo = new HeartbeatRepository(dataSource, config);
    const a = makeHeartbeat({ seq: 1, model: 'EP "T1"', battery: { percent: 76, charging: false, temperatureC: 31.5 } }, new Date('2026-12-01T09:59:00.000Z'));
    const b = makeHeartbeat(
      { seq: 2, model: 'back\\slash,{x}', battery: { percent: 50, charging: true, temperatureC: -4 } },
      new Date('2026-12-01T09:59:30.500Z'),
    );
    const inserted = await repo.insertBatch([row('SN-A', a, { vendor: { k: 'v"1' } }), row('SN-B', b)]);

    expect(inserted).toBe(2);
    expect(calls).toHaveLength(1);
    const params = calls[0];
    expect(params).toHaveLength(3 + HEARTBEAT_FIELDS.length + 1);
    expect(params[0]).toBe('{"2026-12-01T09:59:00.000Z","2026-12-01T09:59:30.500Z"}');
    expect(params[1]).toBe('{"SN-A","SN-B"}');
    expect(params[2]).toBe('{"2026-12-01T10:00:00.123Z","2026-12-01T10:00:00.123Z"}');
    expect(params[param('seq')]).toBe('{1,2}');
    expect(params[param('model')]).toBe('{"EP \\"T1\\"","back\\\\slash,{x}"}');
    expect(params[param('batteryPct')]).toBe('{76,50}');
    expect(params[param('charging')]).toBe('{f,t}');
    expect(params[param('batteryTempC')]).toBe('{31.5,-4}');
    expect(params[param('lat')]).toBe('{NULL,NULL}');
    expect(params[param('extra')]).toBe('{"{\\"vendor\\":{\\"k\\":\\"v\\\\\\"1\\"}}",NULL}');
    expect(params.at(-1)).toBe(config.heartbeat.maxFutureSkewS);
  });

  it("sends the terminal's own ts text as the time when it is the exact instant, else the instant in ISO form", async () => {
    const { dataSource, calls } = recordingDataSource();
    const repo = new HeartbeatRepository(dataSource, config);
    const offset = makeHeartbeat({ seq: 1, ts: '2026-12-01T17:59:00.250+08:00' });
    const subMillisecond = makeHeartbeat({ seq: 2, ts: '2026-12-01T09:59:00.1239Z' });
    await repo.insertBatch([row('SN-1', offset), row('SN-2', subMillisecond)]);
    expect(calls[0][0]).toBe('{"2026-12-01T17:59:00.250+08:00","2026-12-01T09:59:00.123Z"}');
  });

  it('a NUL in text (which Postgres cannot store) makes that element malformed, not the columns misaligned', async () => {
    const { dataSource, calls } = recordingDataSource();
    const repo = new HeartbeatRepository(dataSource, config);
    const good = makeHeartbeat({ seq: 1 });
    const bad = makeHeartbeat({ seq: 2, model: 'a\u0000b' });
    await repo.insertBatch([row('SN-1', good), row('SN-2', bad)]);
    const params = calls[0];
    // An unescaped quote inside a quoted element: Postgres refuses the array (22P02, a data error).
    expect(params[param('model')]).toBe('{"EP-T1","a"b"}');
    expect(params[1]).toBe('{"SN-1","SN-2"}');
    expect(params[param('seq')]).toBe('{1,2}');
    expect(params[param('uptimeS')]).toBe('{3600,3600}');
  });

  it('refuses an encoded row without one element per column, before any query', async () => {
    const { dataSource, calls } = recordingDataSource();
    const repo = new HeartbeatRepository(dataSource, config);
    const ok = encodeHeartbeatRow(row('SN-1', makeHeartbeat()));
    await expect(repo.insertEncoded([ok, ok.slice(0, ok.lastIndexOf('\0'))])).rejects.toThrow(/does not have/);
    await expect(repo.insertEncoded([ok, `${ok}\0NULL`])).rejects.toThrow(/does not have/);
    expect(calls).toHaveLength(0);
  });

  it('an empty batch sends nothing', async () => {
    const { dataSource, calls } = recordingDataSource();
    await expect(new HeartbeatRepository(dataSource, config).insertEncoded([])).resolves.toBe(0);
    expect(calls).toHaveLength(0);
  });
});
