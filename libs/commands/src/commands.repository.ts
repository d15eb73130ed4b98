import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { applyReport, CommandState, IN_FLIGHT_STATES, rankOf, type ReportedState } from './command-state.js';

/** NOTIFY channel of new commands; payload `{"id":"...","sn":"..."}`. */
export const COMMANDS_CHANNEL = 'pos_commands';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CommandRow {
  id: string;
  sn: string;
  type: string;
  payload: Record<string, unknown>;
  state: CommandState;
  reason: string | null;
  detail: string | null;
  progress: number | null;
  attempts: number;
  createdAt: Date;
  sentAt: Date | null;
  ackedAt: Date | null;
  confirmedAt: Date | null;
  updatedAt: Date;
  expiresAt: Date;
  stepDeadlineAt: Date | null;
  campaignId: string | null;
  createdBy: string | null;
}

export interface CommandEventRow {
  commandId: string;
  time: Date;
  reportedAt: Date | null;
  source: 'terminal' | 'backend';
  state: string;
  reason: string | null;
  detail: string | null;
  progress: number | null;
  applied: boolean;
}

export interface NewCommand {
  id: string;
  sn: string;
  type: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  expiresAt: Date;
  campaignId?: string | null;
  createdBy: string | null;
}

/** One report from a terminal, as received on its ack topic. */
export interface AckReport {
  sn: string;
  id: string;
  state: ReportedState;
  reason: string | null;
  detail: string | null;
  progress: number | null;
  reportedAt: Date;
  receivedAt: Date;
  /** The raw payload, kept when the report is dead-lettered. */
  payload: Buffer;
}

export type AckRefusal = { report: AckReport; reason: 'unknown_command' | 'foreign_command'; detail: string };

export interface AckBatchResult {
  applied: number;
  late: number;
  refused: AckRefusal[];
}

const COLUMNS = `id, sn, type, payload, state, reason, detail, progress, attempts, created_at AS "createdAt", sent_at AS "sentAt",
  acked_at AS "ackedAt", confirmed_at AS "confirmedAt", updated_at AS "updatedAt", expires_at AS "expiresAt", step_deadline_at AS "stepDeadlineAt",
  campaign_id AS "campaignId", created_by AS "createdBy"`;
const COLUMNS_C = COLUMNS.replace(/(^|,\s*)(\w+)/g, '$1c.$2');

/** Numbers and timestamps come back typed from pg except real (number) — normalise. */
function toRow(r: CommandRow): CommandRow {
  return { ...r, progress: r.progress === null ? null : Number(r.progress), attempts: Number(r.attempts) };
}

/** TypeORM answers UPDATE/DELETE (also with RETURNING) as [rows, affected], other statements as rows. */
function returned<T>(result: T[] | [T[], number]): T[] {
  return result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : (result as T[]);
}

export interface CommandTimeouts {
  /** Unacknowledged publishes are resent after this long. */
  resendAfterMs: number;
  /** Publishes per command before it fails (reason no_ack). */
  maxAttempts: number;
  /** A step (accepted .. installing) without a further report fails after this long (reason step_timeout). */
  stepTimeoutMs: number;
  /**
   * A deferred ota.install not downloaded yet is published again (state and attempts unchanged) once
   * its last publish is this old, so the terminal holds a download URL that has not expired when its
   * guards clear. Absent: deferred commands are not republished.
   */
  urlRefreshAfterMs?: number;
}

/**
 * Due for (re)sending at `now`: queued; sent without an ack past the resend deadline with attempts
 * left; a deferred ota.install last published before `refresh` (its URL refresh), unless it was
 * deferred after its download (waiting for the window: the artifact is on flash, no URL needed).
 * Arguments are the placeholders of those parameters.
 */
function dueWhere(now: string, maxAttempts: string, refresh: string): string {
  // The state list matches the partial index commands_pending_sn_idx.
  return `state IN ('queued', 'sent', 'deferred') AND expires_at > ${now} AND (
    state = 'queued'
    OR (state = 'sent' AND step_deadline_at <= ${now} AND attempts < ${maxAttempts})
    OR (state = 'deferred' AND type = 'ota.install' AND max_rank < ${rankOf(CommandState.Downloaded)}
        AND ${refresh}::timestamptz IS NOT NULL AND COALESCE(sent_at, created_at) <= ${refresh}))`;
}

function refreshBefore(now: Date, t: CommandTimeouts): Date | null {
  return t.urlRefreshAfterMs === undefined ? null : new Date(now.getTime() - t.urlRefreshAfterMs);
}

/** SQL of the command ledger. Times come from the caller's clock, never from now() (tests control it). */
@Injectable()
export class CommandsRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Inserts a command and its `queued` event; with `notify`, NOTIFY the gateways on commit. */
  async insert(cmd: NewCommand, notify: boolean): Promise<CommandRow> {
    return this.dataSource.transaction(async (tx) => {
      const rows: CommandRow[] = await tx.query(
        `INSERT INTO commands (id, sn, type, payload, state, created_at, updated_at, expires_at, campaign_id, created_by)
         VALUES ($1, $2, $3, $4::jsonb, 'queued', $5, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
        [cmd.id, cmd.sn, cmd.type, JSON.stringify(cmd.payload), cmd.createdAt, cmd.expiresAt, cmd.campaignId ?? null, cmd.createdBy],
      );
      await tx.query(`INSERT INTO command_events (command_id, time, source, state, applied) VALUES ($1, $2, 'backend', 'queued', true)`, [
        cmd.id,
        cmd.createdAt,
      ]);
      if (notify) await tx.query(`SELECT pg_notify($1, $2)`, [COMMANDS_CHANNEL, JSON.stringify({ id: cmd.id, sn: cmd.sn })]);
      return toRow(rows[0]);
    });
  }

  /**
   * Claims the due commands of these terminals for publishing, oldest first: queued ones, sent
   * ones past their resend deadline with attempts left, and deferred ota.installs due for a fresh
   * download URL. The conditional UPDATE is the claim, so two
   * gateways (or a sweep racing a reconnect) never publish the same attempt twice.
   */
  async claimDue(sns: readonly string[], now: Date, t: CommandTimeouts, limit: number): Promise<CommandRow[]> {
    if (sns.length === 0) return [];
    // A deferred command's republish only refreshes sent_at: it stays deferred, no attempt is spent.
    const rows = returned<CommandRow>(
      await this.dataSource.query(
        `WITH due AS (
         SELECT id FROM commands
          WHERE sn = ANY($1::text[]) AND ${dueWhere('$2', '$4', '$6')}
          ORDER BY created_at
          LIMIT $5
          FOR UPDATE SKIP LOCKED
       )
       UPDATE commands c
          SET state = CASE WHEN c.state = 'deferred' THEN c.state ELSE 'sent' END,
              attempts = CASE WHEN c.state = 'deferred' THEN c.attempts ELSE c.attempts + 1 END,
              sent_at = $2,
              updated_at = CASE WHEN c.state = 'deferred' THEN c.updated_at ELSE $2 END,
              step_deadline_at = CASE WHEN c.state = 'deferred' THEN c.step_deadline_at
                                      ELSE $2::timestamptz + make_interval(secs => $3::double precision / 1000) END
         FROM due WHERE c.id = due.id
       RETURNING ${COLUMNS_C}`,
        [sns, now, t.resendAfterMs, t.maxAttempts, limit, refreshBefore(now, t)],
      ),
    );
    return rows.map(toRow).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** Terminals with commands due for (re)sending (the sweep intersects this with its own sessions). */
  async dueTerminals(now: Date, t: CommandTimeouts, limit: number): Promise<string[]> {
    const rows: { sn: string }[] = await this.dataSource.query(`SELECT DISTINCT sn FROM commands WHERE ${dueWhere('$1', '$2', '$3')} LIMIT $4`, [
      now,
      t.maxAttempts,
      refreshBefore(now, t),
      limit,
    ]);
    return rows.map((r) => r.sn);
  }

  /**
   * Applies a batch of terminal reports in one transaction: rows locked, each report checked against
   * the terminal that sent it (unknown or foreign ids are refused, never applied), the transition
   * rule applied in order, then one UPDATE and one INSERT for the whole batch.
   */
  async applyReports(reports: readonly AckReport[], t: CommandTimeouts): Promise<AckBatchResult> {
    const refused: AckRefusal[] = [];
    const candidates = reports.filter((r) => {
      if (UUID.test(r.id)) return true;
      refused.push({ report: r, reason: 'unknown_command', detail: `no command ${r.id}` });
      return false;
    });
    if (candidates.length === 0) return { applied: 0, late: 0, refused };
    return this.dataSource.transaction(async (tx) => {
      const ids = [...new Set(candidates.map((r) => r.id.toLowerCase()))];
      const current: { id: string; sn: string; state: CommandState; maxRank: number; ackedAt: Date | null }[] = await tx.query(
        `SELECT id, sn, state, max_rank AS "maxRank", acked_at AS "ackedAt" FROM commands WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        [ids],
      );
      const byId = new Map(
        current.map((c) => [c.id, { ...c, maxRank: Number(c.maxRank), firstAck: c.ackedAt, changed: false, last: null as AckReport | null }]),
      );
      const events: (CommandEventRow & { applied: boolean })[] = [];
      let applied = 0;
      let late = 0;
      for (const r of candidates) {
        const row = byId.get(r.id.toLowerCase());
        if (!row) {
          refused.push({ report: r, reason: 'unknown_command', detail: `no command ${r.id}` });
          continue;
        }
        if (row.sn !== r.sn) {
          // Never say whose it is: the id exists but belongs to another terminal.
          refused.push({ report: r, reason: 'foreign_command', detail: `command ${r.id} is not addressed to ${r.sn}` });
          continue;
        }
        const outcome = applyReport(row, r.state);
        if (outcome.applied) {
          row.state = outcome.state;
          row.maxRank = outcome.maxRank;
          row.changed = true;
          row.last = r;
          applied++;
        } else late++;
        row.ackedAt ??= r.receivedAt;
        events.push({
          commandId: row.id,
          time: r.receivedAt,
          reportedAt: r.reportedAt,
          source: 'terminal',
          state: r.state,
          reason: r.reason,
          detail: r.detail,
          progress: r.progress,
          applied: outcome.applied,
        });
      }
      const changed = [...byId.values()].filter((c) => c.changed && c.last);
      if (changed.length > 0) {
        const inFlight = new Set<string>(IN_FLIGHT_STATES);
        await tx.query(
          `UPDATE commands c SET state = u.state, max_rank = u.max_rank, reason = u.reason, detail = u.detail,
                  progress = COALESCE(u.progress, CASE WHEN u.state = c.state THEN c.progress END),
                  acked_at = COALESCE(c.acked_at, u.updated_at), updated_at = u.updated_at, reported_at = u.reported_at,
                  step_deadline_at = CASE WHEN u.in_flight THEN u.updated_at + make_interval(secs => $9::double precision / 1000) END
             FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::text[], $6::real[], $7::timestamptz[], $8::bool[], $10::timestamptz[])
                  AS u(id, state, max_rank, reason, detail, progress, updated_at, in_flight, reported_at)
            WHERE c.id = u.id`,
          [
            changed.map((c) => c.id),
            changed.map((c) => c.state),
            changed.map((c) => c.maxRank),
            changed.map((c) => c.last?.reason ?? null),
            changed.map((c) => c.last?.detail ?? null),
            changed.map((c) => c.last?.progress ?? null),
            changed.map((c) => c.last?.receivedAt ?? new Date()),
            changed.map((c) => inFlight.has(c.state)),
            t.stepTimeoutMs,
            changed.map((c) => c.last?.reportedAt ?? null),
          ],
        );
      }
      const lateOnly = [...byId.values()].filter((c) => !c.changed && c.firstAck === null && c.ackedAt !== null);
      if (lateOnly.length > 0) {
        // A late report still proves the terminal got the command.
        await tx.query(`UPDATE commands c SET acked_at = COALESCE(c.acked_at, u.t) FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, t) WHERE c.id = u.id`, [
          lateOnly.map((c) => c.id),
          lateOnly.map((c) => c.ackedAt),
        ]);
      }
      if (events.length > 0) await this.insertEvents(tx, events);
      return { applied, late, refused };
    });
  }

  private async insertEvents(tx: EntityManager, events: readonly CommandEventRow[]): Promise<void> {
    await tx.query(
      `INSERT INTO command_events (command_id, time, reported_at, source, state, reason, detail, progress, applied)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::real[], $9::bool[])`,
      [
        events.map((e) => e.commandId),
        events.map((e) => e.time),
        events.map((e) => e.reportedAt),
        events.map((e) => e.source),
        events.map((e) => e.state),
        events.map((e) => e.reason),
        events.map((e) => e.detail),
        events.map((e) => e.progress),
        events.map((e) => e.applied),
      ],
    );
  }

  /**
   * Ends what ran out of time, each as one conditional UPDATE with its backend event: expiry
   * (not started by expires_at), the retry limit (sent, no ack after the last attempt) and step
   * timeouts (accepted .. installing without a further report); then OTA successes against the
   * next heartbeat: the new version confirms, the old one fails the command (version_mismatch).
   * Returns rows ended per kind.
   */
  async sweepTimeouts(now: Date, t: CommandTimeouts): Promise<{ expired: number; noAck: number; stepTimeout: number; versionMismatch: number }> {
    const run = async (state: CommandState, reason: string, where: string, params: unknown[]): Promise<number> => {
      const rows: { id: string }[] = await this.dataSource.query(
        `WITH ended AS (
           UPDATE commands SET state = '${state}', reason = '${reason}', detail = NULL, step_deadline_at = NULL, updated_at = $1
            WHERE ${where}
           RETURNING id
         ), ev AS (
           INSERT INTO command_events (command_id, time, source, state, reason, applied)
           SELECT id, $1, 'backend', '${state}', '${reason}', true FROM ended
         )
         SELECT id FROM ended`,
        [now, ...params],
      );
      return rows.length;
    };
    const expired = await run(CommandState.Expired, 'expired', `state IN ('queued', 'sent', 'accepted', 'deferred') AND expires_at <= $1`, []);
    const noAck = await run(CommandState.Failed, 'no_ack', `state = 'sent' AND step_deadline_at <= $1 AND attempts >= $2`, [t.maxAttempts]);
    const stepTimeout = await run(
      CommandState.Failed,
      'step_timeout',
      `state IN ('accepted', 'downloading', 'downloaded', 'verified', 'installing') AND step_deadline_at <= $1`,
      [],
    );
    // "succeeded" is believed once a later heartbeat (same terminal clock) runs the new version.
    const versionOf = `CASE c.payload->>'component' WHEN 'app' THEN s.app_version ELSE s.firmware_version END`;
    const awaiting = `c.type = 'ota.install' AND c.state = 'succeeded' AND c.confirmed_at IS NULL AND s.sn = c.sn
      AND s.last_heartbeat_at > c.reported_at`;
    const versionMismatch = returned<{ id: string }>(
      await this.dataSource.query(
        `WITH ended AS (
           UPDATE commands c SET state = 'failed', reason = 'version_mismatch', step_deadline_at = NULL, updated_at = $1,
                  detail = 'reported succeeded, but the next heartbeat runs ' || COALESCE(${versionOf}, 'no version') || ', not ' || (c.payload->>'version')
             FROM terminal_state s
            WHERE ${awaiting} AND ${versionOf} IS DISTINCT FROM c.payload->>'version'
           RETURNING c.id, c.detail
         ), ev AS (
           INSERT INTO command_events (command_id, time, source, state, reason, detail, applied)
           SELECT id, $1, 'backend', 'failed', 'version_mismatch', detail, true FROM ended
         )
         SELECT id FROM ended`,
        [now],
      ),
    ).length;
    await this.dataSource.query(
      `UPDATE commands c SET confirmed_at = $1, updated_at = $1 FROM terminal_state s WHERE ${awaiting} AND ${versionOf} = c.payload->>'version'`,
      [now],
    );
    return { expired, noAck, stepTimeout, versionMismatch };
  }

  // ---- API reads and cancel -------------------------------------------------------------------

  /** A command whose terminal is under `scopePath` (null = whole fleet), or null. */
  async findInScope(id: string, scopePath: string | null): Promise<CommandRow | null> {
    if (!UUID.test(id)) return null;
    const rows: CommandRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS_C} FROM commands c JOIN terminals t ON t.sn = c.sn JOIN providers p ON p.id = t.provider_id
        WHERE c.id = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [id, scopePath],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  /** A terminal's commands, newest first, keyset after (createdAt, id). */
  async pageForTerminal(sn: string, limit: number, after: { createdAt: string; id: string } | null): Promise<CommandRow[]> {
    const rows: CommandRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM commands
        WHERE sn = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
        ORDER BY created_at DESC, id DESC LIMIT $4`,
      [sn, after?.createdAt ?? null, after?.id ?? null, limit],
    );
    return rows.map(toRow);
  }

  async events(ids: readonly string[]): Promise<CommandEventRow[]> {
    if (ids.length === 0) return [];
    const rows: CommandEventRow[] = await this.dataSource.query(
      `SELECT command_id AS "commandId", time, reported_at AS "reportedAt", source, state, reason, detail, progress, applied
         FROM command_events WHERE command_id = ANY($1::uuid[]) ORDER BY command_id, id`,
      [ids],
    );
    return rows.map((e) => ({ ...e, progress: e.progress === null ? null : Number(e.progress) }));
  }

  /**
   * Cancels if the command is still cancellable: one conditional UPDATE, so a concurrent ack or a
   * second cancel cannot both win. Null when the state no longer allows it.
   */
  async cancel(id: string, now: Date, actor: string, cancellable: readonly CommandState[]): Promise<CommandRow | null> {
    return this.dataSource.transaction(async (tx) => {
      // The note is chosen from the state the UPDATE saw, not an earlier read (a dispatch may have just sent it).
      const rows = returned<CommandRow>(
        await tx.query(
          `UPDATE commands SET state = 'cancelled', reason = 'cancelled', step_deadline_at = NULL, updated_at = $2,
                  detail = CASE WHEN state = 'queued' THEN 'withdrawn by ' || $3 || ' before it was sent'
                                ELSE 'cancelled by ' || $3 || ' after it was sent (' || state || '); later reports are history only' END
            WHERE id = $1 AND state = ANY($4::text[]) RETURNING ${COLUMNS}`,
          [id, now, actor, cancellable],
        ),
      );
      if (rows.length === 0) return null;
      await tx.query(
        `INSERT INTO command_events (command_id, time, source, state, reason, detail, applied) VALUES ($1, $2, 'backend', 'cancelled', 'cancelled', $3, true)`,
        [id, now, rows[0].detail],
      );
      return toRow(rows[0]);
    });
  }

  /** Whether the database behind the DataSource is PGlite (one session: no dedicated LISTEN connection). */
  async isPglite(): Promise<boolean> {
    const rows: { v: string }[] = await this.dataSource.query(`SELECT version() AS v`);
    return /emscripten/i.test(rows[0]?.v ?? '');
  }
}
