import { ApiExcludeController } from '@nestjs/swagger';
import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { HealthService } from './health.service.js';
import { MetricsService } from './metrics.service.js';

// Operator endpoints, documented in the README rather than the public API spec.
@ApiExcludeController()
@Controller()
export class ObservabilityController {
  constructor(
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(HealthService) private readonly health: HealthService,
  ) {}

  @Get('metrics')
  async scrape(@Res() reply: FastifyReply): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    await reply.header('content-type', contentType).send(body);
  }

  @Get('health/live')
  @HttpCode(200)
  @Header('cache-control', 'no-store')
  live(): { ok: true } {
    return { ok: true };
  }

  @Get('health/ready')
  @Header('cache-control', 'no-store')
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const result = await this.health.ready();
    await reply.status(result.ok ? 200 : 503).send(result);
  }
}
