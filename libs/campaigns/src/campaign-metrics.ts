import { Inject, Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '#observability';

export type AutoPauseCause = 'failure_threshold' | 'success_threshold' | 'health_gate' | 'release';

/** Campaign runner series on the process's registry (MetricsService). */
@Injectable()
export class CampaignMetrics {
  readonly commands: Counter;
  readonly retries: Counter;
  readonly autoPauses: Counter<'cause'>;
  readonly gateVerdicts: Counter<'verdict'>;

  constructor(@Inject(MetricsService) metrics: MetricsService) {
    const registers = [metrics.registry];
    this.commands = new Counter({ name: 'fleet_campaign_commands_total', help: 'ota.install commands created by campaigns', registers });
    this.retries = new Counter({
      name: 'fleet_campaign_retries_total',
      help: 'ota.install commands created again for terminals whose previous one failed retryably',
      registers,
    });
    this.autoPauses = new Counter({
      name: 'fleet_campaign_auto_pauses_total',
      help: 'Campaigns the runner paused, by cause (failure_threshold, success_threshold, health_gate, release)',
      labelNames: ['cause'] as const,
      registers,
    });
    this.gateVerdicts = new Counter({
      name: 'fleet_campaign_health_gate_total',
      help: 'Health-gate comparisons by verdict (pass, fail, insufficient_sample)',
      labelNames: ['verdict'] as const,
      registers,
    });
  }
}
