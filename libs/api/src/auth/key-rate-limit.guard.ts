import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import { ApiErrorCode } from '../common/api-error.js';
import { setRateLimitHeaders } from '../common/rate-limit-headers.js';
import type { ApiRequest } from './api-auth.guard.js';

const WINDOW_S = 60;

/**
 * Rate limit per API key (runs after ApiAuthGuard has identified the key), with the IETF draft
 * RateLimit-* headers and Retry-After on 429. In-memory per process: each API replica enforces the
 * budget on its own share of the traffic.
 */
@Injectable()
export class KeyRateLimitGuard implements CanActivate {
  private readonly limiter: RateLimiterMemory;
  private readonly limit: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.limit = config.api.rateLimitPerMinute;
    this.limiter = new RateLimiterMemory({ points: this.limit, duration: WINDOW_S });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<ApiRequest>();
    const reply = http.getResponse<FastifyReply>();
    const tracker = request.fleet?.principal.keyId ?? request.ip;
    try {
      setRateLimitHeaders(reply, this.limit, await this.limiter.consume(tracker), false);
      return true;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      setRateLimitHeaders(reply, this.limit, err, true);
      throw new DomainException(ApiErrorCode.RateLimited, 'rate limit exceeded for this API key');
    }
  }
}
