import { timingSafeEqual, createHash } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '#config';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Guards /internal endpoints with the operator's bearer token; without a configured token they are off. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.auth.adminToken ? digest(config.auth.adminToken) : null;
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (!this.expected || !token || !timingSafeEqual(digest(token), this.expected)) {
      throw new UnauthorizedException({ code: 'ADMIN_TOKEN_INVALID', message: 'missing or invalid admin bearer token' });
    }
    return true;
  }
}
