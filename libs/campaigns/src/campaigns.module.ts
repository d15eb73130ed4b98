import { Module } from '@nestjs/common';
import { CommandsCoreModule } from '#commands';
import { OtaModule } from '#ota';
import { CampaignMetrics } from './campaign-metrics.js';
import { CampaignRunner } from './campaign-runner.service.js';
import { CampaignsRepository } from './campaigns.repository.js';
import { CampaignsService } from './campaigns.service.js';

/** Campaign planning and lifecycle (the API uses it). */
@Module({
  imports: [CommandsCoreModule, OtaModule],
  providers: [CampaignsRepository, CampaignsService],
  exports: [CampaignsRepository, CampaignsService],
})
export class CampaignsCoreModule {}

/** The worker side: the campaign runner (waves, rate limit, thresholds, health gate). */
@Module({
  imports: [CampaignsCoreModule, CommandsCoreModule, OtaModule],
  providers: [CampaignRunner, CampaignMetrics],
  exports: [CampaignRunner],
})
export class CampaignsWorkerModule {}
