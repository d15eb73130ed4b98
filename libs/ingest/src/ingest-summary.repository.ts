import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { IngestSummary } from '#contracts';

/** Counts over the registry, live state, telemetry and dead letters, for the operator summary. */
@Injectable()
export class IngestSummaryRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async summary(): Promise<IngestSummary> {
    const rows: { terminals: number; online: number; heartbeats: number; last: Date | null; dead: number }[] = await this.dataSource.query(`
      SELECT (SELECT count(*)::int FROM terminals) AS terminals,
             (SELECT count(*)::int FROM terminal_state WHERE online) AS online,
             (SELECT count(*)::int FROM heartbeats) AS heartbeats,
             (SELECT max(last_heartbeat_at) FROM terminal_state) AS last,
             (SELECT count(*)::int FROM dead_letters) AS dead`);
    const r = rows[0];
    return {
      terminals: r.terminals,
      online: r.online,
      heartbeats: r.heartbeats,
      lastHeartbeatAt: r.last ? new Date(r.last).toISOString() : null,
      deadLetters: r.dead,
    };
  }
}
