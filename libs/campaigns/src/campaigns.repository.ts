import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  RETRYABLE_FAILURES,
  type CampaignRetry,
  type CampaignRow,
  type CampaignState,
  type CreateCampaignInput,
  type ExclusionReason,
  type HealthGateConfig,
} from './campaign.types.js';

const COLUMNS = `id, name, release_id AS "releaseId", target, provider_id AS "providerId", provider_path AS "providerPath", waves,
  rate_per_minute AS "ratePerMinute", success_threshold AS "successThreshold", failure_threshold AS "failureThreshold", soak_s AS "soakS",
  guards, health, state, pause_reason AS "pauseReason", created_by AS "createdBy", approved_by AS "approvedBy", created_at AS "createdAt",
  approved_at AS "approvedAt", started_at AS "startedAt", finished_at AS "finishedAt", updated_at AS "updatedAt", wave, wave_size AS "waveSize",
  wave_started_at AS "waveStartedAt", soak_until AS "soakUntil", dispatch_at AS "dispatchAt", progress, retry`;

function toRow(r: CampaignRow): CampaignRow {
  return { ...r, successThreshold: Number(r.successThreshold), failureThreshold: Number(r.failureThreshold), wave: Number(r.wave) };
}

/** TypeORM answers UPDATE (also with RETURNING) as [rows, affected], other statements as rows. */
function returned<T>(result: T[] | [T[], number]): T[] {
  return result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : (result as T[]);
}

/** The terminal population of a campaign, as the set-based queries bind it. */
export interface TargetSpec {
  model: string;
  /** 'firmware' reads terminal_state.firmware_version, 'app' app_version. */
  component: 'firmware' | 'app';
  providerPath: string | null;
  sns: readonly string[] | null;
  /** Registered city / region, any of (null: any, and terminals without one are not place_unknown). */
  cities: readonly string[] | null;
  regions: readonly string[] | null;
  /** Versions at or above the release (already up to date). */
  upToDate: readonly string[];
  /** Versions in the campaign's range and below the release. */
  eligible: readonly string[];
  /** Terminals whose last heartbeat is older are left out. */
  offlineBefore: Date;
}

/**
 * Classifies every candidate terminal in one statement: reason null means eligible. Parameters
 * $1..$8 as in `targetParams`; the version lists are computed once per distinct version in JS
 * (compareVersions), so the database compares strings only.
 */
function classified(spec: TargetSpec): string {
  const column = spec.component === 'app' ? 'app_version' : 'firmware_version';
  return `cand AS (
    SELECT t.sn, t.status, t.city, t.region, ts.${column} AS version, ts.last_heartbeat_at, ts.plan_status, COALESCE(ts.carrier, 'unknown') AS carrier
      FROM terminals t
      JOIN providers p ON p.id = t.provider_id
      LEFT JOIN terminal_state ts ON ts.sn = t.sn
     WHERE t.model = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%') AND ($3::text[] IS NULL OR t.sn = ANY($3::text[]))
       AND ($7::text[] IS NULL OR t.city IS NULL OR t.city = ANY($7::text[]))
       AND ($8::text[] IS NULL OR t.region IS NULL OR t.region = ANY($8::text[]))
  ), cls AS (
    SELECT sn, carrier, CASE
        WHEN status = 'disabled' THEN 'disabled'
        WHEN ($7::text[] IS NOT NULL AND city IS NULL) OR ($8::text[] IS NOT NULL AND region IS NULL) THEN 'place_unknown'
        WHEN version IS NULL THEN 'never_reported'
        WHEN version = ANY($4::text[]) THEN 'up_to_date'
        WHEN NOT (version = ANY($5::text[])) THEN 'version_out_of_range'
        WHEN last_heartbeat_at IS NULL OR last_heartbeat_at < $6 THEN 'offline_too_long'
        WHEN plan_status IS DISTINCT FROM 'active' THEN 'plan_not_active'
      END AS reason
      FROM cand
  )`;
}

function targetParams(spec: TargetSpec): unknown[] {
  return [spec.model, spec.providerPath, spec.sns, spec.upToDate, spec.eligible, spec.offlineBefore, spec.cities, spec.regions];
}

export interface MemberStat {
  wave: number;
  state: string | null;
  reason: string | null;
  /** The member's latest command failed retryably and attempts are left: a retry is pending. */
  retrying: boolean;
  n: number;
}

/** Retryable failures as bound parameters: states retried whatever the reason, and state:reason pairs. */
function retryParams(): [string[], string[]] {
  const anyReason = RETRYABLE_FAILURES.filter((f) => f.reasons === null).map((f) => f.state);
  const pairs = RETRYABLE_FAILURES.flatMap((f) => (f.reasons ?? []).map((r) => `${f.state}:${r}`));
  return [anyReason, pairs];
}
/** SQL: command c failed retryably ($a: states, $b: state:reason pairs). */
const retryable = (a: string, b: string) => `(c.state = ANY(${a}::text[]) OR (c.state || ':' || COALESCE(c.reason, '')) = ANY(${b}::text[]))`;

export interface GroupHealth {
  group: 'updated' | 'control';
  n: number;
  offline: number;
  rebooted: number;
  /** Transactions the group's heartbeats reported in the window (where terminals report them). */
  txApproved: number;
  txDeclined: number;
}

/** SQL of campaigns and their members. Times come from the caller's clock. */
@Injectable()
export class CampaignsRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async insert(
    c: CreateCampaignInput & { id: string; providerId: string | null; providerPath: string | null; createdBy: string; now: Date },
  ): Promise<CampaignRow> {
    const rows: CampaignRow[] = await this.dataSource.query(
      `INSERT INTO campaigns (id, name, release_id, target, provider_id, provider_path, waves, rate_per_minute, success_threshold, failure_threshold,
                              soak_s, guards, health, state, created_by, created_at, updated_at, retry)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9, $10, $11, $12::jsonb, $13::jsonb, 'draft', $14, $15, $15, $16::jsonb)
       RETURNING ${COLUMNS}`,
      [
        c.id,
        c.name,
        c.releaseId,
        JSON.stringify(c.target),
        c.providerId,
        c.providerPath,
        JSON.stringify(c.waves),
        c.ratePerMinute,
        c.successThreshold,
        c.failureThreshold,
        c.soakSeconds,
        JSON.stringify(c.guards),
        JSON.stringify(c.healthGate),
        c.createdBy,
        c.now,
        JSON.stringify(c.retry),
      ],
    );
    return toRow(rows[0]);
  }

  /** A campaign visible in the scope: provider roles see campaigns targeting their subtree. */
  async find(id: string, scopePath: string | null = null): Promise<CampaignRow | null> {
    const rows: CampaignRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM campaigns WHERE id = $1 AND ($2::text IS NULL OR provider_path LIKE $2 || '%')`,
      [id, scopePath],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  async list(scopePath: string | null, limit: number, state: CampaignState | null): Promise<CampaignRow[]> {
    const rows: CampaignRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM campaigns
        WHERE ($1::text IS NULL OR provider_path LIKE $1 || '%') AND ($2::text IS NULL OR state = $2)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [scopePath, state, limit],
    );
    return rows.map(toRow);
  }

  /**
   * Moves a campaign between states with a compare-and-set on the current state (two admins acting
   * at once: one wins, the other gets null). `set` holds extra column assignments ($4.. bound).
   */
  async transition(id: string, from: readonly CampaignState[], to: CampaignState, now: Date, set = '', params: unknown[] = []): Promise<CampaignRow | null> {
    const rows = returned<CampaignRow>(
      await this.dataSource.query(
        `UPDATE campaigns SET state = $2, updated_at = $3${set ? `, ${set}` : ''}
          WHERE id = $1 AND state = ANY($${4 + params.length}::text[]) RETURNING ${COLUMNS}`,
        [id, to, now, ...params, from],
      ),
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  /** Distinct current versions of the model in the subtree (few): the caller compares them in JS. */
  async distinctVersions(model: string, component: 'firmware' | 'app', providerPath: string | null): Promise<string[]> {
    const column = component === 'app' ? 'app_version' : 'firmware_version';
    const rows: { v: string }[] = await this.dataSource.query(
      `SELECT DISTINCT ts.${column} AS v FROM terminals t JOIN providers p ON p.id = t.provider_id JOIN terminal_state ts ON ts.sn = t.sn
        WHERE t.model = $1 AND ts.${column} IS NOT NULL AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [model, providerPath],
    );
    return rows.map((r) => r.v);
  }

  /** Dry run: counts per exclusion reason (null = eligible) and carrier, plus a sample of excluded SNs. */
  async classify(
    spec: TargetSpec,
    sampleSize: number,
  ): Promise<{ counts: { reason: ExclusionReason | null; carrier: string; n: number }[]; sample: { sn: string; reason: ExclusionReason }[] }> {
    const counts: { reason: ExclusionReason | null; carrier: string; n: string }[] = await this.dataSource.query(
      `WITH ${classified(spec)} SELECT reason, carrier, count(*) AS n FROM cls GROUP BY reason, carrier`,
      targetParams(spec),
    );
    const sample: { sn: string; reason: ExclusionReason }[] = await this.dataSource.query(
      `WITH ${classified(spec)} SELECT sn, reason FROM cls WHERE reason IS NOT NULL ORDER BY sn LIMIT $9`,
      [...targetParams(spec), sampleSize],
    );
    return { counts: counts.map((c) => ({ ...c, n: Number(c.n) })), sample };
  }

  /** Eligible terminals not yet members of the campaign. */
  async remaining(campaignId: string, spec: TargetSpec): Promise<number> {
    const rows: { n: string }[] = await this.dataSource.query(
      `WITH ${classified(spec)} SELECT count(*) AS n FROM cls
        WHERE reason IS NULL AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.campaign_id = $9 AND m.sn = cls.sn)`,
      [...targetParams(spec), campaignId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Assigns up to `limit` eligible non-members to a wave, each with a fresh command id, in a spread
   * order (md5 of the SN: not all of one shop or batch first). The primary key makes a second
   * assignment of the same terminal impossible, whatever races.
   */
  async assign(campaignId: string, wave: number, spec: TargetSpec, limit: number, now: Date): Promise<{ sn: string; commandId: string }[]> {
    return this.dataSource.query(
      `WITH ${classified(spec)}
       INSERT INTO campaign_members (campaign_id, sn, wave, command_id, assigned_at)
       SELECT $9, sn, $10, gen_random_uuid(), $11 FROM cls
        WHERE reason IS NULL AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.campaign_id = $9 AND m.sn = cls.sn)
        ORDER BY md5(sn) LIMIT $12
       ON CONFLICT DO NOTHING
       RETURNING sn, command_id AS "commandId"`,
      [...targetParams(spec), campaignId, wave, now, limit],
    );
  }

  /** Drops members whose command could not be created (e.g. the release was withdrawn meanwhile). */
  async unassign(campaignId: string, sns: readonly string[]): Promise<void> {
    if (sns.length) await this.dataSource.query(`DELETE FROM campaign_members WHERE campaign_id = $1 AND sn = ANY($2::text[])`, [campaignId, sns]);
  }

  /** Undoes a retry whose command could not be created: the member points at its failed command again. */
  async revertRetry(campaignId: string, sn: string, previousId: string): Promise<void> {
    await this.dataSource.query(`UPDATE campaign_members SET command_id = $3, attempts = attempts - 1 WHERE campaign_id = $1 AND sn = $2`, [
      campaignId,
      sn,
      previousId,
    ]);
  }

  /**
   * Members per wave, state and reason of their latest command, and whether a retry is pending
   * (one grouped scan of the campaign's members).
   */
  async memberStats(campaignId: string, maxAttempts = 1): Promise<MemberStat[]> {
    const rows: { wave: number; state: string | null; reason: string | null; retrying: boolean; n: string }[] = await this.dataSource.query(
      `SELECT m.wave, c.state, c.reason, COALESCE(m.attempts < $2 AND ${retryable('$3', '$4')}, false) AS retrying, count(*) AS n
         FROM campaign_members m LEFT JOIN commands c ON c.id = m.command_id
        WHERE m.campaign_id = $1 GROUP BY 1, 2, 3, 4 ORDER BY m.wave`,
      [campaignId, maxAttempts, ...retryParams()],
    );
    return rows.map((r) => ({ wave: Number(r.wave), state: r.state, reason: r.reason, retrying: r.retrying === true, n: Number(r.n) }));
  }

  /**
   * Retries: members whose latest command failed retryably, with attempts left and their backoff
   * (backoffS × factor^(attempts − 1) after the command ended) over, get a fresh command id, up to
   * `limit`, oldest failure first. Due members whose terminal left the target meanwhile (offline
   * too long, disabled, updated, moved away) are given up instead (attempts set to the maximum):
   * they count as failed and no longer hold their wave. The UPDATE is the claim (the old command id
   * is in its WHERE), so a member is never retried twice for one failure.
   */
  async retryDue(campaignId: string, spec: TargetSpec, retry: CampaignRetry, now: Date, limit: number): Promise<{ sn: string; commandId: string }[]> {
    const due = `m.campaign_id = $9 AND c.id = m.command_id AND m.attempts < $10 AND ${retryable('$11', '$12')}
        AND c.updated_at + make_interval(secs => $13::float8 * power($14::float8, m.attempts - 1)) <= $15`;
    const params = [...targetParams(spec), campaignId, retry.maxAttempts, ...retryParams(), retry.backoffS, retry.factor, now];
    await this.dataSource.query(
      `WITH ${classified(spec)}
       UPDATE campaign_members m SET attempts = $10 FROM commands c
        WHERE ${due} AND NOT EXISTS (SELECT 1 FROM cls WHERE cls.sn = m.sn AND cls.reason IS NULL)`,
      params,
    );
    return returned<{ sn: string; commandId: string }>(
      await this.dataSource.query(
        `WITH ${classified(spec)}, pick AS (
           SELECT m.sn FROM campaign_members m JOIN commands c ON c.id = m.command_id JOIN cls ON cls.sn = m.sn AND cls.reason IS NULL
            WHERE ${due} ORDER BY c.updated_at, m.sn LIMIT $16
         )
         UPDATE campaign_members m SET command_id = gen_random_uuid(), attempts = m.attempts + 1 FROM commands c, pick
          WHERE m.sn = pick.sn AND ${due}
         RETURNING m.sn, m.command_id AS "commandId"`,
        [...params, limit],
      ),
    );
  }

  /** Ids of the campaign's commands still in the given states (cancel withdraws them through the ledger). */
  async commandIds(campaignId: string, states: readonly string[]): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT c.id FROM campaign_members m JOIN commands c ON c.id = m.command_id WHERE m.campaign_id = $1 AND c.state = ANY($2::text[])`,
      [campaignId, states],
    );
    return rows.map((r) => r.id);
  }

  /** Claims running campaigns whose lease is free or expired (SKIP LOCKED: several workers split them). */
  async claim(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<string[]> {
    const rows = returned<{ id: string }>(
      await this.dataSource.query(
        `UPDATE campaigns SET lease_owner = $1, lease_until = $3
          WHERE id IN (SELECT id FROM campaigns WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= $2)
                        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
          RETURNING id`,
        [owner, now, leaseUntil, limit],
      ),
    );
    return rows.map((r) => r.id);
  }

  async release(id: string, owner: string): Promise<void> {
    await this.dataSource.query(`UPDATE campaigns SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2`, [id, owner]);
  }

  /** Runner writes: only while it holds the lease and the campaign is still running (an API pause wins). */
  async runnerUpdate(id: string, owner: string, now: Date, set: string, params: unknown[]): Promise<boolean> {
    const rows = returned<{ id: string }>(
      await this.dataSource.query(`UPDATE campaigns SET updated_at = $3, ${set} WHERE id = $1 AND lease_owner = $2 AND state = 'running' RETURNING id`, [
        id,
        owner,
        now,
        ...params,
      ]),
    );
    return rows.length > 0;
  }

  /**
   * Health-gate figures of both groups. Updated: members whose command succeeded, watched since the
   * success (the install's own reboot is before it). Control: eligible terminals of the campaign's
   * model not updated yet, watched since the wave started. Offline: no heartbeat for offlineAfter.
   * Rebooted: an uptime lower than the previous heartbeat's within the window. Transactions: the
   * heartbeats' tx counts in the window, summed per group.
   */
  async health(
    campaignId: string,
    spec: TargetSpec,
    since: Date,
    now: Date,
    gate: HealthGateConfig,
  ): Promise<{ groups: GroupHealth[]; alerts: { group: 'updated' | 'control'; rule: string; n: number }[] }> {
    const groupsCte = `${classified(spec)}, upd AS (
        SELECT m.sn, c.updated_at AS since FROM campaign_members m JOIN commands c ON c.id = m.command_id
         WHERE m.campaign_id = $9 AND c.state = 'succeeded'
      ), grp AS (
        SELECT sn, since, 'updated' AS grp FROM upd
        UNION ALL
        SELECT cls.sn, $10::timestamptz, 'control' FROM cls WHERE cls.reason IS NULL AND NOT EXISTS (SELECT 1 FROM upd WHERE upd.sn = cls.sn)
      )`;
    const params = [...targetParams(spec), campaignId, since, now, new Date(now.getTime() - gate.offlineAfterS * 1000)];
    const groups: { group: 'updated' | 'control'; n: string; offline: string; rebooted: string; txApproved: string; txDeclined: string }[] =
      await this.dataSource.query(
        `WITH ${groupsCte}, hb AS (
         SELECT h.sn, h.uptime_s < lag(h.uptime_s) OVER (PARTITION BY h.sn ORDER BY h.time) AS reset, h.tx_approved, h.tx_declined
           FROM heartbeats h JOIN grp g ON g.sn = h.sn WHERE h.time >= g.since AND h.time <= $11
       ), per AS (
         SELECT sn, bool_or(reset) AS rebooted, sum(tx_approved) AS approved, sum(tx_declined) AS declined FROM hb GROUP BY sn
       )
       SELECT g.grp AS "group", count(*) AS n,
              count(*) FILTER (WHERE ts.last_heartbeat_at IS NULL OR ts.last_heartbeat_at < $12) AS offline,
              count(*) FILTER (WHERE per.rebooted) AS rebooted,
              COALESCE(sum(per.approved), 0) AS "txApproved", COALESCE(sum(per.declined), 0) AS "txDeclined"
         FROM grp g LEFT JOIN terminal_state ts ON ts.sn = g.sn LEFT JOIN per ON per.sn = g.sn
        GROUP BY g.grp`,
        params,
      );
    const alerts: { group: 'updated' | 'control'; rule: string; n: string }[] = await this.dataSource.query(
      `WITH ${groupsCte}
       SELECT g.grp AS "group", a.rule, count(DISTINCT g.sn) AS n
         FROM grp g JOIN alerts a ON a.sn = g.sn AND a.rule = ANY($13::text[]) AND a.first_seen_at >= g.since AND a.first_seen_at <= $11
        WHERE $12::timestamptz IS NOT NULL
        GROUP BY g.grp, a.rule`,
      [...params, gate.alertRules],
    );
    return {
      groups: groups.map((g) => ({
        group: g.group,
        n: Number(g.n),
        offline: Number(g.offline),
        rebooted: Number(g.rebooted),
        txApproved: Number(g.txApproved),
        txDeclined: Number(g.txDeclined),
      })),
      alerts: alerts.map((a) => ({ group: a.group, rule: a.rule, n: Number(a.n) })),
    };
  }
}
