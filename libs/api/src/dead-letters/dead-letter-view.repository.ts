import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { DeadLetterView } from './dead-letter.dto.js';

export interface DeadLetterFilter {
  limit: number;
  /** Only letters with a lower id (the last id of the previous page). */
  beforeId: string | null;
  reason?: string;
  topic?: string;
  clientId?: string;
  from: Date | null;
  to: Date | null;
}

interface DbRow {
  id: string;
  received_at: Date;
  client_id: string | null;
  topic: string;
  reason: string;
  detail: string;
  payload_size: number;
  payload: Buffer;
  truncated: boolean;
}

const COLUMNS = 'id::text AS id, received_at, client_id, topic, reason, detail, payload_size, payload, truncated';

const toView = (r: DbRow): DeadLetterView => ({
  id: r.id,
  receivedAt: new Date(r.received_at).toISOString(),
  clientId: r.client_id,
  topic: r.topic,
  reason: r.reason,
  detail: r.detail,
  payloadSize: Number(r.payload_size),
  payloadBase64: Buffer.from(r.payload).toString('base64'),
  truncated: r.truncated,
});

/** The read side of the dead-letter table (the gateway's ingest writes and trims it). */
@Injectable()
export class DeadLetterViewRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Newest first, keyset-paginated on id. */
  async list(filter: DeadLetterFilter): Promise<DeadLetterView[]> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM dead_letters
        WHERE ($1::bigint IS NULL OR id < $1)
          AND ($2::text IS NULL OR reason = $2)
          AND ($3::text IS NULL OR topic = $3)
          AND ($4::text IS NULL OR client_id = $4)
          AND ($5::timestamptz IS NULL OR received_at >= $5)
          AND ($6::timestamptz IS NULL OR received_at < $6)
        ORDER BY id DESC LIMIT $7`,
      [filter.beforeId, filter.reason ?? null, filter.topic ?? null, filter.clientId ?? null, filter.from, filter.to, filter.limit],
    );
    return rows.map(toView);
  }

  async find(id: string): Promise<DeadLetterView | null> {
    const rows: DbRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM dead_letters WHERE id = $1`, [id]);
    return rows[0] ? toView(rows[0]) : null;
  }
}
