import type { DataSource } from 'typeorm';
import { DatabaseFlavor, type DatabaseInfo } from './database-mode.js';

export interface RetentionSettings {
  chunkInterval: string;
  compressAfter: string;
  retention: string;
}

export interface MaintenanceReport {
  jobsRun: number;
  rowsDeleted: number;
}

/** One time bucket of a terminal's heartbeats (only buckets holding at least one heartbeat). */
export interface TelemetryBucketRow {
  bucket: Date;
  heartbeats: number;
  batteryAvg: number | null;
  batteryMin: number | null;
  rsrpAvg: number | null;
  rsrpMin: number | null;
  sinrAvg: number | null;
  dataUsedMbMax: number | null;
  /** plan_status of the bucket's last heartbeat. */
  planStatus: string | null;
}

/** Raw heartbeat columns (snake_case as stored; plan_expires_on as 'YYYY-MM-DD', uptime_s as a number). */
export type RawHeartbeatRow = Record<string, unknown>;

/** Every heartbeats column, with types that map cleanly to JSON. */
const RAW_HEARTBEAT_COLUMNS = `time, received_at, seq, model, firmware_version, app_version, battery_pct, charging, battery_temp_c,
  rat, rsrp, rsrq, sinr, rssi, csq, mcc_mnc, cell_id, iccid, imei, sim_type, carrier, plan_status,
  plan_expires_on::text AS plan_expires_on, plan_auto_renew, renewal_at, renewal_result, renewal_reason, data_used_mb,
  data_allowance_mb, lat, lon, location_accuracy_m, location_source, uptime_s::float8 AS uptime_s, extra`;

/** Buckets on both flavours share this origin, so time_bucket and date_bin return the same boundaries. */
const BUCKET_ORIGIN = '2000-01-01T00:00:00Z';

/** Hypertables and the retention each one gets. */
const TIME_SERIES_TABLES = ['heartbeats', 'presence_events'] as const;
const PLAIN_RETENTION_BATCH = 50_000;

/**
 * The one place for TimescaleDB-specific runtime SQL (policies, jobs) and its plain-PostgreSQL
 * equivalents. Interval strings come from validated config (`N days` / `N hours`).
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
  }

  private async replacePolicy(
    procName: string,
    table: string,
    configKey: string,
    wanted: string,
    add: () => Promise<unknown>,
  ): Promise<void> {
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
          WHERE j.scheduled AND j.job_id >= 1000
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
    return { jobsRun: 0, rowsDeleted };
  }

  /**
   * A terminal's heartbeats in [from, to) aggregated per bucket, oldest first (averages rounded
   * to 2 decimals; min/max keep the stored real values). `bucket` must come
   * from the caller's allow-list (it is bound as a parameter, never interpolated). TimescaleDB:
   * time_bucket / last(); plain PostgreSQL: date_bin / array_agg. Same origin, same boundaries.
   */
  async telemetryBuckets(sn: string, from: Date, to: Date, bucket: string): Promise<TelemetryBucketRow[]> {
    const timescale = this.info.flavor === DatabaseFlavor.Timescale;
    const bucketExpr = timescale ? `time_bucket($4::interval, time, $5::timestamptz)` : `date_bin($4::interval, time, $5::timestamptz)`;
    const lastPlan = timescale ? `last(plan_status, time)` : `(array_agg(plan_status ORDER BY time DESC))[1]`;
    const rows: {
      bucket: Date;
      heartbeats: number;
      battery_avg: number | null;
      battery_min: number | null;
      rsrp_avg: number | null;
      rsrp_min: number | null;
      sinr_avg: number | null;
      data_used_mb_max: number | null;
      plan_status: string | null;
    }[] = await this.dataSource.query(
      `SELECT ${bucketExpr} AS bucket,
              count(*)::int AS heartbeats,
              round(avg(battery_pct)::numeric, 2)::float8 AS battery_avg, min(battery_pct) AS battery_min,
              round(avg(rsrp)::numeric, 2)::float8 AS rsrp_avg, min(rsrp) AS rsrp_min,
              round(avg(sinr)::numeric, 2)::float8 AS sinr_avg, max(data_used_mb) AS data_used_mb_max,
              ${lastPlan} AS plan_status
         FROM heartbeats
        WHERE sn = $1 AND time >= $2 AND time < $3
        GROUP BY 1
        ORDER BY 1`,
      [sn, from, to, bucket, BUCKET_ORIGIN],
    );
    return rows.map((r) => ({
      bucket: r.bucket,
      heartbeats: r.heartbeats,
      batteryAvg: r.battery_avg,
      batteryMin: r.battery_min,
      rsrpAvg: r.rsrp_avg,
      rsrpMin: r.rsrp_min,
      sinrAvg: r.sinr_avg,
      dataUsedMbMax: r.data_used_mb_max,
      planStatus: r.plan_status,
    }));
  }

  /** A terminal's raw heartbeats in [from, to), newest first, at most `limit`. */
  async rawHeartbeats(sn: string, from: Date, to: Date, limit: number): Promise<RawHeartbeatRow[]> {
    return this.dataSource.query(
      `SELECT ${RAW_HEARTBEAT_COLUMNS} FROM heartbeats
        WHERE sn = $1 AND time >= $2 AND time < $3
        ORDER BY time DESC
        LIMIT $4`,
      [sn, from, to, limit],
    );
  }

  /** Jobs registered on the hypertables, for tests and diagnostics. */
  async listJobs(): Promise<{ jobId: number; procName: string; table: string; config: Record<string, unknown> }[]> {
    if (this.info.flavor !== DatabaseFlavor.Timescale) return [];
    const rows: { job_id: number; proc_name: string; hypertable_name: string; config: Record<string, unknown> }[] =
      await this.dataSource.query(
        `SELECT job_id, proc_name, hypertable_name, config FROM timescaledb_information.jobs
          WHERE hypertable_name IS NOT NULL ORDER BY job_id`,
      );
    return rows.map((r) => ({ jobId: r.job_id, procName: r.proc_name, table: r.hypertable_name, config: r.config }));
  }
}
