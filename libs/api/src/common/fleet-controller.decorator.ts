import { applyDecorators, Controller, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ApiAuthGuard } from '../auth/api-auth.guard.js';
import { KeyRateLimitGuard } from '../auth/key-rate-limit.guard.js';
import { ApiExceptionFilter } from './api-exception.filter.js';

/** A versioned fleet API controller: API-key auth, per-key rate limit, the one error body. */
export function FleetController(path: string, tag: string): ClassDecorator {
  return applyDecorators(
    Controller(`v1/${path}`),
    ApiTags(tag),
    ApiBearerAuth('bearer'),
    ApiSecurity('api-key'),
    UseGuards(ApiAuthGuard, KeyRateLimitGuard),
    UseFilters(ApiExceptionFilter),
  );
}
