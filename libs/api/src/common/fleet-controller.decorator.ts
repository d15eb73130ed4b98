import { applyDecorators, Controller, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ApiAuthGuard } from '../auth/api-auth.guard.js';
import { KeyRateLimitGuard } from '../auth/key-rate-limit.guard.js';
import { StrictQueryGuard } from './zod-validation.js';

/**
 * A versioned fleet API controller: API-key auth, per-key rate limit, and no query parameter the
 * handler does not declare (the error body comes from the global filter).
 */
export function FleetController(path: string, tag: string): ClassDecorator {
  return applyDecorators(
    Controller(`v1/${path}`),
    ApiTags(tag),
    ApiBearerAuth('bearer'),
    ApiSecurity('api-key'),
    UseGuards(ApiAuthGuard, KeyRateLimitGuard, StrictQueryGuard),
  );
}
