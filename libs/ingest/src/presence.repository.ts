import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface PresenceEvent {
  time: Date;
  sn: string;
  online: boolean;
  reason: string;
  remoteIp: string | null;
  /** Tie-breaker for events in the same millisecond (connect right after a takeover). */
  ord: number;
}

const INSERT_EVENTS_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::int8[])
    AS u(time, sn, online, reason, remote_ip, ord)
), events AS (
  INSERT INTO presence_events (time, sn, online, reason, remote_ip)
  SELECT time, sn, online, reason, remote_ip FROM input
), latest AS (
  SELECT DISTINCT ON (sn) * FROM input ORDER BY sn, time DESC, ord DESC
)
INSERT INTO terminal_state (sn, online, presence_changed_at, last_connected_at, last_disconnected_at, last_disconnect_reason)
SELECT sn, online, time,
       CASE WHEN online THEN time END,
       CASE WHEN NOT online THEN time END,
       CASE WHEN NOT online THEN reason END
  FROM latest ORDER BY sn
ON CONFLICT (sn) DO UPDATE SET
  online = EXCLUDED.online,
  presence_changed_at = EXCLUDED.presence_changed_at,
  last_connected_at = COALESCE(EXCLUDED.last_connected_at, terminal_state.last_connected_at),
  last_disconnected_at = COALESCE(EXCLUDED.last_disconnected_at, terminal_state.last_disconnected_at),
  last_disconnect_reason = COALESCE(EXCLUDED.last_disconnect_reason, terminal_state.last_disconnect_reason)
WHERE terminal_state.presence_changed_at IS NULL OR terminal_state.presence_changed_at <= EXCLUDED.presence_changed_at`;

@Injectable()
export class PresenceRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async insertBatch(events: readonly PresenceEvent[]): Promise<void> {
    await this.dataSource.query(INSERT_EVENTS_SQL, [
      events.map((e) => e.time),
      events.map((e) => e.sn),
      events.map((e) => e.online),
      events.map((e) => e.reason),
      events.map((e) => e.remoteIp),
      events.map((e) => e.ord),
    ]);
  }

  /**
   * Marks every terminal this gateway believed online as offline (after a crash, on start), with a
   * presence event each, so the history never shows two `connected` in a row.
   */
  async markAllOffline(time: Date, reason: string): Promise<number> {
    const rows: { n: number }[] = await this.dataSource.query(
      `WITH reset AS (
         UPDATE terminal_state SET online = false, presence_changed_at = $1, last_disconnected_at = $1, last_disconnect_reason = $2
          WHERE online AND presence_changed_at < $1
         RETURNING sn
       ), events AS (
         INSERT INTO presence_events (time, sn, online, reason) SELECT $1, sn, false, $2 FROM reset
       )
       SELECT count(*)::int AS n FROM reset`,
      [time, reason],
    );
    return rows[0]?.n ?? 0;
  }
}
