import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Heartbeat } from '#contracts';
import { HEARTBEAT_FIELDS, type HeartbeatExtra } from '#db';

/** One heartbeat to store. */
export interface HeartbeatRow {
  time: Date;
  sn: string;
  receivedAt: Date;
  heartbeat: Heartbeat;
  extra: HeartbeatExtra;
}

/** heartbeats columns with their array element types, in parameter order: the key, then the fields. */
const COLUMNS = [['time', 'timestamptz'], ['sn', 'text'], ['received_at', 'timestamptz'], ...HEARTBEAT_FIELDS.map((f) => [f.column, f.type])];
const names = COLUMNS.map(([name]) => name);
/** terminal_state has every heartbeat field column too. */
const stateColumns = HEARTBEAT_FIELDS.map((f) => f.column);

/**
 * One statement per batch: unnest the column arrays, insert what is new (the (sn, time) key drops
 * retransmissions), and move each terminal's latest state forward only if the new heartbeat is
 * newer in terminal time, so late or replayed messages never overwrite fresher state.
 */
const INSERT_BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
    AS u(${names.join(', ')})
), inserted AS (
  INSERT INTO heartbeats (${names.join(', ')})
  SELECT ${names.join(', ')} FROM input
  ON CONFLICT DO NOTHING
  RETURNING *
), latest AS (
  SELECT DISTINCT ON (sn) * FROM inserted ORDER BY sn, time DESC
), state AS (
  INSERT INTO terminal_state (sn, last_heartbeat_at, last_received_at, ${stateColumns.join(', ')})
  SELECT sn, time, received_at, ${stateColumns.join(', ')} FROM latest ORDER BY sn
  ON CONFLICT (sn) DO UPDATE SET
    last_heartbeat_at = EXCLUDED.last_heartbeat_at,
    last_received_at = EXCLUDED.last_received_at,
    ${stateColumns.map((c) => `${c} = EXCLUDED.${c}`).join(',\n    ')}
  WHERE terminal_state.last_heartbeat_at IS NULL OR terminal_state.last_heartbeat_at < EXCLUDED.last_heartbeat_at
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted`;

@Injectable()
export class HeartbeatRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Returns how many rows were new. */
  async insertBatch(rows: readonly HeartbeatRow[]): Promise<number> {
    const params: unknown[][] = [rows.map((r) => r.time), rows.map((r) => r.sn), rows.map((r) => r.receivedAt)];
    // Plain loops: this runs for every stored heartbeat.
    for (const { read } of HEARTBEAT_FIELDS) {
      const values = new Array<unknown>(rows.length);
      for (let i = 0; i < rows.length; i++) values[i] = read(rows[i].heartbeat, rows[i].extra);
      params.push(values);
    }
    const result: { inserted: number }[] = await this.dataSource.query(INSERT_BATCH_SQL, params);
    return result[0]?.inserted ?? 0;
  }
}
