import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every Prometheus metric the backend exports, on one registry per process. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly mqttConnections = new Gauge({ name: 'fleet_mqtt_connections', help: 'Authenticated MQTT connections', registers: [this.registry] });
  readonly mqttConnects = new Counter({
    name: 'fleet_mqtt_connects_total',
    help: 'Accepted MQTT CONNECTs',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'fleet_mqtt_auth_failures_total',
    help: 'Refused MQTT CONNECTs by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly aclDenied = new Counter({
    name: 'fleet_mqtt_acl_denied_total',
    help: 'Publishes or subscriptions refused by the topic ACL',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly heartbeatsReceived = new Counter({
    name: 'fleet_ingest_heartbeats_received_total',
    help: 'Valid heartbeats queued for storage',
    registers: [this.registry],
  });
  readonly heartbeatsStored = new Counter({
    name: 'fleet_ingest_heartbeats_stored_total',
    help: 'Heartbeats committed (new rows)',
    registers: [this.registry],
  });
  readonly heartbeatsDuplicate = new Counter({
    name: 'fleet_ingest_heartbeats_duplicate_total',
    help: 'Heartbeats already stored (retransmissions), acknowledged without a new row',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'fleet_ingest_rejected_total',
    help: 'Messages rejected by reason (kept in dead_letters)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'fleet_ingest_batch_rows',
    help: 'Rows per committed batch',
    labelNames: ['stream'] as const,
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'fleet_ingest_commit_seconds',
    help: 'Database commit latency per batch',
    labelNames: ['stream'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly commitErrors = new Counter({
    name: 'fleet_ingest_commit_errors_total',
    help: 'Failed batch commits (retried)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly bufferRows = new Gauge({
    name: 'fleet_ingest_buffer_rows',
    help: 'Rows held in memory awaiting commit',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly waitingPublishers = new Gauge({
    name: 'fleet_ingest_waiting_publishers',
    help: 'Publishes waiting for buffer space (their connections are not being read)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly ackTimeouts = new Counter({
    name: 'fleet_ingest_ack_timeouts_total',
    help: 'Publishes that waited too long for buffer space; the terminal was disconnected to retry later',
    registers: [this.registry],
  });
  readonly droppedWrites = new Counter({
    name: 'fleet_ingest_dropped_total',
    help: 'Best-effort rows dropped because their buffer was full',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly presenceEvents = new Counter({
    name: 'fleet_presence_events_total',
    help: 'Presence changes recorded',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly mqttInflightExceeded = new Counter({
    name: 'fleet_mqtt_inflight_exceeded_total',
    help: 'MQTT connections closed for having more publishes in flight than MQTT_MAX_INFLIGHT_PER_CONNECTION',
    registers: [this.registry],
  });
  readonly mqttRefused = new Counter({
    name: 'fleet_mqtt_connections_refused_total',
    help: 'MQTT connections closed by the gateway before or instead of serving them, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authLookupBatch = new Histogram({
    name: 'fleet_mqtt_auth_lookup_batch_size',
    help: 'Terminals per credential lookup query (count: queries; sum: terminals looked up)',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  readonly mqttPending = new Gauge({
    name: 'fleet_mqtt_pending_connections',
    help: 'TCP connections that have not authenticated yet',
    registers: [this.registry],
  });
  readonly databaseUp = new Gauge({ name: 'fleet_database_up', help: '1 when the last database operation succeeded', registers: [this.registry] });
  readonly rollupRefreshSeconds = new Histogram({
    name: 'fleet_rollup_refresh_seconds',
    help: 'Duration of worker refreshes of the rollups (0012) and the fleet summary snapshot, by relation',
    labelNames: ['relation'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'fleet_process_' });
    this.databaseUp.set(1);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
