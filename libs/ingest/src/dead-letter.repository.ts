import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface DeadLetter {
  receivedAt: Date;
  clientId: string | null;
  topic: string;
  reason: string;
  detail: string;
  payloadSize: number;
  payload: Buffer;
  truncated: boolean;
}

/**
 * Text columns cannot hold NUL (topics and client ids come from the wire): it is written as the
 * visible escape `\u0000`, so one such letter cannot fail its whole batch. The payload is bytea, kept as is.
 */
export function toStorableText(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\\u0000') : value;
}

@Injectable()
export class DeadLetterRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async insertBatch(letters: readonly DeadLetter[]): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO dead_letters (received_at, client_id, topic, reason, detail, payload_size, payload, truncated)
       SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::bytea[], $8::bool[])`,
      [
        letters.map((l) => l.receivedAt),
        letters.map((l) => (l.clientId === null ? null : toStorableText(l.clientId))),
        letters.map((l) => toStorableText(l.topic)),
        letters.map((l) => toStorableText(l.reason)),
        letters.map((l) => toStorableText(l.detail)),
        letters.map((l) => l.payloadSize),
        letters.map((l) => l.payload),
        letters.map((l) => l.truncated),
      ],
    );
  }

  /** Keeps the newest `maxRows`; returns rows deleted. */
  async trim(maxRows: number): Promise<number> {
    const result: [unknown[], number] = await this.dataSource.query(
      `DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters ORDER BY id DESC OFFSET $1 LIMIT 1)`,
      [maxRows],
    );
    return result[1];
  }
}
