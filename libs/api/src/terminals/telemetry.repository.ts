import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DATABASE_INFO, HEARTBEAT_FIELDS, selectFields, timeseriesSql, type DatabaseInfo, type FieldValues } from '#db';

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

/** A stored heartbeat: its times and every heartbeat field. */
export type RawHeartbeatRow = { time: Date; receivedAt: Date } & FieldValues<typeof HEARTBEAT_FIELDS>;

const RAW_HEARTBEAT_COLUMNS = `h.time, h.received_at AS "receivedAt", ${selectFields(HEARTBEAT_FIELDS, 'h')}`;

/** A terminal's stored heartbeats for the fleet API; the caller checked the terminal is in scope. */
@Injectable()
export class TelemetryRepository {
  private readonly bucketsSql: string;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(DATABASE_INFO) info: DatabaseInfo,
  ) {
    const ts = timeseriesSql(info.flavor);
    this.bucketsSql = `SELECT ${ts.bucket('$4::interval', 'time')} AS bucket,
              count(*)::int AS heartbeats,
              round(avg(battery_pct)::numeric, 2)::float8 AS "batteryAvg", min(battery_pct) AS "batteryMin",
              round(avg(rsrp)::numeric, 2)::float8 AS "rsrpAvg", min(rsrp) AS "rsrpMin",
              round(avg(sinr)::numeric, 2)::float8 AS "sinrAvg", max(data_used_mb) AS "dataUsedMbMax",
              ${ts.last('plan_status', 'time')} AS "planStatus"
         FROM heartbeats
        WHERE sn = $1 AND time >= $2 AND time < $3
        GROUP BY 1
        ORDER BY 1`;
  }

  /**
   * A terminal's heartbeats in [from, to) aggregated per bucket, oldest first (averages rounded
   * to 2 decimals; min/max keep the stored real values). `bucket` must come from the caller's
   * allow-list (it is bound as a parameter, never interpolated).
   */
  async buckets(sn: string, from: Date, to: Date, bucket: string): Promise<TelemetryBucketRow[]> {
    return this.dataSource.query(this.bucketsSql, [sn, from, to, bucket]);
  }

  /** A terminal's raw heartbeats in [from, to), newest first, at most `limit`. */
  async raw(sn: string, from: Date, to: Date, limit: number): Promise<RawHeartbeatRow[]> {
    return this.dataSource.query(
      `SELECT ${RAW_HEARTBEAT_COLUMNS} FROM heartbeats h
        WHERE h.sn = $1 AND h.time >= $2 AND h.time < $3
        ORDER BY h.time DESC
        LIMIT $4`,
      [sn, from, to, limit],
    );
  }
}
