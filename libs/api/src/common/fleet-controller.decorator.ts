import { applyDecorators, Controller, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiAuthGuard } from '../auth/api-auth.guard.js';
import { KeyThrottlerGuard } from '../auth/key-throttler.guard.js';
import { ApiExceptionFilter } from './api-exception.filter.js';

/** A versioned fleet API controller: API-key auth, per-key rate limit, the one error body. */
export function FleetController(path: string, tag: string): ClassDecorator {
  return applyDecorators(
    Controller(`v1/${path}`),
    ApiTags(tag),
    ApiBearerAuth(),
    UseGuards(ApiAuthGuard, KeyThrottlerGuard),
    UseFilters(ApiExceptionFilter),
  );
}
