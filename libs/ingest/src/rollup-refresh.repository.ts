import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** A refresh lease as taken: the database's clock and where the last refresh of this relation ended. */
export interface RefreshLease {
  dbNow: Date;
  refreshedThrough: Date | null;
}

export const FLEET_SUMMARY = 'fleet_summary';

/** fleet_summary's columns, in table order. */
const SUMMARY_COLUMNS = [
  'provider_id',
  'model',
  'plan_status',
  'firmware_version',
  'terminals',
  'reported',
  'online',
  'offline',
  'plan_expiring_30d',
  'auto_renew_off',
  'auto_renew_failed',
  'battery_below_20',
  'signal_below_minus_110',
] as const;
type SummaryGroup = Record<(typeof SUMMARY_COLUMNS)[number], string | null>;

/** The same definitions as the live query of the API's FleetSummaryRepository. */
const SUMMARY_GROUPS_SQL = `
  SELECT t.provider_id, t.model, s.plan_status, s.firmware_version,
         count(*) AS terminals, count(s.sn) AS reported,
         count(*) FILTER (WHERE s.online) AS online,
         count(*) FILTER (WHERE NOT s.online AND (s.last_connected_at IS NOT NULL OR s.last_heartbeat_at IS NOT NULL)) AS offline,
         count(*) FILTER (WHERE s.plan_expires_on >= current_date AND s.plan_expires_on <= current_date + 30) AS plan_expiring_30d,
         count(*) FILTER (WHERE s.plan_auto_renew = false) AS auto_renew_off,
         count(*) FILTER (WHERE s.renewal_result = 'failed') AS auto_renew_failed,
         count(*) FILTER (WHERE s.battery_pct < 20) AS battery_below_20,
         count(*) FILTER (WHERE s.rsrp < -110) AS signal_below_minus_110
    FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
   GROUP BY t.provider_id, t.model, s.plan_status, s.firmware_version`;

/**
 * Refresh leases (rollup_refresh, migration 0012) and the fleet summary rebuild. Lease times are
 * the database's clock, shared by all workers.
 */
@Injectable()
export class RollupRefreshRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /**
   * Takes the lease of one relation when it is free (or expired) and the last refresh committed at
   * least `minGapMs` ago, so N workers refresh it about once per interval in total. The row lock of
   * the UPDATE decides between racing workers. Null when not taken.
   */
  async acquire(name: string, holder: string, ttlMs: number, minGapMs: number): Promise<RefreshLease | null> {
    const [rows]: [{ db_now: Date; refreshed_through: Date | null }[], number] = await this.dataSource.query(
      `UPDATE rollup_refresh
          SET holder = $2, expires_at = now() + $3::int * interval '1 millisecond'
        WHERE name = $1 AND expires_at < now()
          AND (refreshed_at IS NULL OR refreshed_at <= now() - $4::int * interval '1 millisecond')
       RETURNING now() AS db_now, refreshed_through`,
      [name, holder, ttlMs, minGapMs],
    );
    const row = rows[0];
    return row ? { dbNow: new Date(row.db_now), refreshedThrough: row.refreshed_through ? new Date(row.refreshed_through) : null } : null;
  }

  /** Records a finished refresh (through: end of the window materialized) and frees the lease; false when the lease was lost. */
  async complete(name: string, holder: string, through: Date | null): Promise<boolean> {
    const [rows]: [unknown[], number] = await this.dataSource.query(
      `UPDATE rollup_refresh SET holder = NULL, expires_at = '-infinity', refreshed_at = now(),
              refreshed_through = coalesce($3::timestamptz, refreshed_through)
        WHERE name = $1 AND holder = $2 RETURNING 1`,
      [name, holder, through],
    );
    return rows.length === 1;
  }

  /** Gives the lease up without recording a refresh (error, shutdown). */
  async release(name: string, holder: string): Promise<void> {
    await this.dataSource.query(`UPDATE rollup_refresh SET holder = NULL, expires_at = '-infinity' WHERE name = $1 AND holder = $2`, [name, holder]);
  }

  /**
   * Rebuilds fleet_summary under the lease. The groups are aggregated first by a plain SELECT
   * (which PostgreSQL can run with parallel workers; the SELECT of an INSERT .. SELECT cannot),
   * then swapped in by one short transaction that also records the snapshot time: the database
   * time taken before the aggregate, so `asOf` is never later than the data. Readers see the
   * previous snapshot until the commit. Returns the snapshot time, or null when the lease was lost
   * (nothing written).
   */
  async rebuildFleetSummary(holder: string): Promise<Date | null> {
    const [{ t0 }] = await this.dataSource.query<{ t0: Date }[]>(`SELECT now() AS t0`);
    const groups = await this.dataSource.query<SummaryGroup[]>(SUMMARY_GROUPS_SQL);
    return this.dataSource.transaction(async (em) => {
      const [rows] = await em.query<[{ as_of: Date }[], number]>(
        `UPDATE rollup_refresh SET holder = NULL, expires_at = '-infinity', refreshed_at = $3
          WHERE name = $1 AND holder = $2 AND expires_at >= now() RETURNING refreshed_at AS as_of`,
        [FLEET_SUMMARY, holder, t0],
      );
      if (rows.length !== 1) return null;
      await em.query(`DELETE FROM fleet_summary`);
      await em.query(
        `INSERT INTO fleet_summary (provider_id, model, plan_status, firmware_version, terminals, reported, online, offline,
                                    plan_expiring_30d, auto_renew_off, auto_renew_failed, battery_below_20, signal_below_minus_110)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                              $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])`,
        SUMMARY_COLUMNS.map((column) => groups.map((g) => g[column])),
      );
      return new Date(rows[0].as_of);
    });
  }
}
