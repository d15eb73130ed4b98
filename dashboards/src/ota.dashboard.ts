import { PanelBuilder as BarChart } from '@grafana/grafana-foundation-sdk/barchart';
import { StackingConfigBuilder, StackingMode, VizOrientation } from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { type BuiltDashboard, fleetVariables, QueryCollector, rollupTiers, terminalScope } from './dashboard-kit.js';

const UID = 'fleet-ota';

/** OTA: where each campaign stands, how versions spread, why installs fail, what the health gate saw. */
export function otaDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);
  const scope = terminalScope('t');
  const rollupScope = terminalScope('r');

  const campaign = q
    .sqlVariable(
      'campaign',
      'Campaign',
      `
      SELECT name || ' (' || state || ')' AS __text, id::text AS __value
      FROM campaigns
      ORDER BY created_at DESC
      LIMIT 100`,
      ['__text', '__value'],
    )
    .multi(true)
    .includeAll(true)
    .allowCustomValue(false)
    .current({ text: 'All', value: '$__all' });

  const campaigns = new Table()
    .id(q.panelId())
    .title('Campaigns')
    .description('Selected campaigns: release, state, current wave and member outcomes (terminals of the provider/model scope).')
    .withTarget(
      q.sql(
        'Campaigns',
        `
        SELECT c.name AS campaign, r.model || ' ' || r.component || ' ' || r.version AS release, c.state, c.wave AS current_wave, c.pause_reason,
               count(m.sn) AS members,
               count(m.sn) FILTER (WHERE cmd.state = 'succeeded') AS succeeded,
               count(m.sn) FILTER (WHERE cmd.state IN ('failed', 'rolled_back', 'rejected', 'expired')) AS failed,
               count(m.sn) FILTER (WHERE cmd.state NOT IN ('succeeded', 'failed', 'rolled_back', 'rejected', 'expired', 'cancelled')) AS in_progress
        FROM campaigns c
        JOIN releases r ON r.id = c.release_id
        LEFT JOIN (campaign_members m JOIN terminals t ON t.sn = m.sn AND ${scope} JOIN commands cmd ON cmd.id = m.command_id) ON m.campaign_id = c.id
        WHERE c.id IN (\${campaign:sqlstring})
        GROUP BY c.id, c.name, r.model, r.component, r.version
        ORDER BY c.created_at DESC`,
        'table',
        ['campaign', 'release', 'state', 'current_wave', 'pause_reason', 'members', 'succeeded', 'failed', 'in_progress'],
      ),
    )
    .height(7)
    .span(24);

  const progress = new BarChart()
    .id(q.panelId())
    .title('Progress per wave and state')
    .description('Members of the selected campaigns per wave (0 = canary) and command state.')
    .withTarget(
      q.sql(
        'Progress per wave and state',
        `
        SELECT 'wave ' || m.wave AS wave,
               count(*) FILTER (WHERE cmd.state = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE cmd.state IN ('queued', 'sent', 'accepted', 'deferred')) AS pending,
               count(*) FILTER (WHERE cmd.state IN ('downloading', 'downloaded', 'verified', 'installing')) AS installing,
               count(*) FILTER (WHERE cmd.state IN ('failed', 'rolled_back', 'rejected', 'expired')) AS failed,
               count(*) FILTER (WHERE cmd.state = 'cancelled') AS cancelled
        FROM campaign_members m
        JOIN terminals t ON t.sn = m.sn
        JOIN commands cmd ON cmd.id = m.command_id
        WHERE m.campaign_id IN (\${campaign:sqlstring}) AND ${scope}
        GROUP BY m.wave
        ORDER BY m.wave`,
        'table',
        ['wave', 'succeeded', 'pending', 'installing', 'failed', 'cancelled'],
      ),
    )
    .xField('wave')
    .stacking(StackingMode.Normal)
    .height(9)
    .span(12);

  const reasons = new BarChart()
    .id(q.panelId())
    .title('Failure reasons')
    .description(
      'Why members of the selected campaigns failed, were rejected, rolled back or deferred (reason reported by the terminal or set by the backend).',
    )
    .withTarget(
      q.sql(
        'Failure reasons',
        `
        SELECT cmd.state || ': ' || coalesce(cmd.reason, 'no reason') AS reason, count(*) AS terminals
        FROM campaign_members m
        JOIN terminals t ON t.sn = m.sn
        JOIN commands cmd ON cmd.id = m.command_id
        WHERE m.campaign_id IN (\${campaign:sqlstring}) AND cmd.state IN ('failed', 'rolled_back', 'rejected', 'expired', 'deferred') AND ${scope}
        GROUP BY 1
        ORDER BY terminals DESC
        LIMIT 20`,
        'table',
        ['reason', 'terminals'],
      ),
    )
    .xField('reason')
    .orientation(VizOrientation.Horizontal)
    .height(9)
    .span(12);

  const adoption = new TimeSeries()
    .id(q.panelId())
    .title('Version adoption')
    .description('Terminals reporting each firmware version per rollup bucket (5-minute rollups up to 2 days, hourly beyond).')
    .interval('5m')
    .withTarget(
      q.sql(
        'Version adoption',
        `
        SELECT $__timeGroupAlias(bucket, $__interval), metric, avg(terminals) AS terminals
        FROM (
          SELECT bucket, model || ' ' || firmware_version AS metric, sum(terminals) AS terminals
          FROM (
            ${rollupTiers('fleet_heartbeats_5m', 'fleet_heartbeats_1h', (rel) => `SELECT r.bucket, r.model, r.firmware_version, r.terminals FROM ${rel} r WHERE $__timeFilter(r.bucket) AND ${rollupScope}`)}
          ) rows
          GROUP BY 1, 2
        ) per_bucket
        GROUP BY 1, 2
        ORDER BY 1`,
        'time_series',
        ['time', 'metric', 'terminals'],
      ),
    )
    .stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A'))
    .fillOpacity(50)
    .height(9)
    .span(24);

  const health = new Table()
    .id(q.panelId())
    .title('Health-gate comparisons')
    .description(
      'The last comparisons of updated terminals against the control group for each selected campaign: rate per metric in each group, the limit, and the verdict (a bad metric pauses the campaign).',
    )
    .withTarget(
      q.sql(
        'Health-gate comparisons',
        `
        SELECT c.name AS campaign, (h.value->>'wave')::int AS wave, (h.value->>'at')::timestamptz AS at, h.value->>'verdict' AS verdict,
               (h.value->>'updated')::int AS updated, (h.value->>'control')::int AS control, m.key AS metric,
               (m.value->>'updatedRate')::float8 AS updated_rate, (m.value->>'controlRate')::float8 AS control_rate,
               (m.value->>'limit')::float8 AS "limit", (m.value->>'bad')::boolean AS bad
        FROM campaigns c
        CROSS JOIN LATERAL jsonb_array_elements(coalesce(c.progress->'health', '[]'::jsonb)) AS h(value)
        CROSS JOIN LATERAL jsonb_each(coalesce(h.value->'metrics', '{}'::jsonb)) AS m(key, value)
        WHERE c.id IN (\${campaign:sqlstring})
        ORDER BY at DESC, campaign, metric
        LIMIT 200`,
        'table',
        ['campaign', 'wave', 'at', 'verdict', 'updated', 'control', 'metric', 'updated_rate', 'control_rate', 'limit', 'bad'],
      ),
    )
    .height(9)
    .span(24);

  const dashboard = new DashboardBuilder('OTA')
    .uid(UID)
    .tags(['pos-fleet'])
    .description('Campaign progress per wave, version adoption, failure reasons and the health gate.')
    .time({ from: 'now-7d', to: 'now' })
    .refresh('1m')
    .readonly()
    .variables([...fleetVariables(q), campaign])
    .withRow(new RowBuilder('Campaigns').id(q.panelId()))
    .withPanel(campaigns)
    .withPanel(progress)
    .withPanel(reasons)
    .withPanel(health)
    .withRow(new RowBuilder('Fleet versions').id(q.panelId()))
    .withPanel(adoption)
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
