import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PresenceReason } from '#contracts';

/** Which connection an event is about: the gateway session and the connection's number in it. */
export interface PresenceOwner {
  session: string;
  epoch: number;
}

export interface PresenceEvent extends PresenceOwner {
  time: Date;
  sn: string;
  online: boolean;
  reason: string;
  remoteIp: string | null;
  /** Order of the events of this gateway (ties in the same millisecond, a connect right after a takeover). */
  ord: number;
}

/**
 * One batch of one gateway's presence events, decided against the terminals' current owners:
 * - a connect claims the terminal unless a newer connect (of another gateway) holds it;
 * - `taken_over` (this gateway saw a newer connection with the same client id) changes nothing;
 * - an offline applies only if its connection still owns the terminal. One that does not (the terminal
 *   moved to another gateway before this one noticed the old socket died) is kept in the history as
 *   `taken_over`, online, never as a false offline; if nobody holds the terminal (a peer already marked
 *   it offline for this gateway's expired lease) the event adds nothing and is left out.
 * `pre` locks the batch's rows in SN order, so a concurrent batch of another gateway for the same
 * terminal waits and is decided on the owner this one wrote.
 */
const INSERT_EVENTS_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::int8[])
    AS u(time, sn, online, reason, remote_ip, ord, session, epoch)
), pre AS (
  SELECT s.sn, s.online, s.presence_changed_at, s.presence_session, s.presence_epoch
    FROM terminal_state s WHERE s.sn IN (SELECT sn FROM input) ORDER BY s.sn FOR UPDATE
), claims AS (
  SELECT i.* FROM input i LEFT JOIN pre p ON p.sn = i.sn
   WHERE i.online AND i.reason <> '${PresenceReason.TakenOver}'
     AND (p.sn IS NULL OR NOT p.online OR p.presence_changed_at IS NULL OR p.presence_changed_at <= i.time)
), decided AS (
  SELECT i.*, COALESCE((SELECT p.online FROM pre p WHERE p.sn = i.sn), false) AS held,
         CASE
           WHEN i.online THEN EXISTS (SELECT 1 FROM claims c WHERE c.ord = i.ord)
           ELSE COALESCE(
             (SELECT c.session = i.session AND c.epoch = i.epoch FROM claims c WHERE c.sn = i.sn AND c.ord < i.ord ORDER BY c.ord DESC LIMIT 1),
             (SELECT p.presence_session = i.session AND p.presence_epoch = i.epoch FROM pre p WHERE p.sn = i.sn),
             false)
         END AS applies
    FROM input i
), events AS (
  INSERT INTO presence_events (time, sn, online, reason, remote_ip)
  SELECT time, sn, online OR NOT applies, CASE WHEN online OR applies THEN reason ELSE '${PresenceReason.TakenOver}' END, remote_ip
    FROM decided WHERE online OR applies OR held
), latest AS (
  SELECT DISTINCT ON (sn) * FROM decided WHERE applies ORDER BY sn, ord DESC
)
INSERT INTO terminal_state (sn, online, presence_changed_at, last_connected_at, last_disconnected_at, last_disconnect_reason, presence_session, presence_epoch)
SELECT sn, online, time,
       CASE WHEN online THEN time END,
       CASE WHEN NOT online THEN time END,
       CASE WHEN NOT online THEN reason END,
       session, epoch
  FROM latest ORDER BY sn
ON CONFLICT (sn) DO UPDATE SET
  online = EXCLUDED.online,
  presence_changed_at = EXCLUDED.presence_changed_at,
  last_connected_at = COALESCE(EXCLUDED.last_connected_at, terminal_state.last_connected_at),
  last_disconnected_at = COALESCE(EXCLUDED.last_disconnected_at, terminal_state.last_disconnected_at),
  last_disconnect_reason = COALESCE(EXCLUDED.last_disconnect_reason, terminal_state.last_disconnect_reason),
  presence_session = EXCLUDED.presence_session,
  presence_epoch = EXCLUDED.presence_epoch`;

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
      events.map((e) => e.session),
      events.map((e) => e.epoch),
    ]);
  }

  /** Starts (or re-creates, after it was reaped) a gateway session's lease; expiry in database time. */
  async openSession(sessionId: string, gatewayId: string, ttlMs: number): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO gateway_sessions (session_id, gateway_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (session_id) DO UPDATE SET renewed_at = now(), expires_at = EXCLUDED.expires_at`,
      [sessionId, gatewayId, ttlMs],
    );
  }

  /** Extends the lease; false when it is gone (a peer found it expired and marked its terminals offline). */
  async renewSession(sessionId: string, ttlMs: number): Promise<boolean> {
    const rows: { session_id: string }[] = await this.dataSource.query(
      `WITH u AS (
         UPDATE gateway_sessions SET renewed_at = now(), expires_at = now() + $2 * interval '1 millisecond'
          WHERE session_id = $1 AND expires_at > now() RETURNING session_id
       ) SELECT session_id FROM u`,
      [sessionId, ttlMs],
    );
    return rows.length > 0;
  }

  /** Ends a session after its disconnects were written (graceful shutdown). */
  async closeSession(sessionId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM gateway_sessions WHERE session_id = $1`, [sessionId]);
  }

  /**
   * Marks offline (with an event each) the terminals owned by sessions that are gone: expired leases
   * and the previous runs of `gatewayId` (a restart under a configured GATEWAY_ID), found through the
   * index on the owner. `atStart`: also every online row whose owner has no lease (a session closed
   * without writing every disconnect) or no owner (written before sessions existed); that scans the
   * online terminals, so only once at start. Other gateways' live sessions are never touched. Expired
   * leases are deleted; racing reapers mark each terminal once.
   */
  async expireSessions(input: { time: Date; reason: string; gatewayId: string; currentSession: string; atStart: boolean }): Promise<number> {
    return this.dataSource.transaction(async (m) => {
      const dead: { session_id: string }[] = await m.query(
        // In a CTE: TypeORM returns [rows, count] for a bare DELETE ... RETURNING.
        `WITH d AS (DELETE FROM gateway_sessions WHERE session_id <> $2 AND (expires_at <= now() OR gateway_id = $1) RETURNING session_id)
         SELECT session_id FROM d`,
        [input.gatewayId, input.currentSession],
      );
      // The usual periodic case: no session died, one tiny statement.
      if (dead.length === 0 && !input.atStart) return 0;
      const rows: { n: number }[] = await m.query(
        `WITH reset AS (
           UPDATE terminal_state s
              SET online = false, presence_changed_at = $1, last_disconnected_at = $1, last_disconnect_reason = $2,
                  -- Released: the late disconnects of a gateway that comes back then change nothing.
                  presence_session = NULL, presence_epoch = NULL
            WHERE s.online AND s.presence_changed_at <= $1 AND (
                  s.presence_session = ANY($3::text[])
               OR ($5 AND (s.presence_session IS NULL
                   OR (s.presence_session <> $4 AND NOT EXISTS (SELECT 1 FROM gateway_sessions g WHERE g.session_id = s.presence_session)))))
           RETURNING s.sn
         ), events AS (
           INSERT INTO presence_events (time, sn, online, reason) SELECT $1, sn, false, $2 FROM reset
         )
         SELECT count(*)::int AS n FROM reset`,
        [input.time, input.reason, dead.map((d) => d.session_id), input.currentSession, input.atStart],
      );
      return rows[0]?.n ?? 0;
    });
  }
}
