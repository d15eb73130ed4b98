import { Controller, Header, HttpCode, Inject, Post, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminTokenGuard } from '#terminals';
import { ZodBody } from '../common/zod-validation.js';
import { BootstrapService } from './bootstrap.service.js';

export const BOOTSTRAP_PATH = '/internal/v1/api-keys/bootstrap';
const bootstrapBody = z.object({ name: z.string().trim().min(1).max(100).default('bootstrap ops-admin') });

/**
 * Lets `npm run api-keys -- bootstrap` work while the single-process app holds the embedded
 * database, authenticated by the operator's admin token.
 */
@ApiExcludeController()
@Controller()
@UseGuards(AdminTokenGuard)
export class BootstrapController {
  constructor(@Inject(BootstrapService) private readonly bootstrap: BootstrapService) {}

  @Post(BOOTSTRAP_PATH)
  @HttpCode(201)
  @Header('cache-control', 'no-store')
  async create(@ZodBody(bootstrapBody) { name }: z.output<typeof bootstrapBody>): Promise<{ keyId: string; token: string }> {
    const issued = await this.bootstrap.bootstrap(name);
    return { keyId: issued.key.id, token: issued.token };
  }
}
