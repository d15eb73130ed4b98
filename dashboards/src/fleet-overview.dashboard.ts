import {
  DashboardBuilder,
  FieldColorBuilder,
  FieldColorModeId,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as BarChart } from '@grafana/grafana-foundation-sdk/barchart';
import {
  FrameGeometrySourceBuilder,
  FrameGeometrySourceMode,
  MapLayerOptionsBuilder,
  StackingConfigBuilder,
  StackingMode,
  VizOrientation,
} from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as Geomap } from '@grafana/grafana-foundation-sdk/geomap';
import { PanelBuilder as PieChart } from '@grafana/grafana-foundation-sdk/piechart';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { type BuiltDashboard, fleetVariables, QueryCollector, rollupTiers, terminalScope } from './dashboard-kit.js';

const UID = 'fleet-overview';

/** Fleet overview: how many terminals are up, how the fleet reports, on what, and where it hurts. */
export function fleetOverviewDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);
  const scope = terminalScope('t');
  const rollupScope = terminalScope('r');

  const stats = new Stat()
    .id(q.panelId())
    .title('Terminals now')
    .description('Registered terminals in the scope, and how many are connected now (fleet_summary snapshot, refreshed every few seconds).')
    .withTarget(
      q.sql(
        'Terminals now',
        `
        SELECT coalesce(sum(r.terminals), 0) AS terminals, coalesce(sum(r.online), 0) AS online, coalesce(sum(r.offline), 0) AS offline,
               coalesce(sum(r.terminals - r.reported), 0) AS never_reported
        FROM fleet_summary r
        WHERE ${rollupScope}`,
        'table',
        ['terminals', 'online', 'offline', 'never_reported'],
      ),
    )
    .height(4)
    .span(24);

  const reporting = new TimeSeries()
    .id(q.panelId())
    .title('Terminals reporting vs silent')
    .description(
      'Distinct terminals with at least one heartbeat per rollup bucket (5-minute rollups up to 2 days, hourly beyond), and the registered terminals of the scope (fleet_registry_counts) that did not report.',
    )
    .interval('5m')
    .withTarget(
      q.sql(
        'Terminals reporting vs silent',
        `
        WITH registered AS (SELECT coalesce(sum(r.terminals), 0) AS n FROM fleet_registry_counts r WHERE ${rollupScope}),
        per_bucket AS (
          SELECT bucket, sum(terminals) AS reporting
          FROM (
            ${rollupTiers('fleet_heartbeats_5m', 'fleet_heartbeats_1h', (rel) => `SELECT r.bucket, r.terminals FROM ${rel} r WHERE $__timeFilter(r.bucket) AND ${rollupScope}`)}
          ) rows
          GROUP BY bucket
        )
        SELECT $__timeGroupAlias(bucket, $__interval), avg(reporting) AS reporting, greatest((SELECT n FROM registered) - avg(reporting), 0) AS silent
        FROM per_bucket
        GROUP BY 1
        ORDER BY 1`,
        'time_series',
        ['time', 'reporting', 'silent'],
      ),
    )
    .unit('short')
    .fillOpacity(20)
    .height(8)
    .span(12);

  const rate = new TimeSeries()
    .id(q.panelId())
    .title('Heartbeats per second')
    .description('Stored heartbeats per second, averaged per rollup bucket.')
    .interval('5m')
    .withTarget(
      q.sql(
        'Heartbeats per second',
        `
        SELECT $__timeGroupAlias(bucket, $__interval), avg(per_second) AS heartbeats_per_second
        FROM (
          SELECT bucket, sum(heartbeats) / max(seconds) AS per_second
          FROM (
            ${rollupTiers('fleet_heartbeats_5m', 'fleet_heartbeats_1h', (rel) => `SELECT r.bucket, r.heartbeats, ${rel === 'fleet_heartbeats_5m' ? '300.0' : '3600.0'} AS seconds FROM ${rel} r WHERE $__timeFilter(r.bucket) AND ${rollupScope}`)}
          ) rows
          GROUP BY bucket
        ) per_bucket
        GROUP BY 1
        ORDER BY 1`,
        'time_series',
        ['time', 'heartbeats_per_second'],
      ),
    )
    .unit('reqps')
    .height(8)
    .span(12);

  const firmware = new BarChart()
    .id(q.panelId())
    .title('Terminals by model and firmware version')
    .description('Latest reported firmware per terminal (fleet_summary); terminals that never reported are left out.')
    .withTarget(
      q.sql(
        'Terminals by model and firmware version',
        `
        SELECT r.model || ' ' || r.firmware_version AS version, sum(r.terminals) AS terminals
        FROM fleet_summary r
        WHERE ${rollupScope} AND r.firmware_version IS NOT NULL
        GROUP BY r.model, r.firmware_version
        ORDER BY r.model, r.firmware_version`,
        'table',
        ['version', 'terminals'],
      ),
    )
    .xField('version')
    .orientation(VizOrientation.Horizontal)
    .height(8)
    .span(12);

  const signalNow = new PieChart()
    .id(q.panelId())
    .title('Signal quality now (RSRP bands)')
    .description(
      'Latest RSRP per terminal: excellent ≥ -80 dBm, good -90..-80, fair -100..-90, poor < -100; unknown: no RSRP reported (e.g. 2G) or never reported.',
    )
    .withTarget(
      q.sql(
        'Signal quality now (RSRP bands)',
        `
        SELECT band, terminals FROM (
          SELECT CASE WHEN s.rsrp >= -80 THEN 'excellent' WHEN s.rsrp >= -90 THEN 'good' WHEN s.rsrp >= -100 THEN 'fair'
                      WHEN s.rsrp < -100 THEN 'poor' ELSE 'unknown' END AS band,
                 count(*) AS terminals
          FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
          WHERE ${scope}
          GROUP BY 1
        ) b
        ORDER BY array_position(ARRAY['excellent', 'good', 'fair', 'poor', 'unknown'], band)`,
        'table',
        ['band', 'terminals'],
      ),
    )
    .height(8)
    .span(6);

  const batteryNow = new PieChart()
    .id(q.panelId())
    .title('Battery now')
    .description('Latest battery level per terminal.')
    .withTarget(
      q.sql(
        'Battery now',
        `
        SELECT band, terminals FROM (
          SELECT CASE WHEN s.battery_pct < 10 THEN '< 10 %' WHEN s.battery_pct < 20 THEN '10–20 %' WHEN s.battery_pct < 50 THEN '20–50 %'
                      WHEN s.battery_pct >= 50 THEN '≥ 50 %' ELSE 'unknown' END AS band,
                 count(*) AS terminals
          FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
          WHERE ${scope}
          GROUP BY 1
        ) b
        ORDER BY array_position(ARRAY['< 10 %', '10–20 %', '20–50 %', '≥ 50 %', 'unknown'], band)`,
        'table',
        ['band', 'terminals'],
      ),
    )
    .height(8)
    .span(6);

  const bandsOverTime = (title: string, description: string, columns: string[], sums: string, unit: string) =>
    new TimeSeries()
      .id(q.panelId())
      .title(title)
      .description(description)
      .interval('5m')
      .withTarget(
        q.sql(
          title,
          `
          SELECT $__timeGroupAlias(bucket, $__interval), ${columns.map((c) => `sum(${c}) * 100.0 / nullif(sum(total), 0) AS ${c.replace(/^hb_(rsrp_|battery_)/, '')}`).join(', ')}
          FROM (
            ${rollupTiers('fleet_heartbeats_5m', 'fleet_heartbeats_1h', (rel) => `SELECT r.bucket, ${columns.map((c) => `r.${c}`).join(', ')}, ${sums} AS total FROM ${rel} r WHERE $__timeFilter(r.bucket) AND ${rollupScope}`)}
          ) rows
          GROUP BY 1
          ORDER BY 1`,
          'time_series',
          ['time', ...columns.map((c) => c.replace(/^hb_(rsrp_|battery_)/, ''))],
        ),
      )
      .unit(unit)
      .stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A'))
      .fillOpacity(60)
      .max(100)
      .height(8)
      .span(12);

  const signalBands = bandsOverTime(
    'Signal quality over time (share of heartbeats)',
    'Share of heartbeats per RSRP band (rollups): excellent ≥ -80 dBm, good -90..-80, fair -100..-90, poor < -100, unknown without RSRP.',
    ['hb_rsrp_excellent', 'hb_rsrp_good', 'hb_rsrp_fair', 'hb_rsrp_poor', 'hb_rsrp_unknown'],
    'r.heartbeats',
    'percent',
  );
  const batteryBands = bandsOverTime(
    'Battery over time (share of heartbeats)',
    'Share of heartbeats per battery band (rollups): low < 20 %, mid 20–50 %, high ≥ 50 %.',
    ['hb_battery_low', 'hb_battery_mid', 'hb_battery_high'],
    'r.hb_battery_low + r.hb_battery_mid + r.hb_battery_high',
    'percent',
  );

  const map = new Geomap()
    .id(q.panelId())
    .title('Terminals by health (≈1 km cells)')
    .description(
      'Terminals grouped by position (latest reported, else registered; 0.01° cells). Colour: share of unhealthy terminals in the cell (offline, or with an open warning/critical alert). Size: terminals.',
    )
    .withTarget(
      q.sql(
        'Terminals by health (≈1 km cells)',
        `
        WITH health AS (
          -- IN (subquery) in the select list is hashed once; EXISTS here would probe alerts per terminal.
          SELECT t.sn, round(coalesce(s.lat, t.registered_lat)::numeric, 2) AS latitude, round(coalesce(s.lon, t.registered_lon)::numeric, 2) AS longitude,
                 (NOT coalesce(s.online, false)) OR t.sn IN (SELECT a.sn FROM alerts a WHERE a.state <> 'resolved' AND a.severity IN ('warning', 'critical')) AS unhealthy
          FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
          WHERE ${scope} AND coalesce(s.lat, t.registered_lat) IS NOT NULL AND coalesce(s.lon, t.registered_lon) IS NOT NULL
        )
        SELECT latitude, longitude, count(*) AS terminals, count(*) FILTER (WHERE unhealthy) AS unhealthy,
               round(100.0 * count(*) FILTER (WHERE unhealthy) / count(*), 1) AS unhealthy_pct
        FROM health
        GROUP BY latitude, longitude
        ORDER BY unhealthy_pct DESC, terminals DESC
        LIMIT 5000`,
        'table',
        ['latitude', 'longitude', 'terminals', 'unhealthy', 'unhealthy_pct'],
      ),
    )
    .layers([
      new MapLayerOptionsBuilder()
        .type('markers')
        .name('Terminals')
        .location(new FrameGeometrySourceBuilder().mode(FrameGeometrySourceMode.Coords).latitude('latitude').longitude('longitude'))
        .config({
          showLegend: true,
          style: {
            color: { field: 'unhealthy_pct', fixed: 'green' },
            size: { field: 'terminals', min: 3, max: 20, fixed: 5 },
            opacity: 0.6,
          },
        })
        .tooltip(true),
    ])
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.Thresholds))
    .thresholds(
      new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([
        { value: null, color: 'green' },
        { value: 10, color: 'yellow' },
        { value: 30, color: 'red' },
      ]),
    )
    .height(12)
    .span(24);

  const worstCells = new Table()
    .id(q.panelId())
    .title('Worst cells')
    .description('Serving cells (operator and cell id, latest heartbeat) with the most terminals offline or on poor signal (RSRP < -100 dBm).')
    .withTarget(
      q.sql(
        'Worst cells',
        `
        SELECT s.mcc_mnc, s.cell_id, count(*) AS terminals,
               count(*) FILTER (WHERE NOT s.online) AS offline,
               count(*) FILTER (WHERE s.rsrp < -100) AS poor_signal,
               round(avg(s.rsrp)::numeric, 1) AS rsrp_avg
        FROM terminals t JOIN terminal_state s ON s.sn = t.sn
        WHERE ${scope} AND s.cell_id IS NOT NULL
        GROUP BY s.mcc_mnc, s.cell_id
        ORDER BY count(*) FILTER (WHERE NOT s.online OR s.rsrp < -100) DESC, terminals DESC
        LIMIT 20`,
        'table',
        ['mcc_mnc', 'cell_id', 'terminals', 'offline', 'poor_signal', 'rsrp_avg'],
      ),
    )
    .height(10)
    .span(12);

  const worstAreas = new Table()
    .id(q.panelId())
    .title('Worst areas (≈10 km)')
    .description(
      'Terminals have no city field: areas are 0.1° cells (about 10 km) of the latest reported, else registered, position, ranked by terminals offline or on poor signal.',
    )
    .withTarget(
      q.sql(
        'Worst areas (≈10 km)',
        `
        SELECT round(coalesce(s.lat, t.registered_lat)::numeric, 1) || ', ' || round(coalesce(s.lon, t.registered_lon)::numeric, 1) AS area,
               count(*) AS terminals,
               count(*) FILTER (WHERE NOT coalesce(s.online, false)) AS offline,
               count(*) FILTER (WHERE s.rsrp < -100) AS poor_signal,
               round(avg(s.rsrp)::numeric, 1) AS rsrp_avg
        FROM terminals t LEFT JOIN terminal_state s ON s.sn = t.sn
        WHERE ${scope} AND coalesce(s.lat, t.registered_lat) IS NOT NULL AND coalesce(s.lon, t.registered_lon) IS NOT NULL
        GROUP BY 1
        ORDER BY count(*) FILTER (WHERE NOT coalesce(s.online, false) OR s.rsrp < -100) DESC, terminals DESC
        LIMIT 20`,
        'table',
        ['area', 'terminals', 'offline', 'poor_signal', 'rsrp_avg'],
      ),
    )
    .height(10)
    .span(12);

  const dashboard = new DashboardBuilder('Fleet overview')
    .uid(UID)
    .tags(['pos-fleet'])
    .description('Terminals up and reporting, heartbeat rate, firmware, signal and battery, where the fleet hurts.')
    .time({ from: 'now-24h', to: 'now' })
    .refresh('1m')
    .readonly()
    .variables(fleetVariables(q))
    .withRow(new RowBuilder('Now and over time').id(q.panelId()))
    .withPanel(stats)
    .withPanel(reporting)
    .withPanel(rate)
    .withRow(new RowBuilder('Versions, signal and battery').id(q.panelId()))
    .withPanel(firmware)
    .withPanel(signalNow)
    .withPanel(batteryNow)
    .withPanel(signalBands)
    .withPanel(batteryBands)
    .withRow(new RowBuilder('Where').id(q.panelId()))
    .withPanel(map)
    .withPanel(worstCells)
    .withPanel(worstAreas)
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
