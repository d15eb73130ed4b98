import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { HEARTBEAT_COLUMNS, type HeartbeatRow } from './heartbeat-row.js';

const names = HEARTBEAT_COLUMNS.map((c) => c.name);
const stateColumns = names.filter((n) => n !== 'sn' && n !== 'time' && n !== 'received_at');

/**
 * One statement per batch: unnest the column arrays, insert what is new (the (sn, time) key drops
 * retransmissions), and move each terminal's latest state forward only if the new heartbeat is
 * newer in terminal time, so late or replayed messages never overwrite fresher state.
 */
const INSERT_BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest(${HEARTBEAT_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')})
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
    const params = HEARTBEAT_COLUMNS.map((c) => rows.map((r) => c.get(r)));
    const result: { inserted: number }[] = await this.dataSource.query(INSERT_BATCH_SQL, params);
    return result[0]?.inserted ?? 0;
  }
}
