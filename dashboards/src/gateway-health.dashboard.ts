import { DashboardBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { type BuiltDashboard, PROMETHEUS, QueryCollector } from './dashboard-kit.js';

const UID = 'fleet-gateway';
const I = 'instance=~"$instance"';

/** Gateway health from Prometheus (every name is registered by the app; dashboards.spec.ts checks). */
export function gatewayHealthDashboard(): BuiltDashboard {
  const q = new QueryCollector(UID);
  const instanceQuery = 'label_values(fleet_mqtt_connections, instance)';
  q.promql.push(instanceQuery);
  const instance = new QueryVariableBuilder('instance')
    .label('Gateway')
    .datasource(PROMETHEUS)
    .query(instanceQuery)
    .definition(instanceQuery)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current({ text: 'All', value: '$__all' });

  const panel = (title: string, description: string, unit: string, targets: [string, string][]) => {
    const builder = new TimeSeries().id(q.panelId()).title(title).description(description).unit(unit).height(8).span(12);
    targets.forEach(([expr, legend], i) => builder.withTarget(q.prom(expr, legend, String.fromCharCode(65 + i))));
    return builder;
  };

  const connections = panel('MQTT connections', 'Authenticated connections per gateway, and TCP connections still authenticating.', 'short', [
    [`sum by (instance) (fleet_mqtt_connections{${I}})`, '{{instance}} connected'],
    [`sum by (instance) (fleet_mqtt_pending_connections{${I}})`, '{{instance}} authenticating'],
  ]);
  const refused = panel('Refused connections', 'CONNECTs refused by reason (authentication) and connections closed by the gateway by reason.', 'cps', [
    [`sum by (reason) (rate(fleet_mqtt_auth_failures_total{${I}}[$__rate_interval]))`, 'auth: {{reason}}'],
    [`sum by (reason) (rate(fleet_mqtt_connections_refused_total{${I}}[$__rate_interval]))`, 'closed: {{reason}}'],
    [`sum(rate(fleet_mqtt_inflight_exceeded_total{${I}}[$__rate_interval]))`, 'closed: too many publishes in flight'],
  ]);
  const ingest = panel('Ingest rate', 'Heartbeats received (valid, queued), stored (new rows) and duplicates (retransmissions) per second.', 'reqps', [
    [`sum(rate(fleet_ingest_heartbeats_received_total{${I}}[$__rate_interval]))`, 'received'],
    [`sum(rate(fleet_ingest_heartbeats_stored_total{${I}}[$__rate_interval]))`, 'stored'],
    [`sum(rate(fleet_ingest_heartbeats_duplicate_total{${I}}[$__rate_interval]))`, 'duplicate'],
  ]);
  const commit = panel('Commit latency', 'Database commit time per batch, by stream: median and 99th percentile.', 's', [
    [`histogram_quantile(0.5, sum by (le, stream) (rate(fleet_ingest_commit_seconds_bucket{${I}}[$__rate_interval])))`, 'p50 {{stream}}'],
    [`histogram_quantile(0.99, sum by (le, stream) (rate(fleet_ingest_commit_seconds_bucket{${I}}[$__rate_interval])))`, 'p99 {{stream}}'],
  ]);
  const buffer = panel(
    'Buffer depth',
    'Rows held in memory awaiting commit, and publishes waiting for buffer space (their connections are not read meanwhile).',
    'short',
    [
      [`sum by (stream) (fleet_ingest_buffer_rows{${I}})`, 'rows {{stream}}'],
      [`sum by (stream) (fleet_ingest_waiting_publishers{${I}})`, 'waiting {{stream}}'],
    ],
  );
  const deadLetters = panel(
    'Dead letters by reason',
    'Messages rejected and kept in dead_letters, by reason; best-effort rows dropped on a full buffer.',
    'cps',
    [
      [`sum by (reason) (rate(fleet_ingest_rejected_total{${I}}[$__rate_interval]))`, '{{reason}}'],
      [`sum by (stream) (rate(fleet_ingest_dropped_total{${I}}[$__rate_interval]))`, 'dropped {{stream}}'],
    ],
  );
  const database = panel('Database', '1 when the last database operation succeeded; failed batch commits (retried) per second.', 'short', [
    [`min by (instance) (fleet_database_up{${I}})`, '{{instance}} up'],
    [`sum by (stream) (rate(fleet_ingest_commit_errors_total{${I}}[$__rate_interval]))`, 'commit errors {{stream}}'],
  ]);

  const dashboard = new DashboardBuilder('Gateway health')
    .uid(UID)
    .tags(['pos-fleet'])
    .description('MQTT gateways from Prometheus: connections, ingest rate, commit latency, buffers, dead letters.')
    .time({ from: 'now-3h', to: 'now' })
    .refresh('30s')
    .readonly()
    .withVariable(instance)
    .withRow(new RowBuilder('Connections').id(q.panelId()))
    .withPanel(connections)
    .withPanel(refused)
    .withRow(new RowBuilder('Ingest').id(q.panelId()))
    .withPanel(ingest)
    .withPanel(commit)
    .withPanel(buffer)
    .withPanel(deadLetters)
    .withPanel(database.span(24))
    .build();
  return { uid: UID, file: `${UID}.json`, dashboard, queries: q.queries, promql: q.promql };
}
