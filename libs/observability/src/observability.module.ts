import { Global, Module } from '@nestjs/common';
import { HealthService } from './health.service.js';
import { MetricsService } from './metrics.service.js';
import { ObservabilityController } from './observability.controller.js';

@Global()
@Module({
  controllers: [ObservabilityController],
  providers: [MetricsService, HealthService],
  exports: [MetricsService, HealthService],
})
export class ObservabilityModule {}
