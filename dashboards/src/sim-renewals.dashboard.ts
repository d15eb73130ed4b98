import { PanelBuilder as BarChart } from '@grafana/grafana-foundation-sdk/barchart';
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { StackingConfigBuilder, StackingMode } from '@grafana/grafana-foundation-sdk/common';
import { type BuiltDashboard, fleetVariables, QueryCollector, terminalScope } from './dashboard-kit.js';

const UID = 'fleet-sim-renewals';

/** SIM data plans: what expires when, what is already out of service, and which renewals fail. */
export function simRenewalsDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);
  const scope = terminalScope('t');
  const summaryScope = terminalScope('r');

  const stats = new Stat()
    .id(q.panelId())
    .title('Plans needing attention now')
    .description('From the fleet_summary snapshot: plans expiring within 30 days, auto-renew off, last renewal failed, and plans not active.')
    .withTarget(
      q.sql(
        'Plans needing attention now',
        `
        SELECT coalesce(sum(r.plan_expiring_30d), 0) AS expiring_30d, coalesce(sum(r.auto_renew_off), 0) AS auto_renew_off,
               coalesce(sum(r.auto_renew_failed), 0) AS renewal_failed,
               coalesce(sum(r.terminals) FILTER (WHERE r.plan_status IN ('grace', 'suspended', 'expired')), 0) AS not_active
        FROM fleet_summary r
        WHERE ${summaryScope}`,
        'table',
        ['expiring_30d', 'auto_renew_off', 'renewal_failed', 'not_active'],
      ),
    )
    .height(5)
    .span(24);

  const perWeek = new BarChart()
    .id(q.panelId())
    .title('Plans expiring per week (next 12 weeks)')
    .description('Terminals whose SIM plan (latest heartbeat) expires in each of the next 12 ISO weeks, starting this week. Independent of the time picker.')
    .withTarget(
      q.sql(
        'Plans expiring per week (next 12 weeks)',
        `
        WITH expiring AS (
          SELECT date_trunc('week', s.plan_expires_on)::date AS week, count(*) AS plans
          FROM terminal_state s JOIN terminals t ON t.sn = s.sn
          WHERE s.plan_expires_on >= current_date AND s.plan_expires_on < date_trunc('week', current_date)::date + 84 AND ${scope}
          GROUP BY 1
        )
        SELECT to_char(w.week, 'YYYY-MM-DD') AS week, coalesce(e.plans, 0) AS plans
        FROM (SELECT date_trunc('week', current_date)::date + 7 * n AS week FROM generate_series(0, 11) AS n) w
        LEFT JOIN expiring e ON e.week = w.week
        ORDER BY w.week`,
        'table',
        ['week', 'plans'],
      ),
    )
    .xField('week')
    .height(9)
    .span(12);

  const perProvider = new BarChart()
    .id(q.panelId())
    .title('Plans not active, per provider')
    .description('Terminals whose plan is in grace, suspended or expired, per owning provider (fleet_summary snapshot).')
    .withTarget(
      q.sql(
        'Plans not active, per provider',
        `
        SELECT p.name AS provider,
               coalesce(sum(r.terminals) FILTER (WHERE r.plan_status = 'grace'), 0) AS grace,
               coalesce(sum(r.terminals) FILTER (WHERE r.plan_status = 'suspended'), 0) AS suspended,
               coalesce(sum(r.terminals) FILTER (WHERE r.plan_status = 'expired'), 0) AS expired
        FROM fleet_summary r JOIN providers p ON p.id = r.provider_id
        WHERE ${summaryScope}
        GROUP BY p.name, p.path
        ORDER BY p.path`,
        'table',
        ['provider', 'grace', 'suspended', 'expired'],
      ),
    )
    .xField('provider')
    .stacking(StackingMode.Normal)
    .height(9)
    .span(12);

  const failures = new TimeSeries()
    .id(q.panelId())
    .title('Auto-renew failures by reason')
    .description('Renewal failures as raised renewal_failed alerts (one per terminal until it clears), by the reason the terminal reported.')
    .interval('1h')
    .withTarget(
      q.sql(
        'Auto-renew failures by reason',
        `
        SELECT $__timeGroupAlias(a.first_seen_at, $__interval), coalesce(a.details->>'reason', 'unknown') AS metric, count(*) AS failures
        FROM alerts a JOIN terminals t ON t.sn = a.sn
        WHERE a.rule = 'renewal_failed' AND $__timeFilter(a.first_seen_at) AND ${scope}
        GROUP BY 1, 2
        ORDER BY 1`,
        'time_series',
        ['time', 'metric', 'failures'],
      ),
    )
    .stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A'))
    .fillOpacity(40)
    .height(9)
    .span(24);

  const expiring = new Table()
    .id(q.panelId())
    .title('Terminals expiring in 30 days')
    .description('Plans (latest heartbeat) expiring from today to 30 days ahead, soonest first; at most 1,000 rows.')
    .withTarget(
      q.sql(
        'Terminals expiring in 30 days',
        `
        SELECT s.sn, t.tid, t.mid, p.name AS provider, s.plan_expires_on AS expires_on, s.plan_expires_on - current_date AS days_left,
               s.plan_auto_renew AS auto_renew, s.renewal_result
        FROM terminal_state s JOIN terminals t ON t.sn = s.sn JOIN providers p ON p.id = t.provider_id
        WHERE s.plan_expires_on BETWEEN current_date AND current_date + 30 AND ${scope}
        ORDER BY s.plan_expires_on, s.sn
        LIMIT 1000`,
        'table',
        ['sn', 'tid', 'mid', 'provider', 'expires_on', 'days_left', 'auto_renew', 'renewal_result'],
      ),
    )
    .filterable(true)
    .height(12)
    .span(24);

  const dashboard = new DashboardBuilder('SIM and renewals')
    .uid(UID)
    .tags(['pos-fleet'])
    .description('SIM data plans: upcoming expiries, plans out of service per provider, renewal failures and the terminals to renew now.')
    .time({ from: 'now-30d', to: 'now' })
    .refresh('5m')
    .readonly()
    .variables(fleetVariables(q))
    .withRow(new RowBuilder('Expiry').id(q.panelId()))
    .withPanel(stats)
    .withPanel(perWeek)
    .withPanel(perProvider)
    .withRow(new RowBuilder('Renewals').id(q.panelId()))
    .withPanel(failures)
    .withPanel(expiring)
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
