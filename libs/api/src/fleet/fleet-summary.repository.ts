import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Scope } from '../auth/principal.js';
import { scopePath } from '../common/scope-sql.js';

export interface FleetCounts {
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

/**
 * Fleet counts in two statements run side by side: registry counts by model from terminals, and
 * everything about reported state from terminal_state in one pass, grouped by (plan status,
 * firmware version) with FILTER aggregates for the flags; the groups are few and are folded into
 * totals here. A plain GROUP BY (unlike GROUPING SETS) can be aggregated by parallel workers. For
 * the whole fleet no join is needed; a scope binds its provider ids and adds a semi-join.
 */
@Injectable()
export class FleetSummaryRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async counts(scope: Scope, providerPath: string | null): Promise<FleetCounts> {
    const paths = [scopePath(scope), providerPath].filter((p): p is string => p !== null);
    let ids: string[] | null = null;
    if (paths.length > 0) {
      const rows: { id: string }[] = await this.dataSource.query(
        `SELECT id FROM providers WHERE ${paths.map((_p, i) => `path LIKE $${i + 1} || '%'`).join(' AND ')}`,
        paths,
      );
      ids = rows.map((r) => r.id);
    }
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
    return { byModel: models.map((m) => ({ model: m.model, count: m.n })), state, byPlanStatus, byFirmwareVersion };
  }
}
