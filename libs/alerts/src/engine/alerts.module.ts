import { Module } from '@nestjs/common';
import { OutboxSignalModule } from '../outbox-signal.js';
import { AlertEngineRepository } from './alert-engine.repository.js';
import { AlertEvaluatorService } from './alert-evaluator.service.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { AlertSweepService } from './alert-sweep.service.js';
import { CLOCK, systemClock } from './clock.js';

/**
 * The alert engine in the worker (and `npm start`'s single process): heartbeat-driven evaluation and
 * the scheduled sweep. ALERTS_ENABLED=false: both stay idle (and ingest queues nothing).
 */
@Module({
  imports: [OutboxSignalModule],
  providers: [AlertEngineRepository, AlertRules, { provide: CLOCK, useValue: systemClock }, AlertMetrics, AlertEvaluatorService, AlertSweepService],
  exports: [AlertEvaluatorService, AlertSweepService, CLOCK],
})
export class AlertsModule {}
