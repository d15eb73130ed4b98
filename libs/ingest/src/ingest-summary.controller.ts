import { ApiExcludeController } from '@nestjs/swagger';
import { Controller, Get, Inject, UseGuards } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { INTERNAL_HTTP_PATHS, type IngestSummary } from '#contracts';
import { AdminTokenGuard } from '#terminals';

/** A quick look at what has landed, for operators and the README's first-run check. */
// Operator endpoints, documented in the README rather than the public API spec.
@ApiExcludeController()
@Controller()
@UseGuards(AdminTokenGuard)
export class IngestSummaryController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get(INTERNAL_HTTP_PATHS.ingestSummary)
  async summary(): Promise<IngestSummary> {
    const rows: { terminals: number; online: number; heartbeats: number; last: Date | null; dead: number }[] = await this.dataSource.query(`
      SELECT (SELECT count(*)::int FROM terminals) AS terminals,
             (SELECT count(*)::int FROM terminal_state WHERE online) AS online,
             (SELECT count(*)::int FROM heartbeats) AS heartbeats,
             (SELECT max(last_heartbeat_at) FROM terminal_state) AS last,
             (SELECT count(*)::int FROM dead_letters) AS dead`);
    const r = rows[0];
    return { terminals: r.terminals, online: r.online, heartbeats: r.heartbeats, lastHeartbeatAt: r.last ? new Date(r.last).toISOString() : null, deadLetters: r.dead };
  }
}
