import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { ApiRequest } from './api-auth.guard.js';

/** Rate limit per API key (runs after ApiAuthGuard has identified the key). */
@Injectable()
export class KeyThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    const request = req as unknown as ApiRequest;
    return request.fleet?.principal.keyId ?? request.ip;
  }
}
