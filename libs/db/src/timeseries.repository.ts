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
