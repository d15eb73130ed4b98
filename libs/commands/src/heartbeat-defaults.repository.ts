import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CommandType } from '#contracts';
import { FINAL_STATES } from './command-state.js';
import { COMMANDS_CHANNEL } from './commands.repository.js';

/** created_by of the interval commands the backend queues itself (one unfinished per terminal: a unique index). */
export const HEARTBEAT_DEFAULTS_ACTOR = 'system:heartbeat-defaults';

/** Which level a default belongs to: the whole fleet, one model, one provider's subtree. */
export type HeartbeatDefaultScope = { kind: 'fleet' } | { kind: 'model'; model: string } | { kind: 'provider'; providerId: string };

export interface HeartbeatDefaultRow {
  model: string | null;
  providerId: string | null;
  /** The provider's tree path (provider rows only). */
  providerPath: string | null;
  seconds: number;
  updatedBy: string;
  updatedAt: Date;
}

/** A terminal's interval: its effective default (and where it comes from), the last acknowledged one, an unfinished command. */
export interface TerminalIntervalRow {
  sn: string;
  effectiveSeconds: number | null;
  source: 'provider' | 'model' | 'fleet' | null;
  sourceProviderId: string | null;
  knownSeconds: number | null;
  knownAt: Date | null;
  pendingCommandId: string | null;
  pendingSeconds: number | null;
}

export interface ReconcileBatch {
  /** Last SN of the page (the next page starts after it); null: the page was empty (end of the fleet). */
  last: string | null;
  scanned: number;
  queued: { id: string; sn: string }[];
}

const UNFINISHED = `('queued', 'sent', 'accepted', 'deferred', 'downloading', 'downloaded', 'verified', 'installing')`;
const ENDED_UNSUCCESSFUL = [...FINAL_STATES].filter((s) => s !== 'succeeded');

/**
 * The effective default of terminal `t` (with provider path `p.path` and model `t.model`): the
 * provider row nearest the terminal on its path (its own provider first, then up to the root), else
 * its model's row, else the fleet row, else null. As SQL columns seconds / source / source provider.
 */
const EFFECTIVE = `LEFT JOIN LATERAL (
    SELECT d.seconds, 'provider' AS source, d.provider_id FROM heartbeat_interval_defaults d JOIN providers dp ON dp.id = d.provider_id
     WHERE p.path LIKE dp.path || '%' ORDER BY length(dp.path) DESC LIMIT 1
  ) pd ON true
  LEFT JOIN heartbeat_interval_defaults md ON md.model = t.model AND md.provider_id IS NULL
  LEFT JOIN heartbeat_interval_defaults fd ON fd.model IS NULL AND fd.provider_id IS NULL`;
const EFFECTIVE_SECONDS = `COALESCE(pd.seconds, md.seconds, fd.seconds)`;

/** The last acknowledged interval of terminal t.sn (the payload of its newest succeeded interval command). */
const KNOWN = `LEFT JOIN LATERAL (
    SELECT (c.payload->>'seconds')::int AS seconds, c.acked_at FROM commands c
     WHERE c.sn = t.sn AND c.type = '${CommandType.SetHeartbeatInterval}' AND c.state = 'succeeded' ORDER BY c.created_at DESC LIMIT 1
  ) k ON true`;

/** SQL of the default heartbeat intervals and of the reconcile pass that enforces them through the ledger. */
@Injectable()
export class HeartbeatDefaultsRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Every row: few (one fleet row, one per model, one per provider that set one). */
  async list(): Promise<HeartbeatDefaultRow[]> {
    const rows: HeartbeatDefaultRow[] = await this.dataSource.query(
      `SELECT d.model, d.provider_id AS "providerId", p.path AS "providerPath", d.seconds, d.updated_by AS "updatedBy", d.updated_at AS "updatedAt"
         FROM heartbeat_interval_defaults d LEFT JOIN providers p ON p.id = d.provider_id
        ORDER BY (d.model IS NULL AND d.provider_id IS NULL) DESC, d.model NULLS LAST, p.path`,
    );
    return rows.map((r) => ({ ...r, seconds: Number(r.seconds) }));
  }

  /** Sets the default of a scope; the previous row (null: none) for the audit log. */
  async put(scope: HeartbeatDefaultScope, seconds: number, actor: string, now: Date): Promise<{ before: number | null; after: number }> {
    return this.dataSource.transaction(async (tx) => {
      const [model, providerId] = keyOf(scope);
      const before: { seconds: number }[] = await tx.query(
        `SELECT seconds FROM heartbeat_interval_defaults WHERE model IS NOT DISTINCT FROM $1 AND provider_id IS NOT DISTINCT FROM $2 FOR UPDATE`,
        [model, providerId],
      );
      await tx.query(
        `INSERT INTO heartbeat_interval_defaults (model, provider_id, seconds, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT ((COALESCE(model, '')), (COALESCE(provider_id::text, ''))) DO UPDATE SET seconds = EXCLUDED.seconds, updated_by = EXCLUDED.updated_by,
            updated_at = EXCLUDED.updated_at`,
        [model, providerId, seconds, actor, now],
      );
      return { before: before[0] ? Number(before[0].seconds) : null, after: seconds };
    });
  }

  /** Removes the default of a scope; its seconds, or null when there was none. */
  async delete(scope: HeartbeatDefaultScope): Promise<number | null> {
    const [model, providerId] = keyOf(scope);
    const rows = returned<{ seconds: number }>(
      await this.dataSource.query(
        `DELETE FROM heartbeat_interval_defaults WHERE model IS NOT DISTINCT FROM $1 AND provider_id IS NOT DISTINCT FROM $2 RETURNING seconds`,
        [model, providerId],
      ),
    );
    return rows[0] ? Number(rows[0].seconds) : null;
  }

  async isEmpty(): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM heartbeat_interval_defaults LIMIT 1`);
    return rows.length === 0;
  }

  /** One terminal's effective default, last acknowledged interval and unfinished interval command. */
  async forTerminal(sn: string): Promise<TerminalIntervalRow | null> {
    const rows: TerminalIntervalRow[] = await this.dataSource.query(
      `SELECT t.sn, ${EFFECTIVE_SECONDS} AS "effectiveSeconds",
              CASE WHEN pd.seconds IS NOT NULL THEN 'provider' WHEN md.seconds IS NOT NULL THEN 'model' WHEN fd.seconds IS NOT NULL THEN 'fleet' END AS source,
              pd.provider_id AS "sourceProviderId", k.seconds AS "knownSeconds", k.acked_at AS "knownAt",
              pc.id AS "pendingCommandId", (pc.payload->>'seconds')::int AS "pendingSeconds"
         FROM terminals t JOIN providers p ON p.id = t.provider_id
         ${EFFECTIVE}
         ${KNOWN}
         LEFT JOIN LATERAL (
           SELECT c.id, c.payload FROM commands c
            WHERE c.sn = t.sn AND c.type = '${CommandType.SetHeartbeatInterval}' AND c.state IN ${UNFINISHED} ORDER BY c.created_at DESC LIMIT 1
         ) pc ON true
        WHERE t.sn = $1`,
      [sn],
    );
    return rows[0] ?? null;
  }

  /**
   * One reconcile page: the next `limit` active terminals after `after` (primary-key order) that have
   * reported at least once; for each whose effective default differs from its last acknowledged
   * interval, with no unfinished interval command and no unsuccessful command for the same value
   * since `retryAfter`, one set_heartbeat_interval command is queued with its `queued` event, all in
   * one statement. The partial unique index makes a second concurrent pass insert nothing.
   */
  async reconcilePage(after: string, limit: number, now: Date, expiresAt: Date, retryAfter: Date): Promise<ReconcileBatch> {
    const rows: { last: string | null; scanned: string; queued: { id: string; sn: string }[] | null }[] = await this.dataSource.query(
      `WITH page AS (
         SELECT t.sn, t.model, t.provider_id FROM terminals t
          WHERE t.sn > $1 AND t.status = 'active' AND EXISTS (SELECT 1 FROM terminal_state s WHERE s.sn = t.sn)
          ORDER BY t.sn LIMIT $2
       ), due AS (
         SELECT t.sn, ${EFFECTIVE_SECONDS} AS seconds
           FROM page t JOIN providers p ON p.id = t.provider_id
           ${EFFECTIVE}
           ${KNOWN}
          WHERE ${EFFECTIVE_SECONDS} IS NOT NULL AND ${EFFECTIVE_SECONDS} IS DISTINCT FROM k.seconds
            AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.sn = t.sn AND c.type = '${CommandType.SetHeartbeatInterval}' AND c.state IN ${UNFINISHED})
            AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.sn = t.sn AND c.type = '${CommandType.SetHeartbeatInterval}' AND c.state = ANY($6::text[])
                               AND c.updated_at > $5 AND (c.payload->>'seconds')::int = ${EFFECTIVE_SECONDS})
       ), ins AS (
         INSERT INTO commands (id, sn, type, payload, state, created_at, updated_at, expires_at, created_by)
         SELECT gen_random_uuid(), sn, '${CommandType.SetHeartbeatInterval}', jsonb_build_object('seconds', seconds), 'queued', $3, $3, $4, '${HEARTBEAT_DEFAULTS_ACTOR}'
           FROM due
         ON CONFLICT (sn) WHERE type = '${CommandType.SetHeartbeatInterval}' AND created_by = '${HEARTBEAT_DEFAULTS_ACTOR}' AND state IN ${UNFINISHED}
         DO NOTHING
         RETURNING id, sn
       ), ev AS (
         INSERT INTO command_events (command_id, time, source, state, applied) SELECT id, $3, 'backend', 'queued', true FROM ins
       )
       SELECT (SELECT max(sn) FROM page) AS last, (SELECT count(*) FROM page) AS scanned,
              (SELECT json_agg(json_build_object('id', id, 'sn', sn)) FROM ins) AS queued`,
      [after, limit, now, expiresAt, retryAfter, ENDED_UNSUCCESSFUL],
    );
    const r = rows[0];
    return { last: r?.last ?? null, scanned: Number(r?.scanned ?? 0), queued: r?.queued ?? [] };
  }

  /** NOTIFY the gateways of new commands, one statement for the batch (as CommandsRepository.insert does per command). */
  async notify(commands: readonly { id: string; sn: string }[]): Promise<void> {
    if (commands.length === 0) return;
    await this.dataSource.query(`SELECT pg_notify($1, x) FROM unnest($2::text[]) x`, [COMMANDS_CHANNEL, commands.map((c) => JSON.stringify(c))]);
  }
}

function keyOf(scope: HeartbeatDefaultScope): [string | null, string | null] {
  if (scope.kind === 'model') return [scope.model, null];
  if (scope.kind === 'provider') return [null, scope.providerId];
  return [null, null];
}

/** TypeORM answers DELETE (also with RETURNING) as [rows, affected], other statements as rows. */
function returned<T>(result: T[] | [T[], number]): T[] {
  return result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : (result as T[]);
}
