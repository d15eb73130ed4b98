import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '#config';
import type { Scope } from '../auth/principal.js';
import { scopePath } from '../common/scope-sql.js';

export interface FleetCounts {
  /** Time of the data: the snapshot's (fleet_summary) or, when counted live, the query's. */
  asOf: Date;
  byModel: { model: string; count: number }[];
  /** Aggregates over terminal_state rows (terminals that connected or reported at least once). */
  state: {
    rows: number;
    online: number;
    offline: number;
    expiringWithin30Days: number;
    autoRenewOff: number;
    autoRenewFailed: number;
    batteryBelow20: number;
    signalBelowMinus110: number;
  };
  byPlanStatus: Map<string | null, number>;
  byFirmwareVersion: Map<string | null, number>;
}

interface StateGroup {
  plan_status: string | null;
  firmware_version: string | null;
  n: number;
  online: number;
  offline: number;
  expiring: number;
  auto_renew_off: number;
  auto_renew_failed: number;
  battery_low: number;
  signal_low: number;
}

interface SnapshotRow {
  as_of: Date;
  models: { model: string; count: number }[];
  groups: StateGroup[];
}

/**
 * Fleet counts. Registered terminals (by model) come from fleet_registry_counts, which triggers on
 * terminals keep exact in the writer's transaction. Reported state comes from the fleet_summary
 * snapshot (migration 0012) that the worker rebuilds every FLEET_SUMMARY_REFRESH_INTERVAL_MS; one
 * statement sums their few rows over the providers in scope. A snapshot older than
 * FLEET_SUMMARY_MAX_AGE_MS (no worker, or it stopped) is not used: then everything is counted live
 * as before the snapshot (registry counts by model from terminals, and reported state from
 * terminal_state in one pass grouped by plan status and firmware version with FILTER aggregates).
 * Both paths use the same definitions (RollupRefreshRepository.rebuildFleetSummary).
 */
@Injectable()
export class FleetSummaryRepository {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async counts(scope: Scope, providerPath: string | null): Promise<FleetCounts> {
    const ids = await this.providerIds(scope, providerPath);
    if (this.config.rollups.summaryMaxAgeMs > 0) {
      const snapshot = await this.snapshotCounts(ids);
      if (snapshot) return snapshot;
    }
    return this.liveCounts(ids);
  }

  /** Providers in scope (and in the requested subtree); null for the whole fleet. */
  private async providerIds(scope: Scope, providerPath: string | null): Promise<string[] | null> {
    const paths = [scopePath(scope), providerPath].filter((p): p is string => p !== null);
    let ids: string[] | null = null;
    if (paths.length > 0) {
      const rows: { id: string }[] = await this.dataSource.query(
        `SELECT id FROM providers WHERE ${paths.map((_p, i) => `path LIKE $${i + 1} || '%'`).join(' AND ')}`,
        paths,
      );
      ids = rows.map((r) => r.id);
    }
    return ids;
  }

  /**
   * Registry counts and the snapshot's state groups in one statement (one MVCC snapshot). No row:
   * the snapshot is missing or too old. Models are ordered like the live query's (most first, then model).
   */
  private async snapshotCounts(ids: string[] | null): Promise<FleetCounts | null> {
    const scoped = ids ? 'AND provider_id = ANY($2::uuid[])' : '';
    const rows = await this.dataSource.query<SnapshotRow[]>(
      `WITH meta AS (
         SELECT refreshed_at FROM rollup_refresh WHERE name = 'fleet_summary' AND refreshed_at >= now() - $1::int * interval '1 millisecond'
       ), models AS (
         SELECT model, sum(terminals)::int AS n FROM fleet_registry_counts WHERE terminals <> 0 ${scoped} GROUP BY model
       ), g AS (
         SELECT plan_status, firmware_version, sum(reported)::int AS n, sum(online)::int AS online, sum(offline)::int AS offline,
                sum(plan_expiring_30d)::int AS expiring, sum(auto_renew_off)::int AS auto_renew_off,
                sum(auto_renew_failed)::int AS auto_renew_failed, sum(battery_below_20)::int AS battery_low,
                sum(signal_below_minus_110)::int AS signal_low
           FROM fleet_summary WHERE reported > 0 ${scoped}
          GROUP BY plan_status, firmware_version
       )
       SELECT meta.refreshed_at AS as_of,
              (SELECT coalesce(json_agg(json_build_object('model', model, 'count', n) ORDER BY n DESC, model), '[]') FROM models) AS models,
              (SELECT coalesce(json_agg(g), '[]') FROM g) AS groups
         FROM meta`,
      ids ? [this.config.rollups.summaryMaxAgeMs, ids] : [this.config.rollups.summaryMaxAgeMs],
    );
    const row = rows[0];
    if (!row) return null;
    return { asOf: new Date(row.as_of), byModel: row.models, ...fold(row.groups) };
  }

  /** Counted now: two statements run side by side (a plain GROUP BY can be aggregated by parallel workers). */
  private async liveCounts(ids: string[] | null): Promise<FleetCounts> {
    const asOf = new Date();
    const params = ids ? [ids] : [];
    const [models, groups] = await Promise.all([
      this.dataSource.query<{ model: string; n: number }[]>(
        `SELECT t.model, count(*)::int AS n FROM terminals t ${ids ? 'WHERE t.provider_id = ANY($1::uuid[])' : ''}
          GROUP BY t.model ORDER BY n DESC, t.model`,
        params,
      ),
      this.dataSource.query<StateGroup[]>(
        `SELECT s.plan_status, s.firmware_version,
                count(*)::int AS n,
                count(*) FILTER (WHERE s.online)::int AS online,
                count(*) FILTER (WHERE NOT s.online AND (s.last_connected_at IS NOT NULL OR s.last_heartbeat_at IS NOT NULL))::int AS offline,
                count(*) FILTER (WHERE s.plan_expires_on >= current_date AND s.plan_expires_on <= current_date + 30)::int AS expiring,
                count(*) FILTER (WHERE s.plan_auto_renew = false)::int AS auto_renew_off,
                count(*) FILTER (WHERE s.renewal_result = 'failed')::int AS auto_renew_failed,
                count(*) FILTER (WHERE s.battery_pct < 20)::int AS battery_low,
                count(*) FILTER (WHERE s.rsrp < -110)::int AS signal_low
           FROM terminal_state s
          ${ids ? 'WHERE s.sn IN (SELECT t.sn FROM terminals t WHERE t.provider_id = ANY($1::uuid[]))' : ''}
          GROUP BY s.plan_status, s.firmware_version`,
        params,
      ),
    ]);
    return { asOf, byModel: models.map((m) => ({ model: m.model, count: m.n })), ...fold(groups) };
  }
}

/** Folds the (plan status, firmware version) groups into totals. */
function fold(groups: readonly StateGroup[]): Pick<FleetCounts, 'state' | 'byPlanStatus' | 'byFirmwareVersion'> {
  const state = { rows: 0, online: 0, offline: 0, expiringWithin30Days: 0, autoRenewOff: 0, autoRenewFailed: 0, batteryBelow20: 0, signalBelowMinus110: 0 };
  const byPlanStatus = new Map<string | null, number>();
  const byFirmwareVersion = new Map<string | null, number>();
  for (const g of groups) {
    state.rows += g.n;
    state.online += g.online;
    state.offline += g.offline;
    state.expiringWithin30Days += g.expiring;
    state.autoRenewOff += g.auto_renew_off;
    state.autoRenewFailed += g.auto_renew_failed;
    state.batteryBelow20 += g.battery_low;
    state.signalBelowMinus110 += g.signal_low;
    byPlanStatus.set(g.plan_status, (byPlanStatus.get(g.plan_status) ?? 0) + g.n);
    byFirmwareVersion.set(g.firmware_version, (byFirmwareVersion.get(g.firmware_version) ?? 0) + g.n);
  }
  return { state, byPlanStatus, byFirmwareVersion };
}
