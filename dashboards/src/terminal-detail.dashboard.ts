import { VisibilityMode } from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, MappingType, RowBuilder, type ValueMapping } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as StateTimeline } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { type BuiltDashboard, QueryCollector, snVariable, tiered } from './dashboard-kit.js';

const UID = 'fleet-terminal';
const SN = '${sn:sqlstring}';

/**
 * One terminal's rows over the range: raw heartbeats up to a day (one terminal: a few thousand rows
 * on the (sn, time) key), its 5-minute rollup up to a week, the hourly one beyond. `columns` maps
 * each output name to [raw expression, rollup expression].
 */
function terminalSeries(columns: Record<string, [string, string]>): string {
  const names = Object.keys(columns);
  const pick = (i: 0 | 1) => names.map((n) => `${columns[n][i]} AS ${n}`).join(', ');
  return tiered([
    { select: `SELECT h.time AS at, ${pick(0)} FROM heartbeats h WHERE h.sn = ${SN} AND $__timeFilter(h.time)`, upTo: "interval '1 day'" },
    { select: `SELECT h.bucket AS at, ${pick(1)} FROM heartbeats_5m h WHERE h.sn = ${SN} AND $__timeFilter(h.bucket)`, upTo: "interval '7 days'" },
    { select: `SELECT h.bucket AS at, ${pick(1)} FROM heartbeats_1h h WHERE h.sn = ${SN} AND $__timeFilter(h.bucket)` },
  ]);
}

/** Terminal detail: one terminal (variable SN) — state, signal, battery, data, presence, alerts, commands. */
export function terminalDetailDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);

  const state = new Table()
    .id(q.panelId())
    .title('Terminal')
    .description('Registry and latest reported state.')
    .withTarget(
      q.sql(
        'Terminal',
        `
        SELECT t.sn, t.model, t.tid, t.mid, p.name AS provider, t.status, s.online, s.last_heartbeat_at, s.firmware_version, s.app_version,
               s.battery_pct, s.rsrp, s.carrier, s.iccid, s.plan_status, s.plan_expires_on, s.plan_auto_renew, s.cell_id
        FROM terminals t JOIN providers p ON p.id = t.provider_id LEFT JOIN terminal_state s ON s.sn = t.sn
        WHERE t.sn = ${SN}`,
        'table',
        [
          'sn',
          'model',
          'tid',
          'mid',
          'provider',
          'status',
          'online',
          'last_heartbeat_at',
          'firmware_version',
          'app_version',
          'battery_pct',
          'rsrp',
          'carrier',
          'iccid',
          'plan_status',
          'plan_expires_on',
          'plan_auto_renew',
          'cell_id',
        ],
      ),
    )
    .height(5)
    .span(24);

  const series = (title: string, description: string, columns: Record<string, [string, string]>, unit: string) =>
    new TimeSeries()
      .id(q.panelId())
      .title(title)
      .description(description)
      .withTarget(
        q.sql(
          title,
          `
          SELECT $__timeGroupAlias(at, $__interval), ${Object.keys(columns)
            .map((c) => `${c.endsWith('_max') ? 'max' : c.endsWith('_min') ? 'min' : 'avg'}(${c}) AS ${c}`)
            .join(', ')}
          FROM (
            ${terminalSeries(columns)}
          ) rows
          GROUP BY 1
          ORDER BY 1`,
          'time_series',
          ['time', ...Object.keys(columns)],
        ),
      )
      .unit(unit)
      .showPoints(VisibilityMode.Never)
      .height(8)
      .span(12);

  const signal = series(
    'Signal',
    'RSRP (average and worst) and RSSI, dBm.',
    { rsrp: ['h.rsrp', 'h.rsrp_avg'], rsrp_min: ['h.rsrp', 'h.rsrp_min'], rssi: ['h.rssi', 'h.rssi_avg'] },
    'dBm',
  );
  const battery = series(
    'Battery',
    'Battery level (average and lowest), %.',
    { battery: ['h.battery_pct', 'h.battery_avg'], battery_min: ['h.battery_pct', 'h.battery_min'] },
    'percent',
  );
  const data = series(
    'Data usage',
    'Data used in the current plan period, MB (highest reported per bucket).',
    { data_used_mb_max: ['h.data_used_mb', 'h.data_used_mb_max'] },
    'decmbytes',
  );

  const onlineMappings: ValueMapping[] = [
    {
      type: MappingType.ValueToText,
      options: { '1': { text: 'online', color: 'green', index: 0 }, '0': { text: 'offline', color: 'red', index: 1 } },
    },
  ];
  const presence = new StateTimeline()
    .id(q.panelId())
    .title('Presence')
    .description('Connected / disconnected, from presence events (the state at the start of the range, then each change).')
    .withTarget(
      q.sql(
        'Presence',
        `
        SELECT time, CASE WHEN online THEN 1 ELSE 0 END AS online
        FROM (
          (SELECT $__timeFrom()::timestamptz AS time, e.online FROM presence_events e
           WHERE e.sn = ${SN} AND e.time < $__timeFrom() ORDER BY e.time DESC LIMIT 1)
          UNION ALL
          SELECT e.time, e.online FROM presence_events e WHERE e.sn = ${SN} AND $__timeFilter(e.time)
        ) p
        ORDER BY 1`,
        'time_series',
        ['time', 'online'],
      ),
    )
    .mappings(onlineMappings)
    .showValue(VisibilityMode.Never)
    .height(8)
    .span(12);

  const alerts = new Table()
    .id(q.panelId())
    .title('Alerts')
    .description('Alerts of this terminal raised in the range or still unresolved, newest first.')
    .withTarget(
      q.sql(
        'Alerts',
        `
        SELECT a.first_seen_at, a.rule, a.severity, a.state, a.occurrences, a.last_seen_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by
        FROM alerts a
        WHERE a.sn = ${SN} AND ($__timeFilter(a.first_seen_at) OR a.state <> 'resolved')
        ORDER BY a.first_seen_at DESC
        LIMIT 200`,
        'table',
        ['first_seen_at', 'rule', 'severity', 'state', 'occurrences', 'last_seen_at', 'acknowledged_at', 'acknowledged_by', 'resolved_at', 'resolved_by'],
      ),
    )
    .height(8)
    .span(24);

  const commands = new Table()
    .id(q.panelId())
    .title('Commands')
    .description('Commands sent to this terminal in the range (OTA installs of campaigns included), newest first.')
    .withTarget(
      q.sql(
        'Commands',
        `
        SELECT c.created_at, c.type, c.state, c.reason, c.progress, c.attempts, c.sent_at, c.acked_at, c.updated_at, cp.name AS campaign, c.created_by
        FROM commands c LEFT JOIN campaigns cp ON cp.id = c.campaign_id
        WHERE c.sn = ${SN} AND $__timeFilter(c.created_at)
        ORDER BY c.created_at DESC
        LIMIT 200`,
        'table',
        ['created_at', 'type', 'state', 'reason', 'progress', 'attempts', 'sent_at', 'acked_at', 'updated_at', 'campaign', 'created_by'],
      ),
    )
    .height(8)
    .span(24);

  const dashboard = new DashboardBuilder('Terminal detail')
    .uid(UID)
    .tags(['pos-fleet'])
    .description('One terminal by SN: state, signal, battery, data usage, presence, alerts and commands.')
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .readonly()
    .withVariable(snVariable())
    .withRow(new RowBuilder('Terminal').id(q.panelId()))
    .withPanel(state)
    .withPanel(signal)
    .withPanel(battery)
    .withPanel(data)
    .withPanel(presence)
    .withRow(new RowBuilder('History').id(q.panelId()))
    .withPanel(alerts)
    .withPanel(commands)
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
