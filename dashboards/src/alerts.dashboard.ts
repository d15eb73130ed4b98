import { GraphDrawStyle, LineInterpolation } from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { type BuiltDashboard, fleetVariables, providerScope, QueryCollector, terminalScope } from './dashboard-kit.js';

const UID = 'fleet-alerts';

/** Alerts: what is open, how fast ops react, who is noisy, and whether notifications get through. */
export function alertsDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);
  const scope = terminalScope('t');

  const openNow = new Stat()
    .id(q.panelId())
    .title('Open alerts now')
    .description('Unresolved alerts (open or acknowledged) by severity.')
    .withTarget(
      q.sql(
        'Open alerts now',
        `
        SELECT count(*) FILTER (WHERE a.severity = 'critical') AS critical, count(*) FILTER (WHERE a.severity = 'warning') AS warning,
               count(*) FILTER (WHERE a.severity = 'info') AS info, count(*) FILTER (WHERE a.state = 'open') AS unacknowledged
        FROM alerts a JOIN terminals t ON t.sn = a.sn
        WHERE a.state <> 'resolved' AND ${scope}`,
        'table',
        ['critical', 'warning', 'info', 'unacknowledged'],
      ),
    )
    .height(5)
    .span(24);

  // Open count per (rule, severity) over time without a row per bucket and alert: +1 where an alert
  // opened (or at the range start when it opened before), -1 where it resolved, summed cumulatively.
  const openOverTime = new TimeSeries()
    .id(q.panelId())
    .title('Open alerts by rule and severity')
    .description('Unresolved alerts over time per rule and severity (steps at each bucket where alerts opened or resolved).')
    .interval('5m')
    .withTarget(
      q.sql(
        'Open alerts by rule and severity',
        `
        WITH scoped AS (
          SELECT a.rule, a.severity, a.first_seen_at, a.resolved_at
          FROM alerts a JOIN terminals t ON t.sn = a.sn
          WHERE a.first_seen_at <= $__timeTo() AND (a.resolved_at IS NULL OR a.resolved_at >= $__timeFrom()) AND ${scope}
        ), changes AS (
          SELECT greatest(first_seen_at, $__timeFrom()::timestamptz) AS at, rule, severity, 1 AS delta FROM scoped
          UNION ALL
          SELECT resolved_at, rule, severity, -1 FROM scoped WHERE resolved_at <= $__timeTo()
        ), per_bucket AS (
          SELECT $__timeGroupAlias(at, $__interval), rule || ' · ' || severity AS metric, sum(delta) AS delta
          FROM changes
          GROUP BY 1, 2
        )
        SELECT time, metric, sum(delta) OVER (PARTITION BY metric ORDER BY time) AS open
        FROM per_bucket
        ORDER BY 1`,
        'time_series',
        ['time', 'metric', 'open'],
      ),
    )
    .lineInterpolation(LineInterpolation.StepAfter)
    .height(10)
    .span(24);

  const reaction = new Table()
    .id(q.panelId())
    .title('Time to acknowledge and to resolve')
    .description(
      'Alerts raised in the time range, per rule: median and 90th percentile of the time to acknowledge (acknowledged ones) and to resolve (resolved ones), in seconds.',
    )
    .withTarget(
      q.sql(
        'Time to acknowledge and to resolve',
        `
        SELECT a.rule, count(*) AS raised,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at - a.first_seen_at)) AS ack_p50_s,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at - a.first_seen_at)) AS ack_p90_s,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.resolved_at - a.first_seen_at)) AS resolve_p50_s,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.resolved_at - a.first_seen_at)) AS resolve_p90_s
        FROM alerts a JOIN terminals t ON t.sn = a.sn
        WHERE $__timeFilter(a.first_seen_at) AND ${scope}
        GROUP BY a.rule
        ORDER BY raised DESC`,
        'table',
        ['rule', 'raised', 'ack_p50_s', 'ack_p90_s', 'resolve_p50_s', 'resolve_p90_s'],
      ),
    )
    .unit('s')
    .height(9)
    .span(12);

  const noisiest = new Table()
    .id(q.panelId())
    .title('Noisiest terminals')
    .description('Terminals with the most alerts raised in the time range (and their confirmations), top 20.')
    .withTarget(
      q.sql(
        'Noisiest terminals',
        `
        SELECT a.sn, p.name AS provider, count(*) AS alerts, sum(a.occurrences) AS occurrences, string_agg(DISTINCT a.rule, ', ') AS rules
        FROM alerts a JOIN terminals t ON t.sn = a.sn JOIN providers p ON p.id = t.provider_id
        WHERE $__timeFilter(a.first_seen_at) AND ${scope}
        GROUP BY a.sn, p.name
        ORDER BY alerts DESC, occurrences DESC, a.sn
        LIMIT 20`,
        'table',
        ['sn', 'provider', 'alerts', 'occurrences', 'rules'],
      ),
    )
    .height(9)
    .span(12);

  const deliveryFailures = new TimeSeries()
    .id(q.panelId())
    .title('Notification delivery failures')
    .description('Failed send attempts per channel type (webhook, WeCom, DingTalk, email) for subscriptions in the provider subtree.')
    .interval('5m')
    .withTarget(
      q.sql(
        'Notification delivery failures',
        `
        SELECT $__timeGroupAlias(na.started_at, $__interval), c.type AS metric, count(*) AS failed_attempts
        FROM notification_attempts na
        JOIN notification_deliveries d ON d.id = na.delivery_id
        JOIN notification_channels c ON c.id = d.channel_id
        WHERE NOT na.ok AND $__timeFilter(na.started_at) AND ${providerScope('d.provider_id')}
        GROUP BY 1, 2
        ORDER BY 1`,
        'time_series',
        ['time', 'metric', 'failed_attempts'],
      ),
    )
    .drawStyle(GraphDrawStyle.Bars)
    .height(9)
    .span(12);

  const failedDeliveries = new Table()
    .id(q.panelId())
    .title('Failed deliveries')
    .description('Deliveries that gave up after their retries, newest first (50).')
    .withTarget(
      q.sql(
        'Failed deliveries',
        `
        SELECT d.updated_at AS failed_at, p.name AS provider, c.type AS channel_type, c.name AS channel, d.rule, d.sn, d.attempts, d.last_status_code, d.last_error
        FROM notification_deliveries d
        JOIN notification_channels c ON c.id = d.channel_id
        JOIN providers p ON p.id = d.provider_id
        WHERE d.state = 'failed' AND $__timeFilter(d.updated_at) AND ${providerScope('d.provider_id')}
        ORDER BY d.updated_at DESC
        LIMIT 50`,
        'table',
        ['failed_at', 'provider', 'channel_type', 'channel', 'rule', 'sn', 'attempts', 'last_status_code', 'last_error'],
      ),
    )
    .height(9)
    .span(12);

  const dashboard = new DashboardBuilder('Alerts')
    .uid(UID)
    .tags(['pos-fleet'])
    .description(
      'Open alerts over time, reaction times, noisy terminals and notification delivery. Model filters terminals; notification panels follow the provider only.',
    )
    .time({ from: 'now-7d', to: 'now' })
    .refresh('1m')
    .readonly()
    .variables(fleetVariables(q))
    .withRow(new RowBuilder('Alerts').id(q.panelId()))
    .withPanel(openNow)
    .withPanel(openOverTime)
    .withPanel(reaction)
    .withPanel(noisiest)
    .withRow(new RowBuilder('Notifications').id(q.panelId()))
    .withPanel(deliveryFailures)
    .withPanel(failedDeliveries)
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
