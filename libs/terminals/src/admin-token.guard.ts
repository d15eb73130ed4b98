import { timingSafeEqual, createHash } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import { bearerToken } from './bearer-token.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Guards /internal endpoints with the operator's bearer token; without a configured token they are off. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.auth.adminToken ? digest(config.auth.adminToken) : null;
  }

  /** Whether an Authorization header carries the admin token (`Bearer`, scheme in any case). */
  accepts(authorization: string | undefined): boolean {
    const token = bearerToken(authorization);
    return !!this.expected && !!token && timingSafeEqual(digest(token), this.expected);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // The API's UNAUTHENTICATED code (this lib sits below the API, which owns the code list).
    if (!this.accepts(request.headers.authorization)) throw new DomainException('UNAUTHENTICATED', 'missing or invalid admin bearer token');
    return true;
  }
}
