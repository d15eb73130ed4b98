import { Module } from '@nestjs/common';
import { AdminTokenGuard } from '#terminals';
import { IngestSummaryController } from './ingest-summary.controller.js';
import { IngestSummaryRepository } from './ingest-summary.repository.js';
import { DeadLetterRepository } from './dead-letter.repository.js';
import { HeartbeatRepository } from './heartbeat.repository.js';
import { IngestService } from './ingest.service.js';
import { PresenceRepository } from './presence.repository.js';

@Module({
  controllers: [IngestSummaryController],
  providers: [AdminTokenGuard, HeartbeatRepository, PresenceRepository, DeadLetterRepository, IngestSummaryRepository, IngestService],
  exports: [IngestService, HeartbeatRepository, PresenceRepository, DeadLetterRepository],
})
export class IngestModule {}
