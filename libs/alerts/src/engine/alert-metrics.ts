import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '#observability';
import type { WrittenEvent } from './alert-engine.repository.js';

/** The alert engine's Prometheus series, on the process's one registry (MetricsService). */
@Injectable()
export class AlertMetrics {
  readonly raised: Counter<'rule' | 'severity'>;
  readonly escalated: Counter<'rule' | 'severity'>;
  readonly resolved: Counter<'rule'>;
  readonly evaluations: Counter<'kind'>;
  readonly errors: Counter<'job'>;
  readonly batchSeconds: Histogram<'job'>;
  readonly queueDepth: Gauge;
  readonly latency: Histogram;

  constructor(@Inject(MetricsService) metrics: MetricsService) {
    const registers = [metrics.registry];
    this.raised = new Counter({ name: 'fleet_alerts_raised_total', help: 'Alerts raised, by rule and severity', labelNames: ['rule', 'severity'], registers });
    this.escalated = new Counter({
      name: 'fleet_alerts_escalated_total',
      help: 'Severity changes of unresolved alerts (either direction), by rule and new severity',
      labelNames: ['rule', 'severity'],
      registers,
    });
    this.resolved = new Counter({
      name: 'fleet_alerts_resolved_total',
      help: 'Alerts resolved because the condition cleared, by rule',
      labelNames: ['rule'],
      registers,
    });
    this.evaluations = new Counter({
      name: 'fleet_alerts_evaluations_total',
      help: 'Rule evaluations: kind=heartbeat (one per heartbeat), kind=scheduled (one per terminal per sweep)',
      labelNames: ['kind'],
      registers,
    });
    this.errors = new Counter({
      name: 'fleet_alerts_errors_total',
      help: 'Failed evaluation batches or sweep pages (retried), and rule functions that threw',
      labelNames: ['job'],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'fleet_alerts_batch_seconds',
      help: 'Duration of one evaluation transaction: job=heartbeat (a queue batch), job=sweep_page, job=sweep (a whole sweep)',
      labelNames: ['job'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.queueDepth = new Gauge({ name: 'fleet_alerts_eval_queue_terminals', help: 'Terminals waiting in the evaluation queue', registers });
    this.latency = new Histogram({
      name: 'fleet_alerts_commit_to_alert_seconds',
      help: 'From the heartbeat batch commit that queued a terminal to the commit of its evaluation (alerts written)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    });
  }

  record(written: readonly WrittenEvent[]): void {
    for (const w of written) {
      if (w.kind === 'raised') this.raised.inc({ rule: w.rule, severity: w.severity }, w.n);
      else if (w.kind === 'escalated') this.escalated.inc({ rule: w.rule, severity: w.severity }, w.n);
      else this.resolved.inc({ rule: w.rule }, w.n);
    }
  }
}
