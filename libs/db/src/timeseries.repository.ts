import type { DataSource } from 'typeorm';
import { DatabaseFlavor, type DatabaseInfo } from './database-mode.js';

export interface RetentionSettings {
  chunkInterval: string;
  compressAfter: string;
  retention: string;
  /** How long the heartbeat rollups of each width are kept (none: kept forever). */
  rollupRetention?: { '5m': string; '1h': string };
}

export interface RollupPolicySettings {
  /** Schedule of the continuous aggregate policies on a TimescaleDB server. */
  refreshIntervalMs: number;
  /** `N minutes` / `N hours`: buckets that ended within this window are re-materialized by each refresh. */
  lateWindow: string;
}

export interface MaintenanceReport {
  jobsRun: number;
  rowsDeleted: number;
}

/** Buckets on both flavours share this origin, so time_bucket and date_bin return the same boundaries. */
const BUCKET_ORIGIN = `'2000-01-01T00:00:00Z'::timestamptz`;

/** Flavour-specific SQL for time-series reads: TimescaleDB's functions, or their plain PostgreSQL equivalents. */
export interface TimeseriesSql {
  /** Start of the `width`-wide bucket holding `time` (width: an interval expression). */
  bucket(width: string, time: string): string;
  /** `value` at the latest `time` of the group (an aggregate). */
  last(value: string, time: string): string;
}

export function timeseriesSql(flavor: DatabaseFlavor): TimeseriesSql {
  return flavor === DatabaseFlavor.Timescale
    ? {
        bucket: (width, time) => `time_bucket(${width}, ${time}, ${BUCKET_ORIGIN})`,
        last: (value, time) => `last(${value}, ${time})`,
      }
    : {
        bucket: (width, time) => `date_bin(${width}, ${time}, ${BUCKET_ORIGIN})`,
        last: (value, time) => `(array_agg(${value} ORDER BY ${time} DESC))[1]`,
      };
}

/** The heartbeat rollups of migration 0012 (continuous aggregates, or tables on plain PostgreSQL). */
export const HEARTBEAT_ROLLUPS = [
  { name: 'heartbeats_5m', grain: 'terminal', width: '5 minutes', widthMs: 5 * 60_000, retentionKey: '5m' },
  { name: 'heartbeats_1h', grain: 'terminal', width: '1 hour', widthMs: 3_600_000, retentionKey: '1h' },
  { name: 'fleet_heartbeats_5m', grain: 'fleet', width: '5 minutes', widthMs: 5 * 60_000, retentionKey: '5m' },
  { name: 'fleet_heartbeats_1h', grain: 'fleet', width: '1 hour', widthMs: 3_600_000, retentionKey: '1h' },
] as const;
export type HeartbeatRollup = (typeof HEARTBEAT_ROLLUPS)[number];

const CAGG_POLICY = 'policy_refresh_continuous_aggregate';

/** Column lists of the plain rollup tables, in plainRollupSelect's order (a column added later goes at the end of both). */
const ROLLUP_COLUMNS: Record<HeartbeatRollup['grain'], string> = {
  terminal: `bucket, sn, heartbeats, last_time, model, firmware_version, app_version, battery_min, battery_avg, rsrp_min, rsrp_avg,
             rssi_min, rssi_avg, sinr_avg, data_used_mb_max, uptime_s_max, boots`,
  fleet: `bucket, provider_id, model, firmware_version, terminals, heartbeats, boots, battery_avg, rsrp_avg, rssi_avg,
          hb_battery_low, hb_battery_mid, hb_battery_high, hb_rsrp_excellent, hb_rsrp_good, hb_rsrp_fair, hb_rsrp_poor, hb_rsrp_unknown,
          terminals_battery_low, terminals_rsrp_below_110`,
};

/**
 * Plain-PostgreSQL SELECT of a rollup over heartbeats in [$1, $2) ($1 omitted: from the start),
 * column for column what the continuous aggregate of 0012_rollups.timescale.sql computes.
 */
function plainRollupSelect(rollup: HeartbeatRollup, bounded: boolean): string {
  const sql = timeseriesSql(DatabaseFlavor.Plain);
  const bucket = sql.bucket(`interval '${rollup.width}'`, 'h.time');
  const where = bounded ? 'h.time >= $1 AND h.time < $2' : 'h.time < $1';
  if (rollup.grain === 'terminal') {
    return `SELECT ${bucket} AS bucket, h.sn, count(*) AS heartbeats, max(h.time) AS last_time,
              ${sql.last('h.model', 'h.time')} AS model, ${sql.last('h.firmware_version', 'h.time')} AS firmware_version,
              ${sql.last('h.app_version', 'h.time')} AS app_version,
              min(h.battery_pct) AS battery_min, avg(h.battery_pct) AS battery_avg, min(h.rsrp) AS rsrp_min, avg(h.rsrp) AS rsrp_avg,
              min(h.rssi) AS rssi_min, avg(h.rssi) AS rssi_avg, avg(h.sinr) AS sinr_avg, max(h.data_used_mb) AS data_used_mb_max,
              max(h.uptime_s) AS uptime_s_max, count(*) FILTER (WHERE h.seq = 0) AS boots
         FROM heartbeats h WHERE ${where}
        GROUP BY 1, h.sn`;
  }
  return `SELECT ${bucket} AS bucket, t.provider_id, h.model, h.firmware_version,
            count(DISTINCT h.sn) AS terminals, count(*) AS heartbeats, count(*) FILTER (WHERE h.seq = 0) AS boots,
            avg(h.battery_pct) AS battery_avg, avg(h.rsrp) AS rsrp_avg, avg(h.rssi) AS rssi_avg,
            count(*) FILTER (WHERE h.battery_pct < 20) AS hb_battery_low,
            count(*) FILTER (WHERE h.battery_pct >= 20 AND h.battery_pct < 50) AS hb_battery_mid,
            count(*) FILTER (WHERE h.battery_pct >= 50) AS hb_battery_high,
            count(*) FILTER (WHERE h.rsrp >= -80) AS hb_rsrp_excellent,
            count(*) FILTER (WHERE h.rsrp >= -90 AND h.rsrp < -80) AS hb_rsrp_good,
            count(*) FILTER (WHERE h.rsrp >= -100 AND h.rsrp < -90) AS hb_rsrp_fair,
            count(*) FILTER (WHERE h.rsrp < -100) AS hb_rsrp_poor,
            count(*) FILTER (WHERE h.rsrp IS NULL) AS hb_rsrp_unknown,
            count(DISTINCT h.sn) FILTER (WHERE h.battery_pct < 20) AS terminals_battery_low,
            count(DISTINCT h.sn) FILTER (WHERE h.rsrp < -110) AS terminals_rsrp_below_110
       FROM heartbeats h JOIN terminals t ON t.sn = h.sn WHERE ${where}
      GROUP BY 1, t.provider_id, h.model, h.firmware_version`;
}

/** Milliseconds of a validated `N minutes` / `N hours` setting. */
export function lateWindowMs(lateWindow: string): number {
  const m = /^(\d+) (minute|hour)s?$/.exec(lateWindow);
  if (!m) throw new Error(`invalid rollup late window: ${lateWindow}`);
  return Number(m[1]) * (m[2] === 'hour' ? 3_600_000 : 60_000);
}

/** Hypertables and the retention each one gets. */
const TIME_SERIES_TABLES = ['heartbeats', 'presence_events'] as const;
const PLAIN_RETENTION_BATCH = 50_000;

/**
 * The one place for TimescaleDB-specific runtime SQL (policies, jobs, and timeseriesSql for reads)
 * and its plain-PostgreSQL equivalents. Interval strings come from validated config (`N days` / `N hours`).
 */
export class TimeseriesRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly info: DatabaseInfo,
  ) {}

  /** Idempotently aligns chunk interval, compression and retention policies with config. */
  async applyPolicies(settings: RetentionSettings): Promise<void> {
    if (this.info.flavor !== DatabaseFlavor.Timescale) return;
    const q = (sql: string, params: unknown[] = []) => this.dataSource.query(sql, params);
    await q(`SELECT set_chunk_time_interval('heartbeats', $1::interval)`, [settings.chunkInterval]);
    await this.replacePolicy('policy_compression', 'heartbeats', 'compress_after', settings.compressAfter, () =>
      q(`SELECT add_compression_policy('heartbeats', compress_after => $1::interval)`, [settings.compressAfter]),
    );
    for (const table of TIME_SERIES_TABLES) {
      await this.replacePolicy('policy_retention', table, 'drop_after', settings.retention, () =>
        q(`SELECT add_retention_policy($1::regclass, drop_after => $2::interval)`, [table, settings.retention]),
      );
    }
    // Continuous aggregates take retention policies of their own (their refresh windows stay far younger).
    for (const rollup of settings.rollupRetention ? HEARTBEAT_ROLLUPS : []) {
      const keep = settings.rollupRetention?.[rollup.retentionKey] ?? '';
      await this.replacePolicy('policy_retention', rollup.name, 'drop_after', keep, () =>
        q(`SELECT add_retention_policy($1::regclass, drop_after => $2::interval)`, [rollup.name, keep]),
      );
    }
  }

  private async replacePolicy(procName: string, table: string, configKey: string, wanted: string, add: () => Promise<unknown>): Promise<void> {
    const rows: { job_id: number; matches: boolean }[] = await this.dataSource.query(
      `SELECT job_id, (config ->> $3)::interval = $4::interval AS matches
         FROM timescaledb_information.jobs
        WHERE proc_name = $1 AND hypertable_name = $2`,
      [procName, table, configKey, wanted],
    );
    if (rows.length === 1 && rows[0].matches) return;
    for (const row of rows) await this.dataSource.query('SELECT delete_job($1)', [row.job_id]);
    await add();
  }

  /**
   * Runs what a TimescaleDB server's background workers would: due policy jobs on the embedded
   * database, app-side retention on plain PostgreSQL. A server with workers needs nothing.
   */
  async runMaintenance(settings: RetentionSettings, now = new Date()): Promise<MaintenanceReport> {
    if (this.info.flavor === DatabaseFlavor.Timescale) {
      if (!this.info.embedded) return { jobsRun: 0, rowsDeleted: 0 };
      const due: { job_id: number }[] = await this.dataSource.query(
        `SELECT j.job_id FROM timescaledb_information.jobs j
           LEFT JOIN timescaledb_information.job_stats s USING (job_id)
          WHERE j.scheduled AND j.job_id >= 1000 AND j.proc_name <> '${CAGG_POLICY}'
            AND (s.next_start IS NULL OR s.next_start <= $1)
          ORDER BY j.job_id`,
        [now],
      );
      for (const job of due) await this.dataSource.query(`CALL run_job($1)`, [job.job_id]);
      return { jobsRun: due.length, rowsDeleted: 0 };
    }
    let rowsDeleted = 0;
    for (const table of TIME_SERIES_TABLES) {
      // Bounded batches keep each transaction and its lock short.
      for (;;) {
        const result: [unknown[], number] = await this.dataSource.query(
          `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM ${table} WHERE time < $1::timestamptz - $2::interval LIMIT ${PLAIN_RETENTION_BATCH}))`,
          [now, settings.retention],
        );
        const deleted = result[1];
        rowsDeleted += deleted;
        if (deleted < PLAIN_RETENTION_BATCH) break;
      }
    }
    for (const rollup of settings.rollupRetention ? HEARTBEAT_ROLLUPS : []) {
      const keep = settings.rollupRetention?.[rollup.retentionKey] ?? '';
      for (;;) {
        const result: [unknown[], number] = await this.dataSource.query(
          `DELETE FROM ${rollup.name} WHERE ctid = ANY (ARRAY(
             SELECT ctid FROM ${rollup.name} WHERE bucket < $1::timestamptz - $2::interval LIMIT ${PLAIN_RETENTION_BATCH}))`,
          [now, keep],
        );
        rowsDeleted += result[1];
        if (result[1] < PLAIN_RETENTION_BATCH) break;
      }
    }
    return { jobsRun: 0, rowsDeleted };
  }

  /** True when the database refreshes the rollups itself (continuous aggregate policies on a TimescaleDB server). */
  get rollupsRefreshedByDatabase(): boolean {
    return this.info.flavor === DatabaseFlavor.Timescale && !this.info.embedded;
  }

  /**
   * On a TimescaleDB server: one refresh policy per continuous aggregate, covering the buckets that
   * ended within the late window (the window must span two buckets) up to the last complete one.
   * Embedded and plain databases are refreshed by the worker instead (refreshRollup).
   */
  async applyRollupPolicies(settings: RollupPolicySettings): Promise<void> {
    if (!this.rollupsRefreshedByDatabase) return;
    const schedule = `${Math.max(1, Math.round(settings.refreshIntervalMs / 1000))} seconds`;
    for (const rollup of HEARTBEAT_ROLLUPS) {
      const startOffset = `${Math.round((lateWindowMs(settings.lateWindow) + 2 * rollup.widthMs) / 1000)} seconds`;
      const rows: { job_id: number; matches: boolean }[] = await this.dataSource.query(
        `SELECT job_id, (config ->> 'start_offset')::interval = $3::interval AND schedule_interval = $4::interval AS matches
           FROM timescaledb_information.jobs WHERE proc_name = $1 AND hypertable_name = $2`,
        [CAGG_POLICY, rollup.name, startOffset, schedule],
      );
      if (rows.length === 1 && rows[0].matches) continue;
      for (const row of rows) await this.dataSource.query('SELECT delete_job($1)', [row.job_id]);
      await this.dataSource.query(
        `SELECT add_continuous_aggregate_policy($1::regclass, start_offset => $2::interval, end_offset => interval '0', schedule_interval => $3::interval)`,
        [rollup.name, startOffset, schedule],
      );
    }
  }

  /**
   * Materializes the rollup's complete buckets in [from, to) (from null: from the first heartbeat);
   * bounds are bucket-aligned by the caller. TimescaleDB: refresh_continuous_aggregate (it cannot
   * run inside a transaction; it only recomputes buckets invalidated by new rows). Plain: the
   * window's buckets are deleted and inserted again from heartbeats in one transaction, so readers
   * see the old rows or the new ones.
   */
  async refreshRollup(rollup: HeartbeatRollup, from: Date | null, to: Date): Promise<void> {
    if (this.info.flavor === DatabaseFlavor.Timescale) {
      await this.dataSource.query(`CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)`, [rollup.name, from, to]);
      return;
    }
    await this.dataSource.transaction(async (em) => {
      if (from) {
        await em.query(`DELETE FROM ${rollup.name} WHERE bucket >= $1 AND bucket < $2`, [from, to]);
        await em.query(`INSERT INTO ${rollup.name} (${ROLLUP_COLUMNS[rollup.grain]}) ${plainRollupSelect(rollup, true)}`, [from, to]);
      } else {
        await em.query(`DELETE FROM ${rollup.name} WHERE bucket < $1`, [to]);
        await em.query(`INSERT INTO ${rollup.name} (${ROLLUP_COLUMNS[rollup.grain]}) ${plainRollupSelect(rollup, false)}`, [to]);
      }
    });
  }

  /** Jobs registered on the hypertables, for tests and diagnostics. */
  async listJobs(): Promise<{ jobId: number; procName: string; table: string; config: Record<string, unknown> }[]> {
    if (this.info.flavor !== DatabaseFlavor.Timescale) return [];
    const rows: { job_id: number; proc_name: string; hypertable_name: string; config: Record<string, unknown> }[] = await this.dataSource.query(
      `SELECT job_id, proc_name, hypertable_name, config FROM timescaledb_information.jobs
          WHERE hypertable_name IS NOT NULL ORDER BY job_id`,
    );
    return rows.map((r) => ({ jobId: r.job_id, procName: r.proc_name, table: r.hypertable_name, config: r.config }));
  }
}
